from deployments.models import ModelArtifact
from deployments.sizing import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONTEXT,
    GB,
    RUNTIME_OVERHEAD,
    GpuOffer,
    SizingRow,
    cheapest_fit,
    sizing_table,
)


def gpu_offers() -> list[GpuOffer]:
    """GPU types with their cheapest on-demand USD per GPU-hour, from the billing price catalog."""
    from billing.selectors import gpu_price_list, gpu_type_list

    fp8 = {gpu.slug: gpu.supports_fp8 for gpu in gpu_type_list()}
    return [
        GpuOffer(
            slug=p.gpu_type,
            name=p.name,
            memory_gb=float(p.memory_gb),
            usd_per_gpu_hour=float(p.usd_per_gpu_hour),
            supports_fp8=fp8.get(p.gpu_type, False),
            source=f"{p.provider} {p.instance} ({p.source_key})",
        )
        for p in gpu_price_list()
    ]


def artifact_sizing(
    artifact: ModelArtifact, *, context: int = DEFAULT_CONTEXT, concurrency: int = DEFAULT_CONCURRENCY
) -> dict:
    facts = artifact.inspection or {}
    offers = gpu_offers()
    if artifact.format == "onnx":
        # ONNX graphs are served as stored: one row at the initializers' own precision, no KV cache.
        weights = facts.get("weight_bytes", 0) / GB
        overhead = weights * RUNTIME_OVERHEAD
        fit = cheapest_fit(weights + overhead, offers, precision="stored")
        rows = [
            SizingRow(
                "stored",
                "As stored",
                round(weights, 6),
                0.0,
                round(overhead, 6),
                round(weights + overhead, 6),
                fit,
            )
        ]
    else:
        rows = sizing_table(facts, offers, context=context, concurrency=concurrency)
    return {"context": context, "concurrency": concurrency, "rows": rows, "catalog_empty": not offers}
