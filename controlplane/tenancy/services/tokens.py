from datetime import datetime

from django.db import transaction
from django.utils import timezone

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import ApiToken, Team
from controlplane.tenancy.models.tokens import token_generate, token_hash
from controlplane.tenancy.permissions import Scope, TokenScope
from controlplane.tenancy.platform import is_platform_admin

from .audit import audit_record


@transaction.atomic
def api_token_create(
    *,
    team: Team,
    actor,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    scope: str = TokenScope.TEAM,
    actor_token: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for the actor in the team. Returns the row and the plaintext, which exists
    nowhere else: the caller shows it once. A `platform` token is made only by a platform admin
    (`actor_token` is the token the request came with, None for a session): a superuser's team
    token cannot mint one, or it would not be bound to its team. Raises ApplicationError naming
    the field; `scope` refusals are 403."""
    if scope not in TokenScope.values:
        raise ApplicationError(
            f"Unknown token scope {scope!r}; choose team or platform.", extra={"field": "scope"}
        )
    if scope == TokenScope.PLATFORM and not is_platform_admin(actor, actor_token):
        raise ApplicationError(
            "Only platform admins (superusers, signed in or with a platform token) create platform tokens.",
            extra={"field": "scope"},
            code="forbidden",
        )
    if not name.strip():
        raise ApplicationError("A token needs a name.", extra={"field": "name"})
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ApplicationError(
            f"Unknown scope {unknown[0]!r}; choose from {', '.join(Scope.values)}.", extra={"field": "scopes"}
        )
    if not scopes:
        raise ApplicationError("Pick at least one scope.", extra={"field": "scopes"})
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", extra={"field": "expires_at"})
    raw, prefix = token_generate()
    ordered = [s for s in Scope.values if s in scopes]
    token = ApiToken.objects.create(
        team=team,
        user=actor,
        name=name.strip(),
        prefix=prefix,
        token_hash=token_hash(raw),
        scopes=ordered,
        scope=scope,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="token.create",
        resource_type="api_token",
        resource_id=token.pk,
        team=team,
        parameters={
            "name": token.name,
            "token_prefix": prefix,
            "scope": scope,
            "scopes": ordered,
            "expires_at": expires_at,
        },
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    """Revoke a token. Revoking twice is refused so the log shows one revocation per token."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not updated:
        raise ApplicationError("This token is already revoked.", extra={"field": "token"})
    token.refresh_from_db(fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="token.revoke",
        resource_type="api_token",
        resource_id=token.pk,
        team=token.team,
        parameters={"name": token.name, "token_prefix": token.prefix, "owner": token.user.get_username()},
    )
    return token
