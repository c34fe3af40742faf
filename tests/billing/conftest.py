"""A small catalog with round numbers, the same as tests/billing/test_tco.py uses in pure form, so
the API and console can be checked against the hand-computed figures there."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.services import catalog_item_create, gpu_type_create, onprem_profile_create, price_add
from tests.factories.tenancy import UserFactory

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def platform_admin(db):
    user = UserFactory(username="root")
    user.is_superuser = user.is_staff = True
    user.save()
    return user


@pytest.fixture
def catalog(platform_admin):
    admin = platform_admin
    gpu = gpu_type_create(
        actor=admin,
        slug="g48",
        name="Test GPU 48GB",
        memory_gb=Decimal(48),
        bandwidth_gbps=Decimal(800),
        source_key="TEST",
        source="fixture",
    )

    def instance(provider, region, sku, count, on_demand, spot=None):
        item = catalog_item_create(
            actor=admin,
            provider=provider,
            region=region,
            sku=sku,
            kind="instance",
            gpu_type=gpu,
            gpu_count=count,
        )
        price_add(
            actor=admin,
            item=item,
            usd=Decimal(on_demand),
            effective_from=JAN_1,
            source_key="TEST",
            source="fixture",
        )
        if spot:
            price_add(
                actor=admin,
                item=item,
                term="spot",
                usd=Decimal(spot),
                effective_from=JAN_1,
                source_key="TEST",
                source="fixture",
            )
        return item

    items = {
        "small": instance("aws", "r1", "c1.xlarge", 1, "2.00", "0.80"),
        "quad": instance("gcp", "r2", "c1.4xlarge", 4, "7.20"),
        "managed": instance("sagemaker", "r1", "ml.c1.xlarge", 1, "2.80"),
    }
    serverless = catalog_item_create(
        actor=admin, provider="sagemaker", region="r1", sku="serverless", kind="serverless"
    )
    price_add(
        actor=admin,
        item=serverless,
        unit="gb_second",
        usd=Decimal("0.00002"),
        effective_from=JAN_1,
        source_key="TEST",
        source="fixture",
    )
    price_add(
        actor=admin,
        item=serverless,
        unit="request",
        usd=Decimal(0),
        effective_from=JAN_1,
        source_key="TEST",
        source="fixture",
    )
    items["serverless"] = serverless
    profile = onprem_profile_create(
        actor=admin,
        slug="rack",
        name="4× g48 server",
        site="dc1",
        gpu_type=gpu,
        gpus_per_server=4,
        hardware_cost_usd=Decimal(40000),
        amortisation_years=3,
        power_kw=Decimal("2.0"),
        usd_per_kwh=Decimal("0.10"),
        pue=Decimal("1.5"),
        operations_usd_per_year=Decimal(4380),
        expected_utilisation=Decimal("0.5"),
        source="fixture quote",
        effective_from=JAN_1,
    )
    return {"gpu": gpu, "items": items, "profile": profile, "admin": admin}


# The workload of tests/billing/test_tco.py as query parameters.
HAND_WORKLOAD = {
    "requests_per_day": 172800,
    "horizon_years": 3,
    "traffic": "steady",
    "sensitivity": "internal",
    "params_billions": 8,
    "precision": "bf16",
    "tokens_per_request": 400,
    "concurrency_per_replica": 8,
    "spot_share": 0.5,
}


# --- a metered day for the ledger, allocation and budget tests -----------------------------------
# Day D = 2026-03-10 (UTC). Hand-computed in tests/billing/services/test_ledger.py.
DAY = datetime(2026, 3, 10, tzinfo=UTC)


def at(hh: int, mm: int = 0, day: int = 0) -> datetime:
    from datetime import timedelta

    return DAY + timedelta(days=day, hours=hh, minutes=mm)


@pytest.fixture
def ledger_world(platform_admin, team):
    """Two teams, two targets, two deployments over day D:

    - alpha/chat on a cloud target billed at c1.xlarge (1 GPU): $2.00/h, $3.00/h from 12:30.
      Replica a1 all day; a2 from 09:15 to 14:45. 1 GPU per replica.
    - gamma/vision on own hardware (4 GPUs installed): $2.00 per used GPU-hour at 50 % expected
      utilisation (so $1.00 per installed GPU-hour), $3.00 ($1.50) from 18:30.
      Replica b1 all day; b2 from 06:20 to 07:40. 2 GPUs per replica.
    """
    from billing.services import (
        catalog_item_create,
        gpu_type_create,
        onprem_profile_create,
        onprem_profile_update,
        price_add,
    )
    from deployments.models import Deployment, ReplicaInterval, Target
    from tests.factories.tenancy import TeamFactory

    admin = platform_admin
    gpu = gpu_type_create(
        actor=admin,
        slug="g48",
        name="Test GPU 48GB",
        memory_gb=Decimal(48),
        bandwidth_gbps=Decimal(800),
        source_key="TEST",
        source="fixture",
    )
    item = catalog_item_create(
        actor=admin, provider="aws", region="r1", sku="c1.xlarge", kind="instance", gpu_type=gpu, gpu_count=1
    )
    cloud_before = price_add(
        actor=admin, item=item, usd=Decimal("2.00"), effective_from=JAN_1, source_key="TEST", source="fixture"
    )
    cloud_after = price_add(
        actor=admin,
        item=item,
        usd=Decimal("3.00"),
        effective_from=at(12, 30),
        source_key="TEST",
        source="fixture",
    )
    # 35,040 ÷ 1 year ÷ (4 GPUs × 8,760 h × 0.5) = $2.00 per used GPU-hour; nothing else costs.
    profile = onprem_profile_create(
        actor=admin,
        slug="rack",
        name="4× g48 server",
        site="dc1",
        gpu_type=gpu,
        gpus_per_server=4,
        hardware_cost_usd=Decimal(35040),
        amortisation_years=1,
        power_kw=Decimal(0),
        usd_per_kwh=Decimal(0),
        pue=Decimal(1),
        operations_usd_per_year=Decimal(0),
        expected_utilisation=Decimal("0.5"),
        source="fixture quote",
        effective_from=JAN_1,
    )
    onprem_profile_update(
        actor=admin, profile=profile, hardware_cost_usd=Decimal(52560), effective_from=at(18, 30)
    )
    cloud = Target.objects.create(
        name="cloud",
        kind="kubernetes",
        gpu_inventory={"g48": 8},
        settings={"instance_type": "c1.xlarge", "region": "r1"},
    )
    onprem = Target.objects.create(name="dc1", kind="local", gpu_inventory={"g48": 4}, onprem_profile=profile)
    gamma = TeamFactory(slug="gamma", name="Gamma", cost_centre="CC-200")
    chat = Deployment.objects.create(team=team, name="chat", target=cloud, status="ready")
    vision = Deployment.objects.create(team=gamma, name="vision", target=onprem, status="ready")
    for deployment, replica, gpus, start, end in [
        (chat, "a1", 1, at(0), at(0, day=1)),
        (chat, "a2", 1, at(9, 15), at(14, 45)),
        (vision, "b1", 2, at(0), at(0, day=1)),
        (vision, "b2", 2, at(6, 20), at(7, 40)),
    ]:
        ReplicaInterval.objects.create(
            deployment=deployment,
            replica_id=replica,
            revision=1,
            gpu_type="g48",
            gpu_count=gpus,
            started_at=start,
            ended_at=end,
        )
    return {
        "alpha": team,
        "gamma": gamma,
        "chat": chat,
        "vision": vision,
        "cloud": cloud,
        "onprem": onprem,
        "profile": profile,
        "cloud_prices": (cloud_before, cloud_after),
        "admin": admin,
    }


def meter_day(now=None):
    """Roll up and price the 24 hours of day D, as the hourly task would."""
    from billing.services.ledger import cost_entries_price
    from billing.services.metering import usage_hour_rollup

    now = now or at(0, day=2)
    for h in range(24):
        usage_hour_rollup(hour=at(h), now=now)
        cost_entries_price(hour=at(h), now=now)
