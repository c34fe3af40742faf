"""One error type for services and one handler that gives every API error the same shape:

{"error": {"code": "...", "message": "...", "fields": {"name": ["..."]}, "request_id": "..."}}
"""

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler

from controlplane.tenancy.context import current_request_context


class ApplicationError(Exception):
    """A rule of the domain was broken; `extra={"field": name}` points the user at the input.
    `code` picks the status: "invalid" 400, "forbidden" 403, "conflict" 409."""

    def __init__(self, message: str, *, extra: dict | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.code = code


TOO_LARGE_MESSAGE = "The request body is larger than this server accepts."
_STATUS_BY_CODE = {"forbidden": status.HTTP_403_FORBIDDEN, "conflict": status.HTTP_409_CONFLICT}


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [f"{k}: {m}" for k, v in detail.items() for m in _flatten(v)]
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item)]
    return [str(detail)]


def _django_validation_body(exc: DjangoValidationError) -> dict:
    """A model's full_clean() or a validator run in a service: a 400 naming the fields, as DRF's are."""
    if hasattr(exc, "error_dict"):
        rename = {NON_FIELD_ERRORS: "non_field_errors"}  # DRF's name for errors of no one field
        fields = {rename.get(k, k): v for k, v in exc.message_dict.items()}
        message = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
    else:
        fields, message = {}, " ".join(exc.messages)
    return {"code": "invalid", "message": message, "fields": fields}


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Django's limit on bodies it buffers (DATA_UPLOAD_MAX_MEMORY_SIZE); Django itself would say 400.
        body = {"code": "request_too_large", "message": TOO_LARGE_MESSAGE, "fields": {}}
        response = Response({"error": body}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    elif isinstance(exc, DjangoValidationError):
        body = _django_validation_body(exc)
        response = Response({"error": body}, status=status.HTTP_400_BAD_REQUEST)
    elif isinstance(exc, ApplicationError):
        field = exc.extra.get("field")
        body = {"code": exc.code, "message": exc.message, "fields": {field: [exc.message]} if field else {}}
        response = Response(
            {"error": body}, status=_STATUS_BY_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST)
        )
    else:
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        elif isinstance(exc, PermissionDenied):
            exc = exceptions.PermissionDenied()
        response = exception_handler(exc, context)
        if response is None:
            return None
        if isinstance(exc, exceptions.ValidationError):
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            fields = {k: _flatten(v) for k, v in detail.items()}
            message = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
            body = {"code": "invalid", "message": message, "fields": fields}
        else:
            codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
            body = {
                "code": codes if isinstance(codes, str) else "error",
                "message": " ".join(_flatten(response.data.get("detail", response.data))),
                "fields": {},
            }
        response.data = {"error": body}
    body["request_id"] = current_request_context().request_id
    from controlplane.tenancy.services.audit import audit_record_failed_request

    request = context.get("request")
    audit_record_failed_request(request=request, view=context.get("view"), error=body)
    if request is not None:
        # JSON whatever the view would render on success: a browser's Accept picks the browsable
        # API's HTML, and the schema view renders YAML, for errors too otherwise.
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    return response
