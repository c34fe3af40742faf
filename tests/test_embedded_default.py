"""With no environment set, the product runs on SQLite and a filesystem broker under var/, and a
separate worker process really consumes that queue (not eager mode)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parent.parent


def _manage(env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.worker
def test_embedded_default_runs_tasks_through_a_real_worker(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env["CONTROLPLANE_VAR_DIR"] = str(tmp_path)
    _manage(env, "migrate", "--no-input", "--verbosity", "0")
    assert (tmp_path / "controlplane.sqlite3").exists()

    enqueue = (
        "from datetime import timedelta; from django.utils import timezone;"
        "from django.conf import settings;"
        "from controlplane.tenancy.services import audit_record;"
        "from controlplane.tenancy.tasks import audit_purge_task;"
        "from django.db import connection;"
        "audit_record(actor=None, action='test.old', resource_type='thing');"
        "connection.cursor().execute('UPDATE tenancy_auditevent SET created_at = %s',"
        " [timezone.now() - timedelta(days=400)]);"
        "audit_purge_task.delay();"
        "print(settings.CELERY_BROKER_URL)"
    )
    assert _manage(env, "shell", "--no-imports", "-c", enqueue).strip() == "filesystem://"
    assert list((tmp_path / "celery" / "queue").iterdir()), "the task should wait in the filesystem queue"
    # kombu's exchange tables live under var/, not in a ./control folder wherever the process started
    assert list((tmp_path / "celery" / "control").glob("*.exchange"))

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controlplane",
            "worker",
            "--pool",
            "solo",
            "--queues",
            "default",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        count = (
            "from controlplane.tenancy.models import AuditEvent;"
            " print(AuditEvent.objects.filter(action='audit.purge').count())"
        )
        ran = wait_until(
            lambda: _manage(env, "shell", "--no-imports", "-c", count).strip() == "1", timeout=90, interval=1
        )
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert ran, "the worker never consumed the queued task"
    assert not list((tmp_path / "celery" / "queue").iterdir())
