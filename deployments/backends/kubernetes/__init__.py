"""Kubernetes backend: a deployment becomes objects in its team's namespace, applied server-side.

Per team: a labelled Namespace `<namespace_prefix><team>`, a ResourceQuota on
`requests.nvidia.com/gpu` when the team's GPU quota is known, and two NetworkPolicies (deny all
ingress; let the gateway, or the ingress controller, in). Per deployment, all named after the
deployment inside that namespace: a Deployment, a Service, an HPA (autoscaling/v2) when the
replica count may vary, a PodDisruptionBudget when min >= 2, and an Ingress when the target routes
through one. `render_manifests(spec, settings)` is pure: "Show YAML", the validation tests and
`apply` all use it, so what users download is what the cluster gets.

Every object carries `controlplane.io/key=<spec.key>`; observe, observe_many and delete find
objects by that label (one list call), so they need no name parsing. Errors leave as
Transient/PermanentBackendError (see kube_client.as_backend_error)."""

from .backend import KubernetesBackend, connection_report
from .manifests import render_deployment_manifests, render_manifests, render_team_manifests
from .observe import KubernetesObserver
from .settings import (
    ALLOW_POLICY,
    DENY_POLICY,
    GPU_RESOURCE,
    L_COST_CENTRE,
    L_DEPLOYMENT,
    L_KEY,
    L_REVISION,
    L_TEAM,
    L_TEMPLATE,
    MANAGED_BY,
    MANAGED_SELECTOR,
    MANAGER,
    OWNED_KINDS,
    QUOTA,
    KubeSettings,
    namespace_gpu_quota,
)

__all__ = [
    "ALLOW_POLICY",
    "DENY_POLICY",
    "GPU_RESOURCE",
    "L_COST_CENTRE",
    "L_DEPLOYMENT",
    "L_KEY",
    "L_REVISION",
    "L_TEAM",
    "L_TEMPLATE",
    "MANAGED_BY",
    "MANAGED_SELECTOR",
    "MANAGER",
    "OWNED_KINDS",
    "QUOTA",
    "KubeSettings",
    "KubernetesBackend",
    "KubernetesObserver",
    "connection_report",
    "namespace_gpu_quota",
    "render_deployment_manifests",
    "render_manifests",
    "render_team_manifests",
]
