"""Team secrets API: write-only. Lists show name and last change; no response ever holds a value.
Members list names (Action.TEAM_VIEW); only admins and owners set or delete (Action.TEAM_UPDATE)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api_access import TeamScopedApiMixin
from controlplane.tenancy.permissions import Action
from deployments.selectors.secrets import secret_list
from deployments.services.secrets import secret_delete, secret_set

from .serializers.secrets import SecretOutput


class SecretsApi(TeamScopedApiMixin, APIView):
    role_map = {"GET": Action.TEAM_VIEW, "POST": Action.TEAM_UPDATE}
    audit_actions = {"POST": "secret.create"}
    audit_resource = "secret"

    @extend_schema_serializer(component_name="SecretSetInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, help_text="e.g. HF_TOKEN; [A-Z_][A-Z0-9_]*")
        value = serializers.CharField(
            write_only=True, trim_whitespace=False, style={"input_type": "password"}
        )

    @extend_schema(responses=SecretOutput(many=True))
    def get(self, request, slug):
        return Response(SecretOutput(secret_list(team=self.get_team(slug)), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: SecretOutput})
    def post(self, request, slug):
        team = self.get_team(slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        secret = secret_set(team=team, actor=request.user, **data.validated_data)
        return Response(SecretOutput(secret).data, status=status.HTTP_201_CREATED)


class SecretDetailApi(TeamScopedApiMixin, APIView):
    role_map = {"PUT": Action.TEAM_UPDATE, "DELETE": Action.TEAM_UPDATE}
    audit_actions = {"PUT": "secret.rotate", "DELETE": "secret.delete"}
    audit_resource = "secret"

    @extend_schema_serializer(component_name="SecretValueInput")
    class InputSerializer(serializers.Serializer):
        value = serializers.CharField(
            write_only=True, trim_whitespace=False, style={"input_type": "password"}
        )

    @extend_schema(request=InputSerializer, responses=SecretOutput)
    def put(self, request, slug, name):
        team = self.get_team(slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            SecretOutput(secret_set(team=team, name=name, actor=request.user, **data.validated_data)).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request, slug, name):
        secret = get_object_or_404(secret_list(team=self.get_team(slug)), name=name)
        secret_delete(secret=secret, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
