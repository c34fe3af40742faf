from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from deployments.choices import DeploymentStatus, DesiredState, ScalingMetric

# Deployment names become Kubernetes object names and URL segments: DNS labels, short enough that
# "<team>-<deployment>" stays within 63 characters.
DEPLOYMENT_NAME_VALIDATOR = RegexValidator(
    r"^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$",
    "Use 1 to 22 lowercase letters, digits or hyphens, starting with a letter and ending with a letter "
    "or digit.",
)


class Deployment(models.Model):
    team = models.ForeignKey("tenancy.Team", on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=22, validators=[DEPLOYMENT_NAME_VALIDATOR])
    target = models.ForeignKey("deployments.Target", on_delete=models.PROTECT, related_name="deployments")
    current_revision = models.ForeignKey(
        "deployments.Revision", null=True, on_delete=models.PROTECT, related_name="+"
    )
    desired_state = models.CharField(
        max_length=10, choices=DesiredState.choices, default=DesiredState.RUNNING
    )
    status = models.CharField(
        max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.PENDING
    )
    status_message = models.CharField(max_length=1000, blank=True)
    generation = models.PositiveIntegerField(default=1)
    observed_generation = models.PositiveIntegerField(default=0)
    # The autoscaler's current decision; `pinned_replicas` overrides it until unpinned.
    replicas = models.PositiveIntegerField(default=1)
    pinned_replicas = models.PositiveIntegerField(null=True, blank=True)
    ready_replicas = models.PositiveIntegerField(default=0)
    endpoint_url = models.CharField(max_length=500, blank=True)
    # Replica URLs the gateway may use, as last observed; the route table is rebuilt from these.
    serving_urls = models.JSONField(default=list, blank=True)
    # Recent autoscaler recommendations [[unix time, replicas], ...] for the stabilisation windows.
    scale_history = models.JSONField(default=list, blank=True)
    first_ready_at = models.DateTimeField(null=True, blank=True)
    last_request_at = models.DateTimeField(null=True, blank=True)
    last_scaled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team", "name"]
        constraints = [
            # A deleted deployment keeps its row (history, costs) and frees its name.
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=~models.Q(status="deleted"),
                name="deployment_unique_live_name",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}"

    @property
    def key(self) -> str:
        return f"{self.team.slug}-{self.name}"

    @property
    def status_badge(self) -> str:
        return DeploymentStatus(self.status).badge


class Revision(models.Model):
    """An immutable spec of a deployment. Every change makes a new one; rollback copies an old one."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    # Deleting a model version is refused while a live deployment has a revision of it; revisions of
    # deleted deployments keep their history with the model reference cleared.
    artifact = models.ForeignKey(
        "deployments.ModelArtifact", null=True, on_delete=models.SET_NULL, related_name="revisions"
    )
    runtime = models.CharField(max_length=30)
    gpu_type = models.CharField(max_length=50, blank=True, help_text="Empty: CPU only.")
    gpu_count = models.PositiveSmallIntegerField(default=0)
    min_replicas = models.PositiveSmallIntegerField(default=1)
    max_replicas = models.PositiveSmallIntegerField(default=1)
    scaling_metric = models.CharField(
        max_length=20, choices=ScalingMetric.choices, default=ScalingMetric.CONCURRENCY
    )
    scaling_target = models.FloatField(default=4.0)
    scale_up_window_s = models.PositiveIntegerField(default=0)
    scale_down_window_s = models.PositiveIntegerField(default=300)
    idle_timeout_s = models.PositiveIntegerField(default=900, help_text="Scale to zero after this long idle.")
    env = models.JSONField(default=dict, blank=True)
    # Environment name → team secret name. Only names live here: the values are read from the
    # team's encrypted secrets when a replica starts, so no revision, event or API shows them.
    secrets = models.JSONField(default=dict, blank=True)
    memory_override = models.BooleanField(
        default=False, help_text="Deploy even if sizing says it does not fit."
    )
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deployment", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.deployment} r{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("revisions are immutable; make a new one")
        super().save(*args, **kwargs)

    @property
    def scale_to_zero(self) -> bool:
        return self.min_replicas == 0


class Event(models.Model):
    """The deployment's timeline: each step, with a reason."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=40)
    message = models.CharField(max_length=2000)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class ReplicaInterval(models.Model):
    """When a replica was up, as the reconciler observed it: the fact billing meters from."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="replica_intervals")
    replica_id = models.CharField(max_length=64)
    revision = models.PositiveIntegerField()
    gpu_type = models.CharField(max_length=50, blank=True)
    gpu_count = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "replica_id"], name="replica_interval_unique"),
        ]
