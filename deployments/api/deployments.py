"""REST API of deployments: create, read, update, scale, pin, roll back, stop, start, delete, their
revisions and events, and the gateway's wake call for a deployment scaled to zero."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api_access import HasGatewaySecret, TeamScopedApiMixin
from controlplane.api_helpers import paginate
from controlplane.pagination import DefaultPagination
from controlplane.tenancy.permissions import Action
from deployments.choices import ScalingMetric
from deployments.selectors import artifact_get
from deployments.selectors.deployments import deployment_get, deployment_list, target_list_for
from deployments.services.deployments import (
    deployment_create,
    deployment_delete,
    deployment_pin,
    deployment_rollback,
    deployment_scale,
    deployment_start,
    deployment_stop,
    deployment_update,
    deployment_wake,
)

from .serializers.deployments import DeploymentOutput, EventOutput, RevisionOutput


class _Spec(serializers.Serializer):
    """Fields of a deployment's spec, shared by create and update."""

    model_id = serializers.IntegerField(help_text="A ready model version of the team.")
    gpu_type = serializers.CharField(required=False, allow_blank=True, help_text="Empty for CPU.")
    gpu_count = serializers.IntegerField(required=False, min_value=0, max_value=16)
    min_replicas = serializers.IntegerField(required=False, min_value=0, max_value=100)
    max_replicas = serializers.IntegerField(required=False, min_value=1, max_value=100)
    scaling_metric = serializers.ChoiceField(choices=ScalingMetric.choices, required=False)
    scaling_target = serializers.FloatField(required=False, min_value=0.01)
    scale_up_window_s = serializers.IntegerField(required=False, min_value=0, max_value=3600)
    scale_down_window_s = serializers.IntegerField(required=False, min_value=0, max_value=3600)
    idle_timeout_s = serializers.IntegerField(required=False, min_value=30, max_value=7 * 86400)
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    secrets = serializers.JSONField(
        required=False,
        help_text="Team secrets the replicas receive: a list of names (each injected under its own name) "
        "or a mapping of environment variable name to secret name. Values are never returned.",
    )
    memory_override = serializers.BooleanField(required=False)


def _spec_options(view, data: dict) -> dict:
    options = dict(data)
    if "model_id" in options:
        options["artifact"] = artifact_get(team=view.team, artifact_id=options.pop("model_id"))
    return options


class DeploymentsApi(TeamScopedApiMixin, APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    role_map = {"GET": Action.MODEL_VIEW, "POST": Action.MODEL_MANAGE}
    audit_resource = "deployment"
    audit_actions = {"POST": "deployment.create"}

    @extend_schema_serializer(component_name="DeploymentCreateInput")
    class InputSerializer(_Spec):
        name = serializers.CharField(max_length=22, help_text="DNS-safe; part of the endpoint URL.")
        target = serializers.CharField(help_text="Target name.")

    @extend_schema(responses=DeploymentOutput(many=True))
    def get(self, request, slug):
        return paginate(self, deployment_list(team=self.get_team(slug)), DeploymentOutput)

    @extend_schema(request=InputSerializer, responses={201: DeploymentOutput})
    def post(self, request, slug):
        team = self.get_team(slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = dict(data.validated_data)
        target = target_list_for(team=team).filter(name=options.pop("target")).first()
        if target is None:
            raise serializers.ValidationError({"target": ["No such target available to this team."]})
        name = options.pop("name")
        options = _spec_options(self, options)
        deployment = deployment_create(team=team, actor=request.user, name=name, target=target, **options)
        return Response(
            DeploymentOutput(deployment_get(team=team, deployment_id=deployment.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class DeploymentDetailApi(TeamScopedApiMixin, APIView):
    """GET the deployment; PATCH changes its spec (a new revision); DELETE removes it."""

    role_map = {"GET": Action.MODEL_VIEW, "PATCH": Action.MODEL_MANAGE, "DELETE": Action.MODEL_MANAGE}
    audit_resource = "deployment"
    audit_actions = {"PATCH": "deployment.updated", "DELETE": "deployment.delete"}

    @extend_schema_serializer(component_name="DeploymentUpdateInput")
    class InputSerializer(_Spec):
        model_id = serializers.IntegerField(required=False)

    @extend_schema(responses=DeploymentOutput)
    def get(self, request, slug, pk):
        return Response(DeploymentOutput(deployment_get(team=self.get_team(slug), deployment_id=pk)).data)

    @extend_schema(request=InputSerializer, responses={202: DeploymentOutput})
    def patch(self, request, slug, pk):
        deployment = deployment_get(team=self.get_team(slug), deployment_id=pk)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        deployment = deployment_update(
            deployment=deployment, actor=request.user, **_spec_options(self, data.validated_data)
        )
        return Response(DeploymentOutput(deployment_get(team=self.team, deployment_id=pk)).data, status=202)

    @extend_schema(responses={202: DeploymentOutput})
    def delete(self, request, slug, pk):
        deployment = deployment_delete(
            deployment=deployment_get(team=self.get_team(slug), deployment_id=pk), actor=request.user
        )
        return Response(DeploymentOutput(deployment).data, status=202)


class _DeploymentActionApi(TeamScopedApiMixin, APIView):
    role_map = {"POST": Action.MODEL_MANAGE}
    audit_resource = "deployment"

    def deployment(self, slug, pk):
        return deployment_get(team=self.get_team(slug), deployment_id=pk)


class DeploymentScaleApi(_DeploymentActionApi):
    audit_actions = {"POST": "deployment.scaled"}

    @extend_schema_serializer(component_name="DeploymentScaleInput")
    class InputSerializer(serializers.Serializer):
        min_replicas = serializers.IntegerField(min_value=0, max_value=100)
        max_replicas = serializers.IntegerField(min_value=1, max_value=100)

    @extend_schema(request=InputSerializer, responses={202: DeploymentOutput})
    def post(self, request, slug, pk):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = deployment_scale(
            deployment=self.deployment(slug, pk), actor=request.user, **data.validated_data
        )
        return Response(DeploymentOutput(deployment).data, status=202)


class DeploymentPinApi(_DeploymentActionApi):
    audit_actions = {"POST": "deployment.pin"}

    @extend_schema_serializer(component_name="DeploymentPinInput")
    class InputSerializer(serializers.Serializer):
        replicas = serializers.IntegerField(
            min_value=0,
            max_value=100,
            allow_null=True,
            help_text="null hands the count back to the autoscaler.",
        )

    @extend_schema(request=InputSerializer, responses={202: DeploymentOutput})
    def post(self, request, slug, pk):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = deployment_pin(
            deployment=self.deployment(slug, pk), actor=request.user, **data.validated_data
        )
        return Response(DeploymentOutput(deployment).data, status=202)


class DeploymentRollbackApi(_DeploymentActionApi):
    audit_actions = {"POST": "deployment.rollback"}

    @extend_schema_serializer(component_name="DeploymentRollbackInput")
    class InputSerializer(serializers.Serializer):
        revision = serializers.IntegerField(min_value=1)

    @extend_schema(request=InputSerializer, responses={202: DeploymentOutput})
    def post(self, request, slug, pk):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = deployment_rollback(
            deployment=self.deployment(slug, pk),
            actor=request.user,
            revision_number=data.validated_data["revision"],
        )
        return Response(DeploymentOutput(deployment).data, status=202)


class DeploymentStopApi(_DeploymentActionApi):
    audit_actions = {"POST": "deployment.stop"}

    @extend_schema(request=None, responses={202: DeploymentOutput})
    def post(self, request, slug, pk):
        return Response(
            DeploymentOutput(deployment_stop(deployment=self.deployment(slug, pk), actor=request.user)).data,
            status=202,
        )


class DeploymentStartApi(_DeploymentActionApi):
    audit_actions = {"POST": "deployment.start"}

    @extend_schema(request=None, responses={202: DeploymentOutput})
    def post(self, request, slug, pk):
        return Response(
            DeploymentOutput(deployment_start(deployment=self.deployment(slug, pk), actor=request.user)).data,
            status=202,
        )


class DeploymentRevisionsApi(TeamScopedApiMixin, APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    role_map = {"GET": Action.MODEL_VIEW}

    @extend_schema(responses=RevisionOutput(many=True))
    def get(self, request, slug, pk):
        deployment = deployment_get(team=self.get_team(slug), deployment_id=pk)
        return paginate(
            self, deployment.revisions.select_related("artifact").order_by("-number"), RevisionOutput
        )


class DeploymentEventsApi(TeamScopedApiMixin, APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    role_map = {"GET": Action.MODEL_VIEW}

    @extend_schema(responses=EventOutput(many=True))
    def get(self, request, slug, pk):
        deployment = deployment_get(team=self.get_team(slug), deployment_id=pk)
        return paginate(self, deployment.events.all(), EventOutput)


class DeploymentWakeApi(APIView):
    """For the gateway: a request arrived for a deployment scaled to zero."""

    authentication_classes = []
    permission_classes = [AllowAny, HasGatewaySecret]

    @extend_schema_serializer(component_name="DeploymentWakeInput")
    class InputSerializer(serializers.Serializer):
        team = serializers.CharField()
        deployment = serializers.CharField()

    @extend_schema(
        request=InputSerializer, responses=inline_serializer("Wake", {"status": serializers.CharField()})
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = deployment_wake(
            team_slug=data.validated_data["team"], name=data.validated_data["deployment"]
        )
        if deployment is None:
            raise NotFound("No such running deployment.")
        return Response({"status": "starting"}, status=202)
