from django.db import models

from deployments.choices import TargetKind
from deployments.models.artifacts import NAME_VALIDATOR


class Target(models.Model):
    """Where deployments run: this machine, a cluster, a cloud account."""

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    kind = models.CharField(max_length=20, choices=TargetKind.choices)
    description = models.CharField(max_length=300, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    # {"<gpu type slug>": count}: detected with nvidia-smi on a local host, declared otherwise.
    gpu_inventory = models.JSONField(default=dict, blank=True)
    all_teams = models.BooleanField(default=True, help_text="Every team may deploy here.")
    teams = models.ManyToManyField("tenancy.Team", blank=True, related_name="targets")
    onprem_profile = models.ForeignKey(
        "billing.OnPremProfile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="targets",
        help_text="Own hardware: its amortised cost per GPU-hour prices this target's deployments.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_gpus(self) -> bool:
        return any(count > 0 for count in self.gpu_inventory.values())

    def config(self):
        from deployments.backends.base import TargetConfig

        return TargetConfig(name=self.name, kind=self.kind, settings=dict(self.settings))
