import hmac

from django.conf import settings
from rest_framework import permissions

from controlplane.tenancy.models import ApiToken
from controlplane.tenancy.permissions import Scope


class IsAuthenticatedWithScope(permissions.BasePermission):
    """Signed in, and for token callers the scope the request needs: `read` for safe methods,
    `write` for changes, unless the view names others in `required_scopes`."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            return True
        if not getattr(view, "token_allowed", True):
            self.message = "API tokens are bound to one team and cannot do this; sign in to the console."
            return False
        default = Scope.READ if request.method in permissions.SAFE_METHODS else Scope.WRITE
        needed = getattr(view, "required_scopes", {}).get(request.method, default)
        if needed not in token.scopes:
            self.message = f"This token lacks the '{needed}' scope."
            return False
        return True


class HasGatewaySecret(permissions.BasePermission):
    message = "The gateway secret is missing or wrong."

    def has_permission(self, request, view) -> bool:
        supplied = request.headers.get("X-Gateway-Secret", "")
        return bool(supplied) and hmac.compare_digest(supplied, settings.GATEWAY_SHARED_SECRET)
