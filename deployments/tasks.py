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
