"""State changes of Kubernetes targets: credentials (stored encrypted, never shown again) and the
"test connection" check. Both are audited; neither touches a deployment."""

from django.db import transaction

from controlplane.crypto import encrypt_secret
from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import AuditResult
from controlplane.tenancy.services import audit_record
from deployments.backends.base import BackendError
from deployments.backends.kube_client import kubeconfig_contexts, kubernetes_api, load_kubeconfig
from deployments.backends.kubernetes import KubeSettings, connection_report
from deployments.models import Target

MAX_KUBECONFIG_BYTES = 256 * 1024


def _require_kubernetes(target: Target) -> None:
    if target.kind != "kubernetes":
        raise ApplicationError(
            f"Target {target.name} is a {target.kind} target, not a Kubernetes cluster.",
            extra={"field": "target"},
        )


@transaction.atomic
def target_credentials_set(
    *, target: Target, actor, kubeconfig: str = "", context: str = "", in_cluster: bool = False
) -> Target:
    """Store how the control plane reaches a cluster: an uploaded kubeconfig (encrypted with
    CONTROLPLANE_SECRET_KEY, never returned by any read) and an optional context, or the pod's own
    service account (`in_cluster`). Replaces what was stored; raises ApplicationError naming the field."""
    _require_kubernetes(target)
    settings = {
        k: v for k, v in target.settings.items() if k not in ("kubeconfig_encrypted", "context", "in_cluster")
    }
    if in_cluster:
        if kubeconfig:
            raise ApplicationError(
                "Give a kubeconfig or in-cluster credentials, not both.", extra={"field": "in_cluster"}
            )
        settings["in_cluster"] = True
        described = {"in_cluster": True}
    else:
        if not kubeconfig.strip():
            raise ApplicationError(
                "Upload a kubeconfig, or choose in-cluster credentials.", extra={"field": "kubeconfig"}
            )
        if len(kubeconfig.encode()) > MAX_KUBECONFIG_BYTES:
            raise ApplicationError("The kubeconfig is larger than 256 KiB.", extra={"field": "kubeconfig"})
        try:
            config = load_kubeconfig(kubeconfig)
        except BackendError as exc:
            raise ApplicationError(str(exc), extra={"field": "kubeconfig"}) from exc
        contexts = kubeconfig_contexts(config)
        chosen = context or config.get("current-context") or ""
        if chosen not in contexts:
            field = "context" if context else "kubeconfig"
            raise ApplicationError(
                f"Context {chosen!r} is not in the kubeconfig (it has {', '.join(contexts)}).",
                extra={"field": field},
            )
        settings["kubeconfig_encrypted"] = encrypt_secret(kubeconfig)
        if context:
            settings["context"] = context
        described = {"context_name": chosen, "cluster_count": len(config.get("clusters") or [])}
    Target.objects.filter(pk=target.pk).update(settings=settings)
    target.settings = settings
    audit_record(
        actor=actor,
        action="target.credentials_set",
        resource_type="target",
        resource_id=target.pk,
        parameters={"name": target.name, **described},
    )
    return target


def target_test_connection(*, target: Target, actor) -> dict:
    """Ask the cluster who it is and what GPUs it has (server version, nvidia.com/gpu on nodes, the
    GPU product label, allocatable GPUs per product). Never raises for cluster problems: the
    report says `ok: false` with the reason. Audited either way."""
    _require_kubernetes(target)
    config = target.config()
    try:
        KubeSettings.from_settings(config.settings)
        report = {"ok": True, **connection_report(kubernetes_api(config), config.settings)}
        offered = [t for t, n in target.gpu_inventory.items() if n]
        products = KubeSettings.from_settings(config.settings).gpu_products
        report["missing_gpu_types"] = sorted(
            t for t in offered if products.get(t, t) not in report["allocatable_gpus"]
        )
    except BackendError as exc:
        report = {"ok": False, "error": str(exc)}
    audit_record(
        actor=actor,
        action="target.test_connection",
        resource_type="target",
        resource_id=target.pk,
        parameters={"name": target.name, **{k: v for k, v in report.items() if k != "error"}},
        result=AuditResult.SUCCESS if report["ok"] else AuditResult.FAILURE,
        error=report.get("error", ""),
    )
    return report
