from rest_framework import permissions

from controlplane.tenancy.platform import is_platform_admin


class IsPlatformAdminOrReadOnly(permissions.BasePermission):
    """The price catalog is the platform's: everyone signed in reads it, platform admins (a
    superuser's session or platform token) change it."""

    message = "Only platform admins (superusers) change the price catalog."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return is_platform_admin(request)
