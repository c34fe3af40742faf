"""JSON error bodies shared by the model server and the gateway.

Every error is ``{"error": {"code": ..., "message": ...}}``; when one input or field is at fault
its name is in the message and in ``"field"`` so clients can point at it.
"""

from __future__ import annotations

from starlette.responses import JSONResponse


class ApiError(Exception):
    """Raised anywhere below an endpoint; turned into a JSON error response by :func:`error_response`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def error_body(code: str, message: str, field: str | None = None) -> dict:
    error = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def error_response(
    status: int, code: str, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


async def api_error_handler(request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers)


async def not_found_handler(request, exc) -> JSONResponse:
    return error_response(404, "not_found", f"no route for {request.method} {request.url.path}")


async def method_not_allowed_handler(request, exc) -> JSONResponse:
    return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")


EXCEPTION_HANDLERS = {ApiError: api_error_handler, 404: not_found_handler, 405: method_not_allowed_handler}
