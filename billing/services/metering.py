"""Metering: gateway counters and replica intervals into one UsageRecord per deployment per hour."""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.models import MeterReading, UsageRecord
from deployments.models import Deployment, ReplicaInterval

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
COUNTER_FIELDS = ("requests", "errors", "tokens_in", "tokens_out", "bytes_in", "bytes_out")


def hour_floor(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def _deployment_for_key(key: str) -> Deployment | None:
    team_slug, _, name = key.removeprefix("meter:").partition("/")
    # Deleted deployments free their name: the live one (or else the newest) owns the counter.
    if not name:
        return None
    found = Deployment.objects.filter(team__slug=team_slug, name=name)
    return found.exclude(status="deleted").first() or found.order_by("-pk").first()


def meter_counters_collect(*, store=None, now: datetime | None = None) -> int:
    """Pop every `meter:{team}/{deployment}` counter of the gateway into a MeterReading of the
    current hour. The pop and the insert go together: if the insert fails the counts are added
    back to the store, so a popped count is never lost (the gateway only adds, so adding back is
    safe). Per-token keys are left to their own readers. Returns the number of readings written."""
    from deployments.dataplane import dataplane_store

    store = store or dataplane_store()
    now = now or timezone.now()
    written = 0
    for key in store.keys("meter:"):
        if ":token:" in key:
            continue
        deployment = _deployment_for_key(key)
        if deployment is None:
            logger.warning("billing.metering.unknown_key", extra={"key": key})
            continue
        counts = store.pop_counters(key)
        if not counts:
            continue
        try:
            with transaction.atomic():
                MeterReading.objects.create(
                    deployment=deployment,
                    hour=hour_floor(now),
                    popped_at=now,
                    **{f: int(counts.get(f, 0)) for f in COUNTER_FIELDS},
                )
        except Exception:
            store.incr_many(key, {f: int(v) for f, v in counts.items()})
            raise
        written += 1
    return written


def interval_seconds(intervals, start: datetime, end: datetime, *, now: datetime) -> tuple[Decimal, Decimal]:
    """Replica-seconds and GPU-seconds of `intervals` inside [start, end); an open interval runs
    until `now`."""
    replica = gpu = Decimal(0)
    for iv in intervals:
        lo, hi = max(iv.started_at, start), min(iv.ended_at or now, end)
        if hi > lo:
            seconds = Decimal(str((hi - lo).total_seconds()))
            replica += seconds
            gpu += seconds * iv.gpu_count
    return replica, gpu


def intervals_in(*, deployment_ids, start: datetime, end: datetime):
    return ReplicaInterval.objects.filter(deployment_id__in=list(deployment_ids), started_at__lt=end).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start)
    )


@transaction.atomic
def usage_record_hour(
    *, deployment: Deployment, hour: datetime, now: datetime | None = None
) -> UsageRecord | None:
    """Roll up one deployment's hour [hour, hour + 1 h) into its UsageRecord: exact overlap of its
    replica intervals, plus the meter readings of that hour. Re-running gives the same row (update
    in place on the unique (deployment, hour)). None if the hour had no use at all."""
    hour = hour_floor(hour)
    now = now or timezone.now()
    intervals = list(intervals_in(deployment_ids=[deployment.pk], start=hour, end=hour + HOUR))
    replica, gpu = interval_seconds(intervals, hour, hour + HOUR, now=now)
    counts = MeterReading.objects.filter(deployment=deployment, hour=hour).aggregate(
        **{f: Sum(f) for f in COUNTER_FIELDS}
    )
    counts = {f: counts[f] or 0 for f in COUNTER_FIELDS}
    if not intervals and not any(counts.values()):
        UsageRecord.objects.filter(deployment=deployment, hour=hour).delete()
        return None
    gpu_types = [iv.gpu_type for iv in intervals if iv.gpu_type and iv.gpu_count]
    record, _ = UsageRecord.objects.update_or_create(
        deployment=deployment,
        hour=hour,
        defaults={
            "team_id": deployment.team_id,
            "target_id": deployment.target_id,
            "replica_seconds": replica,
            "gpu_seconds": gpu,
            "gpu_type": max(set(gpu_types), key=gpu_types.count) if gpu_types else "",
            **counts,
        },
    )
    return record


def usage_hour_deployments(*, hour: datetime) -> list[int]:
    """Ids of deployments that had a replica up or a meter reading in the hour."""
    hour = hour_floor(hour)
    ids = set(
        ReplicaInterval.objects.filter(started_at__lt=hour + HOUR)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=hour))
        .values_list("deployment_id", flat=True)
    )
    ids |= set(MeterReading.objects.filter(hour=hour).values_list("deployment_id", flat=True))
    ids |= set(UsageRecord.objects.filter(hour=hour).values_list("deployment_id", flat=True))
    return sorted(ids)


def usage_hour_rollup(*, hour: datetime, now: datetime | None = None) -> list[UsageRecord]:
    """Roll up every deployment's usage for one hour. Idempotent."""
    records = []
    for deployment in Deployment.objects.filter(pk__in=usage_hour_deployments(hour=hour)).select_related(
        "target"
    ):
        record = usage_record_hour(deployment=deployment, hour=hour, now=now)
        if record is not None:
            records.append(record)
    return records
