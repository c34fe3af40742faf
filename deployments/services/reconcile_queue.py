"""The reconcile work queue, level-triggered like controller-runtime's: at most one reconcile task
is queued and one runs per deployment, however many changes, sweeps and requeues ask for one.

- `reconcile_enqueue` is the only way a reconcile is asked for. A deployment already queued is
  left as it is (the sweep and requeues never advance a backoff), unless a change wants it sooner:
  then a new ticket replaces the queued one and the old task, when its message arrives, finds its
  ticket gone and leaves.
- A task claims its ticket, runs under the deployment lock, and requeues once through
  `reconcile_finished`: at once after a change that arrived meanwhile, else after an interval that
  doubles while nothing changes (capped at 5 minutes) and resets on progress or a change.
- A task that finds the lock held ends, after making sure one task is queued shortly.
- Transient backend errors retry with the same backoff for a time budget
  (RECONCILE_RETRY_BUDGET_SECONDS, 15 minutes by default), not a count, before the change fails.

A ticket whose task has not started 2 s after it was due counts as lost (a worker killed with the
message in hand, a broker restart): the next enqueue, the sweep's included, sends a new one,
and the old message, should it still arrive, finds its ticket replaced. With busy workers that
costs at most one extra message per deployment per sweep, never a growing number. A worker that
dies mid-reconcile releases the lock with its database connection, so nothing waits on it."""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deployments.models import Deployment, ReconcileTicket

logger = logging.getLogger(__name__)

_OVERDUE = timedelta(seconds=2)
_MAX_BACKOFF_SECONDS = 300.0
_LOCKED_RETRY_SECONDS = 2.0
_TRANSIENT_FIRST_RETRY_SECONDS = 2.0


def _now():
    return timezone.now()  # one clock, so tests can move time


def _ticket_row(deployment_id: int) -> ReconcileTicket | None:
    if not Deployment.objects.filter(pk=deployment_id).exists():
        return None
    ReconcileTicket.objects.get_or_create(deployment_id=deployment_id)
    return ReconcileTicket.objects.select_for_update().get(pk=deployment_id)


def _send(deployment_id: int, ticket: str, countdown: float) -> None:
    from deployments.tasks import reconcile_deployment_task

    reconcile_deployment_task.apply_async(args=[deployment_id, ticket], countdown=countdown)


@transaction.atomic
def reconcile_enqueue(
    deployment_id: int, *, countdown: float = 0.0, change: bool = False, overdue: timedelta = _OVERDUE
) -> bool:
    """Ask for a reconcile in `countdown` seconds; `change` when the desired state moved (the
    backoff and the retry budget start over). A queued ticket more than `overdue` past its time
    is taken for lost (the sweep passes 0: any ticket still unclaimed when it runs is resent).
    Returns whether a task was sent."""
    row = _ticket_row(deployment_id)
    if row is None:
        return False
    now = _now()
    if change:
        row.dirty, row.backoff_s, row.failing_since = True, 0.0, None
    due = now + timedelta(seconds=countdown)
    queued = bool(row.ticket) and row.due_at is not None and row.due_at + overdue > now
    # Already queued: left as it is, unless a change wants it sooner (a backoff never delays one).
    if queued and (row.due_at <= due or not change):
        row.save()
        return False
    row.ticket, row.due_at = uuid.uuid4().hex, due
    row.save()
    ticket = row.ticket
    transaction.on_commit(lambda: _send(deployment_id, ticket, countdown))
    return True


@transaction.atomic
def reconcile_claim(deployment_id: int, ticket: str | None) -> bool:
    """A task starts: False when its ticket was replaced (a newer task is queued) or the deployment
    is gone. A task without a ticket (sent by hand) always runs and takes over the queued one."""
    row = _ticket_row(deployment_id)
    if row is None or (ticket is not None and row.ticket != ticket):
        return False
    row.ticket, row.due_at, row.dirty = "", None, False
    row.save()
    return True


def reconcile_locked(deployment_id: int) -> None:
    """The lock is held: whoever holds it is reconciling; one task looks again shortly."""
    reconcile_enqueue(deployment_id, countdown=_LOCKED_RETRY_SECONDS)


@transaction.atomic
def reconcile_finished(deployment_id: int, *, requeue_after: float | None, progress: str) -> float | None:
    """After a reconcile: queue the next one, if any. `progress` fingerprints what it saw; the same
    fingerprint again means no progress, and the interval doubles. Returns the interval."""
    row = _ticket_row(deployment_id)
    if row is None:
        return None
    row.failing_since, row.last_error = None, ""
    if row.dirty:
        row.dirty, row.backoff_s, delay = False, 0.0, 0.0
    elif requeue_after is None:
        row.backoff_s, delay = 0.0, None
    elif progress == row.progress and row.backoff_s:
        row.backoff_s = delay = min(_MAX_BACKOFF_SECONDS, max(requeue_after, row.backoff_s * 2))
    else:
        row.backoff_s = delay = requeue_after
    row.progress = progress
    row.save()
    if delay is not None:
        reconcile_enqueue(deployment_id, countdown=delay)
    return delay


@transaction.atomic
def reconcile_failed_transiently(deployment_id: int, error: str) -> bool:
    """A transient backend error: retry with backoff. True when the retry budget is spent, and the
    caller marks the change failed with this error."""
    row = _ticket_row(deployment_id)
    if row is None:
        return False
    now = _now()
    row.failing_since = row.failing_since or now
    row.last_error = error[:1000]
    budget = timedelta(seconds=settings.RECONCILE_RETRY_BUDGET_SECONDS)
    if now - row.failing_since >= budget:
        row.failing_since, row.backoff_s = None, 0.0
        row.save()
        return True
    row.backoff_s = min(_MAX_BACKOFF_SECONDS, max(_TRANSIENT_FIRST_RETRY_SECONDS, row.backoff_s * 2))
    row.save()
    logger.warning(
        "deployments.reconcile.transient",
        extra={"deployment_id": deployment_id, "retry_in": row.backoff_s, "error": error[:200]},
    )
    reconcile_enqueue(deployment_id, countdown=row.backoff_s)
    return False


def _progress(deployment_id: int) -> str:
    import hashlib

    seen = (
        Deployment.objects.filter(pk=deployment_id)
        .values_list("generation", "status", "status_message", "ready_replicas", "serving_urls")
        .first()
    )
    return hashlib.sha256(repr(seen).encode()).hexdigest()[:32]


def reconcile_run(deployment_id: int, ticket: str | None) -> None:
    """What a reconcile task does: claim, reconcile under the deployment lock, requeue once."""
    from deployments.backends.base import TransientBackendError
    from deployments.locks import deployment_lock
    from deployments.reconcile import reconcile_deployment
    from deployments.services.deployments import deployment_mark_failed

    if not reconcile_claim(deployment_id, ticket):
        return
    with deployment_lock(deployment_id) as held:  # released by the database or the OS if this worker dies
        if not held:
            logger.info("deployments.reconcile.locked", extra={"deployment_id": deployment_id})
            reconcile_locked(deployment_id)
            return
        try:
            outcome = reconcile_deployment(deployment_id=deployment_id)
        except TransientBackendError as exc:
            if reconcile_failed_transiently(deployment_id, str(exc)):
                budget = settings.RECONCILE_RETRY_BUDGET_SECONDS
                deployment_mark_failed(
                    deployment_id=deployment_id,
                    reason=f"Provisioning failed after {budget:g} s of retries; last error: {exc}",
                )
            return
        reconcile_finished(
            deployment_id,
            requeue_after=outcome.requeue_after if outcome is not None else None,
            progress=_progress(deployment_id),
        )
