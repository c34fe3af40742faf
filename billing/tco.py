"""Total cost of ownership: pure arithmetic, no ORM. `billing.selectors.tco` loads prices from the
catalog and calls `compare`; the on-premises working is `onprem_gpu_hour`.

Every constant names its source. "Reference" means ../shared/reference/gpu-catalog.md; a constant
marked "assumption" is this estimator's own planning figure and is printed with every result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from deployments.sizing import (
    GB,
    PRECISION_BYTES,
    RUNTIME_OVERHEAD,
    TENSOR_PARALLEL,
    USABLE_MEMORY,
    size_replica,
)

# --- calendar -------------------------------------------------------------------------------
HOURS_PER_YEAR = 8760  # 365 days × 24 h (leap days ignored, as cloud price pages do)
HOURS_PER_MONTH = HOURS_PER_YEAR / 12  # 730 h: the month AWS, GCP and Azure price pages use
DAYS_PER_MONTH = 365 / 12  # 30.42 days, consistent with HOURS_PER_MONTH

# --- sizing: bytes per parameter, runtime overhead, usable memory and tensor-parallel degrees are
# the model registry's (deployments/sizing.py, reference §3), so a TCO estimate and a model's
# sizing table never disagree about how much memory a model needs.
# Reference §3 table, 64K resident BF16 tokens: KV is 53% of the BF16 weights for Llama-8B (8 GiB of
# 16.1 GB), 26% for Qwen-32B (16 GiB of 65.5 GB), 15% for Llama-70B (20 GiB of 141.1 GB). Without
# the model's config we reserve 25% of the weights.
KV_CACHE_SHARE = 0.25

# --- throughput ------------------------------------------------------------------------------
# Reference §1: decode is bandwidth-bound, tokens/s per sequence ≲ bandwidth ÷ weight bytes.
# Assumption: real kernels reach about 60% of that roofline bound.
BANDWIDTH_EFFICIENCY = 0.60
# Assumption: replicas are sized to run at 70% of their capacity so queues stay short (the usual
# Kubernetes HPA utilisation target; no vendor figure).
TARGET_UTILISATION = 0.70
# Assumption: GPU nodes take minutes to start, so Kubernetes and managed endpoints keep one
# replica warm when idle instead of scaling to zero.
MIN_WARM_REPLICAS = 1

# --- spot ------------------------------------------------------------------------------------
# Reference §2 "Spot": planning figure 50-65% off on-demand for H100-class (P13), 40-70% across
# GPU types (P17). Used only where the catalog has no spot price; we take the low end.
SPOT_DISCOUNT_FALLBACK = 0.50

# --- serverless (SageMaker Serverless Inference) ----------------------------------------------
# docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html:
# memory 1024 to 6144 MB in 1 GB steps. No GPUs (SageMaker pricing page [K]).
SERVERLESS_MEMORY_STEPS_GB = (1, 2, 3, 4, 5, 6)
# genai.practitioner.help (SageMaker inference options): serverless processing time up to 60 s.
SERVERLESS_MAX_SECONDS = 60
# Assumption: a serverless CPU container gets about 10 GB/s of DRAM bandwidth for decode (no
# published figure; a DDR4-3200 channel peaks at 25.6 GB/s and the container shares a socket).
SERVERLESS_CPU_GBPS = 10.0

MODES = ("own_hardware", "kubernetes_on_demand", "kubernetes_spot_mix", "managed_endpoint", "serverless")
MODE_LABELS = {
    "own_hardware": "Own hardware",
    "kubernetes_on_demand": "Kubernetes, on demand",
    "kubernetes_spot_mix": "Kubernetes, spot mix",
    "managed_endpoint": "Managed endpoint (SageMaker)",
    "serverless": "Serverless (SageMaker)",
}


# --- on-premises cost per GPU-hour -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HardwareTerms:
    gpus_per_server: int
    hardware_cost_usd: float
    amortisation_years: int
    power_kw: float
    usd_per_kwh: float
    pue: float
    operations_usd_per_year: float
    expected_utilisation: float


@dataclass(frozen=True, slots=True)
class Term:
    label: str
    formula: str
    usd_per_year: float
    usd_per_gpu_hour: float


@dataclass(frozen=True, slots=True)
class GpuHourWorking:
    terms: tuple[Term, ...]
    used_gpu_hours_per_year: float
    usd_per_year: float
    usd_per_gpu_hour: float

    def as_dict(self) -> dict:
        return {
            "terms": [
                {
                    "label": t.label,
                    "formula": t.formula,
                    "usd_per_year": round(t.usd_per_year, 2),
                    "usd_per_gpu_hour": round(t.usd_per_gpu_hour, 6),
                }
                for t in self.terms
            ],
            "used_gpu_hours_per_year": round(self.used_gpu_hours_per_year, 2),
            "usd_per_year": round(self.usd_per_year, 2),
            "usd_per_gpu_hour": round(self.usd_per_gpu_hour, 6),
        }


def server_energy_usd_per_year(t: HardwareTerms) -> float:
    """Facility energy: the server's draw × hours × price, grossed up by PUE for cooling and power
    distribution. Assumes the server draws its rated power around the clock (conservative)."""
    return t.power_kw * HOURS_PER_YEAR * t.usd_per_kwh * t.pue


def server_opex_usd_per_month(t: HardwareTerms) -> float:
    return (server_energy_usd_per_year(t) + t.operations_usd_per_year) / 12


def onprem_gpu_hour(t: HardwareTerms) -> GpuHourWorking:
    """Cost of one *used* GPU-hour on owned hardware: (amortised hardware + energy + operations)
    per server-year ÷ the GPU-hours a server delivers at the expected utilisation."""
    used = t.gpus_per_server * HOURS_PER_YEAR * t.expected_utilisation
    hardware = t.hardware_cost_usd / t.amortisation_years
    energy = server_energy_usd_per_year(t)
    operations = t.operations_usd_per_year
    terms = (
        Term(
            "Hardware, amortised",
            f"${t.hardware_cost_usd:,.2f} ÷ {t.amortisation_years} years",
            hardware,
            hardware / used,
        ),
        Term(
            "Energy",
            f"{t.power_kw:g} kW × {HOURS_PER_YEAR:,} h × ${t.usd_per_kwh:g}/kWh × PUE {t.pue:g}",
            energy,
            energy / used,
        ),
        Term("Operations", f"${t.operations_usd_per_year:,.2f} per year", operations, operations / used),
    )
    total = hardware + energy + operations
    return GpuHourWorking(
        terms=terms, used_gpu_hours_per_year=used, usd_per_year=total, usd_per_gpu_hour=total / used
    )


# --- the workload and what the catalog offers ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    requests_per_day: float
    horizon_years: int
    traffic: str = "steady"  # steady | bursty
    busy_hours_per_day: float = 6.0  # bursty only: the day's requests arrive within these hours
    sensitivity: str = "internal"  # public | internal | confidential
    params_billions: float | None = None
    precision: str = "bf16"
    gpu_type: str | None = None  # a GPU requirement instead of, or on top of, the model size
    gpu_count: int | None = None
    tokens_per_request: float | None = None  # generated tokens; or give latency_s
    latency_s: float | None = None
    concurrency_per_replica: int = 8  # sequences one replica decodes together
    spot_share: float = 0.5  # share of cluster node-hours on spot in the spot mix


@dataclass(frozen=True, slots=True)
class Gpu:
    slug: str
    name: str
    memory_gb: float
    bandwidth_gbps: float


@dataclass(frozen=True, slots=True)
class InstanceOffer:
    provider: str
    region: str
    sku: str
    gpu: Gpu
    gpu_count: int
    on_demand_usd_hour: float
    spot_usd_hour: float | None = None
    source: str = ""
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class HardwareOffer:
    slug: str
    name: str
    gpu: Gpu
    terms: HardwareTerms
    source: str = ""
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class ServerlessOffer:
    provider: str
    region: str
    sku: str
    usd_per_gb_second: float
    usd_per_request: float
    source: str = ""
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class Offers:
    cluster: tuple[InstanceOffer, ...] = ()
    managed: tuple[InstanceOffer, ...] = ()
    hardware: tuple[HardwareOffer, ...] = ()
    serverless: ServerlessOffer | None = None


@dataclass(frozen=True, slots=True)
class ModeResult:
    mode: str
    feasible: bool
    reason: str = ""  # why not, when infeasible
    offer: str = ""
    unverified: bool = False
    monthly_usd: float = 0.0
    cumulative_usd: tuple[float, ...] = ()
    working: tuple[str, ...] = ()
    break_even_month: int | None = None  # first month own hardware's cumulative cost ≤ this mode's

    @property
    def label(self) -> str:
        return MODE_LABELS[self.mode]

    @property
    def total_usd(self) -> float:
        return self.cumulative_usd[-1] if self.cumulative_usd else 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    workload: Workload
    months: int
    modes: tuple[ModeResult, ...]
    recommended: str | None
    reasons: tuple[str, ...]
    assumptions: tuple[str, ...]
    sizing: dict = field(default_factory=dict)

    def mode(self, name: str) -> ModeResult:
        return next(m for m in self.modes if m.mode == name)

    def as_dict(self) -> dict:
        """JSON-ready: money rounded to cents, the same figures the console shows."""
        return {
            "workload": {f: getattr(self.workload, f) for f in self.workload.__dataclass_fields__},
            "months": self.months,
            "recommended": self.recommended,
            "reasons": list(self.reasons),
            "assumptions": list(self.assumptions),
            "sizing": self.sizing,
            "modes": [
                {
                    "mode": m.mode,
                    "label": m.label,
                    "feasible": m.feasible,
                    "reason": m.reason,
                    "offer": m.offer,
                    "unverified_prices": m.unverified,
                    "monthly_usd": round(m.monthly_usd, 2),
                    "total_usd": round(m.total_usd, 2),
                    "break_even_month": m.break_even_month,
                    "cumulative_usd": [round(x, 2) for x in m.cumulative_usd],
                    "working": list(m.working),
                }
                for m in self.modes
            ],
        }


class WorkloadError(ValueError):
    """The workload cannot be priced as given; `field` names the input to change."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


# --- sizing and throughput --------------------------------------------------------------------


def weight_gb(params_billions: float, precision: str) -> float:
    weights, _kv, _overhead, _total = size_replica(parameters=params_billions * GB, precision=precision)
    return weights


def memory_needed_gb(params_billions: float, precision: str) -> float:
    """Weights + runtime overhead (10%) + KV-cache allowance (25% of the weights)."""
    return weight_gb(params_billions, precision) * (1 + RUNTIME_OVERHEAD + KV_CACHE_SHARE)


def gpus_to_fit(w: Workload, gpu: Gpu) -> int | None:
    """GPUs per replica: the requirement if given, else the smallest tensor-parallel degree whose
    usable memory holds the model; None if even 8 do not."""
    if w.params_billions is None:
        return w.gpu_count or 1
    need = memory_needed_gb(w.params_billions, w.precision)
    degrees = [d for d in TENSOR_PARALLEL if w.gpu_count is None or d >= w.gpu_count]
    return next((d for d in degrees if d * gpu.memory_gb * USABLE_MEMORY >= need), None)


def request_seconds(w: Workload, gpu: Gpu, gpus: int) -> float:
    """How long one request holds its slot: the given latency, or generated tokens ÷ the decode
    rate of one sequence, bandwidth × GPUs × efficiency ÷ weight bytes (tensor parallelism splits
    the weights, so each GPU reads its share)."""
    if w.latency_s is not None:
        return w.latency_s
    tokens_per_s = (
        gpu.bandwidth_gbps * gpus * BANDWIDTH_EFFICIENCY / weight_gb(w.params_billions, w.precision)
    )
    return w.tokens_per_request / tokens_per_s


def peak_requests_per_second(w: Workload) -> float:
    return w.requests_per_day / (busy_hours(w) * 3600)


def busy_hours(w: Workload) -> float:
    return 24.0 if w.traffic == "steady" else w.busy_hours_per_day


def replicas_for_peak(w: Workload, seconds: float) -> int:
    capacity = w.concurrency_per_replica / seconds  # requests per second one replica serves
    return max(MIN_WARM_REPLICAS, math.ceil(peak_requests_per_second(w) / (capacity * TARGET_UTILISATION)))


def _money(x: float) -> str:
    return f"${x:,.2f}"


# --- modes ------------------------------------------------------------------------------------


def _instance_plan(w: Workload, offer: InstanceOffer, usd_hour: float, label: str):
    """(monthly USD, working lines) for an autoscaled fleet of `offer`, or (None, reason)."""
    if w.gpu_type and offer.gpu.slug != w.gpu_type:
        return None, f"needs {w.gpu_type}"
    gpus = gpus_to_fit(w, offer.gpu)
    if gpus is None or gpus > offer.gpu_count:
        return None, f"the model does not fit {offer.gpu_count}× {offer.gpu.name}"
    seconds = request_seconds(w, offer.gpu, gpus)
    replicas = replicas_for_peak(w, seconds)
    per_instance = offer.gpu_count // gpus
    busy_instances = math.ceil(replicas / per_instance)
    idle_instances = math.ceil(MIN_WARM_REPLICAS / per_instance)
    hours = busy_hours(w)
    instance_hours = hours * busy_instances + (24 - hours) * idle_instances
    monthly = instance_hours * DAYS_PER_MONTH * usd_hour
    working = (
        f"{offer.sku} ({offer.provider} {offer.region}): {offer.gpu_count}× {offer.gpu.name}, "
        f"{gpus} GPU(s) per replica, {per_instance} replica(s) per instance",
        f"{seconds:.2f} s per request, {w.concurrency_per_replica} concurrent per replica → "
        f"{replicas} replica(s) at peak on {busy_instances} instance(s)",
        f"{hours:g} h × {busy_instances} + {24 - hours:g} h × {idle_instances} = "
        f"{instance_hours:g} instance-hours a day",
        f"{instance_hours:g} × {DAYS_PER_MONTH:.4f} days × {label} = {_money(monthly)} a month",
    )
    return monthly, working


def _cheapest_fleet(w, offers, price_of, label_of):
    best, reasons = None, []
    for offer in offers:
        usd_hour = price_of(offer)
        monthly, info = _instance_plan(w, offer, usd_hour, label_of(offer, usd_hour))
        if monthly is None:
            reasons.append(f"{offer.sku}: {info}")
        elif best is None or monthly < best[0]:
            best = (monthly, info, offer)
    return best, reasons


def _cloud_mode(w: Workload, mode: str, offers, months: int, price_of, label_of) -> ModeResult:
    if not offers:
        return ModeResult(mode, False, "the catalog has no priced instance for this mode")
    best, reasons = _cheapest_fleet(w, offers, price_of, label_of)
    if best is None:
        return ModeResult(mode, False, "no instance fits: " + "; ".join(reasons[:3]))
    monthly, working, offer = best
    return ModeResult(
        mode,
        True,
        offer=f"{offer.provider} {offer.sku}",
        unverified=offer.unverified,
        monthly_usd=monthly,
        cumulative_usd=tuple(monthly * m for m in range(1, months + 1)),
        working=working,
    )


def _spot_price(offer: InstanceOffer) -> float:
    return (
        offer.spot_usd_hour
        if offer.spot_usd_hour is not None
        else offer.on_demand_usd_hour * (1 - SPOT_DISCOUNT_FALLBACK)
    )


def _mixed_price(w: Workload, offer: InstanceOffer) -> float:
    return w.spot_share * _spot_price(offer) + (1 - w.spot_share) * offer.on_demand_usd_hour


def _mixed_label(w: Workload, offer: InstanceOffer, usd_hour: float) -> str:
    spot = _spot_price(offer)
    origin = (
        "catalog spot price"
        if offer.spot_usd_hour is not None
        else f"on demand − {SPOT_DISCOUNT_FALLBACK:.0%}"
    )
    return (
        f"({w.spot_share:.0%} × ${spot:g} spot [{origin}] + {1 - w.spot_share:.0%} × "
        f"${offer.on_demand_usd_hour:g} on demand = ${usd_hour:.4f}/h)"
    )


def _own_hardware(w: Workload, offers: tuple[HardwareOffer, ...], months: int) -> ModeResult:
    mode = "own_hardware"
    if not offers:
        return ModeResult(mode, False, "the catalog has no on-premises hardware profile")
    best, reasons = None, []
    for offer in offers:
        t = offer.terms
        if w.gpu_type and offer.gpu.slug != w.gpu_type:
            reasons.append(f"{offer.slug}: needs {w.gpu_type}")
            continue
        gpus = gpus_to_fit(w, offer.gpu)
        if gpus is None or gpus > t.gpus_per_server:
            reasons.append(f"{offer.slug}: the model does not fit {t.gpus_per_server}× {offer.gpu.name}")
            continue
        seconds = request_seconds(w, offer.gpu, gpus)
        replicas = replicas_for_peak(w, seconds)
        servers = math.ceil(replicas / (t.gpus_per_server // gpus))
        capex = servers * t.hardware_cost_usd
        opex = servers * server_opex_usd_per_month(t)
        period = t.amortisation_years * 12
        # Cash view: hardware is paid in month 1 and again at each refresh; no residual value.
        cumulative = tuple(capex * (1 + (m - 1) // period) + opex * m for m in range(1, months + 1))
        monthly = capex / period + opex
        energy = servers * server_energy_usd_per_year(t) / 12
        working = (
            f"{offer.name}: {t.gpus_per_server}× {offer.gpu.name} per server, {gpus} GPU(s) per replica",
            f"{seconds:.2f} s per request, {w.concurrency_per_replica} concurrent per replica → "
            f"{replicas} replica(s) at peak on {servers} server(s), running around the clock",
            f"hardware {servers} × {_money(t.hardware_cost_usd)} = {_money(capex)}, paid in month 1"
            + (f" and every {period} months" if period < months else ""),
            f"energy {servers} × {t.power_kw:g} kW × {HOURS_PER_MONTH:g} h × ${t.usd_per_kwh:g}/kWh "
            f"× PUE {t.pue:g}"
            f" = {_money(energy)} a month",
            f"operations {servers} × {_money(t.operations_usd_per_year)} ÷ 12 = "
            f"{_money(servers * t.operations_usd_per_year / 12)} a month",
            f"monthly with hardware amortised over {period} months: {_money(monthly)}",
        )
        result = ModeResult(
            mode,
            True,
            offer=offer.name,
            unverified=offer.unverified,
            monthly_usd=monthly,
            cumulative_usd=cumulative,
            working=working,
        )
        if best is None or result.total_usd < best.total_usd:
            best = result
    return best or ModeResult(mode, False, "no profile fits: " + "; ".join(reasons[:3]))


def _serverless(w: Workload, offer: ServerlessOffer | None, months: int) -> ModeResult:
    mode = "serverless"
    if offer is None:
        return ModeResult(mode, False, "the catalog has no serverless price")
    if w.gpu_type:
        return ModeResult(mode, False, f"the workload needs {w.gpu_type}; serverless inference has no GPUs")
    if w.params_billions is None:
        return ModeResult(mode, False, "give the model size in parameters to size serverless memory")
    need = memory_needed_gb(w.params_billions, w.precision)
    memory = next((m for m in SERVERLESS_MEMORY_STEPS_GB if m >= need), None)
    if memory is None:
        return ModeResult(
            mode,
            False,
            f"needs {need:.1f} GB; serverless endpoints have at most {SERVERLESS_MEMORY_STEPS_GB[-1]} GB",
        )
    if w.latency_s is not None:
        seconds = w.latency_s
        how = "the given latency"
    else:
        rate = SERVERLESS_CPU_GBPS * BANDWIDTH_EFFICIENCY / weight_gb(w.params_billions, w.precision)
        seconds = w.tokens_per_request / rate
        how = (
            f"{w.tokens_per_request:g} tokens ÷ ({SERVERLESS_CPU_GBPS:g} GB/s × {BANDWIDTH_EFFICIENCY:g} ÷ "
            f"{weight_gb(w.params_billions, w.precision):g} GB) on CPU"
        )
    if seconds > SERVERLESS_MAX_SECONDS:
        return ModeResult(
            mode, False, f"a request would run {seconds:.0f} s; serverless allows {SERVERLESS_MAX_SECONDS} s"
        )
    per_request = seconds * memory * offer.usd_per_gb_second + offer.usd_per_request
    monthly = w.requests_per_day * DAYS_PER_MONTH * per_request
    working = (
        f"{offer.sku} ({offer.provider} {offer.region}): {memory} GB memory for a {need:.2f} GB model",
        f"{seconds:.2f} s per request ({how})",
        f"{seconds:.2f} s × {memory} GB × ${offer.usd_per_gb_second:g}/GB-s + ${offer.usd_per_request:g} "
        f"= ${per_request:.6f} per request",
        f"{w.requests_per_day:g} requests × {DAYS_PER_MONTH:.4f} days × ${per_request:.6f} = "
        f"{_money(monthly)} a month",
    )
    return ModeResult(
        mode,
        True,
        offer=f"{offer.provider} {offer.sku}",
        unverified=offer.unverified,
        monthly_usd=monthly,
        cumulative_usd=tuple(monthly * m for m in range(1, months + 1)),
        working=working,
    )


def break_even_month(own: tuple[float, ...], other: tuple[float, ...]) -> int | None:
    """First month (1-based) in which own hardware has cost no more in total than `other`."""
    return next((m for m, (a, b) in enumerate(zip(own, other, strict=False), start=1) if a <= b), None)


def validate(w: Workload) -> None:
    for name, allowed in (
        ("traffic", ("steady", "bursty")),
        ("sensitivity", ("public", "internal", "confidential")),
        ("precision", tuple(PRECISION_BYTES)),
    ):
        if getattr(w, name) not in allowed:
            raise WorkloadError(f"{name} must be one of {', '.join(allowed)}.", name)
    if not 1 <= w.horizon_years <= 5:
        raise WorkloadError("The horizon must be 1 to 5 years.", "horizon_years")
    if w.requests_per_day <= 0:
        raise WorkloadError("Requests per day must be more than 0.", "requests_per_day")
    if w.params_billions is None and w.gpu_type is None:
        raise WorkloadError("Give the model size in parameters or a GPU requirement.", "params_billions")
    if w.params_billions is not None and w.params_billions <= 0:
        raise WorkloadError("The model size must be more than 0.", "params_billions")
    if (w.tokens_per_request is None) == (w.latency_s is None):
        raise WorkloadError("Give tokens per request or latency per request, not both.", "tokens_per_request")
    if w.tokens_per_request is not None and w.params_billions is None:
        raise WorkloadError(
            "Tokens per request need the model size to estimate decode speed.", "params_billions"
        )
    if w.tokens_per_request is not None and w.tokens_per_request <= 0:
        raise WorkloadError("Tokens per request must be more than 0.", "tokens_per_request")
    if w.latency_s is not None and w.latency_s <= 0:
        raise WorkloadError("Latency must be more than 0 seconds.", "latency_s")
    if w.traffic == "bursty" and not 0 < w.busy_hours_per_day < 24:
        raise WorkloadError("Bursty traffic needs busy hours between 0 and 24.", "busy_hours_per_day")
    if w.gpu_count is not None and w.gpu_count not in TENSOR_PARALLEL:
        raise WorkloadError("GPU count per replica must be 1, 2, 4 or 8.", "gpu_count")
    if w.concurrency_per_replica < 1:
        raise WorkloadError("Concurrency per replica must be at least 1.", "concurrency_per_replica")
    if not 0 <= w.spot_share <= 1:
        raise WorkloadError("The spot share must be between 0 and 1.", "spot_share")


def assumptions(w: Workload) -> tuple[str, ...]:
    lines = [
        f"Months of {HOURS_PER_MONTH:g} hours ({DAYS_PER_MONTH:.4f} days); prices as in the catalog "
        "today, held flat.",
        "Steady: requests spread evenly over 24 h."
        if w.traffic == "steady"
        else f"Bursty: all requests within {w.busy_hours_per_day:g} h a day, none outside.",
        f"Replicas run at {TARGET_UTILISATION:.0%} of capacity at peak; Kubernetes and managed "
        f"endpoints keep {MIN_WARM_REPLICAS} replica warm when idle; own hardware is sized for the "
        "peak and runs around the clock.",
    ]
    if w.params_billions is not None:
        lines.append(
            f"Memory per replica = weights ({w.params_billions:g} B params × "
            f"{PRECISION_BYTES[w.precision]:g} bytes, "
            f"{w.precision}) × (1 + {RUNTIME_OVERHEAD:.0%} runtime + {KV_CACHE_SHARE:.0%} KV cache); "
            f"{USABLE_MEMORY:.0%} of GPU memory usable; 1, 2, 4 or 8 GPUs per replica (reference §3)."
        )
    if w.tokens_per_request is not None:
        lines.append(
            "Decode is bandwidth-bound: tokens/s per sequence = bandwidth × GPUs × "
            f"{BANDWIDTH_EFFICIENCY:.0%} efficiency ÷ weight bytes (reference §1); "
            f"{w.concurrency_per_replica} sequences decode together."
        )
    else:
        lines.append(
            f"Each request holds a replica slot for {w.latency_s:g} s; {w.concurrency_per_replica} "
            f"requests run together per replica."
        )
    lines += [
        f"Spot mix: {w.spot_share:.0%} of node-hours on spot; where the catalog has no spot price, "
        "on demand − "
        f"{SPOT_DISCOUNT_FALLBACK:.0%} (reference P13, low end of 50-65%). Interruptions are not costed.",
        "Own hardware: cash view, hardware paid in month 1 and at each refresh, no residual value; energy at "
        "rated power × PUE around the clock.",
        f"Serverless: SageMaker Serverless Inference, CPU only, memory in 1 GB steps up to "
        f"{SERVERLESS_MEMORY_STEPS_GB[-1]} GB, at most {SERVERLESS_MAX_SECONDS} s per request; CPU decode at "
        f"{SERVERLESS_CPU_GBPS:g} GB/s; cold starts and data-processing charges not costed.",
        "Not included: network egress, storage, cluster management fees, staff time beyond the on-prem "
        "operations figure.",
    ]
    return tuple(lines)


def recommend(w: Workload, modes: tuple[ModeResult, ...]) -> tuple[str | None, tuple[str, ...]]:
    """The mode to use and why: confidential data stays on own hardware (with a hybrid split
    suggested when that costs more); otherwise the cheapest mode over the horizon, with the
    traffic pattern and break-even that explain it."""
    feasible = sorted((m for m in modes if m.feasible), key=lambda m: m.total_usd)
    if not feasible:
        return None, ("No mode can serve this workload with the catalog's offers; see each mode's reason.",)
    years = f"{w.horizon_years} year{'s' if w.horizon_years > 1 else ''}"
    by_name = {m.mode: m for m in feasible}
    cheapest = feasible[0]
    own = by_name.get("own_hardware")
    reasons: list[str] = []
    if w.sensitivity == "confidential":
        if own is None:
            reasons.append(
                "The data is confidential, so it should stay on premises, but no on-premises hardware "
                "profile fits this model: add one to the catalog, or keep the confidential share of the "
                "traffic off this model."
            )
            choice = cheapest
        else:
            choice = own
            reasons.append(
                "The data is confidential: own hardware keeps it inside your data centre; the cloud modes "
                "would send it to a third party."
            )
            if cheapest is not own:
                reasons.append(
                    f"Own hardware costs {_money(own.total_usd - cheapest.total_usd)} more over {years} than "
                    f"{cheapest.label}; a hybrid split (confidential traffic on own hardware, the rest on "
                    f"{cheapest.label}) narrows the gap."
                )
        return choice.mode, tuple(reasons)

    choice = cheapest
    runner_up = feasible[1] if len(feasible) > 1 else None
    reasons.append(
        f"Cheapest over {years}: {_money(choice.total_usd)}"
        + (f", against {_money(runner_up.total_usd)} for {runner_up.label}." if runner_up else ".")
    )
    volume = f"{w.requests_per_day:,.0f} requests a day"
    if choice.mode == "serverless":
        reasons.append(
            f"{'Bursty' if w.traffic == 'bursty' else 'Steady'} traffic of {volume} would leave rented or "
            "owned GPUs "
            f"mostly idle: serverless bills only the seconds requests run and scales to zero between them "
            f"(expect cold starts after idle periods)."
        )
    elif choice.mode == "own_hardware":
        # Against the cheapest rented mode that it overtakes: the alternative that matters.
        first = next((m for m in feasible if m is not own and m.break_even_month), None)
        reasons.append(
            f"{'Steady' if w.traffic == 'steady' else 'Regular'} traffic of {volume} keeps owned GPUs busy"
            + (
                f"; the hardware pays for itself against {first.label} in month {first.break_even_month}."
                if first
                else "."
            )
        )
    else:
        if own is not None:
            be = choice.break_even_month
            reasons.append(
                f"Own hardware does not pay for itself against {choice.label} within {years}."
                if be is None
                else f"Own hardware catches up with {choice.label} in month {be} but costs more over {years} "
                f"(a hardware refresh falls inside the horizon)."
            )
        if "serverless" not in by_name:
            reasons.append(
                "Serverless cannot run this model (it needs a GPU or more memory), so capacity is rented "
                "by the hour."
            )
        if choice.mode == "kubernetes_spot_mix":
            reasons.append(
                "Spot capacity can be reclaimed at short notice (2 min on AWS, 30 s on GCP and Azure, "
                "reference P12): keep the on-demand share as the fallback pool for latency-bound traffic."
            )
        if choice.mode == "managed_endpoint":
            reasons.append(
                "Managed endpoints cost more per hour than the same GPUs in a cluster but need no cluster "
                "to run."
            )
        if w.traffic == "bursty":
            reasons.append(
                "Bursty traffic: the fleet scales down to one warm replica outside the busy hours."
            )
    if w.sensitivity == "public":
        reasons.append("Public data: any mode is acceptable for data protection.")
    return choice.mode, tuple(reasons)


def compare(w: Workload, offers: Offers) -> Comparison:
    """Monthly and cumulative cost of each mode over the horizon, break-even months of own
    hardware against each other mode, and a recommendation with its reasons. Raises
    WorkloadError naming the input when the workload cannot be priced."""
    validate(w)
    months = w.horizon_years * 12
    modes = [
        _own_hardware(w, offers.hardware, months),
        _cloud_mode(
            w,
            "kubernetes_on_demand",
            offers.cluster,
            months,
            lambda o: o.on_demand_usd_hour,
            lambda o, p: f"${p:g}/h on demand",
        ),
        _cloud_mode(
            w,
            "kubernetes_spot_mix",
            offers.cluster,
            months,
            lambda o: _mixed_price(w, o),
            lambda o, p: _mixed_label(w, o, p),
        ),
        _cloud_mode(
            w,
            "managed_endpoint",
            offers.managed,
            months,
            lambda o: o.on_demand_usd_hour,
            lambda o, p: f"${p:g}/h",
        ),
        _serverless(w, offers.serverless, months),
    ]
    own = modes[0]
    if own.feasible:
        modes = [own] + [
            m
            if not m.feasible
            else ModeResult(
                m.mode,
                m.feasible,
                m.reason,
                m.offer,
                m.unverified,
                m.monthly_usd,
                m.cumulative_usd,
                m.working,
                break_even_month(own.cumulative_usd, m.cumulative_usd),
            )
            for m in modes[1:]
        ]
    modes = tuple(modes)
    recommended, reasons = recommend(w, modes)
    sizing = {}
    if w.params_billions is not None:
        sizing = {
            "weight_gb": round(weight_gb(w.params_billions, w.precision), 3),
            "memory_needed_gb": round(memory_needed_gb(w.params_billions, w.precision), 3),
        }
    sizing["peak_requests_per_second"] = round(peak_requests_per_second(w), 6)
    return Comparison(w, months, modes, recommended, reasons, assumptions(w), sizing)
