"""The TCO comparison over the catalog's current prices: loads offers, then calls billing.tco."""

from datetime import datetime

from django.utils import timezone

from billing import tco
from billing.choices import ItemKind, PriceTerm, PriceUnit, Provider
from billing.models import CatalogItem, GpuType, OnPremProfile
from controlplane.exceptions import ApplicationError

from .prices import current_prices, hardware_terms, onprem_profile_list

CLUSTER_PROVIDERS = (Provider.AWS, Provider.GCP, Provider.AZURE)


def _gpu(gpu_type) -> tco.Gpu:
    return tco.Gpu(
        slug=gpu_type.slug,
        name=gpu_type.name,
        memory_gb=float(gpu_type.memory_gb),
        bandwidth_gbps=float(gpu_type.bandwidth_gbps),
    )


def _label(price) -> str:
    return f"{price.source_key}{' (unverified)' if price.unverified else ''}"


def tco_offers(*, at: datetime | None = None, onprem_profile: str | None = None) -> tco.Offers:
    """What the catalog offers at `at` (default now) for each mode, as plain dataclasses.
    `onprem_profile` restricts own hardware to one profile's slug."""
    at = at or timezone.now()
    items = list(
        CatalogItem.objects.select_related("gpu_type").filter(
            kind__in=[ItemKind.INSTANCE, ItemKind.SERVERLESS],
            provider__in=[*CLUSTER_PROVIDERS, Provider.SAGEMAKER],
        )
    )
    prices = current_prices(items, at=at)
    cluster, managed, serverless = [], [], None
    for item in items:
        found = prices.get(item.pk, {})
        if item.kind == ItemKind.SERVERLESS:
            gbs, req = (
                found.get((PriceTerm.ON_DEMAND, PriceUnit.GB_SECOND)),
                found.get((PriceTerm.ON_DEMAND, PriceUnit.REQUEST)),
            )
            if item.provider == Provider.SAGEMAKER and gbs and req and serverless is None:
                serverless = tco.ServerlessOffer(
                    provider=item.provider,
                    region=item.region,
                    sku=item.sku,
                    usd_per_gb_second=float(gbs.usd),
                    usd_per_request=float(req.usd),
                    source=f"{_label(gbs)}, {_label(req)}",
                    unverified=gbs.unverified or req.unverified,
                )
            continue
        on_demand = found.get((PriceTerm.ON_DEMAND, PriceUnit.INSTANCE_HOUR))
        if on_demand is None:
            continue
        spot = found.get((PriceTerm.SPOT, PriceUnit.INSTANCE_HOUR))
        offer = tco.InstanceOffer(
            provider=item.provider,
            region=item.region,
            sku=item.sku,
            gpu=_gpu(item.gpu_type),
            gpu_count=item.gpu_count,
            on_demand_usd_hour=float(on_demand.usd),
            spot_usd_hour=float(spot.usd) if spot else None,
            source=_label(on_demand),
            unverified=on_demand.unverified,
        )
        (managed if item.provider == Provider.SAGEMAKER else cluster).append(offer)
    profiles = onprem_profile_list()
    if onprem_profile:
        profiles = profiles.filter(slug=onprem_profile)
    hardware = [
        tco.HardwareOffer(
            slug=p.slug,
            name=p.name,
            gpu=_gpu(p.gpu_type),
            terms=hardware_terms(p),
            source=p.source,
            unverified=p.unverified,
        )
        for p in profiles
    ]
    return tco.Offers(
        cluster=tuple(cluster), managed=tuple(managed), hardware=tuple(hardware), serverless=serverless
    )


def tco_compare(
    *, workload: tco.Workload, at: datetime | None = None, onprem_profile: str | None = None
) -> tco.Comparison:
    """Compare the modes for `workload` at today's catalog prices. Raises ApplicationError naming
    the input when the workload cannot be priced."""
    if workload.gpu_type and not GpuType.objects.filter(slug=workload.gpu_type).exists():
        raise ApplicationError(
            f"No GPU type {workload.gpu_type!r} in the catalog.", extra={"field": "gpu_type"}
        )
    if onprem_profile and not OnPremProfile.objects.filter(slug=onprem_profile).exists():
        raise ApplicationError(
            f"No on-premises profile {onprem_profile!r}.", extra={"field": "onprem_profile"}
        )
    try:
        return tco.compare(workload, tco_offers(at=at, onprem_profile=onprem_profile))
    except tco.WorkloadError as exc:
        raise ApplicationError(str(exc), extra={"field": exc.field}) from exc
