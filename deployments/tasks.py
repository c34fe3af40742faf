import logging

from celery import shared_task

logger = logging.getLogger(__name__)


def _inspection_failed(self, exc, task_id, args, kwargs, einfo):
    from deployments.services.artifacts import artifact_mark_rejected

    artifact_mark_rejected(artifact_id=args[0], reason=str(exc) or type(exc).__name__)


@shared_task(
    name="deployments.inspect_artifact",
    acks_late=True,
    reject_on_worker_lost=True,  # a killed worker means redelivery; inspection is idempotent
    # Loading a multi-GB ONNX graph into onnxruntime or copying from S3 can take minutes.
    soft_time_limit=1800,
    time_limit=1860,
    on_failure=_inspection_failed,
)
def inspect_artifact_task(artifact_id: int) -> None:
    """After complete or register: inspect one model version. Safe to run twice."""
    from deployments.services import artifact_inspect

    artifact = artifact_inspect(artifact_id=artifact_id)
    if artifact is None:
        logger.info("deployments.inspect.gone", extra={"artifact_id": artifact_id})


@shared_task(name="deployments.expire_uploads", acks_late=True, soft_time_limit=300, time_limit=330)
def expire_uploads_task() -> int:
    """Beat, hourly: drop resumable uploads abandoned for two days."""
    from deployments.services import upload_expire

    return upload_expire()


def _reconcile_failed(self, exc, task_id, args, kwargs, einfo):
    from deployments.services.deployments import deployment_mark_failed

    deployment_mark_failed(deployment_id=args[0], reason=f"Provisioning failed: {exc}")


@shared_task(
    name="deployments.reconcile_deployment",
    acks_late=True,
    reject_on_worker_lost=True,  # a killed worker means redelivery, not loss; reconcile is idempotent
    soft_time_limit=120,
    time_limit=150,
    on_failure=_reconcile_failed,
)
def reconcile_deployment_task(deployment_id: int, ticket: str | None = None) -> None:
    """One step towards the desired state, then at most one requeue, through the work queue
    (deployments/services/reconcile_queue.py): transient errors retry there with backoff for a
    time budget, a superseded ticket or a held lock ends the task."""
    from deployments.services.reconcile_queue import reconcile_run

    reconcile_run(deployment_id, ticket)


@shared_task(name="deployments.reconcile_sweep", acks_late=True, soft_time_limit=60, time_limit=90)
def reconcile_sweep_task() -> int:
    """Beat: one reconcile per live deployment, to repair drift (a crashed replica, a lost task)."""
    from datetime import timedelta

    from deployments.reconcile import sweep_plan
    from deployments.services.reconcile_queue import reconcile_enqueue

    ids = sweep_plan()
    # Only enqueues: a deployment queued for later (a requeue, a backoff) is left as it is; one
    # whose task is due and unclaimed (its message lost with a killed worker) gets a new one.
    return sum(reconcile_enqueue(deployment_id, overdue=timedelta(0)) for deployment_id in ids)


@shared_task(name="deployments.autoscale", acks_late=True, soft_time_limit=30, time_limit=45)
def autoscale_task() -> int:
    """Beat, every few seconds: size local deployments from the gateway's counters."""
    from deployments.autoscale import autoscale_all

    return autoscale_all()
