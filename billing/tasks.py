import logging
from datetime import datetime

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="billing.meter_collect", acks_late=True, soft_time_limit=50, time_limit=55)
def meter_collect_task() -> int:
    """Beat, every minute: pop the gateway's counters into this hour's meter readings. A double
    run pops nothing the second time (the pop is atomic)."""
    from billing.services.metering import meter_counters_collect

    return meter_counters_collect()


@shared_task(
    name="billing.meter_usage_hour",
    acks_late=True,
    reject_on_worker_lost=True,  # re-running an hour is safe: the roll-up and pricing replace it
    soft_time_limit=600,  # an hour of a large fleet: thousands of deployments
    time_limit=660,
)
def meter_usage_hour_task(hour: str | None = None) -> int:
    """Beat, at :05: roll up and price one hour (ISO string; default the hour that just ended).
    Idempotent: the same hour twice gives the same usage records and cost entries."""
    from django.utils import timezone

    from billing.services.budgets import budget_alerts_check_all
    from billing.services.ledger import cost_entries_price
    from billing.services.metering import HOUR, hour_floor, meter_counters_collect, usage_hour_rollup

    when = datetime.fromisoformat(hour) if hour else hour_floor(timezone.now()) - HOUR
    meter_counters_collect()
    records = usage_hour_rollup(hour=when)
    cost_entries_price(hour=when)
    budget_alerts_check_all()
    logger.info("billing.metering.hour", extra={"hour": when.isoformat(), "records": len(records)})
    return len(records)


@shared_task(name="billing.monthly_reports", acks_late=True, soft_time_limit=900, time_limit=960)
def monthly_reports_task(month: str | None = None) -> list[str]:
    """Beat, on the 1st: write last month's finance reports (CSV, PDF, JSON; by team and by cost
    centre) to storage. `month` is YYYY-MM. A re-run overwrites the same files."""
    from datetime import date, timedelta

    from django.utils import timezone

    from billing.services.reports import finance_reports_generate

    first = (
        date.fromisoformat(f"{month}-01")
        if month
        else (timezone.now().date().replace(day=1) - timedelta(days=1))
    )
    return finance_reports_generate(month=first.replace(day=1))
