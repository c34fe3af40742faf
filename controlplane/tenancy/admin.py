from django.contrib import admin

from controlplane.tenancy.models import ApiToken, AuditEvent, Membership, Team


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
    list_display = ["prefix", "name", "team", "user", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["team"]
    exclude = ["token_hash"]
    readonly_fields = ["prefix", "team", "user", "scopes", "last_used_at", "revoked_at", "created_at"]


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
