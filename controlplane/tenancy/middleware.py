import re

from django.conf import settings

from .context import end_request_context, start_request_context

# A caller-supplied request id is kept only when it looks like one, so logs cannot be injected.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_address(request) -> str | None:
    if getattr(settings, "USE_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        token = start_request_context(
            request_id=supplied if _REQUEST_ID.match(supplied) else None,
            client_address=client_address(request),
        )
        try:
            from .context import current_request_context

            request.request_id = current_request_context().request_id
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            return response
        finally:
            end_request_context(token)
