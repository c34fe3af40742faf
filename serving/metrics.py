"""Prometheus plumbing shared by the model server and the gateway.

Each program builds its metrics on its own :class:`CollectorRegistry` (not the process-global
one) so two apps in one test process never collide, and serves them on ``/metrics``.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

# The *_created series double the exposition size and no dashboard of ours reads them.
disable_created_metrics()

# Request latency buckets in seconds: sub-millisecond for tiny ONNX models up to minutes for
# long generations.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
)


def metrics_endpoint(registry: CollectorRegistry):
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


class RequestMetricsMiddleware:
    """Counts requests by route template and status and times them to the last body byte.

    A plain ASGI middleware rather than ``BaseHTTPMiddleware``, which would buffer streamed
    responses and costs a task per request. The route label is the matched route's template
    (``/v2/models/{name}/infer``), so label cardinality stays bounded whatever clients send.
    """

    def __init__(
        self, app, *, requests: Counter, latency: Histogram, skip: frozenset[str] = frozenset()
    ) -> None:
        self.app, self.requests, self.latency, self.skip = app, requests, latency, skip

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.requests.labels(route=label, status=str(status)).inc()
            self.latency.labels(route=label).observe(time.perf_counter() - start)


def request_metrics(registry: CollectorRegistry, prefix: str) -> tuple[Counter, Histogram]:
    requests = Counter(
        f"{prefix}_requests_total",
        "HTTP requests by route template and status",
        ["route", "status"],
        registry=registry,
    )
    latency = Histogram(
        f"{prefix}_request_duration_seconds",
        "HTTP request latency to the last body byte",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    return requests, latency
