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


class TargetKind(models.TextChoices):
    LOCAL = "local", "This machine"
    KUBERNETES = "kubernetes", "Kubernetes cluster"
    SAGEMAKER = "sagemaker", "AWS SageMaker"


class DesiredState(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    DELETED = "deleted", "Deleted"


class DeploymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROVISIONING = "provisioning", "Provisioning"
    READY = "ready", "Ready"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"

    @property
    def badge(self) -> str:
        return {
            "pending": "info",
            "provisioning": "warn",
            "ready": "ok",
            "degraded": "warn",
            "failed": "bad",
            "stopping": "warn",
            "stopped": "info",
            "deleting": "warn",
            "deleted": "info",
        }[self.value]


class ScalingMetric(models.TextChoices):
    CONCURRENCY = "concurrency", "Concurrent requests per replica"
    RPS = "rps", "Requests per second per replica"
