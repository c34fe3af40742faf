"""A real local replica does not inherit the control plane's environment or run in the project folder."""

import os
from pathlib import Path

import pytest

from deployments.backends.base import DeploymentSpec, TargetConfig
from deployments.backends.local import LocalBackend
from tests.deployments.e2e import marked_processes, wait_for
from tests.factories.models import tiny_onnx_bytes

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def backend(tmp_path):
    b = LocalBackend(
        TargetConfig(name="local", kind="local", settings={"workdir": str(tmp_path / "replicas")})
    )
    yield b
    b.delete("sec-env")


def test_replica_environment_and_cwd_are_the_platforms(backend, tmp_path, monkeypatch):
    # What the control plane holds and a replica must never see.
    monkeypatch.setenv("DJANGO_SECRET_KEY", "cp-secret-canary")
    monkeypatch.setenv("GATEWAY_SECRET", "gw-secret-canary")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-canary")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(tiny_onnx_bytes())
    spec = DeploymentSpec(
        key="sec-env",
        team="sec",
        deployment="env",
        revision=1,
        model_format="onnx",
        model_name="tiny-mlp",
        model_path=str(folder),
        model_sha256="x",
        replicas=1,
        min_replicas=1,
        max_replicas=1,
        env=(("OMP_NUM_THREADS", "1"),),
    )
    backend.apply(spec)
    wait_for(lambda: (o := backend.observe(spec.key)) and len(o.ready()) == 1, what="1 ready")
    (pid,) = marked_processes(spec.key)
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    for leaked in (b"cp-secret-canary", b"gw-secret-canary", b"aws-canary", b"DATABASE_URL", b"REDIS_URL"):
        assert leaked not in environ
    assert b"OMP_NUM_THREADS=1" in environ.split(b"\0")
    cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    assert cwd != PROJECT and PROJECT not in cwd.parents
