from rest_framework import serializers

from deployments.models import ArtifactFile, ModelArtifact, UploadSession


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
