"""A price change takes effect from its date and never changes what earlier periods cost."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import Price
from billing.selectors import gpu_price_list, hourly_cost, price_at, price_segments
from billing.services import price_add
from controlplane.exceptions import ApplicationError
from tests.factories.billing import CatalogItemFactory


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def item(platform_admin):
    item = CatalogItemFactory(sku="x1.large", gpu_count=2)
    price_add(
        actor=platform_admin,
        item=item,
        usd=Decimal("1.00"),
        effective_from=utc(2026, 1, 1),
        source_key="P1",
        source="first page",
    )
    return item


def _change_price_mid_period(item, actor):
    # From 12:00 on 15 January the instance costs $2.00/h.
    return price_add(
        actor=actor,
        item=item,
        usd=Decimal("2.00"),
        effective_from=utc(2026, 1, 15, 12),
        source_key="P2",
        source="second page",
    )


def test_price_at_picks_the_row_in_force(item, platform_admin):
    _change_price_mid_period(item, platform_admin)
    assert price_at(item, utc(2025, 12, 31)) is None
    assert price_at(item, utc(2026, 1, 15, 11, 59)).usd == Decimal("1.00")
    assert price_at(item, utc(2026, 1, 15, 12)).usd == Decimal("2.00")  # in force from its start
    assert price_at(item, utc(2026, 6, 1)).source_key == "P2"
    assert price_at(item, utc(2026, 6, 1), term="spot") is None


def test_a_mid_period_change_leaves_costs_before_it_unchanged(item, platform_admin):
    # 1 Jan 00:00 to 15 Jan 12:00 is 14.5 days = 348 h at $1.00 × 3 instances = $1,044.00.
    before_change = hourly_cost(
        item=item, start=utc(2026, 1, 1), end=utc(2026, 1, 15, 12), quantity=Decimal(3)
    )
    assert before_change == Decimal("1044.00")

    _change_price_mid_period(item, platform_admin)

    assert (
        hourly_cost(item=item, start=utc(2026, 1, 1), end=utc(2026, 1, 15, 12), quantity=Decimal(3))
        == before_change
    )
    # The day of the change: 12 h × $1.00 + 12 h × $2.00 = $36.00 per instance.
    assert hourly_cost(item=item, start=utc(2026, 1, 15), end=utc(2026, 1, 16)) == Decimal("36.00")
    segments = price_segments(item=item, start=utc(2026, 1, 15), end=utc(2026, 1, 16))
    assert [(s.start.hour, s.end.hour, s.price.usd) for s in segments] == [
        (0, 12, Decimal("1.00")),
        (12, 0, Decimal("2.00")),
    ]


def test_a_span_before_the_first_price_is_refused(item):
    with pytest.raises(LookupError):
        hourly_cost(item=item, start=utc(2025, 12, 31), end=utc(2026, 1, 2))


def test_past_prices_are_never_rewritten(item, platform_admin):
    _change_price_mid_period(item, platform_admin)
    with pytest.raises(ApplicationError) as exc:  # slipping a row under the newest one would reprice the past
        price_add(
            actor=platform_admin,
            item=item,
            usd=Decimal("5"),
            effective_from=utc(2026, 1, 10),
            source_key="P3",
            source="late page",
        )
    assert exc.value.extra == {"field": "effective_from"}
    first = Price.objects.get(usd=Decimal("1.00"))
    first.usd = Decimal("9")
    with pytest.raises(TypeError):
        first.save()
    with pytest.raises(TypeError):
        Price.objects.filter(pk=first.pk).update(usd=Decimal("9"))
    with pytest.raises(TypeError):
        first.delete()
    assert list(Price.objects.order_by("effective_from").values_list("usd", flat=True)) == [
        Decimal("1.00"),
        Decimal("2.00"),
    ]


def test_gpu_price_list_follows_the_effective_dates(item, platform_admin):
    _change_price_mid_period(item, platform_admin)
    before = gpu_price_list(at=utc(2026, 1, 10))
    after = gpu_price_list(at=utc(2026, 2, 1))
    assert [(p.gpu_type, p.usd_per_gpu_hour, p.source_key) for p in before] == [
        (item.gpu_type.slug, Decimal("0.5"), "P1")
    ]
    assert [(p.usd_per_gpu_hour, p.source_key) for p in after] == [(Decimal("1"), "P2")]  # $2.00 ÷ 2 GPUs
    assert gpu_price_list(at=utc(2025, 1, 1)) == []
