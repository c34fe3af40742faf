"""The `local` backend: model-server replicas as processes on the control plane's own host.

Every replica carries CONTROLPLANE_REPLICA_KEY=<deployment key>@<replica folder> in its environment and runs in its
own session, so it outlives the worker that started it. `observe` finds replicas by scanning
/proc for that marker, not from memory: after a worker or control-plane restart the live
replicas are adopted, and a process started by a worker killed before it could record it is
found all the same. Nothing is orphaned, nothing is started twice (the reconciler holds a
per-deployment lock around apply)."""

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from .base import (
    BackendEvent,
    DeploymentSpec,
    Observed,
    PermanentBackendError,
    ReplicaState,
    TargetConfig,
)
from .registry import register_backend

logger = logging.getLogger(__name__)

MARKER = "CONTROLPLANE_REPLICA_KEY"
# A replica leaves the routes first and is stopped only after this long, so the gateway (which
# reloads routes within a second) sends it nothing new and in-flight requests finish.
DRAIN_SECONDS = 3.0
HEALTH_TIMEOUT = 0.5
LOG_TAIL_LINES = 15


@dataclass(slots=True)
class _Process:
    pid: int
    replica_id: str
    revision: int
    port: int
    started_at: float
    template: str = ""


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; it only waits to be reaped


def _reap() -> None:
    """Collect exit statuses of replicas this process started, so they don't linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=HEALTH_TIMEOUT) as r:
            return r.status == 200
    except OSError:
        return False


@register_backend
class LocalBackend:
    kind = "local"

    def __init__(self, target: TargetConfig):
        from django.conf import settings  # settings only; backends never touch the ORM

        self.root = Path(target.settings.get("workdir") or settings.VAR_DIR / "replicas")
        self.python = target.settings.get("python") or sys.executable
        self.host = "127.0.0.1"

    # ---- state on disk: what we know about a replica besides its process ----
    def _marker(self, key: str) -> str:
        """The replica folder is part of the marker: two installations on one host (or two test
        runs) with the same team and deployment names never adopt each other's replicas."""
        return f"{key}@{self.root}"

    def _dir(self, key: str) -> Path:
        return self.root / key

    def _processes(self, key: str) -> list[_Process]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            env = _environ(int(entry.name))
            if env.get(MARKER) != self._marker(key) or not _alive(int(entry.name)):
                continue
            process = _Process(
                pid=int(entry.name),
                replica_id=env.get("CONTROLPLANE_REPLICA_ID", ""),
                revision=int(env.get("CONTROLPLANE_REVISION", "0")),
                port=int(env.get("CONTROLPLANE_PORT", "0")),
                started_at=float(env.get("CONTROLPLANE_STARTED_AT", "0")),
                template=env.get("CONTROLPLANE_TEMPLATE", ""),
            )
            record = self._dir(key) / f"{process.replica_id}.json"
            if record.exists():  # a scale-only revision adopts the replica: the record has its revision now
                process.revision = json.loads(record.read_text()).get("revision", process.revision)
            found.append(process)
        return sorted(found, key=lambda p: p.started_at)

    def _draining_since(self, key: str, replica_id: str) -> float | None:
        path = self._dir(key) / f"{replica_id}.draining"
        return float(path.read_text()) if path.exists() else None

    def _known(self, key: str) -> set[str]:
        folder = self._dir(key)
        return {p.stem for p in folder.glob("*.json")} if folder.exists() else set()

    # ---- protocol ----
    def observe(self, key: str) -> Observed:
        _reap()
        processes = self._processes(key)
        live = {p.replica_id for p in processes}
        events = []
        for gone in self._known(key) - live:
            events.append(self._forget(key, gone))
        for p in processes:
            record = self._dir(key) / f"{p.replica_id}.json"
            if not record.exists():  # started by a worker that died before recording it: adopt it
                self._record(key, p)
                events.append(
                    BackendEvent("replica_adopted", f"Adopted running replica {p.replica_id} (pid {p.pid}).")
                )
        replicas = tuple(
            ReplicaState(
                id=p.replica_id,
                revision=p.revision,
                url=f"http://{self.host}:{p.port}",
                ready=_healthy(p.port),
                draining=self._draining_since(key, p.replica_id) is not None,
                started_at=p.started_at,
                template=p.template,
            )
            for p in processes
        )
        return Observed(exists=bool(processes), replicas=replicas, events=tuple(e for e in events if e))

    def apply(self, spec: DeploymentSpec) -> None:
        """One step towards the spec: start what is missing of the current revision; once enough of
        it is ready, drain and then stop the rest (old revisions, extras beyond `replicas`)."""
        processes = self._processes(spec.key)
        current = [
            p
            for p in processes
            if p.template == spec.template_hash and not self._draining_since(spec.key, p.replica_id)
        ]
        for p in current:
            if p.revision != spec.revision:  # same replica shape, new revision number (e.g. a scale)
                p.revision = spec.revision
                self._record(spec.key, p)
        for _ in range(spec.replicas - len(current)):
            self._start(spec)
        ready_current = [p for p in current if _healthy(p.port)]
        excess = current[spec.replicas :] if len(current) > spec.replicas else []
        old = [p for p in processes if p.template != spec.template_hash]
        draining = [p for p in processes if p.template == spec.template_hash and p not in current]
        # Old replicas leave only when the new revision can carry the load (or none is wanted);
        # replicas already draining are seen through to the end.
        retire = draining + excess + (old if len(ready_current) >= spec.replicas else [])
        now = time.time()
        for p in retire:
            since = self._draining_since(spec.key, p.replica_id)
            if since is None:
                self._dir(spec.key).mkdir(parents=True, exist_ok=True)
                (self._dir(spec.key) / f"{p.replica_id}.draining").write_text(str(now))
            elif now - since >= DRAIN_SECONDS:
                self._stop(spec.key, p)

    def delete(self, key: str) -> None:
        for p in self._processes(key):
            self._stop(key, p, grace=5.0)
        _reap()
        for leftover in self._known(key):
            self._forget(key, leftover)

    def endpoint(self, key: str) -> str | None:
        return None  # clients come through the gateway

    # ---- processes ----
    def _start(self, spec: DeploymentSpec) -> None:
        if not Path(spec.model_path).exists():
            raise PermanentBackendError(f"The model files are missing at {spec.model_path}.")
        replica_id = uuid.uuid4().hex[:12]
        port = _free_port()
        folder = self._dir(spec.key)
        folder.mkdir(parents=True, exist_ok=True)
        work = folder / replica_id
        work.mkdir(mode=0o700, exist_ok=True)
        # A replica is untrusted code: it gets an environment the platform builds, never os.environ
        # (which holds the secret key, database and broker URLs, the gateway secret, cloud credentials).
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(work),
            "TMPDIR": str(work),
            "PYTHONPATH": str(_project_root()),  # only so `-m serving.server` imports; not member-settable
            "SERVING_LOG_LEVEL": os.environ.get("SERVING_LOG_LEVEL", "warning"),
            **dict(spec.env),
            **dict(spec.secret_env),
            MARKER: self._marker(spec.key),
            "CONTROLPLANE_REPLICA_ID": replica_id,
            "CONTROLPLANE_REVISION": str(spec.revision),
            "CONTROLPLANE_PORT": str(port),
            "CONTROLPLANE_STARTED_AT": f"{time.time():.3f}",
            "CONTROLPLANE_TEMPLATE": spec.template_hash,
        }
        if not spec.gpu_count:
            env["CUDA_VISIBLE_DEVICES"] = ""  # CPU-only deployments stay off any GPU the host has
        command = [
            self.python,
            "-m",
            "serving.server",
            "--model",
            spec.model_path,
            "--format",
            spec.model_format,
            "--name",
            spec.model_name,
            "--host",
            self.host,
            "--port",
            str(port),
        ]
        with open(folder / f"{replica_id}.log", "ab") as log:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=work,  # a folder of its own, not the project folder
            )
        self._record(
            spec.key, _Process(process.pid, replica_id, spec.revision, port, time.time(), spec.template_hash)
        )
        logger.info("deployments.local.started", extra={"key": spec.key, "replica": replica_id, "port": port})

    def _record(self, key: str, p: _Process) -> None:
        folder = self._dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{p.replica_id}.json").write_text(
            json.dumps({"pid": p.pid, "port": p.port, "revision": p.revision, "started_at": p.started_at})
        )

    def _stop(self, key: str, p: _Process, grace: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)  # uvicorn finishes in-flight requests, then exits
        deadline = time.monotonic() + grace
        while _alive(p.pid) and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
        if _alive(p.pid):
            os.killpg(p.pid, signal.SIGKILL)
        _reap()
        for suffix in (".json", ".draining", ".log"):
            (self._dir(key) / f"{p.replica_id}{suffix}").unlink(missing_ok=True)

    def _forget(self, key: str, replica_id: str) -> BackendEvent | None:
        """A recorded replica whose process is gone: it crashed, unless we were draining it."""
        folder = self._dir(key)
        drained = (folder / f"{replica_id}.draining").exists()
        log = folder / f"{replica_id}.log"
        tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] if log.exists() else []
        for suffix in (".json", ".draining", ".log"):
            (folder / f"{replica_id}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(folder / replica_id, ignore_errors=True)  # the replica's private working folder
        if drained:
            return None
        detail = ("\n" + "\n".join(tail)) if tail else ""
        return BackendEvent("replica_crashed", f"Replica {replica_id} exited.{detail}")


def _project_root() -> str:
    return str(Path(__file__).resolve().parents[2])
