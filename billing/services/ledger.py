"""The cost ledger: usage records priced into CostEntry rows, one hour at a time."""

import logging
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.choices import CostCategory, IdleAllocation, PriceUnit
from billing.models import CostEntry, Price, UsageRecord
from billing.selectors.prices import cloud_catalog_item, price_segments
from billing.services.metering import HOUR, hour_floor, interval_seconds, intervals_in
from controlplane.exceptions import ApplicationError
from deployments.models import Target

SECONDS_PER_HOUR = Decimal(3600)
logger = logging.getLogger(__name__)


def _onprem_rate(price: Price) -> Decimal:
    """USD per installed GPU-hour: the profile price spreads idle hours over used ones (÷ expected
    utilisation); the ledger shows idle hours as their own line, so it takes that factor back out."""
    utilisation = Decimal(str((price.derivation or {}).get("inputs", {}).get("expected_utilisation", "1")))
    return price.usd * utilisation / SECONDS_PER_HOUR


def _gpu_lines(record: UsageRecord, intervals, *, now: datetime) -> list[CostEntry]:
    """GPU-seconds of the record split where the price changes, each part at its own price."""
    target = record.target
    start, end = record.hour, record.hour + HOUR
    if record.gpu_seconds == 0:
        return []
    onprem = target.onprem_profile
    if onprem is not None:
        item, unit, category = onprem.item, PriceUnit.GPU_HOUR, CostCategory.AMORTISED_HARDWARE
    else:
        item = cloud_catalog_item(target=target, gpu_type=record.gpu_type, at=start)
        unit, category = PriceUnit.INSTANCE_HOUR, CostCategory.GPU_COMPUTE
    if item is None:
        raise ApplicationError(
            f"No catalog price for {record.gpu_type or 'GPUs'} on target {target.name}.",
            extra={"field": "target"},
        )
    lines = []
    for seg in price_segments(item=item, start=start, end=end, unit=unit):
        _, gpu_seconds = interval_seconds(intervals, seg.start, seg.end, now=now)
        if gpu_seconds == 0:
            continue
        if seg.price is None:
            raise ApplicationError(
                f"{item} has no price before {seg.end:%Y-%m-%d %H:%M}.", extra={"field": "price"}
            )
        rate = (
            _onprem_rate(seg.price)
            if onprem is not None
            else seg.price.usd / item.gpu_count / SECONDS_PER_HOUR
        )
        lines.append(
            CostEntry(
                hour=start,
                team_id=record.team_id,
                deployment_id=record.deployment_id,
                target=target,
                usage_record=record,
                category=category,
                price=seg.price,
                quantity=gpu_seconds,
                rate_usd=rate,
                usd=gpu_seconds * rate,
            )
        )
    return lines


def _idle_lines(target: Target, hour: datetime, used: list[CostEntry]) -> list[CostEntry]:
    """Own GPUs installed but not used in the hour, at the installed rate, per price segment;
    allocated to the deployments by their share of GPU-seconds, or to the platform (no team)."""
    profile = target.onprem_profile
    installed = Decimal((target.gpu_inventory or {}).get(profile.gpu_type.slug, 0))
    if installed == 0:
        return []
    lines = []
    for seg in price_segments(item=profile.item, start=hour, end=hour + HOUR, unit=PriceUnit.GPU_HOUR):
        if seg.price is None:
            continue
        seg_used = [e for e in used if e.price_id == seg.price.pk]
        used_seconds = sum((e.quantity for e in seg_used), Decimal(0))
        idle = installed * Decimal(str((seg.end - seg.start).total_seconds())) - used_seconds
        if idle <= 0:
            continue
        rate = _onprem_rate(seg.price)
        if settings.BILLING_IDLE_ALLOCATION == IdleAllocation.SHARE and used_seconds > 0:
            by_deployment = defaultdict(Decimal)
            owners = {}
            for e in seg_used:
                by_deployment[e.deployment_id] += e.quantity
                owners[e.deployment_id] = e
            for deployment_id, seconds in sorted(by_deployment.items()):
                share = idle * seconds / used_seconds
                e = owners[deployment_id]
                lines.append(
                    CostEntry(
                        hour=hour,
                        team_id=e.team_id,
                        deployment_id=deployment_id,
                        target=target,
                        usage_record=e.usage_record,
                        category=CostCategory.IDLE_CAPACITY,
                        price=seg.price,
                        quantity=share,
                        rate_usd=rate,
                        usd=share * rate,
                    )
                )
        else:
            lines.append(
                CostEntry(
                    hour=hour,
                    team=None,
                    deployment=None,
                    target=target,
                    usage_record=None,
                    category=CostCategory.IDLE_CAPACITY,
                    price=seg.price,
                    quantity=idle,
                    rate_usd=rate,
                    usd=idle * rate,
                )
            )
    return lines


@transaction.atomic
def cost_entries_price(*, hour: datetime, now: datetime | None = None) -> list[CostEntry]:
    """Price one hour: replace that hour's ledger lines with lines computed from its usage records
    and the prices in force during it. Re-running gives the same lines (no double counting);
    prices are append-only, so past hours keep their cost. Usage with no price to be charged at is
    logged (`billing.ledger.unpriced`) and left out until the hour is priced again."""
    hour, now = hour_floor(hour), now or timezone.now()
    # One pricing of an hour at a time: concurrent runs queue here instead of interleaving.
    list(
        UsageRecord.objects.select_for_update().filter(hour=hour).order_by("pk").values_list("pk", flat=True)
    )
    records = list(
        UsageRecord.objects.filter(hour=hour).select_related(
            "target__onprem_profile__item", "target__onprem_profile__gpu_type"
        )
    )
    by_deployment = defaultdict(list)
    for iv in intervals_in(deployment_ids=[r.deployment_id for r in records], start=hour, end=hour + HOUR):
        by_deployment[iv.deployment_id].append(iv)
    lines: list[CostEntry] = []
    used_by_target = defaultdict(list)
    for record in records:
        try:
            gpu = _gpu_lines(record, by_deployment[record.deployment_id], now=now)
        except ApplicationError as exc:
            # One target without a price must not stop the whole ledger: its usage record stays,
            # unpriced, and re-running the hour after the price is added prices it.
            logger.warning(
                "billing.ledger.unpriced", extra={"usage_record_id": record.pk, "reason": exc.message}
            )
            continue
        lines += gpu
        if record.target.onprem_profile_id:
            used_by_target[record.target_id] += gpu
    for target in Target.objects.filter(onprem_profile__isnull=False).select_related(
        "onprem_profile__item", "onprem_profile__gpu_type"
    ):
        lines += _idle_lines(target, hour, used_by_target[target.pk])
    CostEntry.objects.filter(hour=hour).delete()
    CostEntry.objects.bulk_create(lines)
    return lines
