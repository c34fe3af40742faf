"""The `local` backend: model-server replicas as processes on the control plane's own host.

Every replica carries CONTROLPLANE_REPLICA_KEY=<deployment key>@<replica folder> in its environment
and runs in its own session, so it outlives the worker that started it. `observe` finds replicas by scanning
/proc for that marker, not from memory: after a worker or control-plane restart the live
replicas are adopted, and a process started by a worker killed before it could record it is
found all the same. Nothing is orphaned, nothing is started twice (the reconciler holds a
per-deployment lock around apply).

Only the gateway reaches a replica: each one gets its own token (serving.replica_token,
derived from the gateway secret, which the replica never sees) and answers nothing but its health
checks without it.

A replica runs untrusted code, confined as far as the host allows (the target's `sandbox`
setting, see `resolve_isolation`): in a bubblewrap sandbox that shows it only the model
(read-only), the Python environment and the `serving` package (read-only), its own work folder
and a private /tmp, in its own PID, IPC and UTS namespaces (the network is shared: the gateway
reaches it on 127.0.0.1); and, when the control plane runs as root, as the unprivileged user
`cpreplica`. `make run` and `make test` install both (`make replica-sandbox`). Under bubblewrap
the process carrying the marker is the model server inside the sandbox (bubblewrap itself does
not carry it), so `observe` sees one process per replica and `_stop` signals the sandbox's
process group."""

import contextlib
import functools
import json
import logging
import os
import pwd
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

from serving.replica_token import REPLICA_TOKEN_ENV, replica_token

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
SANDBOX_USER = "cpreplica"
SANDBOX_SETTINGS = ("auto", "required", "off")
# Where the replica's identity lives; under bubblewrap these go on its command line (--setenv) so
# that only the model server carries them, not the bubblewrap processes around it.
_IDENTITY = (MARKER, "CONTROLPLANE_REPLICA_ID", "CONTROLPLANE_REVISION", "CONTROLPLANE_PORT")
_IDENTITY += ("CONTROLPLANE_STARTED_AT", "CONTROLPLANE_TEMPLATE")
# Of /etc, only what the dynamic linker and TLS need; not passwd, hosts or anything of the control plane.
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ssl", "/etc/ca-certificates")


@dataclass(slots=True)
class _Process:
    pid: int
    replica_id: str
    revision: int
    port: int
    started_at: float
    template: str = ""
    # Started and not yet the model server: under bubblewrap the marker appears only once the
    # sandbox has exec'd it (tens of milliseconds); until then the record and the live launcher
    # (`pid`, told apart from a reused pid by its start time) stand for it.
    starting: bool = False


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


def _start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the pid, an identity that survives
    pid reuse. None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _group(pid: int) -> int | None:
    """The process group to signal for a replica; never this process's own."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return None
    return None if group == os.getpgrp() else group


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


@dataclass(frozen=True, slots=True)
class Isolation:
    """How this host confines replicas: a bubblewrap binary to run them in, and the user they run as."""

    bwrap: str = ""  # empty: no sandbox
    uid: int | None = None  # None: the control plane's own user
    gid: int | None = None
    missing: tuple[str, ...] = ()  # what `auto` had to do without, and why

    def describe(self) -> str:
        parts = ["bubblewrap sandbox" if self.bwrap else "no sandbox"]
        parts.append(
            f"user {SANDBOX_USER} (uid {self.uid})" if self.uid is not None else f"uid {os.getuid()}"
        )
        return ", ".join(parts) + "".join(f"; {m}" for m in self.missing)


def _run_quietly(argv: list[str], **kwargs) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30, check=False, **kwargs).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _sandbox_user() -> tuple[int, int] | None:
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _drop(uid: int, gid: int) -> list[str]:
    """setpriv: become uid/gid with no supplementary groups and no capabilities left to regain."""
    return [
        shutil.which("setpriv") or "/usr/bin/setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]


@functools.cache
def resolve_isolation(setting: str, python: str) -> Isolation:
    """What `setting` gives on this host, tried for real once per process (a probe run each way):

    - ``auto`` (the default): bubblewrap where it is installed and works, and the unprivileged
      user `cpreplica` when the control plane runs as root and the user exists; whatever is
      missing is done without, and said in the startup log line.
    - ``required``: both (the user only when running as root), or no replica starts.
    - ``off``: replicas run as the control plane's user, outside any sandbox."""
    if setting not in SANDBOX_SETTINGS:
        raise PermanentBackendError(f"sandbox: {setting!r} is not one of {', '.join(SANDBOX_SETTINGS)}.")
    if setting == "off":
        isolation = Isolation(missing=("sandbox off for this target",))
        logger.warning("deployments.local.isolation %s", isolation.describe(), extra={"sandbox": setting})
        return isolation
    missing = []
    user = None
    if os.getuid() == 0:
        user = _sandbox_user()
        if user is None:
            missing.append(f"no user {SANDBOX_USER} (make replica-sandbox creates it)")
    bwrap = shutil.which("bwrap") or ""
    if not bwrap:
        missing.append("bubblewrap is not installed (make replica-sandbox installs it)")
    elif not _run_quietly([*_bwrap_base(bwrap), *(_drop(*user) if user else []), "/usr/bin/true"]):
        missing.append("bubblewrap is installed but cannot make a sandbox here")
        bwrap = ""
    if user is not None and not bwrap:
        # Without a sandbox the replica sees the host's files as the user sees them: it must be
        # able to run the Python environment and import `serving`, else the uid stays as it is.
        probe = [*_drop(*user), python, "-c", "import serving.server"]
        if not _run_quietly(probe, env={"PYTHONPATH": _project_root(), "PATH": "/usr/bin:/bin"}, cwd="/"):
            missing.append(f"{SANDBOX_USER} cannot run {python} outside a sandbox")
            user = None
    if setting == "required" and missing:
        raise PermanentBackendError(
            "This target requires replicas to run sandboxed, which this host cannot do: " + "; ".join(missing)
        )
    isolation = Isolation(
        bwrap=bwrap, uid=user[0] if user else None, gid=user[1] if user else None, missing=tuple(missing)
    )
    log = logger.warning if missing else logger.info
    # Said once per process, in the message itself: what an operator reads first.
    log("deployments.local.isolation %s", isolation.describe(), extra={"sandbox": setting})
    return isolation


def _bwrap_base(bwrap: str) -> list[str]:
    """bubblewrap with its own namespaces for everything but the network, and a root holding only
    /usr and its links. Run as root it makes no user namespace (which would map the replica's
    user back to root): the uid is dropped inside with setpriv instead."""
    if os.getuid() == 0:
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        namespaces = ["--unshare-all", "--share-net"]
    argv = [bwrap, *namespaces, "--new-session", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    return argv + ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]


@functools.cache
def _python_roots(python: str) -> tuple[str, ...]:
    """The folders an interpreter needs: its prefixes (a virtualenv and the Python it was made from)."""
    if python == sys.executable:
        roots = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    else:
        out = subprocess.run(
            [
                python,
                "-c",
                "import sys; print(sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        roots = set(out.split())
    return tuple(sorted(r for r in roots if not r.startswith("/usr/")))


@register_backend
class LocalBackend:
    kind = "local"

    def __init__(self, target: TargetConfig):
        from django.conf import settings  # settings only; backends never touch the ORM

        self.root = Path(target.settings.get("workdir") or settings.VAR_DIR / "replicas")
        self.python = target.settings.get("python") or sys.executable
        self.host = "127.0.0.1"
        self.sandbox = target.settings.get("sandbox") or "auto"
        self.secret = settings.GATEWAY_SHARED_SECRET  # replica tokens derive from it; never passed on

    @property
    def isolation(self) -> Isolation:
        return resolve_isolation(self.sandbox, self.python)

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
        seen = {p.replica_id for p in found}
        for replica_id in self._known(key) - seen:
            try:
                record = json.loads((self._dir(key) / f"{replica_id}.json").read_text())
            except (OSError, ValueError):
                continue
            launcher = record.get("pid", 0)
            if record.get("launcher_start") is None or _start_time(launcher) != record["launcher_start"]:
                continue
            found.append(
                _Process(
                    pid=launcher,
                    replica_id=replica_id,
                    revision=record.get("revision", 0),
                    port=record.get("port", 0),
                    started_at=record.get("started_at", 0.0),
                    template=record.get("template", ""),
                    starting=True,
                )
            )
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
        with contextlib.suppress(OSError):  # not empty: a replica started meanwhile keeps it
            self._dir(key).rmdir()

    def endpoint(self, key: str) -> str | None:
        return None  # clients come through the gateway

    # ---- processes ----
    def _start(self, spec: DeploymentSpec) -> None:
        if not Path(spec.model_path).exists():
            raise PermanentBackendError(f"The model files are missing at {spec.model_path}.")
        isolation = self.isolation
        replica_id = uuid.uuid4().hex[:12]
        port = _free_port()
        folder = self._dir(spec.key)
        work = self.work_folder(spec.key, replica_id)
        command, env = self.replica_command(spec, replica_id=replica_id, port=port, work=work)
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
        logger.info(
            "deployments.local.started",
            extra={"key": spec.key, "replica": replica_id, "port": port, "isolation": isolation.describe()},
        )

    def work_folder(self, key: str, replica_id: str) -> Path:
        """The replica's private folder (its HOME and cwd): 0700, owned by the user it runs as."""
        work = self._dir(key) / replica_id
        work.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.isolation.uid is not None:
            os.chown(work, self.isolation.uid, self.isolation.gid)  # its own, and no other replica's
        return work

    def replica_command(
        self,
        spec: DeploymentSpec,
        *,
        replica_id: str,
        port: int,
        work: Path,
        program: list[str] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """The command line and environment a replica starts with: `program` (by default the model
        server) inside this host's isolation. One function, so a test can run a probe exactly
        where a replica runs."""
        isolation = self.isolation
        # A replica is untrusted code: it gets an environment the platform builds, never os.environ
        # (which holds the secret key, database and broker URLs, the gateway secret, cloud credentials).
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(work),
            "TMPDIR": str(work),
            "PYTHONPATH": _project_root(),  # only so `-m serving.server` imports; not member-settable
            "SERVING_LOG_LEVEL": os.environ.get("SERVING_LOG_LEVEL", "warning"),
            **dict(spec.env),
            **dict(spec.secret_env),
            # Its own token, the one the gateway sends it: it opens this replica and no other.
            REPLICA_TOKEN_ENV: replica_token(
                self.secret, f"{spec.team}/{spec.deployment}", f"http://{self.host}:{port}"
            ),
            MARKER: self._marker(spec.key),
            "CONTROLPLANE_REPLICA_ID": replica_id,
            "CONTROLPLANE_REVISION": str(spec.revision),
            "CONTROLPLANE_PORT": str(port),
            "CONTROLPLANE_STARTED_AT": f"{time.time():.3f}",
            "CONTROLPLANE_TEMPLATE": spec.template_hash,
        }
        if isolation.uid is not None:
            env["USER"] = env["LOGNAME"] = SANDBOX_USER  # getpass.getuser() finds no passwd file inside
        if not spec.gpu_count:
            env["CUDA_VISIBLE_DEVICES"] = ""  # CPU-only deployments stay off any GPU the host has
        program = program or [
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
        drop = _drop(isolation.uid, isolation.gid) if isolation.uid is not None else []
        if not isolation.bwrap:
            return [*drop, *program], env
        mounts: list[tuple[str, str]] = [("--ro-bind-try", path) for path in _ETC]
        # onnxruntime and torch size their thread pools from the CPU topology.
        mounts.append(("--ro-bind-try", "/sys/devices/system/cpu"))
        mounts += [("--ro-bind", root) for root in _python_roots(self.python)]
        mounts.append(("--ro-bind", str(Path(_project_root()) / "serving")))
        mounts += [("--ro-bind", spec.model_path), ("--bind", str(work))]
        if spec.gpu_count:
            mounts += [("--dev-bind", str(device)) for device in sorted(Path("/dev").glob("nvidia*"))]
        argv = _bwrap_base(isolation.bwrap)
        # Folders above the mounts, made world-searchable (bubblewrap makes them 0700 root, which
        # the replica's user could not pass); they hold nothing but the way to what is mounted.
        above = sorted({str(parent) for _, path in mounts for parent in Path(path).parents} - {"/"})
        for folder in above:
            argv += ["--perms", "0755", "--dir", folder]
        for kind, path in mounts:
            argv += [kind, path, path]
        argv += ["--chdir", str(work)]
        for name in _IDENTITY:  # on the model server only, so `observe` finds it once
            argv += ["--setenv", name, env.pop(name)]
        return [*argv, "--", *drop, *program], env

    def _record(self, key: str, p: _Process) -> None:
        folder = self._dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "pid": p.pid,
            "launcher_start": _start_time(p.pid),
            "port": p.port,
            "revision": p.revision,
            "started_at": p.started_at,
            "template": p.template,
        }
        (folder / f"{p.replica_id}.json").write_text(json.dumps(record))

    def _stop(self, key: str, p: _Process, grace: float = 10.0) -> None:
        if p.starting:  # signal the model server and its sandbox, not the launcher alone
            p = self._started(key, p)
        # The replica's process group: its own (a new session) or, under bubblewrap, the sandbox's,
        # led by the sandbox's init. SIGTERM reaches the model server (the init ignores it); SIGKILL
        # takes the init and with it everything in the sandbox.
        group = _group(p.pid)
        if group is None:  # already gone
            _reap()
            self._clear(key, p)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)  # uvicorn finishes in-flight requests, then exits
        deadline = time.monotonic() + grace
        while _alive(p.pid) and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
        if _alive(p.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        _reap()
        self._clear(key, p)

    def _started(self, key: str, p: _Process, timeout: float = 5.0) -> _Process:
        """`p` once its model server runs (or its launcher is gone, or the wait is over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for q in self._processes(key):
                if q.replica_id == p.replica_id and not q.starting:
                    return q
            if not _alive(p.pid):
                break
            _reap()
            time.sleep(0.02)
        return p

    def _clear(self, key: str, p: _Process) -> None:
        for suffix in (".json", ".draining", ".log"):
            (self._dir(key) / f"{p.replica_id}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(self._dir(key) / p.replica_id, ignore_errors=True)  # its private working folder

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
