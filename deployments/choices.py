from django.db import models


class ArtifactFormat(models.TextChoices):
    ONNX = "onnx", "ONNX"
    HUGGINGFACE = "huggingface", "Hugging Face"


class ArtifactStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    VALIDATING = "validating", "Validating"
    READY = "ready", "Ready"
    REJECTED = "rejected", "Rejected"

    @property
    def badge(self) -> str:
        return {"uploading": "info", "validating": "warn", "ready": "ok", "rejected": "bad"}[self.value]
