"""Services of the price catalog: seeding, on-premises working, the rules of a price."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import CatalogItem, GpuType, OnPremProfile, Price
from billing.selectors import onprem_working, price_at
from billing.services import catalog_item_create, catalog_seed, onprem_profile_update, price_add
from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import AuditEvent


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_seed_loads_the_reference_once_and_flags_unverified_rows(db):
    added = catalog_seed(actor=None)
    assert added == {"gpu_types": 13, "items": 40, "prices": 47, "onprem_profiles": 2}
    assert list(AuditEvent.objects.values_list("action", "actor_label")) == [("catalog.seed", "system")]

    assert catalog_seed(actor=None) == {"gpu_types": 0, "items": 0, "prices": 0, "onprem_profiles": 0}
    assert AuditEvent.objects.count() == 1  # a run that adds nothing records nothing

    h100 = GpuType.objects.get(slug="h100-sxm-80gb")
    assert (h100.memory_gb, h100.bandwidth_gbps, h100.bf16_tflops, h100.fp8_tflops) == (80, 3350, 989, 1979)
    assert h100.relative_speed == Decimal("1.000") and not h100.unverified
    assert GpuType.objects.get(slug="a10g-24gb").unverified  # ≈70 TFLOPS is [K]

    p5 = CatalogItem.objects.get(provider="aws", region="us-east-1", sku="p5.48xlarge")
    before_cut, after_cut = price_at(p5, utc(2025, 5, 31)), price_at(p5, utc(2025, 6, 1))
    assert (before_cut.usd, before_cut.source_key, before_cut.unverified) == (Decimal("98.32"), "P2", False)
    assert (after_cut.usd, after_cut.source_key, after_cut.unverified) == (Decimal("55.04"), "K", True)
    assert price_at(p5, utc(2026, 11, 24), term="spot").usd == Decimal("18.00")

    ml_g5 = CatalogItem.objects.get(provider="sagemaker", sku="ml.g5.xlarge")
    assert price_at(ml_g5, utc(2026, 1, 1)).usd == Decimal("1.41")  # P7, October 2025
    assert price_at(ml_g5, utc(2026, 4, 1)).usd == Decimal("1.21")  # P8, 15 March 2026
    assert "zircon.tech" in price_at(ml_g5, utc(2026, 1, 1)).source

    serverless = CatalogItem.objects.get(provider="sagemaker", sku="serverless-inference")
    assert price_at(serverless, utc(2026, 1, 1), unit="gb_second").usd == Decimal("0.00002")
    assert price_at(serverless, utc(2026, 1, 1)).unverified  # not in the reference: K2
    s3 = CatalogItem.objects.get(sku="s3-standard")
    assert price_at(s3, utc(2026, 1, 1)).unit == "gb_month"


def test_seed_keeps_an_admins_newer_price(platform_admin):
    catalog_seed(actor=None)
    g5 = CatalogItem.objects.get(provider="aws", sku="g5.xlarge")
    price_add(
        actor=platform_admin,
        item=g5,
        usd=Decimal("0.95"),
        effective_from=utc(2026, 11, 1),
        source_key="invoice",
        source="our AWS invoice",
    )
    assert catalog_seed(actor=None)["prices"] == 0
    assert price_at(g5, utc(2026, 11, 24)).usd == Decimal("0.95")


def test_onprem_profile_shows_its_working_and_reprices_from_a_date(catalog):
    profile, admin = catalog["profile"], catalog["admin"]
    first = price_at(profile.item, utc(2026, 1, 1))
    assert (first.unit, first.usd, first.source_key) == ("gpu_hour", Decimal("1.161035"), "onprem:rack")
    assert [t["usd_per_gpu_hour"] for t in first.derivation["terms"]] == [0.761035, 0.15, 0.25]
    assert first.derivation["inputs"]["usd_per_kwh"] == "0.1000"

    # Electricity doubles from 1 July: energy becomes 2 × 8,760 × $0.20 × 1.5 = $5,256 a year,
    # $0.30 per GPU-hour; total (13,333.33 + 5,256 + 4,380) ÷ 17,520 = $1.311035.
    onprem_profile_update(
        actor=admin, profile=profile, usd_per_kwh=Decimal("0.20"), effective_from=utc(2026, 7, 1)
    )

    assert price_at(profile.item, utc(2026, 6, 30)).usd == Decimal("1.161035")  # the past keeps its price
    assert price_at(profile.item, utc(2026, 7, 1)).usd == Decimal("1.311035")
    working = onprem_working(profile=OnPremProfile.objects.get(pk=profile.pk))
    assert [round(t.usd_per_gpu_hour, 6) for t in working.terms] == [0.761035, 0.3, 0.25]
    assert AuditEvent.objects.filter(action="onprem_profile.update").count() == 1


def test_a_cost_change_needs_its_effective_date_and_a_rename_does_not(catalog):
    profile, admin = catalog["profile"], catalog["admin"]
    with pytest.raises(ApplicationError) as exc:
        onprem_profile_update(actor=admin, profile=profile, pue=Decimal("1.3"))
    assert exc.value.extra == {"field": "effective_from"}
    onprem_profile_update(actor=admin, profile=profile, name="Rack A")
    assert Price.objects.filter(item=profile.item).count() == 1
    assert CatalogItem.objects.get(pk=profile.item_id).description == "Rack A"


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"expected_utilisation": Decimal(0)}, "expected_utilisation"),
        ({"pue": Decimal("0.9")}, "pue"),
        ({"amortisation_years": 0}, "amortisation_years"),
        ({"gpu_type": None}, "gpu_type"),
    ],
)
def test_onprem_profile_rules_name_the_field(catalog, changes, field):
    with pytest.raises(ApplicationError) as exc:
        onprem_profile_update(
            actor=catalog["admin"], profile=catalog["profile"], effective_from=utc(2026, 9, 1), **changes
        )
    assert exc.value.extra == {"field": field}


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"usd": Decimal("-1")}, "usd"),
        ({"unit": "gb_month"}, "unit"),
        ({"term": "reserved"}, "term"),
        ({"source": "  "}, "source"),
        ({"effective_from": datetime(2026, 3, 1)}, "effective_from"),  # no time zone
    ],
)
def test_price_rules_name_the_field(catalog, kwargs, field):
    args = {
        "usd": Decimal("1"),
        "effective_from": utc(2026, 3, 1),
        "source_key": "X",
        "source": "page",
        **kwargs,
    }
    with pytest.raises(ApplicationError) as exc:
        price_add(actor=catalog["admin"], item=catalog["items"]["small"], **args)
    assert exc.value.extra == {"field": field}


def test_on_prem_prices_come_only_from_the_profile(catalog):
    with pytest.raises(ApplicationError) as exc:
        price_add(
            actor=catalog["admin"],
            item=catalog["profile"].item,
            usd=Decimal(1),
            effective_from=utc(2026, 3, 1),
            source_key="X",
            source="page",
        )
    assert exc.value.extra == {"field": "item"}


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"kind": "instance", "gpu_type": None, "gpu_count": 1}, "gpu_type"),
        ({"kind": "instance", "gpu_count": 0}, "gpu_count"),
        ({"kind": "storage"}, "gpu_type"),
        ({"kind": "onprem"}, "kind"),
        ({"provider": "onprem"}, "provider"),
        ({"sku": "c1.xlarge", "region": "r1"}, "sku"),  # already there
    ],
)
def test_catalog_item_rules_name_the_field(catalog, kwargs, field):
    args = {
        "provider": "aws",
        "region": "r9",
        "sku": "new.xlarge",
        "kind": "instance",
        "gpu_type": catalog["gpu"],
        "gpu_count": 1,
        **kwargs,
    }
    with pytest.raises(ApplicationError) as exc:
        catalog_item_create(actor=catalog["admin"], **args)
    assert exc.value.extra == {"field": field}


def test_make_run_seeds_with_the_management_command(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("seed_price_catalog", stdout=out)
    assert "added 13 gpu types, 40 items, 47 prices, 2 onprem profiles" in out.getvalue()
    call_command("seed_price_catalog", stdout=out)
    assert "Price catalog is up to date." in out.getvalue()
