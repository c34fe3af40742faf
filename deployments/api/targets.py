"""REST API of targets: the ones a caller's teams may deploy to, and registering one (platform
admins). Kubernetes credentials and "test connection" are in deployments.api.kubernetes."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api_helpers import paginate
from controlplane.pagination import DefaultPagination
from controlplane.tenancy.platform import is_platform_admin
from deployments.choices import TargetKind
from deployments.models import Target
from deployments.services.targets import target_create

from .serializers.targets import TargetOutput


class TargetsApi(APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    audit_resource = "target"
    audit_actions = {"POST": "target.create"}

    @extend_schema_serializer(component_name="TargetCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        kind = serializers.ChoiceField(choices=TargetKind.choices)
        description = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        settings = serializers.DictField(required=False, default=dict)
        gpu_inventory = serializers.DictField(
            child=serializers.IntegerField(min_value=0), required=False, allow_null=True, default=None
        )
        all_teams = serializers.BooleanField(default=True)

    @extend_schema(responses=TargetOutput(many=True))
    def get(self, request):
        """Targets your teams may deploy to (all of them for platform admins)."""
        from django.db.models import Q

        from controlplane.tenancy.models import ApiToken
        from controlplane.tenancy.selectors import team_list_for

        token = request.auth if isinstance(request.auth, ApiToken) else None
        if is_platform_admin(request):
            targets = Target.objects.all()
        else:
            teams = team_list_for(user=request.user, token=token)
            targets = Target.objects.filter(Q(all_teams=True) | Q(teams__in=teams)).distinct()
        return paginate(self, targets.order_by("name"), TargetOutput)

    @extend_schema(request=InputSerializer, responses={201: TargetOutput})
    def post(self, request):
        if not is_platform_admin(request):
            raise PermissionDenied(
                "Only platform admins register targets: sign in, or use a token with the platform scope."
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = target_create(actor=request.user, **data.validated_data)
        return Response(TargetOutput(target).data, status=status.HTTP_201_CREATED)
