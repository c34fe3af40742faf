import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(
    name="tenancy.audit_purge",
    acks_late=True,
    # Purging is one DELETE; ten minutes is generous even for years of events.
    soft_time_limit=600,
    time_limit=660,
)
def audit_purge_task() -> int:
    """Beat, daily: drop audit events past retention. Safe to run twice: the second finds nothing."""
    from controlplane.tenancy.services import audit_purge

    deleted = audit_purge()
    logger.info("tenancy.audit_purge.done", extra={"deleted": deleted})
    return deleted
