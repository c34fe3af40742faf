import os
import signal
from pathlib import Path

import pytest

from deployments.backends.base import DeploymentSpec, TargetConfig
from deployments.backends.local import LocalBackend
from tests.deployments.e2e import marked_processes, wait_for
from tests.factories.models import tiny_onnx_bytes


@pytest.fixture
def backend(tmp_path):
    b = LocalBackend(
        TargetConfig(name="local", kind="local", settings={"workdir": str(tmp_path / "replicas")})
    )
    yield b
    b.delete("alpha-tiny")


@pytest.fixture
def spec(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(tiny_onnx_bytes())
    return DeploymentSpec(
        key="alpha-tiny",
        team="alpha",
        deployment="tiny",
        revision=1,
        model_format="onnx",
        model_name="tiny-mlp",
        model_path=str(folder),
        model_sha256="x",
        replicas=2,
        min_replicas=2,
        max_replicas=2,
    )


def test_a_crashed_replica_is_reported_and_replaced(backend, spec):
    backend.apply(spec)
    observed = wait_for(
        lambda: (o := backend.observe(spec.key)) and len(o.ready()) == 2 and o, what="2 ready"
    )
    victim = observed.replicas[0]
    pid = next(
        p
        for p in marked_processes(spec.key)
        if f"CONTROLPLANE_REPLICA_ID={victim.id}".encode()
        in Path(f"/proc/{p}/environ").read_bytes().split(b"\0")
    )
    os.kill(pid, signal.SIGKILL)

    crashed = wait_for(lambda: (o := backend.observe(spec.key)).events and o, what="crash noticed")
    assert [e.kind for e in crashed.events] == ["replica_crashed"]
    assert victim.id in crashed.events[0].message
    backend.apply(spec)
    after = wait_for(lambda: (o := backend.observe(spec.key)) and len(o.ready()) == 2 and o, what="replaced")
    assert victim.id not in {r.id for r in after.replicas}
    assert len(marked_processes(spec.key)) == 2


def test_a_new_backend_adopts_live_replicas_instead_of_duplicating(backend, spec, tmp_path):
    backend.apply(spec)
    wait_for(lambda: len(backend.observe(spec.key).ready()) == 2, what="2 ready")
    # A restarted worker: a new backend object over the same folder, with nothing in memory.
    restarted = LocalBackend(
        TargetConfig(name="local", kind="local", settings={"workdir": str(tmp_path / "replicas")})
    )
    restarted.apply(spec)
    restarted.apply(spec)
    assert len(restarted.observe(spec.key).ready()) == 2 and len(marked_processes(spec.key)) == 2
    restarted.delete(spec.key)
    assert marked_processes(spec.key) == [] and restarted.observe(spec.key).exists is False
    # Nothing of the replicas stays on disk: records, logs, their private working folders.
    assert not (tmp_path / "replicas" / spec.key).exists()


def test_missing_model_files_are_a_permanent_error(backend, spec):
    from dataclasses import replace

    from deployments.backends.base import PermanentBackendError

    with pytest.raises(PermanentBackendError, match="model files are missing"):
        backend.apply(replace(spec, model_path="/nonexistent/model"))
