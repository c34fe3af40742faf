"""The model server: one model, one process.

    python -m serving.server --model PATH --format onnx|huggingface --name NAME \\
        --host 127.0.0.1 --port 9001 [--max-batch-size 32 --batch-window-ms 5]

The process binds its port at once and answers ``/v2/health/live``; the model loads in a
background thread and ``/v2/health/ready`` turns 200 only when it has loaded. If loading fails,
the process prints why and exits with status 1, so whoever started it (the ``local`` backend, a
Kubernetes probe) sees a failure rather than a server that never becomes ready.

Inference runs in worker threads, so requests in flight never hold up health checks.

When ``SERVING_REPLICA_TOKEN`` is set (the ``local`` backend always sets it) every request but the
health checks must carry it in ``X-Replica-Token``, or gets a 401: only the gateway, which derives
each replica's token from its own secret (:mod:`serving.replica_token`), reaches the model. A
server started by hand without it (a bench) stays open.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serving.batching import DynamicBatcher
from serving.config import ServerSettings, server_settings, uvicorn_options
from serving.errors import EXCEPTION_HANDLERS, ApiError, error_response
from serving.metrics import RequestMetricsMiddleware, metrics_endpoint, request_metrics
from serving.replica_token import REPLICA_TOKEN_ENV, REPLICA_TOKEN_HEADER

logger = logging.getLogger("serving.server")

FORMATS = ("onnx", "huggingface")
LIVE_PATH, HEALTH_PATH = "/v2/health/live", "/v2/health/ready"
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ModelHost:
    """The loaded model and everything the protocol endpoints share: where inference runs,
    the batcher, the metrics, and whether the model is ready."""

    def __init__(
        self,
        *,
        name: str,
        fmt: str,
        path: str,
        max_batch_size: int,
        batch_window_ms: float,
        settings: ServerSettings,
        registry: CollectorRegistry,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
        self.name, self.format, self.path = name, fmt, path
        self.max_batch_size, self.batch_window_ms, self.settings = max_batch_size, batch_window_ms, settings
        self.state = "loading"
        self.error: str | None = None
        self.model: Any = None
        self.batcher: DynamicBatcher | None = None
        self.on_load_failure = lambda: None  # main() points this at uvicorn's shutdown
        # ONNX sessions are thread-safe and release the GIL: one thread per core. A torch model
        # gets one thread, so requests queue in order and torch uses every core for each one.
        workers = (os.cpu_count() or 2) if fmt == "onnx" else 1
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="infer")
        self.waiting = 0  # requests handed to the executor and not yet finished

        self.batch_size = Histogram(
            "serving_batch_size", "Rows per model execution", buckets=BATCH_BUCKETS, registry=registry
        )
        Gauge(
            "serving_queue_depth", "Requests waiting for or in model execution", registry=registry
        ).set_function(self.queue_depth)
        self.tokens = Counter("serving_tokens_total", "Tokens processed", ["direction"], registry=registry)
        Gauge("serving_model_ready", "1 once the model has loaded", registry=registry).set_function(
            lambda: 1.0 if self.state == "ready" else 0.0
        )

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def queue_depth(self) -> int:
        return self.waiting + (self.batcher.depth if self.batcher is not None else 0)

    # -- loading ---------------------------------------------------------------------------

    def load_model(self) -> Any:
        if self.format == "onnx":
            from serving.runtimes.onnx import OnnxModel

            return OnnxModel(
                self.path,
                device=self.settings.device,
                intra_op_threads=self.settings.ort_intra_op_threads,
                spin=self.settings.ort_spin,
            )
        from serving.runtimes.hf import HfModel

        return HfModel(self.path, device=self.settings.device)

    async def start_loading(self) -> None:
        loop = asyncio.get_running_loop()

        def load() -> None:
            try:
                model = self.load_model()
            except Exception as exc:  # any failure to load is fatal for this process
                loop.call_soon_threadsafe(self._failed, f"{type(exc).__name__}: {exc}")
                return
            loop.call_soon_threadsafe(self._loaded, model)

        threading.Thread(target=load, name="model-loader", daemon=True).start()

    def _loaded(self, model: Any) -> None:
        self.model = model
        if self.format == "onnx" and model.batchable and self.max_batch_size > 1:
            self.batcher = DynamicBatcher(
                model.run,
                executor=self.executor,
                max_batch_size=self.max_batch_size,
                window_s=self.batch_window_ms / 1000,
                max_queue=self.settings.max_queue,
                on_batch=self.batch_size.observe,
            )
            self.batcher.start()
        self.state = "ready"
        logger.info("serving.server.ready", extra={"model": self.name})
        print(
            f"serving: model {self.name!r} ({self.format}) loaded from {self.path}; ready",
            file=sys.stderr,
            flush=True,
        )

    def _failed(self, reason: str) -> None:
        self.state, self.error = "failed", reason
        print(
            f"error: cannot load {self.format} model {self.name!r} from {self.path}: {reason}",
            file=sys.stderr,
            flush=True,
        )
        self.on_load_failure()

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- running ---------------------------------------------------------------------------

    def require_ready(self) -> None:
        if not self.ready:
            raise ApiError(
                503, "model_not_ready", f"model {self.name!r} is {self.state}", headers={"Retry-After": "1"}
            )

    def require_name(self, name: str) -> None:
        if name != self.name:
            raise ApiError(
                404,
                "model_not_found",
                f"model {name!r} is not served here; this server serves {self.name!r}",
                field="name",
            )

    async def run(self, fn, *args) -> Any:
        """Run blocking model work in the executor, refusing new work when the queue is full."""
        if self.waiting >= self.settings.max_queue:
            raise ApiError(
                503,
                "overloaded",
                f"{self.waiting} requests are already queued; retry shortly",
                headers={"Retry-After": "1"},
            )
        self.waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self.waiting -= 1

    async def infer(self, feeds):
        """ONNX inference, through the dynamic batcher when the model has a batch dimension."""
        if self.batcher is not None:
            return await self.batcher.submit(feeds)
        self.batch_size.observe(next(iter(feeds.values())).shape[0] if feeds else 1)
        return await self.run(self.model.run, feeds)


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"live": True})


# Probed by whoever runs the replica (the local backend, the gateway's health checker, Kubernetes)
# without a token; they say nothing about the model beyond whether it has loaded.
OPEN_PATHS = frozenset({LIVE_PATH, HEALTH_PATH})


class ReplicaTokenGuard:
    """Refuses every request but the health checks unless it carries the replica's token.

    Outermost, plain ASGI: a refused request never reaches routing, metrics or the model."""

    def __init__(self, app, *, token: str) -> None:
        self.app, self.token = app, token.encode()
        self.header = REPLICA_TOKEN_HEADER.lower().encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            sent = next((v for k, v in scope["headers"] if k == self.header), b"")
            if not hmac.compare_digest(sent, self.token):  # constant time: no guessing byte by byte
                response = error_response(
                    401,
                    "replica_token_required",
                    "this replica answers only the gateway; call the deployment's endpoint instead",
                    field=REPLICA_TOKEN_HEADER,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(host: ModelHost, registry: CollectorRegistry, *, replica_token: str = "") -> Starlette:
    from serving.protocols import v2

    async def ready(request: Request) -> JSONResponse:
        body = {"ready": host.ready, "status": host.state}
        if host.error:
            body["error"] = host.error
        return JSONResponse(body, status_code=200 if host.ready else 503)

    routes = [
        Route(LIVE_PATH, live),
        Route(HEALTH_PATH, ready),
        Route("/metrics", metrics_endpoint(registry)),
        *v2.routes(host),
    ]
    if host.format == "huggingface":
        from serving.protocols import openai  # imports torch: only for Hugging Face models

        routes += openai.routes(host)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await host.start_loading()
        try:
            yield
        finally:
            await host.stop()

    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    requests, latency = request_metrics(registry, "serving")
    app.add_middleware(
        RequestMetricsMiddleware,
        requests=requests,
        latency=latency,
        skip=frozenset({"/metrics", LIVE_PATH, HEALTH_PATH}),
    )
    if replica_token:
        app.add_middleware(ReplicaTokenGuard, token=replica_token)
    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serving.server", description="Serve one model.")
    parser.add_argument("--model", required=True, help="path to a .onnx file or a save_pretrained directory")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--name", required=True, help="model name used in URLs (/v2/models/NAME)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=32,
        help="rows per dynamic batch for ONNX models; 1 turns batching off",
    )
    parser.add_argument(
        "--batch-window-ms",
        type=float,
        default=5.0,
        help="how long the oldest request waits for others to join its batch",
    )
    parser.add_argument("--log-level", default=os.environ.get("SERVING_LOG_LEVEL", "warning"))
    args = parser.parse_args(argv)
    if args.max_batch_size < 1:
        parser.error("--max-batch-size must be at least 1")
    if args.batch_window_ms < 0:
        parser.error("--batch-window-ms must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    if not Path(args.model).exists():
        print(
            f"error: cannot load {args.format} model {args.name!r}: {args.model} does not exist",
            file=sys.stderr,
        )
        return 1
    registry = CollectorRegistry()
    host = ModelHost(
        name=args.name,
        fmt=args.format,
        path=args.model,
        max_batch_size=args.max_batch_size,
        batch_window_ms=args.batch_window_ms,
        settings=server_settings(),
        registry=registry,
    )
    # Read once and dropped from the environment, so model code that lists os.environ later (or a
    # subprocess it starts) does not find it lying around.
    replica_token = os.environ.pop(REPLICA_TOKEN_ENV, "")
    app = build_app(host, registry, replica_token=replica_token)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        **uvicorn_options(),
    )
    server = uvicorn.Server(config)

    def shutdown() -> None:
        server.should_exit = True

    host.on_load_failure = shutdown
    server.run()
    if host.state == "failed":
        return 1
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
