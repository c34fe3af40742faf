import hmac

from django.conf import settings
from rest_framework import permissions

from controlplane.tenancy.models import ApiToken
from controlplane.tenancy.permissions import Scope, TokenScope
from controlplane.tenancy.platform import is_platform_admin


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
