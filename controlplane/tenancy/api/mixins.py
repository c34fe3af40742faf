from rest_framework.exceptions import PermissionDenied

from controlplane.tenancy.models import ApiToken
from controlplane.tenancy.permissions import Action, role_allows
from controlplane.tenancy.selectors import membership_role, team_get_for


class TeamScopedApiMixin:
    """Resolves the team in the URL for the caller and checks `role_map[method]`.

    Outsiders get 404 (the team's existence is not revealed); members whose role lacks the action
    get 403 naming the role and the action."""

    role_map: dict[str, Action] = {}
    team = None
    role = None

    @property
    def token(self) -> ApiToken | None:
        return self.request.auth if isinstance(self.request.auth, ApiToken) else None

    def get_team(self, slug: str):
        self.team = team_get_for(user=self.request.user, slug=slug, token=self.token)
        self.role = membership_role(user=self.request.user, team=self.team, token=self.token)
        action = self.role_map[self.request.method]
        if not role_allows(self.role, action):
            raise PermissionDenied(f"Your role {self.role!r} in team {slug!r} does not allow {action}.")
        return self.team
