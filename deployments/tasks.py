import logging

from celery import shared_task

from deployments.backends.base import TransientBackendError

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

    deployment_mark_failed(deployment_id=args[0], reason=f"Provisioning failed after retries: {exc}")


@shared_task(
    name="deployments.reconcile_deployment",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,  # a killed worker means redelivery, not loss; reconcile is idempotent
    autoretry_for=(TransientBackendError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
    soft_time_limit=120,
    time_limit=150,
    on_failure=_reconcile_failed,
)
def reconcile_deployment_task(self, deployment_id: int) -> None:
    """One step towards the desired state; requeues itself (with a countdown, never sleeping) until
    converged. Safe to run twice or concurrently: the second finds the lock held and leaves."""
    from deployments.locks import deployment_lock
    from deployments.reconcile import reconcile_deployment

    with deployment_lock(deployment_id) as held:  # released by the database or the OS if this worker dies
        if not held:
            logger.info("deployments.reconcile.locked", extra={"deployment_id": deployment_id})
            # The holder may finish just before our change committed: look again shortly.
            self.apply_async(args=[deployment_id], countdown=2)
            return
        outcome = reconcile_deployment(deployment_id=deployment_id)
    if outcome is not None and outcome.requeue_after is not None:
        self.apply_async(args=[deployment_id], countdown=outcome.requeue_after)


@shared_task(name="deployments.reconcile_sweep", acks_late=True, soft_time_limit=60, time_limit=90)
def reconcile_sweep_task() -> int:
    """Beat: one reconcile per live deployment, to repair drift (a crashed replica, a lost task)."""
    from deployments.reconcile import sweep_plan

    ids = sweep_plan()
    for deployment_id in ids:
        reconcile_deployment_task.apply_async(args=[deployment_id], expires=60)
    return len(ids)


@shared_task(name="deployments.autoscale", acks_late=True, soft_time_limit=30, time_limit=45)
def autoscale_task() -> int:
    """Beat, every few seconds: size local deployments from the gateway's counters."""
    from deployments.autoscale import autoscale_all

    return autoscale_all()
