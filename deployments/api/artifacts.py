"""REST API of the model registry. Raw file bytes (one-shot PUT, resumable PATCH chunks) are read
straight from the request stream in fixed chunks; the body is never parsed or held in memory."""

import re

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api_access import TeamScopedApiMixin
from controlplane.api_helpers import filter_parameters, filtered, paginate
from controlplane.exceptions import ApplicationError
from controlplane.pagination import DefaultPagination
from controlplane.tenancy.permissions import Action
from controlplane.tenancy.platform import is_platform_admin
from deployments.choices import ArtifactFormat
from deployments.filters import ModelArtifactFilter
from deployments.inspection.names import show
from deployments.models import RegistryPolicy
from deployments.selectors import artifact_file_get, artifact_get, artifact_list, upload_get
from deployments.services import (
    artifact_complete,
    artifact_create,
    artifact_delete,
    artifact_file_put,
    artifact_register_uri,
    registry_policy_update,
    upload_abort,
    upload_append,
    upload_start,
)
from deployments.storage import storage_iter

from .serializers.artifacts import (
    ArtifactFileOutput,
    ModelArtifactListOutput,
    ModelArtifactOutput,
    UploadOutput,
    UploadPathField,
)


def _content_length(request) -> int | None:
    value = request.META.get("CONTENT_LENGTH")
    return int(value) if value and value.isdigit() else None


# Django re-percent-encodes URL bytes that are not UTF-8 (django.utils.encoding.
# repercent_broken_unicode): a lone surrogate sent as %ED%A0%80 reaches the view as the text
# "%ED%A0%80", a different, harmless-looking name. Such a byte is always >= 0x80 and written in
# upper case, so that shape is refused; a name that really holds "%E9" can use the uploads API.
_REPERCENTED = re.compile(r"%[89A-F][0-9A-F]")


def _url_file_path(path: str) -> str:
    if _REPERCENTED.search(path):
        raise ApplicationError(
            f"Invalid file path {show(path)}: the URL holds bytes that are not UTF-8 (a lone surrogate "
            "or a broken sequence); percent-encode the UTF-8 bytes of the name.",
            extra={"field": "path"},
        )
    return path


class ArtifactScopedMixin(TeamScopedApiMixin):
    audit_resource = "model_artifact"

    def get_artifact(self, slug: str, pk: int):
        return artifact_get(team=self.get_team(slug), artifact_id=pk)


class ModelsApi(TeamScopedApiMixin, APIView):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    role_map = {"GET": Action.MODEL_VIEW, "POST": Action.MODEL_MANAGE}
    audit_resource = "model_artifact"
    audit_actions = {"POST": "model.create"}

    @extend_schema_serializer(component_name="ModelCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, help_text="e.g. deepseek-r1-distill-qwen-7b")
        format = serializers.ChoiceField(choices=ArtifactFormat.choices)
        description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
        source_uri = serializers.CharField(
            max_length=1000,
            required=False,
            allow_blank=True,
            default="",
            help_text="s3://bucket/key to register a model already in S3 instead of uploading.",
        )

    @extend_schema(
        responses=ModelArtifactListOutput(many=True), parameters=filter_parameters(ModelArtifactFilter)
    )
    def get(self, request, slug):
        team = self.get_team(slug)
        return paginate(
            self, filtered(ModelArtifactFilter, request, artifact_list(team=team)), ModelArtifactListOutput
        )

    @extend_schema(request=InputSerializer, responses={201: ModelArtifactOutput})
    def post(self, request, slug):
        team = self.get_team(slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        uri = fields.pop("source_uri")
        if uri:
            artifact = artifact_register_uri(team=team, actor=request.user, uri=uri, **fields)
        else:
            artifact = artifact_create(team=team, actor=request.user, **fields)
        return Response(ModelArtifactOutput(artifact).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(ArtifactScopedMixin, APIView):
    role_map = {"GET": Action.MODEL_VIEW, "DELETE": Action.MODEL_MANAGE}
    audit_actions = {"DELETE": "model.delete"}

    @extend_schema(responses=ModelArtifactOutput)
    def get(self, request, slug, pk):
        return Response(ModelArtifactOutput(self.get_artifact(slug, pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug, pk):
        artifact_delete(artifact=self.get_artifact(slug, pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelFileApi(ArtifactScopedMixin, APIView):
    """PUT streams one file in (for small files; use uploads/ for large ones). GET downloads it."""

    role_map = {"GET": Action.MODEL_VIEW, "PUT": Action.MODEL_MANAGE}
    audit_actions = {"PUT": "model.file_upload"}
    audit_request_body = False

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "X-Checksum-SHA256",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Hex SHA-256 of the file; verified while streaming.",
            )
        ],
        responses={201: ArtifactFileOutput},
    )
    def put(self, request, slug, pk, path):
        artifact = self.get_artifact(slug, pk)
        file = artifact_file_put(
            artifact=artifact,
            actor=request.user,
            path=_url_file_path(path),
            stream=request._request,
            length=_content_length(request),
            sha256=request.headers.get("X-Checksum-SHA256", ""),
        )
        return Response(ArtifactFileOutput(file).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, slug, pk, path):
        artifact = self.get_artifact(slug, pk)
        file = artifact_file_get(artifact=artifact, path=_url_file_path(path))
        response = StreamingHttpResponse(
            storage_iter(f"{artifact.storage_prefix}/{file.path}"), content_type="application/octet-stream"
        )
        response["Content-Length"] = str(file.size_bytes)
        response["Content-Disposition"] = f'attachment; filename="{file.path.rsplit("/", 1)[-1]}"'
        response["X-Checksum-SHA256"] = file.sha256
        return response


class UploadsApi(ArtifactScopedMixin, APIView):
    role_map = {"POST": Action.MODEL_MANAGE}
    audit_actions = {"POST": "model.upload_start"}

    @extend_schema_serializer(component_name="UploadStartInput")
    class InputSerializer(serializers.Serializer):
        path = UploadPathField(help_text="Where the file goes in the model folder, e.g. onnx/model.onnx.")
        size = serializers.IntegerField(min_value=0, help_text="Total bytes of the file.")
        sha256 = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: UploadOutput})
    def post(self, request, slug, pk):
        artifact = self.get_artifact(slug, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = upload_start(artifact=artifact, actor=request.user, **data.validated_data)
        return Response(UploadOutput(session).data, status=status.HTTP_201_CREATED)


class UploadDetailApi(ArtifactScopedMixin, APIView):
    """GET tells the offset to resume from; PATCH appends a chunk at `Upload-Offset`; DELETE aborts."""

    role_map = {"GET": Action.MODEL_MANAGE, "PATCH": Action.MODEL_MANAGE, "DELETE": Action.MODEL_MANAGE}
    audit_actions = {"PATCH": "model.upload_chunk", "DELETE": "model.upload_abort"}
    audit_request_body = False

    def _upload(self, slug, pk, upload_id):
        return upload_get(artifact=self.get_artifact(slug, pk), upload_id=upload_id)

    @extend_schema(responses=UploadOutput)
    def get(self, request, slug, pk, upload_id):
        upload = self._upload(slug, pk, upload_id)
        return Response(UploadOutput(upload).data, headers={"Upload-Offset": str(upload.offset)})

    @extend_schema(
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True)],
        responses={
            200: UploadOutput,
            201: inline_serializer(  # the last chunk: the file as stored
                "UploadCompleted", {"complete": serializers.BooleanField(), "file": ArtifactFileOutput()}
            ),
        },
    )
    def patch(self, request, slug, pk, upload_id):
        upload = self._upload(slug, pk, upload_id)
        offset = request.headers.get("Upload-Offset", "")
        session, file = upload_append(
            session=upload,
            actor=request.user,
            offset=int(offset) if offset.isdigit() else None,
            stream=request._request,
            length=_content_length(request),
        )
        if file is not None:
            return Response(
                {"complete": True, "file": ArtifactFileOutput(file).data},
                status=status.HTTP_201_CREATED,
                headers={"Upload-Offset": str(file.size_bytes)},
            )
        return Response(UploadOutput(session).data, headers={"Upload-Offset": str(session.offset)})

    @extend_schema(responses={204: None})
    def delete(self, request, slug, pk, upload_id):
        upload_abort(session=self._upload(slug, pk, upload_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelCompleteApi(ArtifactScopedMixin, APIView):
    role_map = {"POST": Action.MODEL_MANAGE}
    audit_actions = {"POST": "model.complete"}

    @extend_schema(request=None, responses={202: ModelArtifactOutput})
    def post(self, request, slug, pk):
        artifact = artifact_complete(artifact=self.get_artifact(slug, pk), actor=request.user)
        return Response(ModelArtifactOutput(artifact).data, status=status.HTTP_202_ACCEPTED)


class RegistryPolicyApi(TeamScopedApiMixin, APIView):
    """Platform admins decide whether a team may upload pickle weights or code files, and how large
    a model may be."""

    role_map = {"GET": Action.MODEL_VIEW, "PATCH": Action.MODEL_VIEW}
    audit_resource = "registry_policy"
    audit_actions = {"PATCH": "model.policy_update"}

    @extend_schema_serializer(component_name="RegistryPolicy")
    class PolicySerializer(serializers.ModelSerializer):
        class Meta:
            model = RegistryPolicy
            fields = ["allow_pickle_weights", "allow_code_files", "max_artifact_bytes", "updated_at"]
            read_only_fields = ["updated_at"]
            # null until a platform admin first sets the team's policy (the defaults apply)
            extra_kwargs = {"updated_at": {"allow_null": True}}

    @extend_schema(responses=PolicySerializer)
    def get(self, request, slug):
        team = self.get_team(slug)
        return Response(
            self.PolicySerializer(RegistryPolicy.objects.filter(team=team).first() or RegistryPolicy()).data
        )

    @extend_schema(request=PolicySerializer, responses=PolicySerializer)
    def patch(self, request, slug):
        team = self.get_team(slug)
        if not is_platform_admin(request):
            raise PermissionDenied("Only platform admins change a team's registry policy.")
        data = self.PolicySerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        policy = registry_policy_update(team=team, actor=request.user, **data.validated_data)
        return Response(self.PolicySerializer(policy).data)
