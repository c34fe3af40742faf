from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import ApiToken, Membership, Team
from controlplane.tenancy.permissions import Action, Role, role_allows

from .audit import audit_record


def _check_role(role: str, *, actor_role: str | None) -> None:
    if role not in Role.values:
        raise ApplicationError(
            f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.", extra={"field": "role"}
        )
    if role == Role.OWNER and not role_allows(actor_role, Action.MEMBER_GRANT_OWNER):
        raise ApplicationError(
            "Only an owner can make another owner.", extra={"field": "role"}, code="forbidden"
        )


def _ensure_another_owner(membership: Membership) -> None:
    if membership.role != Role.OWNER:
        return
    others = Membership.objects.filter(team=membership.team, role=Role.OWNER).exclude(pk=membership.pk)
    if not others.exists():
        raise ApplicationError("A team must keep at least one owner.", extra={"field": "role"})


@transaction.atomic
def membership_add(*, team: Team, actor, actor_role: str | None, user: str, role: str) -> Membership:
    """Add an existing user (by username or e-mail) to the team with a role."""
    _check_role(role, actor_role=actor_role)
    User = get_user_model()
    found = User.objects.filter(Q(username__iexact=user) | Q(email__iexact=user), is_active=True).first()
    if found is None or not user.strip():
        raise ApplicationError(f"No active user with username or e-mail {user!r}.", extra={"field": "user"})
    if Membership.objects.filter(team=team, user=found).exists():
        raise ApplicationError(f"{found.get_username()} is already a member.", extra={"field": "user"})
    membership = Membership.objects.create(team=team, user=found, role=role)
    audit_record(
        actor=actor,
        action="member.add",
        resource_type="membership",
        resource_id=membership.pk,
        team=team,
        parameters={"user": found.get_username(), "role": role},
    )
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, actor, actor_role: str | None, role: str) -> Membership:
    _check_role(role, actor_role=actor_role)
    if membership.role == Role.OWNER and not role_allows(actor_role, Action.MEMBER_GRANT_OWNER):
        raise ApplicationError(
            "Only an owner can change an owner's role.", extra={"field": "role"}, code="forbidden"
        )
    before = membership.role
    if role != Role.OWNER:
        _ensure_another_owner(membership)
    Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.role = role
    audit_record(
        actor=actor,
        action="member.change_role",
        resource_type="membership",
        resource_id=membership.pk,
        team=membership.team,
        parameters={"user": membership.user.get_username(), "before": before, "after": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor, actor_role: str | None) -> None:
    """Remove a member and revoke their tokens for this team in the same step."""
    if membership.role == Role.OWNER and not role_allows(actor_role, Action.MEMBER_GRANT_OWNER):
        raise ApplicationError(
            "Only an owner can remove an owner.", extra={"field": "role"}, code="forbidden"
        )
    _ensure_another_owner(membership)
    revoked = ApiToken.objects.filter(
        team=membership.team, user=membership.user, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    audit_record(
        actor=actor,
        action="member.remove",
        resource_type="membership",
        resource_id=membership.pk,
        team=membership.team,
        parameters={
            "user": membership.user.get_username(),
            "role": membership.role,
            "tokens_revoked": revoked,
        },
    )
    membership.delete()
