"""Does a model version fit the GPUs a target offers? The deployment wizard shows this next to the
GPU type; deployment_create enforces the same rule (the first sizing row against 90% of memory)."""

import math
from dataclasses import dataclass

from deployments.models import ModelArtifact, Target
from deployments.selectors.sizing import artifact_sizing
from deployments.sizing import USABLE_MEMORY


@dataclass(frozen=True, slots=True)
class GpuFit:
    gpu_type: str
    name: str
    on_target: int
    memory_gb: float | None  # None: the price catalog does not know this GPU type
    needed: int | None  # GPUs per replica that hold the model; None when unknown

    @property
    def fits(self) -> bool:
        return self.needed is None or self.needed <= self.on_target


def target_fit(*, artifact: ModelArtifact, target: Target) -> dict:
    """The artifact's sizing rows and, for each GPU type in the target's inventory, how many GPUs
    of it a replica needs."""
    from billing.selectors import gpu_type_list

    sizing = artifact_sizing(artifact)
    need_gb = sizing["rows"][0].total_gb if sizing["rows"] else None
    known = {g.slug: g for g in gpu_type_list()}
    gpus = []
    for slug, count in sorted(target.gpu_inventory.items()):
        if not count:
            continue
        gpu = known.get(slug)
        memory = float(gpu.memory_gb) if gpu else None
        needed = None
        if memory and need_gb is not None:
            needed = max(1, math.ceil(need_gb / (memory * USABLE_MEMORY)))
        gpus.append(
            GpuFit(
                gpu_type=slug,
                name=gpu.name if gpu else slug,
                on_target=count,
                memory_gb=memory,
                needed=needed,
            )
        )
    return {"sizing": sizing, "need_gb": need_gb, "gpus": gpus, "cpu_only": not gpus}
