"""A worker SIGKILLed in the middle of provisioning: a new worker converges to exactly the desired
replicas, adopting what the dead one started and starting only what is missing."""

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection

from controlplane.celery import app as celery_app
from deployments.models import Deployment, ModelArtifact
from deployments.services.deployments import deployment_create, deployment_delete
from deployments.services.targets import target_create
from deployments.tasks import reconcile_sweep_task
from tests.deployments.e2e import REPO, deployment_state, marked_processes, wait_for, wait_ready
from tests.factories.models import tiny_onnx_bytes

pytestmark = pytest.mark.worker


@pytest.fixture
def worker_env(artifact_dirs):
    return {"CONTROLPLANE_VAR_DIR": str(artifact_dirs)}


def start_worker(env_extra: dict) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.test",
        "REDIS_URL": settings.REDIS_URL,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        **env_extra,
    }
    return subprocess.Popen(
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
            "default,provisioning",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


SWEEP, RECONCILE = "deployments.reconcile_sweep", "deployments.reconcile_deployment"


def tasks_taken() -> Counter | None:
    """Tasks the live worker has taken, by name; None while it is busy. Its pool is solo, so it
    answers only between tasks: every task counted has finished."""
    replies = celery_app.control.inspect(timeout=1, limit=1).stats() or {}
    if not replies:
        return None
    return sum((Counter(reply.get("total", {})) for reply in replies.values()), Counter())


def test_killed_worker_mid_provisioning(celery_worker_process, registry, team, members, worker_env):
    target = target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    artifact = registry.create(name="tiny-mlp")
    registry.put(artifact["id"], "model.onnx", tiny_onnx_bytes())
    registry.complete(artifact["id"])
    artifact = wait_for(
        lambda: ModelArtifact.objects.filter(pk=artifact["id"], status="ready").first(), what="model ready"
    )

    deployment = deployment_create(
        team=team,
        actor=members["deployer"],
        name="tiny",
        target=target,
        artifact=artifact,
        min_replicas=3,
        max_replicas=3,
    )
    # Kill the worker as soon as the first replica process exists, before it can finish the step.
    wait_for(lambda: marked_processes(deployment.key), timeout=60, what="a replica process")
    celery_worker_process.send_signal(signal.SIGKILL)
    celery_worker_process.wait(10)
    started_before_kill = len(marked_processes(deployment.key))

    replacement = start_worker(worker_env)
    try:
        reconcile_sweep_task.delay()  # what beat does every 30 s: repairs whatever the dead worker left
        wait_ready(deployment.pk, replicas=3)
        wait_for(lambda: len(marked_processes(deployment.key)) == 3, what="exactly three replicas")
        assert len(marked_processes(deployment.key)) == 3
        assert started_before_kill <= 3
        # A second sweep changes nothing: no duplicate appears. Checked once the worker has run the
        # sweep and the reconcile it queued, not merely after it was sent (the state before the
        # sweep already satisfies "three replicas").
        replicas = sorted(marked_processes(deployment.key))
        before = wait_for(lambda: (taken := tasks_taken()) is not None and (taken,), what="an idle worker")[0]
        reconcile_sweep_task.delay()
        wait_for(
            lambda: (
                (now := tasks_taken()) and now[SWEEP] > before[SWEEP] and now[RECONCILE] > before[RECONCILE]
            ),
            what="the worker to run the second sweep and the reconcile it queued",
        )
        assert sorted(marked_processes(deployment.key)) == replicas  # the same three processes
        assert deployment_state(deployment.pk).ready_replicas == 3

        deployment_delete(deployment=deployment, actor=members["deployer"])
        wait_for(lambda: Deployment.objects.get(pk=deployment.pk).status == "deleted", what="deleted")
        assert marked_processes(deployment.key) == []
    finally:
        replacement.terminate()
        replacement.wait(20)
