"""REST API of the Kubernetes backend: target credentials, "test connection", and a deployment's
manifests ("Show YAML") as JSON or as a YAML download."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api_access import TeamScopedApiMixin
from controlplane.downloads import attachment
from controlplane.tenancy.permissions import Action
from controlplane.tenancy.platform import is_platform_admin
from deployments.models import Target
from deployments.selectors.deployments import deployment_get
from deployments.selectors.manifests import (
    YAML_CONTENT_TYPE,
    deployment_manifests,
    deployment_manifests_file,
)
from deployments.services.kubernetes import target_credentials_set, target_test_connection

from .serializers.targets import TargetOutput


class _PlatformTargetApi(APIView):
    audit_resource = "target"
    token_allowed = False  # cluster credentials are a platform admin's: a session or a platform token

    def target(self, request, pk) -> Target:
        if not is_platform_admin(request):
            raise PermissionDenied("Only platform admins manage cluster credentials.")
        return get_object_or_404(Target, pk=pk)


class TargetCredentialsApi(_PlatformTargetApi):
    """Upload a kubeconfig (stored encrypted, never shown again) or switch to in-cluster credentials."""

    audit_actions = {"POST": "target.credentials_set"}
    audit_request_body = False  # the body is a kubeconfig

    @extend_schema_serializer(component_name="TargetCredentialsInput")
    class InputSerializer(serializers.Serializer):
        kubeconfig = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            trim_whitespace=False,
            help_text="The kubeconfig file's text.",
        )
        context = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            help_text="A context of the kubeconfig; empty uses its current-context.",
        )
        in_cluster = serializers.BooleanField(
            default=False, help_text="Use the control plane pod's service account instead."
        )

    @extend_schema(request=InputSerializer, responses=TargetOutput)
    def post(self, request, pk):
        target = self.target(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = target_credentials_set(target=target, actor=request.user, **data.validated_data)
        return Response(TargetOutput(target).data)


class TargetTestConnectionApi(_PlatformTargetApi):
    audit_actions = {"POST": "target.test_connection"}

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "ConnectionReport",
            {
                "ok": serializers.BooleanField(),
                "error": serializers.CharField(required=False),
                "server_version": serializers.CharField(required=False),
                "nodes": serializers.IntegerField(required=False),
                "gpu_resource": serializers.BooleanField(required=False),
                "gpu_product_label": serializers.CharField(required=False),
                "gpu_product_labels_present": serializers.BooleanField(required=False),
                "allocatable_gpus": serializers.DictField(child=serializers.IntegerField(), required=False),
                "missing_gpu_types": serializers.ListField(child=serializers.CharField(), required=False),
            },
        ),
    )
    def post(self, request, pk):
        return Response(target_test_connection(target=self.target(request, pk), actor=request.user))


class DeploymentManifestsApi(TeamScopedApiMixin, APIView):
    """The exact Kubernetes objects the deployment applies, in apply order."""

    role_map = {"GET": Action.MODEL_VIEW}

    @extend_schema(
        responses=inline_serializer(
            "DeploymentManifests", {"objects": serializers.ListField(child=serializers.DictField())}
        )
    )
    def get(self, request, slug, pk):
        deployment = deployment_get(team=self.get_team(slug), deployment_id=pk)
        return Response({"objects": deployment_manifests(deployment=deployment)})


class DeploymentManifestsYamlApi(TeamScopedApiMixin, APIView):
    """The same as a YAML file to download (for GitOps repositories or `kubectl apply -f`)."""

    role_map = {"GET": Action.MODEL_VIEW}

    @extend_schema(responses={(200, "application/yaml"): OpenApiTypes.STR})
    def get(self, request, slug, pk):
        deployment = deployment_get(team=self.get_team(slug), deployment_id=pk)
        filename, text = deployment_manifests_file(deployment=deployment)
        return attachment(text, filename=filename, content_type=YAML_CONTENT_TYPE)
