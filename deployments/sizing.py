"""GPU memory a replica needs, and the cheapest GPU type and count that holds it. Pure functions.

Formulae and constants from ../shared/reference/gpu-catalog.md, section 3 ("Weights and KV cache"
and "Smallest GPU set that fits"):
  weights  = parameters × bytes per parameter
  KV cache = 2 (K and V) × layers × KV heads × head_dim × bytes × resident tokens
  replica  = (weights + KV cache) × (1 + runtime overhead), which must fit in the usable share of
             the GPUs' memory; tensor parallelism splits it across 1, 2, 4 or 8 GPUs.
"""

import math
from dataclasses import dataclass

GB = 10**9  # the reference's GB is 10^9 bytes

# Bytes per parameter (reference §3: "BF16/FP16 2, FP8/INT8 1, INT4 0.5 + scales ≈ 0.56").
PRECISION_BYTES = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5625}
PRECISION_LABELS = {"bf16": "BF16 / FP16", "fp8": "FP8", "int8": "INT8", "int4": "INT4"}
KV_BYTES = 2  # BF16 KV cache (reference §3: "Numbers below: BF16 KV")
RUNTIME_OVERHEAD = 0.10  # reference §3: "+ 10% runtime overhead"
USABLE_MEMORY = 0.90  # reference §3: "90% of GPU memory usable"
TENSOR_PARALLEL = (1, 2, 4, 8)  # reference §3: "tensor-parallel degree 1/2/4/8"
DEFAULT_CONTEXT = 8192
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class GpuOffer:
    slug: str
    name: str
    memory_gb: float
    usd_per_gpu_hour: float | None = None
    supports_fp8: bool = True
    source: str = ""


@dataclass(frozen=True, slots=True)
class Fit:
    gpu: GpuOffer
    count: int
    usd_per_hour: float | None


@dataclass(frozen=True, slots=True)
class SizingRow:
    precision: str
    label: str
    weights_gb: float
    kv_cache_gb: float
    overhead_gb: float
    total_gb: float
    cheapest: Fit | None


def kv_cache_bytes(
    *, layers: int, kv_heads: int, head_dim: int, tokens: int, kv_bytes: int = KV_BYTES
) -> int:
    return 2 * layers * kv_heads * head_dim * kv_bytes * tokens


def size_replica(
    *,
    parameters: int,
    precision: str,
    layers: int | None = None,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    context: int = DEFAULT_CONTEXT,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> tuple[float, float, float, float]:
    """(weights, KV cache, overhead, total) in GB. Models without attention facts (ONNX) get no KV."""
    weights = parameters * PRECISION_BYTES[precision]
    kv = 0
    if layers and kv_heads and head_dim:
        kv = kv_cache_bytes(layers=layers, kv_heads=kv_heads, head_dim=head_dim, tokens=context * concurrency)
    overhead = (weights + kv) * RUNTIME_OVERHEAD
    return weights / GB, kv / GB, overhead / GB, (weights + kv + overhead) / GB


def cheapest_fit(
    total_gb: float, offers: list[GpuOffer], *, precision: str, attention_heads: int | None = None
) -> Fit | None:
    """The cheapest GPU type and count whose usable memory holds the replica. Without prices, the
    smallest total memory wins. Tensor parallelism needs the attention heads to divide evenly."""
    best, best_key = None, None
    for gpu in offers:
        if precision == "fp8" and not gpu.supports_fp8:
            continue
        for count in TENSOR_PARALLEL:
            if attention_heads and attention_heads % count:
                continue
            if total_gb <= gpu.memory_gb * count * USABLE_MEMORY:
                price = gpu.usd_per_gpu_hour * count if gpu.usd_per_gpu_hour is not None else None
                key = (price if price is not None else math.inf, gpu.memory_gb * count, count)
                if best_key is None or key < best_key:
                    best, best_key = Fit(gpu=gpu, count=count, usd_per_hour=price), key
                break  # more GPUs of the same type only cost more
    return best


def sizing_table(
    facts: dict,
    offers: list[GpuOffer],
    *,
    context: int = DEFAULT_CONTEXT,
    concurrency: int = DEFAULT_CONCURRENCY,
    precisions: tuple[str, ...] = ("bf16", "fp8", "int8", "int4"),
) -> list[SizingRow]:
    """One row per precision for the facts inspection found (parameter_count, num_layers, ...)."""
    parameters = facts.get("parameter_count")
    if not parameters:
        return []
    rows = []
    for precision in precisions:
        weights, kv, overhead, total = size_replica(
            parameters=parameters,
            precision=precision,
            layers=facts.get("num_layers"),
            kv_heads=facts.get("num_key_value_heads"),
            head_dim=facts.get("head_dim"),
            context=context,
            concurrency=concurrency,
        )
        fit = cheapest_fit(
            total, offers, precision=precision, attention_heads=facts.get("num_attention_heads")
        )
        rows.append(
            SizingRow(
                precision,
                PRECISION_LABELS[precision],
                round(weights, 6),
                round(kv, 6),
                round(overhead, 6),
                round(total, 6),
                fit,
            )
        )
    return rows
