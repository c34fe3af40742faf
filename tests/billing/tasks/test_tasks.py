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
    assert CostEntry.objects.filter(hour=at(12)).aggregate(s=Sum("usd"))["s"].quantize(Decimal("0.01")) == \
        Decimal("9.00")
