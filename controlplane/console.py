"""What every console page of every app does the same way: resolve the team in the URL for the
signed-in user, guard platform-admin pages, and show a service's refusal on its form field while
auditing it (as the API's error handler does for API calls). Console views import these from here,
never from another app's views."""

from django.core.exceptions import PermissionDenied

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.context_processors import CURRENT_TEAM_SESSION_KEY
from controlplane.tenancy.models import AuditResult
from controlplane.tenancy.permissions import Action, role_allows
from controlplane.tenancy.platform import is_platform_admin
from controlplane.tenancy.selectors import membership_role, team_get_for
from controlplane.tenancy.services import audit_record


def team_for_console(request, slug: str, action: Action):
    """The team for this page: 404 for outsiders, 403 for members whose role lacks the action."""
    team = team_get_for(user=request.user, slug=slug)
    role = membership_role(user=request.user, team=team)
    if not role_allows(role, action):
        raise PermissionDenied(f"Your role {role!r} does not allow {action}.")
    request.session[CURRENT_TEAM_SESSION_KEY] = team.slug
    return team, role


def platform_admin_required(request, message: str) -> None:
    """403 with `message` unless the caller is a platform admin (controlplane.tenancy.platform)."""
    if not is_platform_admin(request):
        raise PermissionDenied(message)


def form_refused(
    request, *, form, exc: ApplicationError, action: str, resource_type: str, team=None, parameters=None
) -> None:
    """Show the service's refusal on its field (or the form) and audit it as a failure."""
    field = exc.extra.get("field")
    form.add_error(field if field in form.fields else None, exc.message)
    audit_record(
        actor=request.user,
        action=action,
        resource_type=resource_type,
        team=team,
        parameters=parameters or {},
        result=AuditResult.FAILURE,
        error=exc.message,
    )
