from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from deployments.inspection.names import show, upload_path_problem
from deployments.models import ArtifactFile, ModelArtifact, UploadSession


class UploadPathField(serializers.CharField):
    """A file's path in the model folder, checked by the one name rule. DRF's own NUL and surrogate
    validators are dropped so every bad name gets the same kind of reason; nothing is trimmed, as
    names are refused, never rewritten."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, allow_blank=True, **kwargs)
        generic = (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)
        self.validators = [v for v in self.validators if not isinstance(v, generic)]

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if problem := upload_path_problem(value):
            raise serializers.ValidationError(f"Invalid file path {show(value)}: {problem}.")
        return value


class ArtifactFileOutput(serializers.ModelSerializer):
    class Meta:
        model = ArtifactFile
        fields = ["path", "size_bytes", "sha256", "created_at"]


class UploadOutput(serializers.ModelSerializer):
    complete = serializers.SerializerMethodField()

    class Meta:
        model = UploadSession
        fields = ["id", "path", "size_bytes", "offset", "complete", "created_at", "updated_at"]

    def get_complete(self, obj) -> bool:
        return obj.offset >= obj.size_bytes


class ModelArtifactOutput(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")
    created_by = serializers.CharField(source="created_by.username", default=None)
    files = ArtifactFileOutput(many=True, read_only=True)
    uploads = UploadOutput(many=True, read_only=True)

    class Meta:
        model = ModelArtifact
        fields = [
            "id",
            "team",
            "name",
            "version",
            "format",
            "status",
            "status_reason",
            "description",
            "source_uri",
            "size_bytes",
            "sha256",
            "parameter_count",
            "inspection",
            "files",
            "uploads",
            "created_by",
            "created_at",
            "ready_at",
        ]


class ModelArtifactListOutput(ModelArtifactOutput):
    file_count = serializers.IntegerField()

    class Meta(ModelArtifactOutput.Meta):
        fields = [f for f in ModelArtifactOutput.Meta.fields if f not in ("files", "uploads", "inspection")]
        fields += ["file_count"]
