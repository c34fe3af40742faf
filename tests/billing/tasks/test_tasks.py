from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.models import CostEntry, UsageRecord
from billing.tasks import meter_collect_task, meter_usage_hour_task
from controlplane.celery import BEAT_SCHEDULE, app
from tests.billing.conftest import at


def test_task_names_routes_and_beat_are_pinned():
    assert meter_usage_hour_task.name == "billing.meter_usage_hour"
    assert meter_collect_task.name == "billing.meter_collect"
    for name in ("billing.meter_usage_hour", "billing.meter_collect"):
        assert app.conf.task_routes[name] == {"queue": "metering"}
        assert BEAT_SCHEDULE[name]["task"] == name and BEAT_SCHEDULE[name]["options"]["expires"]


@pytest.mark.django_db
def test_the_hourly_task_rolls_up_and_prices_one_hour_twice_safely(ledger_world, monkeypatch):
    monkeypatch.setattr("billing.services.metering.meter_counters_collect", lambda **kw: 0)
    assert meter_usage_hour_task(at(12).isoformat()) == 2
    assert meter_usage_hour_task(at(12).isoformat()) == 2
    assert UsageRecord.objects.filter(hour=at(12)).count() == 2
    # alpha 12:00–13:00: two replicas, 30 min at $2 and 30 min at $3 → $5.00; gamma: the whole
    # rack at $1.00 per installed GPU-hour → $4.00.
    assert CostEntry.objects.filter(hour=at(12)).aggregate(s=Sum("usd"))["s"].quantize(
        Decimal("0.01")
    ) == Decimal("9.00")


@pytest.mark.django_db
def test_monthly_reports_are_written_on_the_first_and_rewritten_the_same(ledger_world, settings, tmp_path):
    from django.core.files.storage import default_storage

    from billing.tasks import monthly_reports_task
    from tests.billing.conftest import meter_day

    settings.MEDIA_ROOT = tmp_path
    assert BEAT_SCHEDULE["billing.monthly_reports"]["schedule"].day_of_month == {1}
    assert app.conf.task_routes["billing.monthly_reports"] == {"queue": "reports"}
    meter_day()
    names = monthly_reports_task("2026-03")
    assert sorted(n.rsplit("/", 1)[1] for n in names) == sorted(
        f"costs-2026-03-by-{by}.{ext}" for by in ("team", "cost_centre") for ext in ("csv", "pdf", "json")
    )
    assert monthly_reports_task("2026-03") == names  # same names: replaced, not duplicated
    with default_storage.open("finance-reports/2026-03/costs-2026-03-by-team.json") as f:
        assert b'"total": "179.75"' in f.read()
    with default_storage.open("finance-reports/2026-03/costs-2026-03-by-cost_centre.pdf") as f:
        assert f.read(5) == b"%PDF-"
