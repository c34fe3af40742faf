import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the whole product in the foreground: web server, Celery worker and beat, and the "
        "data-plane gateway. Ctrl-C stops all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--gateway-port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8080")))

    def handle(self, *args, host, port, gateway_port, **options):
        python = sys.executable
        bind = f"{host}:{port}"
        # The gateway (serving/) calls back into this web server for token introspection and
        # wake-ups; the secret and the store it finds on its own (var/ or REDIS_URL).
        os.environ.setdefault("CONTROLPLANE_URL", f"http://{bind}")
        # Runtime files of this installation live in its own var/run/: gunicorn's default control
        # socket is ~/.gunicorn/gunicorn.ctl, shared by (and deleted by) every install on the host.
        run_dir = settings.VAR_DIR / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        programs = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "controlplane.wsgi",
                "--bind",
                bind,
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
                # Longer than the gateway's idle pooled connections live (httpx's keepalive_expiry,
                # 5 s by default), so the web server is not the side that closes an idle one.
                "--keep-alive",
                "75",
                "--control-socket",
                str(run_dir / "gunicorn.ctl"),
                "--pid",
                str(run_dir / "gunicorn.pid"),
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "controlplane",
                "worker",
                "--loglevel",
                "INFO",
                "--queues",
                "default,provisioning,metering,reports",
                "--concurrency",
                "2",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "controlplane",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
            "gateway": [python, "-m", "serving.gateway", "--host", host, "--port", str(gateway_port)],
        }
        children = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in programs.items()}
        broker = "Redis" if settings.REDIS_URL else "embedded filesystem broker in var/"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Control plane running at http://{bind}/  (API docs: http://{bind}/api/v1/docs/)\n"
                f"  Gateway: http://{host}:{gateway_port}/endpoints/<team>/<deployment>/...\n"
                f"  database: {database}; broker: {broker}. Ctrl-C stops everything.\n"
            )
        )
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with status {child.returncode}; stopping the rest.")
                    exit_code, stopping = 1, True
                    break
            time.sleep(0.5)
        self._stop_all(children)
        sys.exit(exit_code)

    def _stop_all(self, children: dict[str, subprocess.Popen]) -> None:
        # Only the leaders get SIGTERM: Celery and gunicorn shut their own pools down gracefully.
        # Each child leads its own process group, so a leader that hangs is killed with its pool.
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 15
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it.")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.stdout.write("All stopped.")
        replicas = _replica_processes()
        if replicas:
            self.stdout.write(
                f"{replicas} model-server replica(s) keep running so deployments stay up; "
                "the next start adopts them. Stop a deployment (console or API) to stop its replicas."
            )


def _replica_processes() -> int:
    """Replicas of this installation (their marker names its replica folder), not of others on the host."""
    from pathlib import Path

    from deployments.backends.local import MARKER

    suffix = f"@{settings.VAR_DIR / 'replicas'}".encode()
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            items = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(i.startswith(MARKER.encode() + b"=") and i.endswith(suffix) for i in items):
            count += 1
    return count
