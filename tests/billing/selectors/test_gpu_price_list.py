"""billing.selectors.gpu_price_list: what the model registry calls to find the cheapest GPU."""

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.selectors import GpuPrice, gpu_price_list


def test_cheapest_per_gpu_hour_with_its_provider_instance_and_source(catalog):
    # g48: c1.xlarge $2.00 for 1 GPU, c1.4xlarge $7.20 ÷ 4 = $1.80, ml.c1.xlarge $2.80, spot $0.80 (left
    # out: spot can be taken away), and the on-prem profile's derived $1.161035 per GPU-hour.
    (price,) = gpu_price_list()
    assert isinstance(price, GpuPrice)
    assert (price.gpu_type, price.name, price.memory_gb) == ("g48", "Test GPU 48GB", Decimal("48.0"))
    assert price.usd_per_gpu_hour == Decimal("1.161035")
    assert (price.provider, price.region, price.instance, price.gpus_per_instance) == (
        "onprem",
        "dc1",
        "rack",
        4,
    )
    assert price.source_key == "onprem:rack" and price.source == "fixture quote"
    with pytest.raises(dataclasses.FrozenInstanceError):
        price.usd_per_gpu_hour = Decimal(0)


def test_a_later_cheaper_instance_price_takes_over_from_its_date(catalog):
    from billing.services import price_add

    feb_1 = datetime(2026, 2, 1, tzinfo=UTC)
    price_add(
        actor=catalog["admin"],
        item=catalog["items"]["quad"],
        usd=Decimal("4.00"),
        effective_from=feb_1,
        source_key="P9",
        source="new list price",
    )
    (january,) = gpu_price_list(at=datetime(2026, 1, 31, tzinfo=UTC))
    (february,) = gpu_price_list(at=feb_1)
    assert january.instance == "rack"
    # $4.00 ÷ 4 GPUs = $1.00 per GPU-hour, below the on-prem $1.161035.
    assert (february.provider, february.instance, february.usd_per_gpu_hour, february.source_key) == (
        "gcp",
        "c1.4xlarge",
        Decimal("1.000000"),
        "P9",
    )
    assert february.effective_from == feb_1


def test_seeded_catalog_lists_every_priced_gpu_cheapest_first(platform_admin):
    from billing.services import catalog_seed

    catalog_seed(actor=None)
    prices = gpu_price_list(at=datetime(2026, 11, 24, tzinfo=UTC))
    by_gpu = {p.gpu_type: p for p in prices}
    assert [p.usd_per_gpu_hour for p in prices] == sorted(p.usd_per_gpu_hour for p in prices)
    assert by_gpu["t4-16gb"].usd_per_gpu_hour == Decimal("0.526")  # g4dn.xlarge or NC4as_T4_v3 [K]
    assert by_gpu["t4-16gb"].unverified is True
    assert (
        by_gpu["a10g-24gb"].instance,
        by_gpu["a10g-24gb"].usd_per_gpu_hour,
        by_gpu["a10g-24gb"].source_key,
    ) == ("g5.xlarge", Decimal("1.006"), "P1")
    assert by_gpu["a10g-24gb"].unverified is False
    assert "ascend-910b-64gb" not in by_gpu  # no instance offers it


def test_the_model_registry_reads_its_gpu_offers_from_here(catalog):
    from deployments.selectors.sizing import gpu_offers

    (offer,) = gpu_offers()
    assert (offer.slug, offer.memory_gb, offer.usd_per_gpu_hour) == ("g48", 48.0, 1.161035)
    assert offer.source == "onprem rack (onprem:rack)"
