"""Errors that never reach DRF's exception handler (unknown paths, oversize bodies, bad hosts, CSRF
failures, crashes) answer in the API's one JSON shape under /api/; the console keeps Django's pages.

Wired as handler400/403/404/500 in controlplane/urls.py and CSRF_FAILURE_VIEW in settings."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from controlplane.exceptions import TOO_LARGE_MESSAGE
from controlplane.tenancy.context import current_request_context

logger = logging.getLogger(__name__)


def is_api_request(request) -> bool:
    return request.path_info.startswith("/api/")


def request_id(request) -> str:
    # RequestContextMiddleware sets request.request_id; the context covers code that runs before it.
    return getattr(request, "request_id", "") or current_request_context().request_id


def error_response(request, status: int, *, code: str, message: str) -> JsonResponse:
    body = {"code": code, "message": message, "fields": {}, "request_id": request_id(request)}
    return JsonResponse({"error": body}, status=status)


def too_large_response(request) -> JsonResponse:
    return error_response(request, 413, code="request_too_large", message=TOO_LARGE_MESSAGE)


def bad_request(request, exception, template_name="400.html"):
    if not is_api_request(request):
        return defaults.bad_request(request, exception, template_name)
    # Django sends RequestDataTooBig here as a SuspiciousOperation; to a client it is a 413.
    if isinstance(exception, RequestDataTooBig):
        return too_large_response(request)
    # The exception's text may name a host or header the caller sent; the message stays generic.
    return error_response(request, 400, code="bad_request", message="The request is malformed.")


def permission_denied(request, exception, template_name="403.html"):
    if not is_api_request(request):
        return defaults.permission_denied(request, exception, template_name)
    return error_response(
        request, 403, code="permission_denied", message="You do not have permission to perform this action."
    )


def page_not_found(request, exception, template_name="404.html"):
    if not is_api_request(request):
        return defaults.page_not_found(request, exception, template_name)
    return error_response(request, 404, code="not_found", message="Not found.")


def server_error(request, template_name="500.html"):
    if not is_api_request(request):
        return defaults.server_error(request, template_name)
    # Never the exception: its text or traceback may hold secrets. The request id finds it in the log,
    # next to the traceback Django logs right after this.
    response = error_response(
        request,
        500,
        code="server_error",
        message="Internal server error; quote the request id when you report it.",
    )
    logger.error(
        "controlplane.server_error request_id=%s %s %r",  # %r: a path may hold control characters
        request_id(request),
        request.method,
        request.path,
    )
    return response


def csrf_failure(request, reason=""):
    if not is_api_request(request):
        return django_csrf_failure(request, reason)
    return error_response(request, 403, code="csrf_failed", message=f"CSRF verification failed: {reason}")
