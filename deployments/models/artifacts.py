import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from deployments.choices import ArtifactFormat, ArtifactStatus

NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]{0,99}$",
    "Use up to 100 lowercase letters, digits, dots, hyphens or underscores, starting with a letter or digit.",
)


class ModelArtifact(models.Model):
    """One version of a team's model: the files it was uploaded as, and what inspection found."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.CASCADE, related_name="model_artifacts")
    name = models.CharField(max_length=100, validators=[NAME_VALIDATOR])
    version = models.PositiveIntegerField()
    format = models.CharField(max_length=16, choices=ArtifactFormat.choices)
    status = models.CharField(max_length=16, choices=ArtifactStatus.choices, default=ArtifactStatus.UPLOADING)
    status_reason = models.TextField(blank=True, help_text="Why inspection rejected it, in plain words.")
    description = models.CharField(max_length=500, blank=True)
    source_uri = models.CharField(
        max_length=1000, blank=True, help_text="s3://bucket/key when registered by URI."
    )
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(
        max_length=64, blank=True, help_text="Of the file, or of the sorted file manifest for a folder."
    )
    parameter_count = models.BigIntegerField(null=True, blank=True)
    inspection = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name", "version"], name="artifact_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}:v{self.version}"

    @property
    def storage_prefix(self) -> str:
        return f"artifacts/{self.team_id}/{self.pk}"

    @property
    def status_badge(self) -> str:
        return ArtifactStatus(self.status).badge


class ArtifactFile(models.Model):
    artifact = models.ForeignKey(ModelArtifact, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)  # deployments.inspection.names.MAX_PATH_BYTES
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["artifact", "path"], name="artifact_file_unique_path")]

    def __str__(self) -> str:
        return self.path


class UploadSession(models.Model):
    """A resumable upload of one file: bytes are appended at `offset` into a staging file under
    var/ and moved to artifact storage once `offset == size`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    artifact = models.ForeignKey(ModelArtifact, on_delete=models.CASCADE, related_name="uploads")
    path = models.CharField(max_length=1024)  # deployments.inspection.names.MAX_PATH_BYTES
    size_bytes = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    expected_sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["artifact", "path"], name="upload_unique_path")]


class RegistryPolicy(models.Model):
    """Per-team registry rules that only platform admins change."""

    team = models.OneToOneField("tenancy.Team", on_delete=models.CASCADE, related_name="registry_policy")
    allow_pickle_weights = models.BooleanField(
        default=False,
        help_text="Accept pytorch_model.bin weights. Loading pickle runs code: trust the source.",
    )
    allow_code_files = models.BooleanField(
        default=False,
        help_text="Accept code in model folders (.py, .pyc, .so, .pth, ...) and Hugging Face configs "
        "that need trust_remote_code. Replicas then run that code: trust the source.",
    )
    max_artifact_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Empty: the platform default."
    )
    updated_at = models.DateTimeField(auto_now=True)
