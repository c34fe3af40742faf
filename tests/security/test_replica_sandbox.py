"""A local replica is confined: whatever code its model brings, it cannot read the control plane's
secrets, its database folder, other teams' models, the project beyond the `serving` package, or
other processes; when the control plane runs as root it is not root.

A probe runs through the very launch the backend gives a replica (`replica_command`: same sandbox,
same user, same environment) and reports what it could reach; a real replica started by `apply`
is checked from outside (its uid, the root it sees) and leaves nothing behind when stopped or
when it crashes."""

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from deployments.backends.base import DeploymentSpec, TargetConfig
from deployments.backends.local import SANDBOX_USER, LocalBackend
from tests.deployments.e2e import marked_processes, wait_for
from tests.factories.models import tiny_onnx_bytes

PROJECT = Path(__file__).resolve().parents[2]
ROOT = os.getuid() == 0

pytestmark = pytest.mark.skipif(
    not shutil.which("bwrap") and not ROOT,
    reason="bubblewrap is not installed and the tests do not run as root, so there is no sandbox and "
    "no user to drop to (as root, `make test` installs bubblewrap and creates the cpreplica user)",
)

# Runs inside the replica's sandbox; prints what it could and could not do as JSON.
PROBE = r"""
import json, os, sys
targets = json.loads(sys.argv[1])
report = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "read": {}, "list": {}}
for name, path in targets["read"].items():
    try:
        with open(path, "rb") as f:
            report["read"][name] = f.read(64).hex()
    except OSError as exc:
        report["read"][name] = None
for name, path in targets["list"].items():
    try:
        report["list"][name] = sorted(os.listdir(path))
    except OSError:
        report["list"][name] = None
try:
    with open(targets["model_file"], "ab"):
        report["model_writable"] = True
except OSError:
    report["model_writable"] = False
with open(os.path.join(os.environ["HOME"], "scratch"), "w") as f:
    report["home_writable"] = f.write("x") == 1
report["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
import serving.server  # the replica's own code still imports
print(json.dumps(report))
"""


@pytest.fixture
def backend(tmp_path):
    b = LocalBackend(
        TargetConfig(
            name="local",
            kind="local",
            settings={"workdir": str(tmp_path / "replicas"), "sandbox": "required"},
        )
    )
    yield b
    b.delete("alpha-tiny")


@pytest.fixture
def models(tmp_path):
    """This team's model and another team's, side by side in the artifact store, both files
    world-readable (as uploads are): what keeps the other one out of reach is that the sandbox does
    not mount it."""
    artifacts = Path(settings.ARTIFACT_LOCAL_ROOT)
    ours, theirs = artifacts / "alpha" / "tiny-mlp" / "1", artifacts / "beta" / "secret-model" / "1"
    for folder in (ours, theirs):
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(tiny_onnx_bytes())
        (folder / "model.onnx").chmod(0o644)
    return ours, theirs


def _spec(model: Path) -> DeploymentSpec:
    return DeploymentSpec(
        key="alpha-tiny",
        team="alpha",
        deployment="tiny",
        revision=1,
        model_format="onnx",
        model_name="tiny-mlp",
        model_path=str(model),
        model_sha256="x",
        replicas=1,
        min_replicas=1,
        max_replicas=1,
        env=(("OMP_NUM_THREADS", "1"),),
    )


def _no_process_left(root: Path) -> bool:
    """No process (bubblewrap's included: its command line names the replica folders) of `root`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(root).encode() in (entry / "cmdline").read_bytes():
                    return False
            except OSError:
                continue
    return True


def test_a_probe_launched_as_a_replica_reaches_nothing_of_the_control_plane(backend, models, tmp_path):
    ours, theirs = models
    var = Path(settings.VAR_DIR)
    for secret in ("django-secret-key", "gateway-secret"):
        assert (var / secret).is_file()  # there to be stolen, on the host
    # Another replica's private folder, of this very deployment.
    neighbour = backend.work_folder("alpha-tiny", "neighbour")
    (neighbour / "notes").write_text("another replica's file")
    targets = {
        "read": {
            "django_secret_key": str(var / "django-secret-key"),
            "gateway_secret": str(var / "gateway-secret"),
            "other_team_model": str(theirs / "model.onnx"),
            "neighbour_file": str(neighbour / "notes"),
            "pid1_environ": "/proc/1/environ",
            "test_process_environ": f"/proc/{os.getpid()}/environ",
            "pyproject": str(PROJECT / "pyproject.toml"),
            "settings_module": str(PROJECT / "controlplane" / "settings" / "base.py"),
            "shadow": "/etc/shadow",
            "own_model": str(ours / "model.onnx"),  # the one thing it is there to read
        },
        "list": {
            "var": str(var),
            "artifacts": str(Path(settings.ARTIFACT_LOCAL_ROOT)),
            "replicas": str(tmp_path / "replicas"),
            "deployment_folder": str(tmp_path / "replicas" / "alpha-tiny"),
            "project": str(PROJECT),
        },
        "model_file": str(ours / "model.onnx"),
    }
    spec = _spec(ours)
    work = backend.work_folder(spec.key, "probe")
    command, env = backend.replica_command(
        spec,
        replica_id="probe",
        port=1,
        work=work,
        program=[backend.python, "-c", PROBE, json.dumps(targets)],
    )
    done = subprocess.run(
        command, env=env, cwd=work, capture_output=True, text=True, timeout=120, start_new_session=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    readable = {name for name, data in report["read"].items() if data is not None}
    assert readable == {"own_model"}, report["read"]
    lists = report["list"]
    assert lists["var"] is None
    assert lists["artifacts"] == ["alpha"]  # only the way down to its own model
    # Its own folder, not its neighbour's, nor the backend's records and logs beside them.
    assert lists["replicas"] == ["alpha-tiny"] and lists["deployment_folder"] == ["probe"]
    assert set(lists["project"]) <= {"serving", ".venv"}, lists["project"]
    assert report["model_writable"] is False and report["home_writable"] is True
    assert os.getpid() not in report["pids"] and len(report["pids"]) <= 3  # its own PID namespace
    if ROOT:
        assert report["uid"] != 0 and report["gid"] != 0 and report["groups"] == []
        assert report["uid"] == backend.isolation.uid
    assert "bubblewrap sandbox" in backend.isolation.describe()


def test_a_real_replica_runs_sandboxed_and_leaves_nothing_behind(backend, models, tmp_path):
    ours, _ = models
    spec = _spec(ours)
    backend.apply(spec)
    wait_for(lambda: len(backend.observe(spec.key).ready()) == 1, what="1 ready")
    (pid,) = marked_processes(spec.key)  # one process per replica carries the marker, not bubblewrap
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    uid = int(status["Uid"].split()[0])
    if ROOT:
        import pwd

        assert uid == pwd.getpwnam(SANDBOX_USER).pw_uid != 0
    # The file system it sees: the model and the serving package, not var/ or the rest of the project.
    seen = Path(f"/proc/{pid}/root")
    assert (seen / str(ours).lstrip("/") / "model.onnx").is_file()
    assert (seen / str(PROJECT).lstrip("/") / "serving" / "server.py").is_file()
    assert not (seen / str(settings.VAR_DIR).lstrip("/")).exists()
    assert not (seen / str(PROJECT).lstrip("/") / "manage.py").exists()

    # A crash of the model server takes its sandbox with it, and it is reported and replaced.
    os.kill(pid, signal.SIGKILL)
    crashed = wait_for(lambda: (o := backend.observe(spec.key)).events and o, what="crash noticed")
    assert [e.kind for e in crashed.events] == ["replica_crashed"]
    backend.apply(spec)
    wait_for(lambda: len(backend.observe(spec.key).ready()) == 1, what="replaced")
    assert len(marked_processes(spec.key)) == 1

    # Stopping stops everything: the model server, bubblewrap around it, nothing orphaned.
    backend.delete(spec.key)
    assert marked_processes(spec.key) == []
    wait_for(lambda: _no_process_left(tmp_path / "replicas"), timeout=15, what="no process left")
    assert backend.observe(spec.key).exists is False


def test_stopping_a_replica_that_is_still_starting_leaves_no_orphan(backend, models, tmp_path):
    """Between bubblewrap starting and the model server's exec, only the launcher exists: it counts
    as the replica (no second one is started), and deleting then still stops the whole sandbox."""
    ours, _ = models
    spec = _spec(ours)
    backend.apply(spec)
    backend.apply(spec)  # at once, while it may still be starting: no duplicate
    assert len(backend.observe(spec.key).replicas) == 1
    backend.delete(spec.key)
    wait_for(lambda: _no_process_left(tmp_path / "replicas"), timeout=15, what="no process left")
    assert marked_processes(spec.key) == []
