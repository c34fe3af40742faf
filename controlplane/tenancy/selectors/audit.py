from django.db.models import QuerySet

from controlplane.tenancy.models import AuditEvent, Membership
from controlplane.tenancy.permissions import ROLE_ACTIONS, Action
from controlplane.tenancy.platform import is_platform_admin


def audit_event_list(*, user, token=None) -> QuerySet[AuditEvent]:
    """Events of the teams where the caller may read the audit log; platform admins read
    everything, including events that belong to no team (logins, team creation by others)."""
    if is_platform_admin(user, token):
        return AuditEvent.objects.all()
    roles = [role for role, actions in ROLE_ACTIONS.items() if Action.AUDIT_VIEW in actions]
    team_ids = Membership.objects.filter(user=user, role__in=roles).values_list("team_id", flat=True)
    if token is not None:
        team_ids = team_ids.filter(team_id=token.team_id)
    return AuditEvent.objects.filter(team_id__in=list(team_ids))
