from django.conf import settings
from django.db import models
from django.utils import timezone

from controlplane.tenancy.permissions import TokenScope

TOKEN_PREFIX = "cpt"


class ApiToken(models.Model):
    """A bearer token acting for one user in one team, limited to its scopes. `scope` says how far
    it reaches: `team` (its owner's membership in the team) or `platform` (a platform admin's
    reach; superusers only, and only while they are superusers).

    Only the SHA-256 of the token is stored: the secret part has 256 bits of entropy, so a fast
    hash is safe and lets every request be checked with one indexed lookup."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.CASCADE, related_name="tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown to tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    scope = models.CharField(max_length=10, choices=TokenScope.choices, default=TokenScope.TEAM)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=TokenScope.values), name="apitoken_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_prefix} ({self.name})"

    @property
    def display_prefix(self) -> str:
        return f"{TOKEN_PREFIX}_{self.prefix}_…"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        return "expired" if self.is_expired else "active"


def token_hash(raw: str) -> str:
    import hashlib

    return hashlib.sha256(raw.encode()).hexdigest()


def token_generate() -> tuple[str, str]:
    """A new token and its prefix: `cpt_<8 hex prefix>_<43 url-safe chars = 256 bits>`."""
    import secrets

    prefix = secrets.token_hex(4)
    return f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}", prefix
