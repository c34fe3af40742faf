import django_filters
from django.db.models import Q
from django.utils import timezone

from controlplane.tenancy.models import ApiToken, AuditEvent, AuditResult, Membership
from controlplane.tenancy.permissions import Role, TokenScope


class AuditEventFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team_slug", label="Team slug")
    action = django_filters.CharFilter(lookup_expr="startswith", label="Action (prefix, e.g. token.)")
    resource_type = django_filters.CharFilter()
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="icontains", label="Actor")
    result = django_filters.ChoiceFilter(choices=AuditResult.choices)
    request_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["team", "action", "resource_type", "actor", "result", "request_id", "since", "until"]


class MembershipFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["role"]


class ApiTokenFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")], method="filter_state"
    )
    scope = django_filters.ChoiceFilter(choices=TokenScope.choices)

    class Meta:
        model = ApiToken
        fields = ["state", "scope"]

    def filter_state(self, queryset, name, value):
        now = timezone.now()
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if value == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
