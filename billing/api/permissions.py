from rest_framework import permissions


class IsPlatformAdminOrReadOnly(permissions.BasePermission):
    """The price catalog is the platform's: everyone signed in reads it, superusers change it."""

    message = "Only platform admins (superusers) change the price catalog."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_superuser)
