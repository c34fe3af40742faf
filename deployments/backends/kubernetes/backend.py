"""The backend itself: apply, observe, delete and endpoint over the cluster's API, and the
connection report "test connection" shows."""

import time
from collections.abc import Iterable, Mapping

from ..base import DeploymentSpec, Observed, PermanentBackendError, TargetConfig
from ..kube_client import KubeClient, kubernetes_api
from ..registry import register_backend
from .manifests import render_deployment_manifests, render_team_manifests, secret_name
from .observe import KubernetesObserver
from .settings import (
    GPU_RESOURCE,
    L_DEPLOYMENT,
    L_KEY,
    L_TEAM,
    MANAGED_SELECTOR,
    OWNED_KINDS,
    QUOTA,
    KubeSettings,
)


@register_backend
class KubernetesBackend:
    # Each reconcile costs about ten API calls: while pods start, look again every 2 s, not 0.1 s.
    requeue_floor_seconds = 2.0
    """Deployments on a Kubernetes cluster; the cluster's HPA, not the control plane, scales them."""

    kind = "kubernetes"

    @staticmethod
    def validate_settings(settings: Mapping) -> None:
        """Called when a target is registered or edited; raises PermanentBackendError naming the setting."""
        KubeSettings.validate(settings)

    def __init__(self, target: TargetConfig, client: KubeClient | None = None):
        self.target = target
        self.settings = KubeSettings.from_settings(target.settings)
        self._client = client

    @property
    def client(self) -> KubeClient:
        if self._client is None:
            self._client = kubernetes_api(self.target)
        return self._client

    def manifests(self, spec: DeploymentSpec) -> list[dict]:
        return render_team_manifests(spec, self.settings) + render_deployment_manifests(spec, self.settings)

    def apply(self, spec: DeploymentSpec) -> None:
        """Server-side apply of every object, then removal of optional objects this revision no
        longer wants (HPA when the count is fixed, PDB below min 2, Ingress when routing changed).
        Repeatable: the same spec changes nothing on the cluster."""
        objects = self.manifests(spec)
        for obj in objects:
            self.client.apply(obj)
        wanted = {o["kind"] for o in objects}
        ns = self.settings.namespace(spec.team)
        for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress"):
            if kind not in wanted:
                self.client.delete(kind, spec.deployment, ns)
        if "Secret" not in wanted:
            self.client.delete("Secret", secret_name(spec.deployment), ns)
        if self.settings.gpu_quota(spec.team, dict(spec.labels)) is None:
            self.client.delete("ResourceQuota", QUOTA, ns)

    def observe(self, key: str) -> Observed:
        selector = f"{MANAGED_SELECTOR},{L_KEY}={key}"
        deployments = self.client.list("Deployment", label_selector=selector)
        if not deployments:
            return Observed(exists=False)
        _check_unique(key, deployments)
        pods = self.client.list("Pod", label_selector=selector)
        return KubernetesObserver(self.client).observed(deployments[0], pods)

    def observe_many(self, keys: Iterable[str]) -> dict[str, Observed]:
        """Observe many deployments with two paginated list calls for the whole cluster (Deployments
        and pods labelled managed-by=controlplane), plus one log read per crash-looping deployment.
        Keys with nothing on the cluster map to Observed(exists=False)."""
        wanted = set(keys)
        by_key: dict[str, list[Mapping]] = {}
        for d in self.client.list("Deployment", label_selector=MANAGED_SELECTOR):
            key = ((d.get("metadata") or {}).get("labels") or {}).get(L_KEY)
            if key in wanted:
                by_key.setdefault(key, []).append(d)
        pods_by_key: dict[str, list[Mapping]] = {}
        for p in self.client.list("Pod", label_selector=MANAGED_SELECTOR):
            key = ((p.get("metadata") or {}).get("labels") or {}).get(L_KEY)
            if key in by_key:
                pods_by_key.setdefault(key, []).append(p)
        observer = KubernetesObserver(self.client)
        result: dict[str, Observed] = {}
        for key in wanted:
            found = by_key.get(key)
            if not found:
                result[key] = Observed(exists=False)
                continue
            _check_unique(key, found)
            result[key] = observer.observed(found[0], pods_by_key.get(key, []))
        return result

    def delete(self, key: str) -> None:
        """Delete every object labelled with the key (foreground, so the Deployment stays until its
        pods are gone), then the team namespace if no other live deployment is in it. observe()
        reports exists=True until the Deployment is gone. Succeeds when nothing is left."""
        selector = f"{MANAGED_SELECTOR},{L_KEY}={key}"
        namespaces: set[str] = set()
        for kind in OWNED_KINDS:
            for obj in self.client.list(kind, label_selector=selector):
                meta = obj.get("metadata") or {}
                namespaces.add(meta.get("namespace", ""))
                if not meta.get("deletionTimestamp"):
                    self.client.delete(kind, meta["name"], meta.get("namespace", ""))
        if not namespaces:
            # A delete that died after removing the objects may have left the namespace: find it
            # among the managed namespaces whose team the key starts with.
            for ns in self.client.list("Namespace", label_selector=MANAGED_SELECTOR):
                team = ((ns.get("metadata") or {}).get("labels") or {}).get(L_TEAM, "")
                if (
                    team
                    and key.startswith(f"{team}-")
                    and ns["metadata"]["name"] == self.settings.namespace(team)
                ):
                    namespaces.add(ns["metadata"]["name"])
        for ns in namespaces:
            remaining = [
                d
                for d in self.client.list("Deployment", namespace=ns, label_selector=MANAGED_SELECTOR)
                if not (d.get("metadata") or {}).get("deletionTimestamp")
            ]
            if not remaining:
                self.client.delete("Namespace", ns)

    def endpoint(self, key: str) -> str | None:
        """With ingress routing, the Ingress host; with gateway routing None (the gateway routes to
        the ready pods the reconciler publishes)."""
        if self.settings.routing != "ingress":
            return None
        deployments = self.client.list("Deployment", label_selector=f"{MANAGED_SELECTOR},{L_KEY}={key}")
        if not deployments:
            return None
        labels = deployments[0]["metadata"].get("labels") or {}
        host = self.settings.host(labels.get(L_TEAM, ""), labels.get(L_DEPLOYMENT, ""))
        return f"{'https' if self.settings.ingress_tls_secret else 'http'}://{host}"


def _check_unique(key: str, deployments: list[Mapping]) -> None:
    if len(deployments) > 1:
        where = sorted(f"{d['metadata'].get('namespace')}/{d['metadata'].get('name')}" for d in deployments)
        raise PermanentBackendError(
            f"Deployment key {key!r} labels several Deployments ({', '.join(where)}); "
            "remove the stray ones by hand."
        )


def connection_report(client: KubeClient, settings: Mapping) -> dict:
    """What "test connection" shows: server version, whether nodes advertise nvidia.com/gpu and
    the GPU product label, and the allocatable GPUs per product."""
    ks = KubeSettings.from_settings(settings)
    started = time.monotonic()
    version = client.version()
    nodes = client.list("Node")
    gpu_types: dict[str, int] = {}
    has_resource = has_label = False
    for node in nodes:
        allocatable = ((node.get("status") or {}).get("allocatable") or {}).get(GPU_RESOURCE)
        product = ((node.get("metadata") or {}).get("labels") or {}).get(ks.gpu_product_label)
        has_label = has_label or bool(product)
        if allocatable not in (None, "", "0"):
            has_resource = True
            gpu_types[product or "unlabelled"] = gpu_types.get(product or "unlabelled", 0) + int(allocatable)
    return {
        "server_version": version.get("gitVersion", ""),
        "nodes": len(nodes),
        "gpu_resource": has_resource,
        "gpu_product_label": ks.gpu_product_label,
        "gpu_product_labels_present": has_label,
        "allocatable_gpus": dict(sorted(gpu_types.items())),
        "elapsed_ms": int((time.monotonic() - started) * 1000),
    }
