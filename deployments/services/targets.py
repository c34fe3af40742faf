import logging
import shutil
import subprocess

from django.core.exceptions import ValidationError
from django.db import transaction

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.services import audit_record
from deployments.backends.base import BackendError
from deployments.backends.registry import backend_class, backend_kinds
from deployments.models import Target
from deployments.models.artifacts import NAME_VALIDATOR

logger = logging.getLogger(__name__)

# nvidia-smi names → catalog GPU type slugs (billing's seed); anything else keeps a slug of its name.
_GPU_NAMES = {
    "Tesla T4": "t4",
    "NVIDIA L4": "l4",
    "NVIDIA A10G": "a10g",
    "NVIDIA L40S": "l40s",
    "NVIDIA A100-SXM4-40GB": "a100-40gb",
    "NVIDIA A100-SXM4-80GB": "a100-80gb",
    "NVIDIA A100 80GB PCIe": "a100-80gb",
    "NVIDIA H100 80GB HBM3": "h100-sxm-80gb",
    "NVIDIA H100 PCIe": "h100-pcie-80gb",
    "NVIDIA H200": "h200-141gb",
}


def local_gpu_inventory() -> dict[str, int]:
    """GPUs on this host as nvidia-smi reports them; empty without a GPU (or without nvidia-smi)."""
    if not shutil.which("nvidia-smi"):
        return {}
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        logger.warning("deployments.targets.nvidia_smi_failed", extra={"error": str(exc)})
        return {}
    inventory: dict[str, int] = {}
    for name in filter(None, (line.strip() for line in out.splitlines())):
        slug = _GPU_NAMES.get(name, name.lower().replace("nvidia ", "").replace(" ", "-"))
        inventory[slug] = inventory.get(slug, 0) + 1
    return inventory


def _validate_settings(kind: str, settings: dict) -> None:
    """A backend that checks its settings (`validate_settings`) does so before anything is stored."""
    validate = getattr(backend_class(kind), "validate_settings", None)
    if validate is not None:
        try:
            validate(settings)
        except BackendError as exc:
            raise ApplicationError(f"settings: {exc}", extra={"field": "settings"}) from exc


@transaction.atomic
def target_create(
    *,
    actor,
    name: str,
    kind: str,
    description: str = "",
    settings: dict | None = None,
    gpu_inventory: dict[str, int] | None = None,
    all_teams: bool = True,
    teams=(),
) -> Target:
    """Register where deployments run. A local target with no inventory given detects its GPUs."""
    try:
        NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ApplicationError(
            f"Invalid target name {name!r}. {exc.messages[0]}", extra={"field": "name"}
        ) from exc
    if kind not in backend_kinds():
        raise ApplicationError(
            f"Unknown kind {kind!r}; available: {', '.join(backend_kinds())}.", extra={"field": "kind"}
        )
    if Target.objects.filter(name=name).exists():
        raise ApplicationError(f"A target named {name!r} exists.", extra={"field": "name"})
    _validate_settings(kind, settings or {})
    inventory = (
        gpu_inventory if gpu_inventory is not None else (local_gpu_inventory() if kind == "local" else {})
    )
    if any(not isinstance(v, int) or v < 0 for v in inventory.values()):
        raise ApplicationError("GPU counts must be whole numbers ≥ 0.", extra={"field": "gpu_inventory"})
    target = Target.objects.create(
        name=name,
        kind=kind,
        description=description,
        settings=settings or {},
        gpu_inventory=inventory,
        all_teams=all_teams,
    )
    target.teams.set(teams)
    audit_record(
        actor=actor,
        action="target.create",
        resource_type="target",
        resource_id=target.pk,
        parameters={
            "name": name,
            "kind": kind,
            "gpu_inventory": inventory,
            "all_teams": all_teams,
            "teams": [t.slug for t in teams],
            "settings": settings or {},
        },
    )
    return target
