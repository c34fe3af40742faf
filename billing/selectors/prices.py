"""Reads of the price catalog. The catalog is platform-wide: everyone signed in may read it, so
these take no team. Metering, the ledger and the model registry price from here."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from billing import tco
from billing.choices import UNITS_BY_KIND, ItemKind, PriceTerm, PriceUnit
from billing.models import CatalogItem, GpuType, OnPremProfile, Price


def gpu_type_list() -> QuerySet[GpuType]:
    return GpuType.objects.all()


def gpu_type_get(*, slug: str) -> GpuType:
    gpu = GpuType.objects.filter(slug=slug).first()
    if gpu is None:
        raise Http404("No such GPU type.")
    return gpu


def cloud_catalog_item(*, target, gpu_type: str, at: datetime) -> CatalogItem | None:
    """The catalog instance a cloud target bills at: the one its settings name (`instance_type`,
    optionally `region`), else the cheapest on-demand instance of the GPU type at `at`."""
    sku = (target.settings or {}).get("instance_type")
    if sku:
        items = CatalogItem.objects.filter(sku=sku, kind=ItemKind.INSTANCE)
        if (target.settings or {}).get("region"):
            items = items.filter(region=target.settings["region"])
        return items.order_by("pk").first()
    best = None
    for item in CatalogItem.objects.filter(kind=ItemKind.INSTANCE, gpu_type__slug=gpu_type).order_by("pk"):
        price = (
            Price.objects.filter(
                item=item, term=PriceTerm.ON_DEMAND, unit=PriceUnit.INSTANCE_HOUR, effective_from__lte=at
            )
            .order_by("-effective_from")
            .first()
        )
        if price is not None and (best is None or price.usd / item.gpu_count < best[0]):
            best = (price.usd / item.gpu_count, item)
    return best[1] if best else None


def catalog_item_list() -> QuerySet[CatalogItem]:
    return CatalogItem.objects.select_related("gpu_type")


def catalog_item_get(*, item_id: int) -> CatalogItem:
    item = catalog_item_list().filter(pk=item_id).first()
    if item is None:
        raise Http404("No such catalog item.")
    return item


def price_history(*, item: CatalogItem) -> QuerySet[Price]:
    return (
        Price.objects.filter(item=item)
        .select_related("created_by")
        .order_by("term", "unit", "-effective_from")
    )


def price_at(
    item: CatalogItem,
    when: datetime | None = None,
    *,
    term: str = PriceTerm.ON_DEMAND,
    unit: str | None = None,
) -> Price | None:
    """The price of `item` in force at `when` (default now): the latest row of this term and unit
    that took effect at or before `when`. None if none had taken effect yet."""
    unit = unit or UNITS_BY_KIND[item.kind][0]
    return (
        Price.objects.filter(item=item, term=term, unit=unit, effective_from__lte=when or timezone.now())
        .order_by("-effective_from")
        .first()
    )


def current_prices(items, *, at: datetime | None = None) -> dict[int, dict[tuple[str, str], Price]]:
    """For many items at once: {item id: {(term, unit): price in force at `at`}}. One query."""
    at = at or timezone.now()
    found: dict[int, dict[tuple[str, str], Price]] = defaultdict(dict)
    rows = Price.objects.filter(item__in=list(items), effective_from__lte=at).order_by("effective_from")
    for price in rows:
        found[price.item_id][(price.term, price.unit)] = price  # later rows overwrite earlier ones
    return found


@dataclass(frozen=True, slots=True)
class PriceSegment:
    start: datetime
    end: datetime
    price: Price | None  # None where no price had taken effect yet


def price_segments(
    *,
    item: CatalogItem,
    start: datetime,
    end: datetime,
    term: str = PriceTerm.ON_DEMAND,
    unit: str | None = None,
) -> list[PriceSegment]:
    """Split [start, end) where the price of `item` changes, each piece with the price in force."""
    unit = unit or UNITS_BY_KIND[item.kind][0]
    first = price_at(item, start, term=term, unit=unit)
    changes = list(
        Price.objects.filter(
            item=item, term=term, unit=unit, effective_from__gt=start, effective_from__lt=end
        ).order_by("effective_from")
    )
    segments, cursor, current = [], start, first
    for price in changes:
        segments.append(PriceSegment(cursor, price.effective_from, current))
        cursor, current = price.effective_from, price
    segments.append(PriceSegment(cursor, end, current))
    return segments


def hourly_cost(
    *,
    item: CatalogItem,
    start: datetime,
    end: datetime,
    quantity: Decimal = Decimal(1),
    term: str = PriceTerm.ON_DEMAND,
) -> Decimal:
    """Cost of running `quantity` instances (or GPUs, for on-premises items) over [start, end),
    each piece at the price then in force. Raises LookupError if part of the span has no price."""
    unit = UNITS_BY_KIND[item.kind][0]
    if unit not in (PriceUnit.INSTANCE_HOUR, PriceUnit.GPU_HOUR):
        raise ValueError(f"{item} is not priced by the hour")
    total = Decimal(0)
    for seg in price_segments(item=item, start=start, end=end, term=term, unit=unit):
        if seg.price is None:
            raise LookupError(f"{item} has no {term} price before {seg.end:%Y-%m-%d %H:%M}")
        hours = Decimal(str((seg.end - seg.start).total_seconds())) / Decimal(3600)
        total += hours * quantity * seg.price.usd
    return total


@dataclass(frozen=True, slots=True)
class GpuPrice:
    """The cheapest on-demand price of one GPU-hour of a GPU type, and where it comes from."""

    gpu_type: str
    name: str
    memory_gb: Decimal
    usd_per_gpu_hour: Decimal
    provider: str
    region: str
    instance: str
    gpus_per_instance: int
    source_key: str
    source: str
    unverified: bool
    effective_from: datetime


def gpu_price_list(*, at: datetime | None = None) -> list[GpuPrice]:
    """One row per GPU type that has an on-demand price at `at` (default now), at its cheapest
    USD per GPU-hour across providers, instances and on-premises profiles; cheapest first. Spot
    and committed prices are left out: they cannot be counted on for a deployment. For sizing:
    the model registry picks the cheapest GPU type and count that fits."""
    items = list(catalog_item_list().filter(kind__in=[ItemKind.INSTANCE, ItemKind.ONPREM]))
    prices = current_prices(items, at=at)
    best: dict[str, GpuPrice] = {}
    for item in items:
        unit = UNITS_BY_KIND[item.kind][0]
        price = prices.get(item.pk, {}).get((PriceTerm.ON_DEMAND, unit))
        if price is None:
            continue
        per_gpu = price.usd if unit == PriceUnit.GPU_HOUR else price.usd / item.gpu_count
        per_gpu = per_gpu.quantize(Decimal("0.000001"))
        gpu = item.gpu_type
        if gpu.slug not in best or per_gpu < best[gpu.slug].usd_per_gpu_hour:
            best[gpu.slug] = GpuPrice(
                gpu_type=gpu.slug,
                name=gpu.name,
                memory_gb=gpu.memory_gb,
                usd_per_gpu_hour=per_gpu,
                provider=item.provider,
                region=item.region,
                instance=item.sku,
                gpus_per_instance=item.gpu_count,
                source_key=price.source_key,
                source=price.source,
                unverified=price.unverified,
                effective_from=price.effective_from,
            )
    return sorted(best.values(), key=lambda p: (p.usd_per_gpu_hour, p.gpu_type))


def onprem_profile_list() -> QuerySet[OnPremProfile]:
    return OnPremProfile.objects.select_related("gpu_type", "item")


def onprem_profile_get(*, slug: str) -> OnPremProfile:
    profile = onprem_profile_list().filter(slug=slug).first()
    if profile is None:
        raise Http404("No such on-premises profile.")
    return profile


def hardware_terms(values) -> tco.HardwareTerms:
    """A profile's (or a dict's) cost terms as floats for the pure arithmetic in billing.tco."""
    get = values.get if isinstance(values, dict) else (lambda f: getattr(values, f))
    return tco.HardwareTerms(
        gpus_per_server=int(get("gpus_per_server")),
        hardware_cost_usd=float(get("hardware_cost_usd")),
        amortisation_years=int(get("amortisation_years")),
        power_kw=float(get("power_kw")),
        usd_per_kwh=float(get("usd_per_kwh")),
        pue=float(get("pue")),
        operations_usd_per_year=float(get("operations_usd_per_year")),
        expected_utilisation=float(get("expected_utilisation")),
    )


def onprem_working(*, profile: OnPremProfile) -> tco.GpuHourWorking:
    """The current terms' cost per GPU-hour with each term of the sum."""
    return tco.onprem_gpu_hour(hardware_terms(profile))
