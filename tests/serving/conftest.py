"""Fixtures for the data plane: tiny models, real server and gateway processes on 127.0.0.1,
and a stand-in for the control plane's introspection and wake endpoints."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from serving.store import SqliteStore
from tests.serving.builders import build_llama, build_onnx

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SECRET = "test-gateway-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A data-plane program run as a real subprocess, its stderr kept in a file for failures."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None, log: Path) -> None:
        self.args, self.log = args, log
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self._log_file = open(log, "wb")  # noqa: SIM115 (handed to the child, closed on stop)
        self.proc = subprocess.Popen(
            [PYTHON, *args], cwd=REPO, env=full_env, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.args} not ready at {url} after {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log_file.close()


class ModelServer(Process):
    def __init__(self, model: Path, fmt: str, name: str, log_dir: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                "-m",
                "serving.server",
                "--model",
                str(model),
                "--format",
                fmt,
                "--name",
                name,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *extra,
            ],
            env=None,
            log=log_dir / f"server-{name}-{self.port}.log",
        )
        self.wait_ready(self.url + "/v2/health/ready")


class FakeControlPlane:
    """The two control-plane endpoints the gateway calls, with tokens the test can revoke."""

    def __init__(self) -> None:
        self.tokens: dict[str, dict] = {}
        self.wakes: list[dict] = []
        self.on_wake = None  # callable(team, deployment) run in the server thread
        self.introspections = 0
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                if self.headers.get("x-gateway-secret") != SECRET:
                    return self._reply(403, {"detail": "bad gateway secret"})
                if self.path == "/api/v1/auth/introspect":
                    plane.introspections += 1
                    return self._reply(200, plane.tokens.get(body.get("token"), {"active": False}))
                if self.path == "/api/v1/internal/deployments/wake":
                    plane.wakes.append(body)
                    if plane.on_wake is not None:
                        plane.on_wake(body["team"], body["deployment"])
                    return self._reply(202, {"status": "waking"})
                self._reply(404, {"detail": "not found"})

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def issue(
        self,
        token: str,
        *,
        team: str,
        scopes=("read", "invoke"),
        token_id: int = 1,
        expires_at: str | None = None,
    ) -> str:
        self.tokens[token] = {
            "active": True,
            "token_id": token_id,
            "team": team,
            "scopes": list(scopes),
            "expires_at": expires_at,
        }
        return token

    def revoke(self, token: str) -> None:
        self.tokens[token] = {"active": False}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="session")
def onnx_model(workdir) -> Path:
    return build_onnx(workdir / "tiny.onnx")


@pytest.fixture(scope="session")
def llama_dir(workdir) -> Path:
    return build_llama(workdir / "llama")


@pytest.fixture(scope="session")
def onnx_server(onnx_model, workdir):
    server = ModelServer(onnx_model, "onnx", "tiny", workdir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llama_server(llama_dir, workdir):
    server = ModelServer(llama_dir, "huggingface", "llama", workdir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def controlplane():
    plane = FakeControlPlane()
    yield plane
    plane.close()


@pytest.fixture(scope="session")
def store_path(workdir) -> Path:
    return workdir / "dataplane.sqlite3"


@pytest.fixture(scope="session")
def store(store_path):
    store = SqliteStore(store_path)
    yield store
    store.close()


def start_gateway(
    *, controlplane_url: str, secret: str, store_path: Path, log: Path, extra_env: dict | None = None
) -> Process:
    port = free_port()
    env = {
        "CONTROLPLANE_URL": controlplane_url,
        "GATEWAY_SHARED_SECRET": secret,
        "DATAPLANE_STORE_PATH": str(store_path),
        "REDIS_URL": "",
        "GATEWAY_COLD_START_TIMEOUT": "3",
        "GATEWAY_HEALTH_INTERVAL_SECONDS": "0.5",
        "GATEWAY_METER_FLUSH_SECONDS": "0.2",
        **(extra_env or {}),
    }
    process = Process(["-m", "serving.gateway", "--host", "127.0.0.1", "--port", str(port)], env=env, log=log)
    process.port, process.url = port, f"http://127.0.0.1:{port}"
    process.wait_ready(process.url + "/readyz")
    return process


@pytest.fixture(scope="session")
def gateway(controlplane, store, store_path, workdir):
    process = start_gateway(
        controlplane_url=controlplane.url, secret=SECRET, store_path=store_path, log=workdir / "gateway.log"
    )
    yield process
    process.stop()
