from rest_framework import serializers

from controlplane.tenancy.models import ApiToken, AuditEvent, Membership, PlatformGrant, Team
from controlplane.tenancy.permissions import PlatformRole, Role


class TeamOutput(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)
    role = serializers.SerializerMethodField(help_text="The caller's role in this team.")

    class Meta:
        model = Team
        fields = ["slug", "name", "cost_centre", "monthly_budget", "member_count", "role", "created_at"]

    def get_role(self, team) -> str | None:
        return self.context.get("roles", {}).get(team.pk)


class MembershipOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]


class PlatformGrantOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")
    role = serializers.ChoiceField(choices=PlatformRole.choices)
    granted_by = serializers.CharField(source="granted_by.username", allow_null=True, default=None)

    class Meta:
        model = PlatformGrant
        fields = ["id", "username", "email", "role", "granted_by", "created_at"]


class ApiTokenOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="user.username")
    prefix = serializers.CharField(source="display_prefix")
    state = serializers.CharField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "owner",
            "scope",
            "scopes",
            "state",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created_at",
        ]


class ApiTokenCreatedOutput(ApiTokenOutput):
    token = serializers.SerializerMethodField(help_text="The secret. Shown in this response only.")

    class Meta(ApiTokenOutput.Meta):
        fields = [*ApiTokenOutput.Meta.fields, "token"]

    def get_token(self, obj) -> str:
        return self.context["plaintext"]


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "created_at",
            "actor_id",
            "actor_label",
            "token_id",
            "team_slug",
            "resource_type",
            "resource_id",
            "action",
            "parameters",
            "result",
            "error",
            "client_address",
            "request_id",
            "hash",
        ]
