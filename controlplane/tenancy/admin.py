from django.contrib import admin

from controlplane.tenancy.models import ApiToken, AuditEvent, Membership, PlatformGrant, Team
from controlplane.tenancy.platform import is_platform_admin
from controlplane.tenancy.services import platform_grant_create, platform_grant_revoke


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "cost_centre", "monthly_budget", "created_at"]
    search_fields = ["slug", "name", "cost_centre"]
    inlines = [MembershipInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "team", "user", "scope", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", "team"]
    exclude = ["token_hash"]
    readonly_fields = [
        "prefix",
        "team",
        "user",
        "scope",
        "scopes",
        "last_used_at",
        "revoked_at",
        "created_at",
    ]


@admin.register(PlatformGrant)
class PlatformGrantAdmin(admin.ModelAdmin):
    """Given and revoked through the same services as the API, so each is audited; never edited."""

    list_display = ["user", "role", "granted_by", "created_at"]
    list_filter = ["role"]
    fields = ["user", "role"]

    def has_view_permission(self, request, obj=None):
        return is_platform_admin(request)

    def has_add_permission(self, request):
        return is_platform_admin(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return is_platform_admin(request)

    def save_model(self, request, obj, form, change):
        grant = platform_grant_create(actor=request.user, user=obj.user.get_username(), role=obj.role)
        obj.pk, obj.granted_by, obj.created_at = grant.pk, grant.granted_by, grant.created_at

    def delete_model(self, request, obj):
        platform_grant_revoke(grant=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for grant in queryset:
            platform_grant_revoke(grant=grant, actor=request.user)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is changed by nobody, not even superusers."""

    list_display = ["seq", "created_at", "actor_label", "team_slug", "action", "result"]
    list_filter = ["result", "resource_type"]
    search_fields = ["action", "actor_label", "request_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
