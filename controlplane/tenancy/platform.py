"""Who may act above teams. One question, asked by every platform-admin check in the product
(targets, the price catalog, registry policies, other teams, the whole audit log, every team's
costs): is this caller a platform admin right now?

A superuser is one only when signed in (a session) or through a token whose scope is `platform`.
A superuser's team token acts as a plain member of its team, so a leaked CI token of an operator
reaches one team, not the platform."""

from controlplane.tenancy.models import ApiToken, PlatformGrant
from controlplane.tenancy.permissions import PlatformRole, TokenScope


def _caller(request_or_user, auth):
    """(user, auth) from a request (Django's or DRF's), or from a user and the token it came with."""
    if hasattr(request_or_user, "is_superuser") or request_or_user is None:
        return request_or_user, auth
    return getattr(request_or_user, "user", None), getattr(request_or_user, "auth", None)


def is_platform_admin(request_or_user, auth=None) -> bool:
    """A signed-in active superuser with a session, or a superuser's `platform` token. Pass a
    request, or a user with the ApiToken it authenticated with (None: a session)."""
    user, auth = _caller(request_or_user, auth)
    if user is None or not user.is_authenticated or not user.is_active or not user.is_superuser:
        return False
    if isinstance(auth, ApiToken):
        return auth.scope == TokenScope.PLATFORM
    return auth is None  # a session; any other credential is not trusted with the platform


def has_platform_role(request_or_user, role: PlatformRole, auth=None) -> bool:
    """A platform admin, or a user holding this platform grant and calling with a session or a
    platform token: a team token acts within its team only, whatever its owner holds above it."""
    if is_platform_admin(request_or_user, auth):
        return True
    user, auth = _caller(request_or_user, auth)
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if isinstance(auth, ApiToken) and auth.scope != TokenScope.PLATFORM:
        return False
    if auth is not None and not isinstance(auth, ApiToken):
        return False
    return PlatformGrant.objects.filter(user=user, role=role).exists()
