"""Platform grants: roles above every team. Only a platform admin gives or takes them, so nobody
grants themself past their team."""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import ApiToken, PlatformGrant
from controlplane.tenancy.permissions import PlatformRole
from controlplane.tenancy.platform import is_platform_admin

from .audit import audit_record


def _require_platform_admin(actor, actor_token: ApiToken | None, verb: str) -> None:
    if not is_platform_admin(actor, actor_token):
        raise ApplicationError(
            f"Only platform admins {verb} platform grants.", extra={"field": "role"}, code="forbidden"
        )


@transaction.atomic
def platform_grant_create(
    *, actor, user: str, role: str, actor_token: ApiToken | None = None
) -> PlatformGrant:
    """Give an existing active user (username or e-mail) a platform role. Refused (403) unless the
    actor is a platform admin; a second grant of the same role is a 400 on `user`."""
    _require_platform_admin(actor, actor_token, "give")
    if role not in PlatformRole.values:
        raise ApplicationError(
            f"Unknown platform role {role!r}; choose one of {', '.join(PlatformRole.values)}.",
            extra={"field": "role"},
        )
    found = (
        get_user_model()
        .objects.filter(Q(username__iexact=user) | Q(email__iexact=user), is_active=True)
        .first()
    )
    if found is None or not user.strip():
        raise ApplicationError(f"No active user with username or e-mail {user!r}.", extra={"field": "user"})
    try:
        with transaction.atomic():
            grant = PlatformGrant.objects.create(user=found, role=role, granted_by=actor)
    except IntegrityError as exc:
        raise ApplicationError(
            f"{found.get_username()} already holds platform {role}.", extra={"field": "user"}
        ) from exc
    audit_record(
        actor=actor,
        action="platform_grant.create",
        resource_type="platform_grant",
        resource_id=grant.pk,
        parameters={"user": found.get_username(), "role": role},
    )
    return grant


@transaction.atomic
def platform_grant_revoke(*, grant: PlatformGrant, actor, actor_token: ApiToken | None = None) -> None:
    """Take a platform role away; the row goes, the audit log keeps who held it."""
    _require_platform_admin(actor, actor_token, "revoke")
    audit_record(
        actor=actor,
        action="platform_grant.revoke",
        resource_type="platform_grant",
        resource_id=grant.pk,
        parameters={"user": grant.user.get_username(), "role": grant.role},
    )
    grant.delete()
