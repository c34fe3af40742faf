from django.db.models import Count, QuerySet
from django.http import Http404

from controlplane.tenancy.models import ApiToken, Membership, Team
from controlplane.tenancy.permissions import Role
from controlplane.tenancy.platform import is_platform_admin


def team_list_for(*, user, token: ApiToken | None = None) -> QuerySet[Team]:
    """Teams the caller can see: platform admins (a session or a platform token) see all; a team
    token sees its own team only, whoever owns it; everybody else sees their memberships."""
    qs = Team.objects.annotate(member_count=Count("memberships", distinct=True)).order_by("slug")
    if is_platform_admin(user, token):
        return qs
    if token is not None:
        return qs.filter(pk=token.team_id, memberships__user=user)
    return qs.filter(memberships__user=user)


def team_get_for(*, user, slug: str, token: ApiToken | None = None) -> Team:
    """The team, or 404 for a caller who is not in it: outsiders never learn that it exists."""
    team = team_list_for(user=user, token=token).filter(slug=slug).first()
    if team is None:
        raise Http404("No such team.")
    return team


def membership_role(*, user, team: Team, token: ApiToken | None = None) -> str | None:
    """The caller's role in the team. A platform admin who is not a member acts as its owner; a
    team token carries exactly its owner's membership."""
    if not user.is_authenticated:
        return None
    role = Membership.objects.filter(team=team, user=user).values_list("role", flat=True).first()
    if role is None and is_platform_admin(user, token):
        return Role.OWNER
    return role


def membership_list(*, team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("user__username")


def membership_get(*, team: Team, membership_id: int) -> Membership:
    membership = membership_list(team=team).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    return membership
