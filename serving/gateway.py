"""The gateway: the one URL clients call for every deployment.

    python -m serving.gateway --host 127.0.0.1 --port 8080

``/endpoints/{team}/{deployment}/{path}`` checks the bearer token (:mod:`serving.auth`), picks a
healthy replica with the fewest requests in flight (:mod:`serving.routing`), forwards ``path``
to it and streams the answer back unbuffered, counting requests, errors, latency, bytes and
tokens (:mod:`serving.metering`). A deployment scaled to zero is woken through the control plane
and the request held until a replica is published. ``/metrics`` is Prometheus text,
``/healthz`` liveness and ``/readyz`` readiness (the route table has been read).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
import uuid

import aiohttp
import anyio
import httpx
import uvicorn
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serving.auth import Introspector, authorize, bearer_token, not_found
from serving.config import GatewaySettings, gateway_settings, uvicorn_options
from serving.errors import EXCEPTION_HANDLERS, ApiError, error_response
from serving.metering import Meter, UsageSniffer
from serving.metrics import LATENCY_BUCKETS, metrics_endpoint
from serving.replica_token import REPLICA_TOKEN_HEADER
from serving.routing import HealthChecker, Replica, RouteTable, RouteWatcher
from serving.routing import Route as DeploymentRoute
from serving.store import Store, open_store

logger = logging.getLogger("serving.gateway")

WAKE_PATH = "/api/v1/internal/deployments/wake"
# RFC 9110 hop-by-hop headers, plus ones the gateway sets itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# A client's own X-Replica-Token is dropped: the gateway sends the replica's.
_DROP_REQUEST = _HOP_BY_HOP | {"host", "authorization", "content-length", REPLICA_TOKEN_HEADER.lower()}
_DROP_RESPONSE_BYTES = frozenset(h.encode() for h in _HOP_BY_HOP | {"server", "date"})
# Methods that may be sent again after the replica died mid-request (RFC 9110 idempotent).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# Responses at most this big with a Content-Length are read whole and sent in one piece, which
# is cheaper than streaming; anything else (SSE, chunked, large) streams through as it arrives.
_BUFFER_LIMIT = 256 * 1024


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["team", "deployment"]
        self.requests = Counter(
            "gateway_requests_total",
            "Authorized requests by deployment and status",
            [*labels, "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "gateway_request_duration_seconds",
            "Request latency to the last byte",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "gateway_tokens_total",
            "Tokens from the OpenAI usage field",
            [*labels, "direction"],
            registry=registry,
        )
        self.bytes = Counter("gateway_bytes_total", "Body bytes", [*labels, "direction"], registry=registry)
        self.denied = Counter(
            "gateway_auth_denied_total", "Requests refused before routing", ["status"], registry=registry
        )
        self.upstream_errors = Counter(
            "gateway_upstream_errors_total",
            "Failed attempts to reach a replica",
            ["reason"],
            registry=registry,
        )
        self.retries = Counter(
            "gateway_retries_total", "Requests sent again to another replica", registry=registry
        )
        self.cold_starts = Counter(
            "gateway_cold_starts_total", "Wake-ups asked of the control plane", labels, registry=registry
        )
        self.in_flight = Gauge("gateway_requests_in_flight", "Requests being proxied", registry=registry)
        self._children: dict[tuple[str, str], tuple] = {}

    def for_deployment(self, team: str, deployment: str) -> tuple:
        """The per-deployment series, resolved once: ``labels()`` is a lock and a dict lookup
        per call, and the hot path would otherwise make five of them per request."""
        children = self._children.get((team, deployment))
        if children is None:
            children = (
                self.latency.labels(team, deployment),
                self.bytes.labels(team, deployment, "in"),
                self.bytes.labels(team, deployment, "out"),
                self.tokens.labels(team, deployment, "in"),
                self.tokens.labels(team, deployment, "out"),
            )
            self._children[(team, deployment)] = children
        return children


class Gateway:
    """Everything a request needs, built once per process."""

    def __init__(self, settings: GatewaySettings, store: Store, registry: CollectorRegistry) -> None:
        self.settings, self.store = settings, store
        self.metrics = GatewayMetrics(registry)
        self.table = RouteTable(settings.shared_secret)
        self.meter = Meter(store, interval=settings.meter_flush_seconds)
        # Replica traffic goes through aiohttp (created in start(), inside the event loop): measured
        # on the bench, httpx's connection pool costs about 1 ms of CPU per request, more than
        # the whole budget the gateway has. Control-plane calls are rare and stay on httpx.
        self.upstream: aiohttp.ClientSession | None = None
        # trust_env=False: an HTTP_PROXY meant for the outside world must never see our traffic.
        # Idle pooled connections are dropped after 5 s, well before gunicorn's 75 s keep-alive
        # (controlplane/tenancy/management/commands/serve.py), so the gateway closes first.
        self.controlplane = httpx.AsyncClient(
            trust_env=False, timeout=httpx.Timeout(5.0), limits=httpx.Limits(keepalive_expiry=5.0)
        )
        self.introspector = Introspector(
            self.controlplane,
            controlplane_url=settings.controlplane_url,
            shared_secret=settings.shared_secret,
            cache_seconds=settings.auth_cache_seconds,
            stale_seconds=settings.auth_stale_seconds,
        )
        self.watcher = RouteWatcher(self.table, store, interval=settings.routes_poll_seconds)
        self.health: HealthChecker | None = None
        self._tasks: list[asyncio.Task] = []
        self._wakes: dict[str, asyncio.Task] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.settings.max_connections,
            limit_per_host=0,
            # Below uvicorn's 5 s keep-alive, so we never reuse a connection the replica is
            # closing at that very moment (a POST lost that way could not be safely retried).
            keepalive_timeout=4.0,
        )
        self.upstream = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            # Forward what the client sent, and nothing aiohttp would add on its own.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, connect=2.0, sock_read=self.settings.upstream_timeout),
        )
        self.health = HealthChecker(self.table, self.upstream, interval=self.settings.health_interval_seconds)
        try:
            await self.watcher.poll_once()
        except Exception:  # start anyway; the watcher keeps trying and /readyz says 503 until then
            logger.exception("serving.gateway.first_route_load_failed")
        for name, job in (
            ("routes", self.watcher.run()),
            ("health", self.health.run()),
            ("meter", self.meter.run()),
        ):
            self._tasks.append(asyncio.get_running_loop().create_task(job, name=f"gateway-{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.meter.flush()  # the last second of traffic is billable too
        if self.upstream is not None:
            await self.upstream.close()
        await self.controlplane.aclose()

    # -- choosing a replica ----------------------------------------------------------------

    async def replica_for(self, team: str, deployment: str, exclude: tuple[Replica, ...] = ()) -> Replica:
        route = self.table.get(team, deployment)
        if route is None:
            raise not_found(team, deployment)
        replica = self.table.pick(route, exclude)
        if replica is not None:
            return replica
        if not route.scaled_to_zero:
            raise ApiError(
                503,
                "no_ready_replica",
                f"deployment '{team}/{deployment}' has no ready replica"
                + (" left to retry on" if exclude else "; it may be starting, failing or stopped"),
                field="deployment",
                headers={"Retry-After": "5"},
            )
        return await self._cold_start(route)

    async def _cold_start(self, route: DeploymentRoute) -> Replica:
        await self._wake(route)
        deadline = time.monotonic() + self.settings.cold_start_timeout
        while True:
            current = self.table.get(route.team, route.deployment)
            if current is None:  # deleted while we waited
                raise not_found(route.team, route.deployment)
            replica = self.table.pick(current)
            if replica is not None:
                return replica
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ApiError(
                    503,
                    "cold_start_timeout",
                    f"deployment '{route.key}' is starting from zero and had no ready replica after "
                    f"{self.settings.cold_start_timeout:g} s; retry shortly",
                    field="deployment",
                    headers={"Retry-After": "10"},
                )
            # A new route table or a replica passing its health check wakes us early.
            await self.table.wait_changed(min(remaining, 1.0))

    async def _wake(self, route: DeploymentRoute) -> None:
        """Ask the control plane to start the deployment; concurrent requests share one call."""
        task = self._wakes.get(route.key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._post_wake(route))
            self._wakes[route.key] = task
            task.add_done_callback(lambda _: self._wakes.pop(route.key, None))
            self.metrics.cold_starts.labels(route.team, route.deployment).inc()
        await asyncio.shield(task)

    async def _post_wake(self, route: DeploymentRoute) -> None:
        url = self.settings.controlplane_url + WAKE_PATH
        try:
            response = await self.controlplane.post(
                url,
                json={"team": route.team, "deployment": route.deployment},
                headers={"X-Gateway-Secret": self.settings.shared_secret},
            )
        except httpx.HTTPError as exc:
            logger.warning("serving.gateway.wake_failed", extra={"route": route.key, "error": repr(exc)})
            raise ApiError(
                503,
                "wake_failed",
                f"could not ask the control plane to start '{route.key}'",
                field="deployment",
                headers={"Retry-After": "5"},
            ) from None
        if response.status_code >= 300:
            logger.warning(
                "serving.gateway.wake_refused", extra={"route": route.key, "status": response.status_code}
            )
            raise ApiError(
                503,
                "wake_failed",
                f"the control plane answered {response.status_code} when asked to start '{route.key}'",
                field="deployment",
                headers={"Retry-After": "5"},
            )

    # -- proxying ------------------------------------------------------------------------

    async def proxy(self, request: Request) -> Response:
        started = time.perf_counter()
        team = request.path_params["team"]
        deployment = request.path_params["deployment"]
        try:
            token = bearer_token(request.headers.get("authorization"))
            info = await self.introspector.introspect(token)
            authorize(info, team, deployment)
        except ApiError as exc:
            self.metrics.denied.labels(str(exc.status)).inc()
            raise
        if self.table.get(team, deployment) is None:
            # Checked before metering so that made-up names never create meter keys.
            raise not_found(team, deployment)
        # From here on the caller is a member of the team: everything is metered to them.
        body = await request.body()
        record = _Recorder(self, team, deployment, info.token_id, started, len(body))
        try:
            response = await self._forward(request, team, deployment, body, record)
        except ApiError as exc:
            record.finish(exc.status, 0, None)
            raise
        except Exception:
            record.finish(500, 0, None)
            raise
        return response

    async def _forward(
        self, request: Request, team: str, deployment: str, body: bytes, record: _Recorder
    ) -> Response:
        target = _upstream_target(request.scope)
        headers = [(k, v) for k, v in request.headers.items() if k not in _DROP_REQUEST]
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        headers.append(("x-request-id", request_id))
        if request.client is not None:
            headers.append(("x-forwarded-for", request.client.host))
        headers.append(("x-forwarded-prefix", f"/endpoints/{team}/{deployment}"))

        tried: tuple[Replica, ...] = ()
        while True:
            replica = await self.replica_for(team, deployment, tried)
            tried += (replica,)
            replica.outstanding += 1
            self.metrics.in_flight.inc()
            try:
                upstream = await self.upstream.request(
                    request.method,
                    replica.url + target,
                    headers=[*headers, (REPLICA_TOKEN_HEADER, replica.token)] if replica.token else headers,
                    data=body,
                    allow_redirects=False,
                )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Nothing reached the replica: safe to send any method elsewhere.
                self._release(replica)
                self.table.mark_down(replica)
                self.metrics.upstream_errors.labels("connect").inc()
                if len(tried) < 2:
                    self.metrics.retries.inc()
                    continue
                raise _bad_gateway(exc) from None
            except (aiohttp.SocketTimeoutError, TimeoutError):
                self._release(replica)
                self.metrics.upstream_errors.labels("timeout").inc()
                raise ApiError(
                    504,
                    "upstream_timeout",
                    f"the replica of '{team}/{deployment}' did not answer in "
                    f"{self.settings.upstream_timeout:g} s",
                ) from None
            except aiohttp.ClientError as exc:
                # The replica died with the request in hand: only idempotent requests are resent.
                self._release(replica)
                self.table.mark_down(replica)
                self.metrics.upstream_errors.labels("transport").inc()
                if request.method in _IDEMPOTENT and len(tried) < 2:
                    self.metrics.retries.inc()
                    continue
                raise _bad_gateway(exc) from None
            return await self._respond(upstream, replica, record, request_id)

    def _release(self, replica: Replica) -> None:
        replica.outstanding -= 1
        self.metrics.in_flight.dec()

    async def _respond(
        self, upstream: aiohttp.ClientResponse, replica: Replica, record: _Recorder, request_id: str
    ) -> Response:
        headers = [(k, v) for k, v in upstream.raw_headers if k.lower() not in _DROP_RESPONSE_BYTES]
        headers.append((b"x-request-id", request_id.encode("latin-1")))
        sniffer = UsageSniffer(upstream.headers.get("Content-Type", ""))
        length = upstream.content_length
        if length is not None and length <= _BUFFER_LIMIT:
            try:
                # Raw bytes (auto_decompress is off): Content-Length and Content-Encoding pass through.
                content = await upstream.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.metrics.upstream_errors.labels("transport").inc()
                raise _bad_gateway(exc) from None
            finally:
                upstream.release()
                self._release(replica)
            sniffer.feed(content)
            record.finish(upstream.status, len(content), sniffer)
            response = Response(content, status_code=upstream.status)
            response.raw_headers = headers
            return response

        def done(status: int, sent: int) -> None:
            self._release(replica)
            record.finish(status, sent, sniffer)

        return _Relay(upstream, headers, sniffer, done, self.metrics)


class _Relay(Response):
    """Streams a replica's response to the client chunk by chunk, as it arrives.

    Starlette's ``StreamingResponse`` skips its background task when the client disconnects
    under ASGI 2.4 servers; a proxy must always close the upstream response, release the replica
    and meter the request, so this response does its own bookkeeping in ``finally``. A watcher
    on ``receive`` stops the relay when the client hangs up, which closes the upstream
    connection and lets the replica stop generating.
    """

    def __init__(
        self,
        upstream: aiohttp.ClientResponse,
        headers: list[tuple[bytes, bytes]],
        sniffer: UsageSniffer,
        done,
        metrics: GatewayMetrics,
    ) -> None:
        self.upstream, self.raw_headers, self.sniffer, self.done, self.metrics = (
            upstream,
            headers,
            sniffer,
            done,
            metrics,
        )
        self.status_code = upstream.status
        self.background = None

    async def __call__(self, scope, receive, send) -> None:
        status, sent, complete = self.status_code, 0, False

        async def pump(cancel_scope: anyio.CancelScope) -> None:
            nonlocal status, sent, complete
            try:
                await send(
                    {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
                )
                async for chunk in self.upstream.content.iter_any():
                    self.sniffer.feed(chunk)
                    sent += len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                complete = True
            except (aiohttp.ClientError, TimeoutError):
                # The status line is already out; all we can do is cut the stream and count it.
                self.metrics.upstream_errors.labels("stream").inc()
                status = 502
            except OSError:  # the client went away (ASGI 2.4 servers raise on send)
                pass
            finally:
                cancel_scope.cancel()

        async def watch(cancel_scope: anyio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(pump, group.cancel_scope)
                group.start_soon(watch, group.cancel_scope)
        finally:
            if complete:
                self.upstream.release()  # the connection goes back to the pool
            else:
                self.upstream.close()  # cut short: the connection is in an unknown state
            self.done(status, sent)


class _Recorder:
    """Meters one authorized request once, whichever way it ends."""

    __slots__ = ("gateway", "team", "deployment", "token_id", "started", "bytes_in", "done")

    def __init__(
        self,
        gateway: Gateway,
        team: str,
        deployment: str,
        token_id: int | None,
        started: float,
        bytes_in: int,
    ) -> None:
        self.gateway, self.team, self.deployment, self.token_id = gateway, team, deployment, token_id
        self.started, self.bytes_in, self.done = started, bytes_in, False

    def finish(self, status: int, bytes_out: int, sniffer: UsageSniffer | None) -> None:
        if self.done:
            return
        self.done = True
        latency = time.perf_counter() - self.started
        tokens_in, tokens_out = sniffer.finish() if sniffer is not None else (0, 0)
        metrics = self.gateway.metrics
        latency_series, bytes_in, bytes_out_series, tokens_in_series, tokens_out_series = (
            metrics.for_deployment(self.team, self.deployment)
        )
        metrics.requests.labels(self.team, self.deployment, str(status)).inc()
        latency_series.observe(latency)
        bytes_in.inc(self.bytes_in)
        bytes_out_series.inc(bytes_out)
        if tokens_in or tokens_out:
            tokens_in_series.inc(tokens_in)
            tokens_out_series.inc(tokens_out)
        self.gateway.meter.record(
            team=self.team,
            deployment=self.deployment,
            token_id=self.token_id,
            status=status,
            latency_s=latency,
            bytes_in=self.bytes_in,
            bytes_out=bytes_out,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )


def _upstream_target(scope) -> str:
    """The path after ``/endpoints/{team}/{deployment}`` plus the query, still percent-encoded
    as the client sent it (``a%2Fb`` must not become ``a/b`` on the way to the replica)."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    rest = path.split("/", 4)[4] if path.count("/") >= 4 else ""
    query = scope.get("query_string", b"").decode("latin-1")
    return "/" + rest + ("?" + query if query else "")


class _Front:
    """Sends ``/endpoints/{team}/{deployment}/...`` straight to the proxy and everything else
    (health, metrics, lifespan) through Starlette. The proxy is the hot path: skipping the
    router and two exception middlewares is a measurable share of the gateway's CPU per request."""

    def __init__(self, app: Starlette, gateway: Gateway) -> None:
        self.app, self.gateway = app, gateway
        self.state = app.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/endpoints/"):
            parts = scope["path"].split("/", 4)  # "", "endpoints", team, deployment, rest
            if len(parts) >= 4 and parts[2] and parts[3]:
                scope["path_params"] = {"team": parts[2], "deployment": parts[3]}
                try:
                    response = await self.gateway.proxy(Request(scope, receive))
                except ApiError as exc:
                    response = error_response(
                        exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers
                    )
                except Exception:
                    logger.exception("serving.gateway.proxy_failed")
                    response = error_response(
                        500, "internal_error", "the gateway failed to proxy the request"
                    )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _bad_gateway(exc: Exception) -> ApiError:
    return ApiError(
        502,
        "upstream_unavailable",
        f"the replica failed while handling the request "
        f"({type(exc).__name__}); it has been taken out of rotation",
        headers={"Retry-After": "1"},
    )


def create_app(settings: GatewaySettings | None = None, store: Store | None = None) -> _Front:
    """The gateway as an ASGI app (also mountable beside Django under one port)."""
    settings = settings or gateway_settings()
    store = store or open_store()
    registry = CollectorRegistry()
    gateway = Gateway(settings, store, registry)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"live": True})

    async def readyz(request: Request) -> JSONResponse:
        if gateway.table.loaded:
            return JSONResponse(
                {"ready": True, "routes": len(gateway.table.routes), "routes_version": gateway.table.version}
            )
        return error_response(503, "not_ready", "the route table has not been read from the store yet")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(registry)),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return _Front(app, gateway)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.gateway", description="Serve the gateway.")
    parser.add_argument("--host", default=os.environ.get("GATEWAY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8080")))
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("GATEWAY_WORKERS", "1")),
        help="worker processes; one event loop tops out near one core",
    )
    parser.add_argument("--log-level", default=os.environ.get("SERVING_LOG_LEVEL", "warning"))
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    # Each worker builds its own app (factory): its own replica pool, token cache and meter,
    # all adding to the same store, so metering stays exact with any number of workers.
    uvicorn.run(
        "serving.gateway:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        **uvicorn_options(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
