from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api_access import (
    HasGatewaySecret,
    IsAuthenticatedWithScope,
    IsPlatformAdmin,
    TeamScopedApiMixin,
)
from controlplane.api_helpers import filter_parameters, filtered, paginate
from controlplane.pagination import DefaultPagination
from controlplane.tenancy.filters import ApiTokenFilter, AuditEventFilter, MembershipFilter
from controlplane.tenancy.models import ApiToken, AuditEvent, Membership
from controlplane.tenancy.permissions import Action, PlatformRole, Role, Scope, TokenScope
from controlplane.tenancy.platform import is_platform_admin
from controlplane.tenancy.selectors import (
    api_token_get,
    api_token_introspect,
    api_token_list,
    audit_event_list,
    membership_get,
    membership_list,
    platform_grant_get,
    platform_grant_list,
    team_list_for,
)
from controlplane.tenancy.services import (
    api_token_create,
    api_token_revoke,
    membership_add,
    membership_change_role,
    membership_remove,
    platform_grant_create,
    platform_grant_revoke,
    team_create,
    team_delete,
    team_update,
)

from .serializers import (
    ApiTokenCreatedOutput,
    ApiTokenOutput,
    AuditEventOutput,
    MembershipOutput,
    PlatformGrantOutput,
    TeamOutput,
)


class MeApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "email": serializers.EmailField(),
                "is_superuser": serializers.BooleanField(),
                "platform_admin": serializers.BooleanField(
                    help_text="Whether this request acts as a platform admin "
                    "(a superuser's session or platform token)."
                ),
                "teams": serializers.DictField(child=serializers.CharField(), help_text="slug → role"),
                "token": serializers.DictField(allow_null=True),
            },
        )
    )
    def get(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        memberships = Membership.objects.filter(user=request.user).select_related("team")
        if token is not None:
            memberships = memberships.filter(team_id=token.team_id)
        return Response(
            {
                "username": request.user.username,
                "email": request.user.email,
                "is_superuser": request.user.is_superuser,
                "platform_admin": is_platform_admin(request),
                "teams": {m.team.slug: m.role for m in memberships},
                "token": {
                    "prefix": token.display_prefix,
                    "team": token.team.slug,
                    "scope": token.scope,
                    "scopes": token.scopes,
                }
                if token
                else None,
            }
        )


class TeamsApi(APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    audit_resource = "team"
    audit_actions = {"POST": "team.create"}

    @extend_schema_serializer(component_name="TeamCreateInput")
    class InputSerializer(serializers.Serializer):
        slug = serializers.CharField(max_length=40, help_text="DNS-safe: lowercase letters, digits, hyphens.")
        name = serializers.CharField(max_length=100)
        cost_centre = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
        monthly_budget = serializers.DecimalField(
            max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True, default=None
        )

    def _roles(self) -> dict[int, str]:
        return dict(Membership.objects.filter(user=self.request.user).values_list("team_id", "role"))

    @extend_schema(responses=TeamOutput(many=True))
    def get(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return paginate(self, team_list_for(user=request.user, token=token), TeamOutput, roles=self._roles())

    @extend_schema(request=InputSerializer, responses={201: TeamOutput})
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            raise PermissionDenied(
                "API tokens are bound to one team; create teams signed in or in the console."
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = team_create(actor=request.user, **data.validated_data)
        team.member_count = 1
        return Response(
            TeamOutput(team, context={"roles": {team.pk: Role.OWNER}}).data, status=status.HTTP_201_CREATED
        )


class TeamDetailApi(TeamScopedApiMixin, APIView):
    role_map = {"GET": Action.TEAM_VIEW, "PATCH": Action.TEAM_UPDATE, "DELETE": Action.TEAM_DELETE}
    audit_resource = "team"
    audit_actions = {"PATCH": "team.update", "DELETE": "team.delete"}

    @extend_schema_serializer(component_name="TeamUpdateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        cost_centre = serializers.CharField(max_length=50, required=False, allow_blank=True)
        monthly_budget = serializers.DecimalField(
            max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True
        )

    def _output(self, team):
        team = team_list_for(user=self.request.user, token=self.token).get(pk=team.pk)
        return TeamOutput(team, context={"roles": {team.pk: self.role}}).data

    @extend_schema(responses=TeamOutput)
    def get(self, request, slug):
        return Response(self._output(self.get_team(slug)))

    @extend_schema(request=InputSerializer, responses=TeamOutput)
    def patch(self, request, slug):
        team = self.get_team(slug)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        team = team_update(team=team, actor=request.user, **data.validated_data)
        return Response(self._output(team))

    @extend_schema(responses={204: None})
    def delete(self, request, slug):
        team_delete(team=self.get_team(slug), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembersApi(TeamScopedApiMixin, APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    role_map = {"GET": Action.MEMBER_VIEW, "POST": Action.MEMBER_MANAGE}
    audit_resource = "membership"
    audit_actions = {"POST": "member.add"}

    @extend_schema_serializer(component_name="MemberAddInput")
    class InputSerializer(serializers.Serializer):
        user = serializers.CharField(help_text="Username or e-mail of an existing user.")
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=MembershipOutput(many=True), parameters=filter_parameters(MembershipFilter))
    def get(self, request, slug):
        team = self.get_team(slug)
        return paginate(
            self, filtered(MembershipFilter, request, membership_list(team=team)), MembershipOutput
        )

    @extend_schema(request=InputSerializer, responses={201: MembershipOutput})
    def post(self, request, slug):
        team = self.get_team(slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_add(
            team=team, actor=request.user, actor_role=self.role, **data.validated_data
        )
        return Response(MembershipOutput(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(TeamScopedApiMixin, APIView):
    role_map = {"GET": Action.MEMBER_VIEW, "PATCH": Action.MEMBER_MANAGE, "DELETE": Action.MEMBER_MANAGE}
    audit_resource = "membership"
    audit_actions = {"PATCH": "member.change_role", "DELETE": "member.remove"}

    @extend_schema_serializer(component_name="MemberRoleInput")
    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=MembershipOutput)
    def get(self, request, slug, pk):
        return Response(MembershipOutput(membership_get(team=self.get_team(slug), membership_id=pk)).data)

    @extend_schema(request=InputSerializer, responses=MembershipOutput)
    def patch(self, request, slug, pk):
        membership = membership_get(team=self.get_team(slug), membership_id=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_change_role(
            membership=membership, actor=request.user, actor_role=self.role, role=data.validated_data["role"]
        )
        return Response(MembershipOutput(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug, pk):
        membership = membership_get(team=self.get_team(slug), membership_id=pk)
        membership_remove(membership=membership, actor=request.user, actor_role=self.role)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokensApi(TeamScopedApiMixin, APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    role_map = {"GET": Action.TOKEN_OWN, "POST": Action.TOKEN_OWN}
    audit_resource = "api_token"
    audit_actions = {"POST": "token.create"}

    @extend_schema_serializer(component_name="TokenCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=Scope.choices),
            allow_empty=False,
            help_text="read, write, invoke, finance",
        )
        scope = serializers.ChoiceField(
            choices=TokenScope.choices,
            default=TokenScope.TEAM,
            help_text="team: acts as your membership in this team; platform: acts as a platform admin "
            "(superusers only).",
        )
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(responses=ApiTokenOutput(many=True), parameters=filter_parameters(ApiTokenFilter))
    def get(self, request, slug):
        team = self.get_team(slug)
        tokens = api_token_list(team=team, user=request.user, role=self.role)
        return paginate(self, filtered(ApiTokenFilter, request, tokens), ApiTokenOutput)

    @extend_schema(request=InputSerializer, responses={201: ApiTokenCreatedOutput})
    def post(self, request, slug):
        team = self.get_team(slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, plaintext = api_token_create(
            team=team, actor=request.user, actor_token=self.token, **data.validated_data
        )
        return Response(
            ApiTokenCreatedOutput(token, context={"plaintext": plaintext}).data,
            status=status.HTTP_201_CREATED,
        )


class TokenDetailApi(TeamScopedApiMixin, APIView):
    """DELETE revokes: the row stays, so the audit log and last-used time still make sense."""

    role_map = {"GET": Action.TOKEN_OWN, "DELETE": Action.TOKEN_OWN}
    audit_resource = "api_token"
    audit_actions = {"DELETE": "token.revoke"}

    def _token(self, slug, pk) -> ApiToken:
        team = self.get_team(slug)
        return api_token_get(team=team, token_id=pk, user=self.request.user, role=self.role)

    @extend_schema(responses=ApiTokenOutput)
    def get(self, request, slug, pk):
        return Response(ApiTokenOutput(self._token(slug, pk)).data)

    @extend_schema(responses={200: ApiTokenOutput})  # the revoked token, not an empty 204
    def delete(self, request, slug, pk):
        return Response(
            ApiTokenOutput(api_token_revoke(token=self._token(slug, pk), actor=request.user)).data
        )


class TeamAuditEventsApi(TeamScopedApiMixin, APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    role_map = {"GET": Action.AUDIT_VIEW}

    @extend_schema(responses=AuditEventOutput(many=True), parameters=filter_parameters(AuditEventFilter))
    def get(self, request, slug):
        team = self.get_team(slug)
        events = AuditEvent.objects.filter(team_id=team.pk)
        return paginate(self, filtered(AuditEventFilter, request, events), AuditEventOutput)


class AuditEventsApi(generics.ListAPIView):
    """Every audit event, for platform operators (superusers signed in)."""

    serializer_class = AuditEventOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = AuditEventFilter
    token_allowed = False
    queryset = AuditEvent.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        if not is_platform_admin(self.request):
            raise PermissionDenied("Only platform operators read the whole audit log; use your team's log.")
        return audit_event_list(user=self.request.user, token=self.request.auth)


class _PlatformApi(APIView):
    permission_classes = [IsAuthenticatedWithScope, IsPlatformAdmin]
    audit_resource = "platform_grant"

    @property
    def token(self) -> ApiToken | None:
        return self.request.auth if isinstance(self.request.auth, ApiToken) else None


class PlatformGrantsApi(_PlatformApi):
    """Roles above every team (platform finance reads every team's costs). Platform admins only."""

    audit_actions = {"POST": "platform_grant.create"}

    @extend_schema_serializer(component_name="PlatformGrantInput")
    class InputSerializer(serializers.Serializer):
        user = serializers.CharField(help_text="Username or e-mail of an existing user.")
        role = serializers.ChoiceField(choices=PlatformRole.choices)

    @extend_schema(responses=PlatformGrantOutput(many=True))
    def get(self, request):
        return paginate(self, platform_grant_list(), PlatformGrantOutput)

    @extend_schema(request=InputSerializer, responses={201: PlatformGrantOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant = platform_grant_create(actor=request.user, actor_token=self.token, **data.validated_data)
        return Response(PlatformGrantOutput(grant).data, status=status.HTTP_201_CREATED)


class PlatformGrantDetailApi(_PlatformApi):
    audit_actions = {"DELETE": "platform_grant.revoke"}

    @extend_schema(responses=PlatformGrantOutput)
    def get(self, request, pk):
        return Response(PlatformGrantOutput(platform_grant_get(grant_id=pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        platform_grant_revoke(
            grant=platform_grant_get(grant_id=pk), actor=request.user, actor_token=self.token
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenIntrospectApi(APIView):
    """For the gateway: is this bearer token active, for which team and scopes (RFC 7662 shape)."""

    authentication_classes = []
    permission_classes = [AllowAny, HasGatewaySecret]

    @extend_schema_serializer(component_name="TokenIntrospectInput")
    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=200)

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "Introspection",
            {
                "active": serializers.BooleanField(),
                "token_id": serializers.IntegerField(required=False),
                "team": serializers.CharField(required=False),
                "scopes": serializers.ListField(child=serializers.CharField(), required=False),
                "expires_at": serializers.DateTimeField(required=False, allow_null=True),
            },
        ),
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(api_token_introspect(raw=data.validated_data["token"]))
