from controlplane.tenancy.models import Membership
from controlplane.tenancy.permissions import Action, role_allows

CURRENT_TEAM_SESSION_KEY = "current_team"


def console(request) -> dict:
    """The team switcher and the navigation of the console layout."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    memberships = list(Membership.objects.filter(user=user).select_related("team").order_by("team__slug"))
    match = getattr(request, "resolver_match", None)
    slug = (match.kwargs.get("slug") if match else None) or request.session.get(CURRENT_TEAM_SESSION_KEY)
    current = next((m for m in memberships if m.team.slug == slug), None)
    nav = []
    if current is not None:
        team, role = current.team.slug, current.role
        nav = [
            ("Overview", "team-overview", team, True),
            ("Models", "model-list", team, role_allows(role, Action.MODEL_VIEW)),
            ("Deployments", "deployment-list", team, role_allows(role, Action.MODEL_VIEW)),
            ("Members", "members", team, role_allows(role, Action.MEMBER_VIEW)),
            ("Secrets", "secret-list", team, role_allows(role, Action.TEAM_VIEW)),
            ("API tokens", "tokens", team, True),
            ("Audit log", "audit", team, role_allows(role, Action.AUDIT_VIEW)),
            ("Settings", "team-settings", team, role_allows(role, Action.TEAM_UPDATE)),
        ]
        nav = [(label, name, team) for label, name, team, allowed in nav if allowed]
    return {"console_memberships": memberships, "current_membership": current, "console_nav": nav}
