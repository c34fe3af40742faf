from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from controlplane.tenancy.permissions import Role

# Team slugs prefix Kubernetes namespaces and endpoint URLs, so they must be DNS labels.
SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$",
    "Use 1 to 40 lowercase letters, digits or hyphens, starting and ending with a letter or digit.",
)


class Team(models.Model):
    slug = models.CharField(max_length=40, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=100)
    cost_centre = models.CharField(max_length=50, blank=True)
    monthly_budget = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="USD per calendar month; empty means no budget.",
    )
    gpu_quota = models.JSONField(
        default=dict,
        blank=True,
        help_text='GPUs of each type the team may hold at its deployments\' max replicas, e.g. {"h100": 8}. '
        "A type not listed is not limited.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"
