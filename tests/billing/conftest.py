"""A small catalog with round numbers, the same as tests/billing/test_tco.py uses in pure form, so
the API and console can be checked against the hand-computed figures there."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from billing.services import catalog_item_create, gpu_type_create, onprem_profile_create, price_add
from tests.factories.tenancy import UserFactory

JAN_1 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def platform_admin(db):
    user = UserFactory(username="root")
    user.is_superuser = user.is_staff = True
    user.save()
    return user


@pytest.fixture
def catalog(platform_admin):
    admin = platform_admin
    gpu = gpu_type_create(actor=admin, slug="g48", name="Test GPU 48GB", memory_gb=Decimal(48),
                          bandwidth_gbps=Decimal(800), source_key="TEST", source="fixture")

    def instance(provider, region, sku, count, on_demand, spot=None):
        item = catalog_item_create(actor=admin, provider=provider, region=region, sku=sku, kind="instance",
                                   gpu_type=gpu, gpu_count=count)
        price_add(actor=admin, item=item, usd=Decimal(on_demand), effective_from=JAN_1, source_key="TEST",
                  source="fixture")
        if spot:
            price_add(actor=admin, item=item, term="spot", usd=Decimal(spot), effective_from=JAN_1,
                      source_key="TEST", source="fixture")
        return item

    items = {
        "small": instance("aws", "r1", "c1.xlarge", 1, "2.00", "0.80"),
        "quad": instance("gcp", "r2", "c1.4xlarge", 4, "7.20"),
        "managed": instance("sagemaker", "r1", "ml.c1.xlarge", 1, "2.80"),
    }
    serverless = catalog_item_create(actor=admin, provider="sagemaker", region="r1", sku="serverless",
                                     kind="serverless")
    price_add(actor=admin, item=serverless, unit="gb_second", usd=Decimal("0.00002"), effective_from=JAN_1,
              source_key="TEST", source="fixture")
    price_add(actor=admin, item=serverless, unit="request", usd=Decimal(0), effective_from=JAN_1,
              source_key="TEST", source="fixture")
    items["serverless"] = serverless
    profile = onprem_profile_create(
        actor=admin, slug="rack", name="4× g48 server", site="dc1", gpu_type=gpu, gpus_per_server=4,
        hardware_cost_usd=Decimal(40000), amortisation_years=3, power_kw=Decimal("2.0"), usd_per_kwh=Decimal("0.10"),
        pue=Decimal("1.5"), operations_usd_per_year=Decimal(4380), expected_utilisation=Decimal("0.5"),
        source="fixture quote", effective_from=JAN_1,
    )
    return {"gpu": gpu, "items": items, "profile": profile, "admin": admin}


# The workload of tests/billing/test_tco.py as query parameters.
HAND_WORKLOAD = {
    "requests_per_day": 172800, "horizon_years": 3, "traffic": "steady", "sensitivity": "internal",
    "params_billions": 8, "precision": "bf16", "tokens_per_request": 400, "concurrency_per_replica": 8,
    "spot_share": 0.5,
}
