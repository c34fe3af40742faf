"""Every change to the price catalog. Only platform admins call these (the API and console check);
each writes one audit event in its transaction. Prices are append-only: a change is a new row
with a later effective date."""

from datetime import UTC, datetime, time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing import seed, tco
from billing.choices import TERMS_BY_KIND, UNITS_BY_KIND, ItemKind, PriceTerm, PriceUnit, Provider
from billing.models import CatalogItem, GpuType, OnPremProfile, Price
from billing.models.catalog import SLUG_VALIDATOR
from billing.selectors.prices import hardware_terms
from controlplane.exceptions import ApplicationError
from controlplane.tenancy.services import audit_record

H100_SXM_BANDWIDTH = Decimal("3350")  # GB/s, reference S1: relative_speed = bandwidth ÷ this
_GPU_FIELDS = (
    "name",
    "memory_gb",
    "bandwidth_gbps",
    "bf16_tflops",
    "fp8_tflops",
    "supports_bf16",
    "supports_fp8",
    "relative_speed",
    "source_key",
    "source",
    "unverified",
    "notes",
)
_PROFILE_TERMS = (
    "gpus_per_server",
    "hardware_cost_usd",
    "amortisation_years",
    "power_kw",
    "usd_per_kwh",
    "pue",
    "operations_usd_per_year",
    "expected_utilisation",
)
_PROFILE_FIELDS = _PROFILE_TERMS + ("name", "source", "unverified")


def _slug(value: str, field: str = "slug") -> None:
    try:
        SLUG_VALIDATOR(value)
    except ValidationError as exc:
        raise ApplicationError(f"Invalid slug {value!r}. {exc.messages[0]}", extra={"field": field}) from exc


def _required(field: str, value: str, what: str) -> str:
    if not str(value or "").strip():
        raise ApplicationError(f"{what} is required.", extra={"field": field})
    return str(value).strip()


def _positive(field: str, value, what: str, *, allow_zero: bool = False) -> None:
    if value is None or value < 0 or (value == 0 and not allow_zero):
        raise ApplicationError(
            f"{what} must be {'0 or more' if allow_zero else 'more than 0'}.", extra={"field": field}
        )


def _validate_gpu(fields: dict) -> None:
    _required("name", fields.get("name"), "A name")
    _positive("memory_gb", fields.get("memory_gb"), "Memory")
    _positive("bandwidth_gbps", fields.get("bandwidth_gbps"), "Bandwidth")
    for name in ("bf16_tflops", "fp8_tflops"):
        if fields.get(name) is not None:
            _positive(name, fields[name], "TFLOPS")
    if fields.get("fp8_tflops") is not None and not fields.get("supports_fp8"):
        raise ApplicationError(
            "FP8 TFLOPS are given but the GPU is marked without FP8.", extra={"field": "fp8_tflops"}
        )
    _required("source_key", fields.get("source_key"), "A source key")
    _required("source", fields.get("source"), "A source")


@transaction.atomic
def gpu_type_create(
    *,
    actor,
    slug: str,
    name: str,
    memory_gb: Decimal,
    bandwidth_gbps: Decimal,
    source_key: str,
    source: str,
    bf16_tflops: Decimal | None = None,
    fp8_tflops: Decimal | None = None,
    supports_bf16: bool = True,
    supports_fp8: bool = False,
    relative_speed: Decimal | None = None,
    unverified: bool = False,
    notes: str = "",
) -> GpuType:
    """Add a GPU type. relative_speed defaults to bandwidth ÷ H100 SXM bandwidth. Raises
    ApplicationError naming the field on bad figures or a taken slug."""
    _slug(slug)
    fields = {
        "name": name,
        "memory_gb": memory_gb,
        "bandwidth_gbps": bandwidth_gbps,
        "bf16_tflops": bf16_tflops,
        "fp8_tflops": fp8_tflops,
        "supports_bf16": supports_bf16,
        "supports_fp8": supports_fp8,
        "relative_speed": relative_speed,
        "source_key": source_key,
        "source": source,
        "unverified": unverified,
        "notes": notes,
    }
    _validate_gpu(fields)
    if relative_speed is None:
        fields["relative_speed"] = (Decimal(bandwidth_gbps) / H100_SXM_BANDWIDTH).quantize(Decimal("0.001"))
    if GpuType.objects.filter(slug=slug).exists():
        raise ApplicationError(f"The GPU type {slug!r} exists.", extra={"field": "slug"})
    gpu = GpuType.objects.create(
        slug=slug, **{k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}
    )
    audit_record(
        actor=actor,
        action="gpu_type.create",
        resource_type="gpu_type",
        resource_id=gpu.slug,
        parameters={"slug": slug, **fields},
    )
    return gpu


@transaction.atomic
def gpu_type_update(*, actor, gpu_type: GpuType, **changes) -> GpuType:
    """Correct a GPU type's figures. The slug is fixed: instances, profiles and prices refer to it."""
    unknown = set(changes) - set(_GPU_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise ApplicationError(f"{field} cannot be changed.", extra={"field": field})
    gpu_type = GpuType.objects.select_for_update().get(pk=gpu_type.pk)
    before = {f: getattr(gpu_type, f) for f in changes}
    _validate_gpu({**{f: getattr(gpu_type, f) for f in _GPU_FIELDS}, **changes})
    for field, value in changes.items():
        setattr(gpu_type, field, value.strip() if isinstance(value, str) else value)
    gpu_type.save()
    audit_record(
        actor=actor,
        action="gpu_type.update",
        resource_type="gpu_type",
        resource_id=gpu_type.slug,
        parameters={"before": before, "after": changes},
    )
    return gpu_type


@transaction.atomic
def catalog_item_create(
    *,
    actor,
    provider: str,
    region: str,
    sku: str,
    kind: str,
    gpu_type: GpuType | None = None,
    gpu_count: int = 0,
    description: str = "",
) -> CatalogItem:
    """Add an instance type, storage class or serverless offering. On-premises hardware is added as
    a profile (onprem_profile_create), which derives its own price."""
    if provider not in Provider.values:
        raise ApplicationError(f"Unknown provider {provider!r}.", extra={"field": "provider"})
    if kind == ItemKind.ONPREM or provider == Provider.ONPREM:
        raise ApplicationError(
            "On-premises hardware is added as an on-premises profile, which derives its price.",
            extra={"field": "kind" if kind == ItemKind.ONPREM else "provider"},
        )
    region = _required("region", region, "A region")
    sku = _required("sku", sku, "A SKU (the provider's name for it)")
    if kind == ItemKind.INSTANCE:
        if gpu_type is None:
            raise ApplicationError("A GPU instance needs its GPU type.", extra={"field": "gpu_type"})
        if not gpu_count or gpu_count < 1:
            raise ApplicationError("A GPU instance has at least one GPU.", extra={"field": "gpu_count"})
    elif kind in (ItemKind.STORAGE, ItemKind.SERVERLESS):
        if gpu_type is not None or gpu_count:
            raise ApplicationError(f"A {kind} item has no GPUs.", extra={"field": "gpu_type"})
    else:
        raise ApplicationError(f"Unknown kind {kind!r}.", extra={"field": "kind"})
    if CatalogItem.objects.filter(provider=provider, region=region, sku=sku).exists():
        raise ApplicationError(
            f"{provider} {region} {sku} is already in the catalog.", extra={"field": "sku"}
        )
    item = CatalogItem.objects.create(
        provider=provider,
        region=region,
        sku=sku,
        kind=kind,
        gpu_type=gpu_type,
        gpu_count=gpu_count or 0,
        description=description.strip(),
    )
    audit_record(
        actor=actor,
        action="catalog_item.create",
        resource_type="catalog_item",
        resource_id=item.pk,
        parameters={
            "provider": provider,
            "region": region,
            "sku": sku,
            "kind": kind,
            "gpu_type": gpu_type.slug if gpu_type else None,
            "gpu_count": item.gpu_count,
        },
    )
    return item


def _latest_start(item: CatalogItem, term: str, unit: str) -> datetime | None:
    return (
        Price.objects.filter(item=item, term=term, unit=unit)
        .order_by("-effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )


def _create_price(
    *,
    actor,
    item: CatalogItem,
    term: str,
    unit: str,
    usd: Decimal,
    effective_from: datetime,
    source_key: str,
    source: str,
    unverified: bool,
    note: str,
    derivation: dict | None = None,
) -> Price:
    if term not in TERMS_BY_KIND[item.kind]:
        raise ApplicationError(
            f"A {item.get_kind_display().lower()} has no {term} price.", extra={"field": "term"}
        )
    if unit not in UNITS_BY_KIND[item.kind]:
        allowed = ", ".join(UNITS_BY_KIND[item.kind])
        raise ApplicationError(
            f"A {item.get_kind_display().lower()} is priced in {allowed}.", extra={"field": "unit"}
        )
    if usd is None or usd < 0:
        raise ApplicationError("A price cannot be negative.", extra={"field": "usd"})
    if effective_from is None or effective_from.tzinfo is None:
        raise ApplicationError("The effective date needs a time zone.", extra={"field": "effective_from"})
    source_key = _required("source_key", source_key, "A source key")
    source = _required("source", source, "A source (URL or citation)")
    latest = _latest_start(item, term, unit)
    if latest is not None and effective_from <= latest:
        raise ApplicationError(
            f"Prices are never rewritten: the new price must take effect after the current one "
            f"({latest:%Y-%m-%d %H:%M} UTC).",
            extra={"field": "effective_from"},
        )
    try:
        with transaction.atomic():
            return Price.objects.create(
                item=item,
                term=term,
                unit=unit,
                usd=usd,
                effective_from=effective_from,
                source_key=source_key,
                source=source,
                unverified=unverified,
                note=note.strip(),
                derivation=derivation or {},
                created_by=actor if getattr(actor, "pk", None) else None,
            )
    except IntegrityError as exc:  # a concurrent add took the same start
        raise ApplicationError(
            "A price with this effective date exists.", extra={"field": "effective_from"}
        ) from exc


@transaction.atomic
def price_add(
    *,
    actor,
    item: CatalogItem,
    usd: Decimal,
    effective_from: datetime,
    source_key: str,
    source: str,
    term: str = PriceTerm.ON_DEMAND,
    unit: str | None = None,
    unverified: bool = False,
    note: str = "",
) -> Price:
    """Add a price to an item, in force from `effective_from` until a later row. It must start
    after the latest price of the same term and unit, so costs already computed never change.
    On-premises prices come from their profile (onprem_profile_update)."""
    if item.kind == ItemKind.ONPREM:
        raise ApplicationError(
            "On-premises prices are derived from the profile; change the profile instead.",
            extra={"field": "item"},
        )
    CatalogItem.objects.select_for_update().filter(pk=item.pk).order_by(
        "pk"
    ).first()  # serialise adds to one item
    unit = unit or UNITS_BY_KIND[item.kind][0]
    price = _create_price(
        actor=actor,
        item=item,
        term=term,
        unit=unit,
        usd=usd,
        effective_from=effective_from,
        source_key=source_key,
        source=source,
        unverified=unverified,
        note=note,
    )
    audit_record(
        actor=actor,
        action="price.add",
        resource_type="price",
        resource_id=price.pk,
        parameters={
            "item": str(item),
            "term": term,
            "unit": unit,
            "usd": usd,
            "effective_from": effective_from,
            "source_key": price.source_key,
            "unverified": unverified,
        },
    )
    return price


def _validate_profile(values: dict) -> None:
    _required("name", values.get("name"), "A name")
    _required("source", values.get("source"), "A source (quote, invoice or estimate)")
    if not values.get("gpus_per_server") or values["gpus_per_server"] < 1:
        raise ApplicationError("A server has at least one GPU.", extra={"field": "gpus_per_server"})
    if not 1 <= (values.get("amortisation_years") or 0) <= 10:
        raise ApplicationError("Amortise over 1 to 10 years.", extra={"field": "amortisation_years"})
    _positive("hardware_cost_usd", values.get("hardware_cost_usd"), "The hardware cost", allow_zero=True)
    _positive("power_kw", values.get("power_kw"), "Power", allow_zero=True)
    _positive("usd_per_kwh", values.get("usd_per_kwh"), "The price per kWh", allow_zero=True)
    _positive("operations_usd_per_year", values.get("operations_usd_per_year"), "Operations", allow_zero=True)
    if values.get("pue") is None or values["pue"] < 1:
        raise ApplicationError("PUE is 1 or more (facility power ÷ IT power).", extra={"field": "pue"})
    u = values.get("expected_utilisation")
    if u is None or not 0 < u <= 1:
        raise ApplicationError(
            "Expected utilisation is more than 0 and at most 1.", extra={"field": "expected_utilisation"}
        )


def _profile_price(*, actor, profile: OnPremProfile, effective_from: datetime) -> Price:
    working = tco.onprem_gpu_hour(hardware_terms(profile))
    usd = Decimal(str(working.usd_per_gpu_hour)).quantize(Decimal("0.000001"))
    inputs = {f: str(getattr(profile, f)) for f in _PROFILE_TERMS}
    return _create_price(
        actor=actor,
        item=profile.item,
        term=PriceTerm.ON_DEMAND,
        unit=PriceUnit.GPU_HOUR,
        usd=usd,
        effective_from=effective_from,
        source_key=f"onprem:{profile.slug}",
        source=profile.source,
        unverified=profile.unverified,
        note=f"Derived from on-premises profile {profile.slug}",
        derivation={"inputs": inputs, **working.as_dict()},
    )


@transaction.atomic
def onprem_profile_create(
    *,
    actor,
    slug: str,
    name: str,
    site: str,
    gpu_type: GpuType,
    gpus_per_server: int,
    hardware_cost_usd: Decimal,
    amortisation_years: int,
    power_kw: Decimal,
    usd_per_kwh: Decimal,
    pue: Decimal,
    operations_usd_per_year: Decimal,
    expected_utilisation: Decimal,
    source: str,
    effective_from: datetime,
    unverified: bool = False,
) -> OnPremProfile:
    """Add own hardware to the catalog: a catalog item (provider onprem) and its derived price per
    GPU-hour, in force from `effective_from`."""
    arguments = dict(locals())
    _slug(slug)
    values = {f: v for f, v in arguments.items() if f in _PROFILE_FIELDS}
    _validate_profile(values)
    site = _required("site", site, "A site")
    if (
        OnPremProfile.objects.filter(slug=slug).exists()
        or CatalogItem.objects.filter(provider=Provider.ONPREM, region=site, sku=slug).exists()
    ):
        raise ApplicationError(f"The profile {slug!r} exists.", extra={"field": "slug"})
    item = CatalogItem.objects.create(
        provider=Provider.ONPREM,
        region=site,
        sku=slug,
        kind=ItemKind.ONPREM,
        gpu_type=gpu_type,
        gpu_count=gpus_per_server,
        description=name.strip(),
    )
    profile = OnPremProfile.objects.create(
        slug=slug,
        item=item,
        gpu_type=gpu_type,
        **{k: v.strip() if isinstance(v, str) else v for k, v in values.items()},
    )
    profile.refresh_from_db()  # the working records the values as stored
    price = _profile_price(actor=actor, profile=profile, effective_from=effective_from)
    audit_record(
        actor=actor,
        action="onprem_profile.create",
        resource_type="onprem_profile",
        resource_id=slug,
        parameters={
            "slug": slug,
            "site": site,
            "gpu_type": gpu_type.slug,
            **values,
            "effective_from": effective_from,
            "usd_per_gpu_hour": price.usd,
        },
    )
    return profile


@transaction.atomic
def onprem_profile_update(
    *, actor, profile: OnPremProfile, effective_from: datetime | None = None, **changes
) -> OnPremProfile:
    """Change a profile. When a cost term changes, a new derived price takes effect at
    `effective_from` (required then, and after the current price); past prices stay."""
    unknown = set(changes) - set(_PROFILE_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise ApplicationError(f"{field} cannot be changed; make a new profile.", extra={"field": field})
    profile = OnPremProfile.objects.select_for_update().select_related("item").get(pk=profile.pk)
    changes = {f: v for f, v in changes.items() if getattr(profile, f) != v}
    _validate_profile({**{f: getattr(profile, f) for f in _PROFILE_FIELDS}, **changes})
    repriced = any(f in _PROFILE_TERMS for f in changes)
    if repriced and effective_from is None:
        raise ApplicationError(
            "A change of cost needs the date it takes effect.", extra={"field": "effective_from"}
        )
    before = {f: getattr(profile, f) for f in changes}
    for field, value in changes.items():
        setattr(profile, field, value.strip() if isinstance(value, str) else value)
    profile.save()
    profile.refresh_from_db()
    if "gpus_per_server" in changes or "name" in changes:
        CatalogItem.objects.filter(pk=profile.item_id).update(
            gpu_count=profile.gpus_per_server, description=profile.name
        )
    price = _profile_price(actor=actor, profile=profile, effective_from=effective_from) if repriced else None
    audit_record(
        actor=actor,
        action="onprem_profile.update",
        resource_type="onprem_profile",
        resource_id=profile.slug,
        parameters={
            "before": before,
            "after": changes,
            "effective_from": effective_from,
            "usd_per_gpu_hour": price.usd if price else None,
        },
    )
    return profile


def _start_of(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@transaction.atomic
def catalog_seed(*, actor=None) -> dict[str, int]:
    """Load the reference catalog (billing/seed.py), adding only what is missing: GPU types, items
    and profiles by their keys, and prices that start after the newest price already there.
    Admins' edits survive; a second run adds nothing and records nothing. One audit event per run
    that added anything."""
    added = {"gpu_types": 0, "items": 0, "prices": 0, "onprem_profiles": 0}
    gpus = {g.slug: g for g in GpuType.objects.all()}
    for slug, name, mem, bw, bf16, fp8, has_bf16, has_fp8, key, unverified, notes in seed.GPU_TYPES:
        if slug in gpus:
            continue
        gpus[slug] = GpuType.objects.create(
            slug=slug,
            name=name,
            memory_gb=Decimal(str(mem)),
            bandwidth_gbps=Decimal(str(bw)),
            bf16_tflops=None if bf16 is None else Decimal(str(bf16)),
            fp8_tflops=None if fp8 is None else Decimal(str(fp8)),
            supports_bf16=has_bf16,
            supports_fp8=has_fp8,
            relative_speed=(Decimal(str(bw)) / H100_SXM_BANDWIDTH).quantize(Decimal("0.001")),
            source_key=key,
            source=seed.SOURCES[key],
            unverified=unverified,
            notes=notes,
        )
        added["gpu_types"] += 1

    def item_for(provider, region, sku, **fields):
        item, created = CatalogItem.objects.get_or_create(
            provider=provider, region=region, sku=sku, defaults=fields
        )
        added["items"] += created
        return item

    def add_prices(item, rows):
        for term, unit, usd, day, key, unverified, note in rows:
            start = _start_of(day)
            if Price.objects.filter(item=item, term=term, unit=unit, effective_from=start).exists():
                continue
            latest = _latest_start(item, term, unit)
            if latest is not None and start <= latest:
                continue  # never slip an older price under newer ones
            _create_price(
                actor=actor,
                item=item,
                term=term,
                unit=unit,
                usd=Decimal(usd),
                effective_from=start,
                source_key=key,
                source=seed.SOURCES[key],
                unverified=unverified,
                note=note,
            )
            added["prices"] += 1

    for provider, region, sku, gpu, count, prices in seed.INSTANCES:
        item = item_for(provider, region, sku, kind=ItemKind.INSTANCE, gpu_type=gpus[gpu], gpu_count=count)
        add_prices(
            item,
            [
                (term, PriceUnit.INSTANCE_HOUR, usd, day, key, unv, note)
                for term, usd, day, key, unv, note in prices
            ],
        )
    for provider, region, sku, kind, description, prices in seed.OTHER_ITEMS:
        item = item_for(provider, region, sku, kind=kind, description=description)
        add_prices(
            item,
            [
                (PriceTerm.ON_DEMAND, unit, usd, day, key, unv, note)
                for unit, usd, day, key, unv, note in prices
            ],
        )
    for slug, name, site, gpu, count, cost, years, kw, kwh, pue, ops, util in seed.ONPREM_PROFILES:
        if OnPremProfile.objects.filter(slug=slug).exists():
            continue
        item = item_for(
            Provider.ONPREM,
            site,
            slug,
            kind=ItemKind.ONPREM,
            gpu_type=gpus[gpu],
            gpu_count=count,
            description=name,
        )
        profile = OnPremProfile.objects.create(
            slug=slug,
            name=name,
            item=item,
            gpu_type=gpus[gpu],
            gpus_per_server=count,
            hardware_cost_usd=Decimal(cost),
            amortisation_years=years,
            power_kw=Decimal(kw),
            usd_per_kwh=Decimal(kwh),
            pue=Decimal(pue),
            operations_usd_per_year=Decimal(ops),
            expected_utilisation=Decimal(util),
            source=seed.SOURCES["EXAMPLE"],
            unverified=True,
        )
        if not Price.objects.filter(item=item).exists():
            _profile_price(actor=actor, profile=profile, effective_from=_start_of(seed.BASELINE))
            added["prices"] += 1
        added["onprem_profiles"] += 1
    if any(added.values()):
        audit_record(
            actor=actor,
            action="catalog.seed",
            resource_type="price_catalog",
            parameters={"added": added, "reference": "shared/reference/gpu-catalog.md (2026-11-24)"},
        )
    return added
