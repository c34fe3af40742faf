from django.conf import settings
from django.db import models

from controlplane.tenancy.permissions import PlatformRole


class PlatformGrant(models.Model):
    """A role above every team (today: finance, reading every team's costs). Team roles never
    reach past their team; only a platform admin creates or removes these rows."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="platform_grants"
    )
    role = models.CharField(max_length=16, choices=PlatformRole.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="platformgrant_unique_user_role"),
            models.CheckConstraint(
                condition=models.Q(role__in=PlatformRole.values), name="platformgrant_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as platform {self.role}"
