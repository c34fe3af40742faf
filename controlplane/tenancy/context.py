"""Who is asking, from where, under which request id: set once per request (or task) and read by the
audit log, so services need not thread the HTTP request through their signatures."""

import contextvars
import uuid
from dataclasses import dataclass


@dataclass(slots=True)
class RequestContext:
    request_id: str = ""
    client_address: str | None = None
    token_id: int | None = None
    token_prefix: str = ""


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "request_context", default=None
)


def current_request_context() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        ctx = RequestContext()
        _current.set(ctx)
    return ctx


def start_request_context(*, request_id: str | None = None, client_address: str | None = None):
    return _current.set(
        RequestContext(request_id=request_id or uuid.uuid4().hex, client_address=client_address)
    )


def end_request_context(token) -> None:
    _current.reset(token)
