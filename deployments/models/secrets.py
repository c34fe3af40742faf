from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from controlplane.crypto import decrypt_secret, encrypt_secret

# The same rule as environment variable names: a secret is injected under its own name.
SECRET_NAME_VALIDATOR = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*\Z", "Use upper-case letters, digits and underscores, not starting with a digit."
)


class TeamSecret(models.Model):
    """A team's named secret. The value is Fernet-encrypted at rest (as kubeconfigs are) and is
    write-only: nothing outside the replica start path ever reads it back."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100, validators=[SECRET_NAME_VALIDATOR])
    encrypted_value = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_team_secret_name")]

    def __str__(self) -> str:  # never the value
        return f"{self.team_id}:{self.name}"

    def set_value(self, plaintext: str) -> None:
        self.encrypted_value = encrypt_secret(plaintext)

    def reveal(self) -> str:
        """Only for injecting into a replica; never for display."""
        return decrypt_secret(self.encrypted_value)
