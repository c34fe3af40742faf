"""Settings for the data plane, read from the environment with embedded defaults.

Every variable is listed in ``serving/README.md``. Values are read once, when a program starts,
through :func:`gateway_settings` / :func:`server_settings`, so tests can set the environment of a
subprocess and nothing else.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"error: environment variable {name}={raw!r} is not a number") from None


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"error: environment variable {name}={raw!r} is not an integer") from None


def var_dir() -> Path:
    """Where the embedded defaults keep their files: the control plane's ``CONTROLPLANE_VAR_DIR``
    (default ``var/`` at the repository root), so both sides find the same files whatever
    directory they were started from."""
    return Path(env_str("CONTROLPLANE_VAR_DIR", str(REPO_DIR / "var")))


def gateway_shared_secret() -> str:
    """``GATEWAY_SHARED_SECRET``, or else the secret the control plane keeps in
    ``var/gateway-secret`` (made here first if the gateway starts before it), so a fresh clone
    runs with no configuration and no well-known default secret."""
    value = env_str("GATEWAY_SHARED_SECRET", "")
    if value:
        return value
    path = var_dir() / "gateway-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x") as handle:  # "x": never overwrite the control plane's secret
            handle.write(secrets.token_urlsafe(48))
        path.chmod(0o600)
    except FileExistsError:
        pass
    for _ in range(50):  # the other side may have created the file and not yet written it
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"error: {path} is empty; set GATEWAY_SHARED_SECRET")


def uvicorn_options() -> dict[str, str]:
    """Event loop and HTTP parser for both programs. ``auto`` takes uvloop and httptools when
    they are installed (they are pinned in pyproject.toml) and falls back to asyncio and h11."""
    return {"loop": env_str("SERVING_EVENT_LOOP", "auto"), "http": env_str("SERVING_HTTP_PARSER", "auto")}


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    controlplane_url: str
    shared_secret: str
    auth_cache_seconds: float
    auth_stale_seconds: float
    routes_poll_seconds: float
    meter_flush_seconds: float
    health_interval_seconds: float
    cold_start_timeout: float
    upstream_timeout: float
    max_connections: int


def gateway_settings() -> GatewaySettings:
    return GatewaySettings(
        controlplane_url=env_str("CONTROLPLANE_URL", "http://127.0.0.1:8000").rstrip("/"),
        shared_secret=gateway_shared_secret(),
        # Revocation must take effect within 5 s; 2 s of caching keeps the control plane out of
        # the hot path while leaving room for one slow introspection round trip.
        auth_cache_seconds=env_float("GATEWAY_AUTH_CACHE_SECONDS", 2.0),
        # How long a token the control plane allowed keeps working while the control plane cannot
        # be reached at all (a restart, a deploy): inference outlives a short outage of Django.
        auth_stale_seconds=env_float("GATEWAY_AUTH_STALE_SECONDS", 60.0),
        # The version check is one tiny read; 250 ms polling makes a new route live well within 1 s.
        routes_poll_seconds=env_float("GATEWAY_ROUTES_POLL_SECONDS", 0.1),
        meter_flush_seconds=env_float("GATEWAY_METER_FLUSH_SECONDS", 1.0),
        health_interval_seconds=env_float("GATEWAY_HEALTH_INTERVAL_SECONDS", 1.0),
        cold_start_timeout=env_float("GATEWAY_COLD_START_TIMEOUT", 120.0),
        # Long generations stream for minutes; this bounds a single upstream read, not the stream.
        upstream_timeout=env_float("GATEWAY_UPSTREAM_TIMEOUT", 300.0),
        max_connections=env_int("GATEWAY_MAX_CONNECTIONS", 512),
    )


@dataclass(frozen=True, slots=True)
class ServerSettings:
    device: str
    ort_intra_op_threads: int
    ort_spin: bool
    max_queue: int


def server_settings() -> ServerSettings:
    return ServerSettings(
        device=env_str("SERVING_DEVICE", "auto"),
        # 0 lets onnxruntime pick (one thread per core).
        ort_intra_op_threads=env_int("SERVING_ORT_THREADS", 0),
        # onnxruntime's worker threads busy-wait between ops by default. On a host or pod whose
        # cores are shared (other replicas, the gateway, a CPU limit) that spinning burns the
        # CPU others need: on bench/serving.py it doubled the replica's CPU per request.
        ort_spin=env_int("SERVING_ORT_SPIN", 0) == 1,
        # Beyond this many waiting requests the server answers 503 instead of queueing forever.
        max_queue=env_int("SERVING_MAX_QUEUE", 1024),
    )
