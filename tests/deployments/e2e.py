"""Helpers for end-to-end tests: a real gateway process, waiting on deployment state, and finding
model-server processes by the local backend's marker."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from deployments.backends.local import MARKER
from deployments.models import Deployment, ModelArtifact
from tests.factories.models import tiny_onnx_weights

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    def __init__(self, *, controlplane_url: str, secret: str, redis_url: str, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "CONTROLPLANE_URL": controlplane_url,
            "GATEWAY_SHARED_SECRET": secret,
            "REDIS_URL": redis_url,
            "GATEWAY_ROUTES_POLL_SECONDS": "0.1",
            "GATEWAY_HEALTH_INTERVAL_SECONDS": "0.5",
            "GATEWAY_METER_FLUSH_SECONDS": "0.5",
        }
        self.log = open(log, "wb")  # noqa: SIM115 (handed to the gateway process, closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving.gateway", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"gateway did not start:\n{Path(log).read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def wait_for(predicate, *, timeout: float = 90, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def deployment_state(pk: int) -> Deployment:
    return Deployment.objects.select_related("current_revision").get(pk=pk)


def wait_ready(pk: int, *, replicas: int | None = None, revision: int | None = None, timeout: float = 120):
    def check():
        d = deployment_state(pk)
        if d.status == "failed":
            events = list(d.events.values_list("kind", "message")[:5])
            raise AssertionError(f"deployment failed: {d.status_message} {events}")
        ok = d.status == "ready" and d.observed_generation == d.generation
        ok = ok and (replicas is None or (d.ready_replicas == replicas and len(d.serving_urls) == replicas))
        ok = ok and (revision is None or d.current_revision.number == revision)
        return d if ok else None

    try:
        return wait_for(check, timeout=timeout, what=f"deployment {pk} ready")
    except AssertionError:
        d = deployment_state(pk)
        events = list(d.events.order_by("-id").values_list("kind", "message")[:8])
        raise AssertionError(
            f"deployment {pk} not ready: status={d.status} {d.status_message!r} "
            f"ready={d.ready_replicas} urls={d.serving_urls} gen={d.generation}/"
            f"{d.observed_generation} replicas={d.replicas} events={events}"
        ) from None


def wait_artifact_ready(pk: int) -> ModelArtifact:
    return wait_for(lambda: ModelArtifact.objects.filter(pk=pk, status="ready").first(), what="model ready")


# The replica folder of the running test's installation (set by the autouse artifact_dirs fixture):
# replicas of other test runs on the same host carry the same key under another folder.
CURRENT_REPLICA_ROOT: list[Path] = []


def marked_processes(key: str) -> list[int]:
    wanted = f"{MARKER}={key}@{CURRENT_REPLICA_ROOT[0]}".encode() if CURRENT_REPLICA_ROOT else None
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                env = (entry / "environ").read_bytes()
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            items = env.split(b"\0")
            mine = (
                wanted in items if wanted else any(i.startswith(f"{MARKER}={key}@".encode()) for i in items)
            )
            if mine and stat != "Z":
                found.append(int(entry.name))
    return found


def expected_output(x: np.ndarray, scale: float) -> list[float]:
    weights, bias = tiny_onnx_weights(scale)
    return (x @ weights + bias).astype(np.float32).reshape(-1).tolist()


def infer_body(x: np.ndarray) -> dict:
    return {
        "inputs": [{"name": "X", "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1).tolist()}]
    }
