"""The ledger against a hand computation (tests/billing/conftest.py `ledger_world`, day D).

alpha/chat, cloud, 1 GPU per replica, $2.00 until 12:30 then $3.00:
  a1 00:00–24:00: 12.5 h × $2 + 11.5 h × $3 = $25.00 + $34.50 = $59.50
  a2 09:15–14:45:  3.25 h × $2 + 2.25 h × $3 = $6.50 + $6.75  = $13.25
  alpha total                                                   $72.75
gamma/vision, own hardware, 2 GPUs per replica, $1.00 per installed GPU-hour until 18:30, then $1.50:
  b1 00:00–24:00: 2 × 18.5 h × $1 + 2 × 5.5 h × $1.50 = $37.00 + $16.50 = $53.50
  b2 06:20–07:40: 2 × 4/3 h × $1                         =                $2.666…
  idle before 18:30: (4 × 18.5 − 37 − 8/3) GPU-h × $1 = $34.333…
  idle after 18:30:  (4 × 5.5 − 11) GPU-h × $1.50    = $16.50
  gamma total (idle by share of use) = the whole rack: 4 × 18.5 × $1 + 4 × 5.5 × $1.50 = $107.00
Grand total $179.75.
"""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db.models import Sum

from billing.choices import CostCategory
from billing.models import CostEntry, UsageRecord
from billing.services.metering import meter_counters_collect, usage_record_hour
from tests.billing.conftest import at, meter_day

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


def cents(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, ROUND_HALF_UP)


def team_total(team, **filters) -> Decimal:
    return cents(CostEntry.objects.filter(team=team, **filters).aggregate(s=Sum("usd"))["s"])


def snapshot():
    usage = sorted(
        UsageRecord.objects.values_list(
            "deployment_id", "hour", "replica_seconds", "gpu_seconds", "requests", "tokens_out"
        )
    )
    costs = sorted(
        CostEntry.objects.values_list(
            "hour", "team_id", "deployment_id", "category", "price_id", "quantity", "usd"
        ),
        key=str,
    )
    return usage, costs


def test_a_day_on_two_targets_matches_the_hand_total_to_the_cent(ledger_world):
    w = ledger_world
    meter_day()

    assert UsageRecord.objects.filter(deployment=w["chat"]).count() == 24
    nine = UsageRecord.objects.get(deployment=w["chat"], hour=at(9))
    assert (nine.replica_seconds, nine.gpu_seconds) == (Decimal(3600 + 45 * 60), Decimal(3600 + 45 * 60))
    six = UsageRecord.objects.get(deployment=w["vision"], hour=at(6))
    assert six.gpu_seconds == Decimal(2 * 3600 + 2 * 40 * 60)

    # 12:00–13:00 at alpha is two lines, one per price, each naming its price and usage record.
    noon = CostEntry.objects.filter(deployment=w["chat"], hour=at(12)).order_by("price__effective_from")
    before, after = w["cloud_prices"]
    assert [(e.price_id, e.quantity, cents(e.usd)) for e in noon] == [
        (before.pk, Decimal(2 * 1800), Decimal("2.00")),
        (after.pk, Decimal(2 * 1800), Decimal("3.00")),
    ]
    assert {e.usage_record.hour for e in noon} == {at(12)}

    assert team_total(w["alpha"]) == Decimal("72.75")
    assert team_total(w["alpha"], category=CostCategory.GPU_COMPUTE) == Decimal("72.75")
    assert team_total(w["gamma"], category=CostCategory.AMORTISED_HARDWARE) == Decimal("56.17")
    assert team_total(w["gamma"], category=CostCategory.IDLE_CAPACITY) == Decimal("50.83")
    assert team_total(w["gamma"]) == Decimal("107.00")
    assert cents(CostEntry.objects.aggregate(s=Sum("usd"))["s"]) == Decimal("179.75")


def test_re_running_the_roll_ups_changes_nothing(ledger_world):
    meter_day()
    first = snapshot()
    meter_day()
    meter_day()
    assert snapshot() == first


def test_idle_capacity_can_go_to_the_platform(ledger_world, settings):
    settings.BILLING_IDLE_ALLOCATION = "platform"
    meter_day()
    assert team_total(ledger_world["gamma"]) == Decimal("56.17")
    platform = CostEntry.objects.filter(team__isnull=True)
    assert set(platform.values_list("category", flat=True)) == {CostCategory.IDLE_CAPACITY}
    assert cents(platform.aggregate(s=Sum("usd"))["s"]) == Decimal("50.83")
    assert cents(CostEntry.objects.aggregate(s=Sum("usd"))["s"]) == Decimal("179.75")


def test_gateway_counters_are_popped_into_the_hour_and_never_counted_twice(ledger_world, tmp_path):
    from serving.store import SqliteStore

    store = SqliteStore(tmp_path / "dp.sqlite3")
    key = "meter:alpha/chat"
    store.incr_many(key, {"requests": 7, "tokens_out": 300, "bytes_in": 1000})
    store.incr_many(key + ":token:5", {"requests": 7})
    assert meter_counters_collect(store=store, now=at(10, 20)) == 1
    store.incr_many(key, {"requests": 3, "tokens_out": 40})
    assert meter_counters_collect(store=store, now=at(10, 50)) == 1
    assert meter_counters_collect(store=store, now=at(10, 55)) == 0  # nothing left to pop

    record = usage_record_hour(deployment=ledger_world["chat"], hour=at(10), now=at(0, day=2))
    again = usage_record_hour(deployment=ledger_world["chat"], hour=at(10), now=at(0, day=2))
    assert (record.pk, record.requests, record.tokens_out, record.bytes_in) == (again.pk, 10, 340, 1000)
    assert UsageRecord.objects.filter(deployment=ledger_world["chat"]).count() == 1
    assert store.pop_counters(key + ":token:5") == {"requests": 7}  # per-token keys are not ours


def test_a_failed_insert_puts_the_counts_back(ledger_world, tmp_path, monkeypatch):
    from billing.models import MeterReading
    from serving.store import SqliteStore

    store = SqliteStore(tmp_path / "dp.sqlite3")
    store.incr_many("meter:alpha/chat", {"requests": 5})

    def boom(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(MeterReading.objects, "create", boom)
    with pytest.raises(RuntimeError):
        meter_counters_collect(store=store, now=at(10))
    assert store.pop_counters("meter:alpha/chat") == {"requests": 5}


def test_usage_without_a_price_is_left_out_and_priced_on_a_re_run(ledger_world, caplog):
    from billing.models import CatalogItem
    from billing.services import price_add
    from billing.services.ledger import cost_entries_price
    from billing.services.metering import usage_hour_rollup

    cloud = ledger_world["cloud"]
    cloud.settings = {"instance_type": "p9.big"}  # not in the catalog yet
    cloud.save()
    usage_hour_rollup(hour=at(3), now=at(0, day=2))
    cost_entries_price(hour=at(3), now=at(0, day=2))
    assert "billing.ledger.unpriced" in caplog.text
    assert not CostEntry.objects.filter(team=ledger_world["alpha"]).exists()
    assert team_total(ledger_world["gamma"]) == Decimal("4.00")  # the rack's hour: 4 GPUs × $1.00

    item = CatalogItem.objects.create(
        provider="aws",
        region="r9",
        sku="p9.big",
        kind="instance",
        gpu_type=ledger_world["profile"].gpu_type,
        gpu_count=4,
    )
    price_add(
        actor=ledger_world["admin"],
        item=item,
        usd=Decimal("10.00"),
        effective_from=at(0),
        source_key="TEST",
        source="fixture",
    )
    cost_entries_price(hour=at(3), now=at(0, day=2))
    assert team_total(ledger_world["alpha"]) == Decimal("2.50")  # 1 GPU-hour at $10.00 ÷ 4 GPUs
