"""Who may call the API, for every app's API views: the default permission (signed in, with the
scope the request needs), the platform-admin and gateway-secret checks, and the mixin that resolves
a team in the URL and checks the caller's role. API views import these from here, never from another
app's API package."""

import hmac

from django.conf import settings
from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from controlplane.tenancy.models import ApiToken
from controlplane.tenancy.permissions import Action, Scope, TokenScope, role_allows
from controlplane.tenancy.platform import is_platform_admin
from controlplane.tenancy.selectors import membership_role, team_get_for


class IsAuthenticatedWithScope(permissions.BasePermission):
    """Signed in, and for token callers the scope the request needs: `read` for safe methods,
    `write` for changes, unless the view names others in `required_scopes`."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            return True
        # `token_allowed = False` marks platform-only views: a team token never reaches them, a
        # platform token does (the view still asks is_platform_admin).
        if not getattr(view, "token_allowed", True) and token.scope != TokenScope.PLATFORM:
            self.message = (
                "Team tokens are bound to one team and cannot do this; sign in, or use a token with "
                "the platform scope."
            )
            return False
        default = Scope.READ if request.method in permissions.SAFE_METHODS else Scope.WRITE
        needed = getattr(view, "required_scopes", {}).get(request.method, default)
        if needed not in token.scopes:
            self.message = f"This token lacks the '{needed}' scope."
            return False
        return True


class IsPlatformAdmin(permissions.BasePermission):
    """A superuser signed in, or a superuser's platform token; a team token never, whoever owns it."""

    message = "Only platform admins do this: sign in as a superuser, or use a token with the platform scope."

    def has_permission(self, request, view) -> bool:
        return is_platform_admin(request)


class HasGatewaySecret(permissions.BasePermission):
    message = "The gateway secret is missing or wrong."

    def has_permission(self, request, view) -> bool:
        supplied = request.headers.get("X-Gateway-Secret", "")
        return bool(supplied) and hmac.compare_digest(supplied, settings.GATEWAY_SHARED_SECRET)


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
