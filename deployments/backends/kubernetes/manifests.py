"""render_manifests: what apply sends, pure, so "Show YAML" is what the cluster gets."""

import base64
import math
import re
from collections.abc import Iterable, Mapping

from ..base import DeploymentSpec, PermanentBackendError
from .settings import (
    ALLOW_POLICY,
    DEFAULT_FETCH,
    DEFAULT_METRICS,
    DENY_POLICY,
    GPU_RESOURCE,
    L_COST_CENTRE,
    L_DEPLOYMENT,
    L_KEY,
    L_REVISION,
    L_TEAM,
    L_TEMPLATE,
    MANAGED_BY,
    MANAGER,
    MODEL_DIR,
    QUOTA,
    KubeSettings,
)


def _label_value(value: str) -> str:
    """Any text as a label value: [A-Za-z0-9._-], at most 63, alphanumeric at both ends."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", value)[:63].strip("-._")


def _quantity(value: float) -> str:
    """A metric target as a Kubernetes quantity: 4 -> "4", 2.5 -> "2500m"."""
    if float(value).is_integer():
        return str(int(value))
    return f"{math.ceil(value * 1000)}m"


def _labels(spec: DeploymentSpec, extra: Mapping) -> dict:
    labels = {
        MANAGED_BY: MANAGER,
        L_TEAM: spec.team,
        L_DEPLOYMENT: spec.deployment,
        L_KEY: spec.key,
        L_REVISION: str(spec.revision),
    }
    if extra.get("cost-centre"):
        labels[L_COST_CENTRE] = _label_value(extra["cost-centre"])
    return labels


def _meta(name: str, namespace: str, labels: Mapping, annotations: Mapping | None = None) -> dict:
    meta = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _fill(values: Iterable[str], ctx: Mapping) -> list[str]:
    return [str(v).format(**ctx) for v in values]


def render_team_manifests(spec: DeploymentSpec, ks: KubeSettings) -> list[dict]:
    """The team's namespace and what guards it: quota and network policies."""
    extra = dict(spec.labels)
    ns = ks.namespace(spec.team)
    ns_labels = {MANAGED_BY: MANAGER, L_TEAM: spec.team}
    if extra.get("cost-centre"):
        ns_labels[L_COST_CENTRE] = _label_value(extra["cost-centre"])
    objects: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": ns_labels}}
    ]
    quota = ks.gpu_quota(spec.team, extra)
    if quota is not None:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": _meta(QUOTA, ns, ns_labels),
                "spec": {"hard": {f"requests.{GPU_RESOURCE}": str(quota)}},
            }
        )
    objects.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(DENY_POLICY, ns, ns_labels),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
    )
    if ks.routing == "ingress":
        peer = {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": ks.ingress_controller_namespace}
            }
        }
    else:
        peer = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ks.gateway_namespace}},
            "podSelector": {"matchLabels": dict(ks.gateway_pod_labels)},
        }
    objects.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(ALLOW_POLICY, ns, ns_labels),
            "spec": {
                "podSelector": {"matchLabels": {MANAGED_BY: MANAGER}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [peer]}],
            },
        }
    )
    return objects


def _autoscaled(spec: DeploymentSpec) -> bool:
    """The HPA owns the replica count when it may vary, the deployment is not scaled to zero, and
    no user pinned the count (the reconciler's "replicas-pinned" label)."""
    pinned = dict(spec.labels).get("replicas-pinned") == "true"
    return spec.replicas > 0 and spec.max_replicas > max(spec.min_replicas, 1) and not pinned


def _hpa_metric(spec: DeploymentSpec, ks: KubeSettings) -> dict:
    if spec.scaling_metric == "cpu":
        return {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": max(1, int(spec.scaling_target))},
            },
        }
    metrics = {**DEFAULT_METRICS, **ks.pods_metrics}
    if spec.scaling_metric not in metrics:
        raise PermanentBackendError(
            f"scaling_metric: {spec.scaling_metric!r} has no metric on this target "
            f"(pods_metrics has {sorted(metrics)})."
        )
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": metrics[spec.scaling_metric]},
            "target": {"type": "AverageValue", "averageValue": _quantity(spec.scaling_target)},
        },
    }


def secret_name(deployment: str) -> str:
    """The Secret holding the team secrets a deployment's pods receive through secretKeyRef."""
    return f"{deployment}-secrets"


def _check_renderable(spec: DeploymentSpec) -> None:
    """Refuse, for good, a spec no cluster could run."""
    if not spec.model_path.startswith("s3://"):
        raise PermanentBackendError(
            f"model_path: {spec.model_path!r} is not in S3; a Kubernetes target fetches models "
            "from the artifact store, so set ARTIFACT_S3_BUCKET and register the model there."
        )
    if spec.gpu_count and not spec.gpu_type:
        raise PermanentBackendError("gpu_type: a GPU count needs a GPU type.")
    for name in ("scale_up_window_s", "scale_down_window_s"):
        if not 0 <= getattr(spec, name) <= 3600:
            raise PermanentBackendError(f"{name}: Kubernetes allows 0 to 3600 seconds.")


def _model_cache_dir(spec: DeploymentSpec, ks: KubeSettings) -> str:
    if ks.model_cache_pvc:  # a shared cache: one folder per model content
        return f"{MODEL_DIR}/{spec.model_sha256[:16] or spec.key}"
    return f"{MODEL_DIR}/model"


def _fetch_container(spec: DeploymentSpec, ks: KubeSettings, cache_dir: str) -> dict:
    """The init container that copies the model from S3 into the models volume."""
    fetch = {**DEFAULT_FETCH, **ks.model_fetch}
    fetch_env = [
        {"name": "SOURCE", "value": spec.model_path.rstrip("/") + "/"},
        {"name": "DEST", "value": cache_dir},
    ]
    if ks.s3_endpoint_url:
        fetch_env.append({"name": "AWS_ENDPOINT_URL", "value": ks.s3_endpoint_url})
    init = {
        "name": "fetch-model",
        "image": fetch["image"],
        "command": ["/bin/sh", "-c", fetch["script"]],
        "env": fetch_env,
        "volumeMounts": [{"name": "models", "mountPath": MODEL_DIR}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
    }
    if ks.model_fetch_secret:
        init["envFrom"] = [{"secretRef": {"name": ks.model_fetch_secret}}]
    return init


def _models_volume(ks: KubeSettings) -> dict:
    if ks.model_cache_pvc:
        return {"name": "models", "persistentVolumeClaim": {"claimName": ks.model_cache_pvc}}
    return {"name": "models", "emptyDir": {"sizeLimit": ks.model_cache_size}}


def _server_resources(spec: DeploymentSpec, ks: KubeSettings) -> dict:
    resources: dict = {"requests": {"cpu": ks.cpu_request, "memory": ks.memory_request}}
    if ks.memory_limit:
        resources["limits"] = {"memory": ks.memory_limit}
    if spec.gpu_count:
        resources.setdefault("limits", {})[GPU_RESOURCE] = str(spec.gpu_count)
    return resources


def _server_container(spec: DeploymentSpec, ks: KubeSettings, runtime: Mapping, ctx: Mapping) -> dict:
    """The model server: the runtime's image and arguments, the spec's env and secrets, probes."""
    container = {
        "name": "model-server",
        "image": runtime["image"],
        "args": _fill(runtime.get("args", []), ctx),
        "ports": [{"name": "http", "containerPort": ctx["port"], "protocol": "TCP"}],
        "env": [{"name": k, "value": str(v)} for k, v in spec.env]
        + [
            {"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name(spec.deployment), "key": k}}}
            for k, _ in spec.secret_env
        ],
        "resources": _server_resources(spec, ks),
        "volumeMounts": [{"name": "models", "mountPath": MODEL_DIR, "readOnly": True}],
        # Startup covers a slow model load; liveness restarts a hung server; readiness gates traffic.
        "startupProbe": {
            "httpGet": {"path": runtime["live_path"], "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": max(1, ks.startup_timeout_s // 10),
        },
        "livenessProbe": {
            "httpGet": {"path": runtime["live_path"], "port": "http"},
            "periodSeconds": 15,
            "timeoutSeconds": 5,
            "failureThreshold": 4,
        },
        "readinessProbe": {
            "httpGet": {"path": runtime["ready_path"], "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
    }
    if runtime.get("command"):
        container["command"] = list(runtime["command"])
    return container


def _pod_spec(spec: DeploymentSpec, ks: KubeSettings) -> dict:
    runtime = ks.runtime(spec.model_format, spec.gpu_type)
    cache_dir = _model_cache_dir(spec, ks)
    ctx = {
        "model_dir": cache_dir,
        "model_name": spec.model_name,
        "port": int(runtime["port"]),
        "gpu_count": max(spec.gpu_count, 1),
        "deployment": spec.deployment,
        "team": spec.team,
    }
    pod_spec: dict = {
        "initContainers": [_fetch_container(spec, ks, cache_dir)],
        "containers": [_server_container(spec, ks, runtime, ctx)],
        "volumes": [_models_volume(ks)],
        "terminationGracePeriodSeconds": 60,
    }
    if spec.gpu_type:
        pod_spec["nodeSelector"] = {ks.gpu_product_label: ks.gpu_products.get(spec.gpu_type, spec.gpu_type)}
        pod_spec["tolerations"] = [dict(t) for t in ks.tolerations]
    return pod_spec


def _deployment(spec: DeploymentSpec, ks: KubeSettings, ns: str, labels: Mapping, selector: Mapping) -> dict:
    extra = dict(spec.labels)
    pod_labels = {k: v for k, v in labels.items() if k != L_REVISION} | {L_TEMPLATE: spec.template_hash}
    annotations = {
        "controlplane.io/model-sha256": spec.model_sha256,
        "controlplane.io/model-uri": spec.model_path,
    }
    if extra.get("cost-centre"):
        annotations["controlplane.io/cost-centre"] = extra["cost-centre"]
    deployment_spec: dict = {
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "progressDeadlineSeconds": ks.progress_deadline_s,
        "revisionHistoryLimit": 5,
        "template": {
            "metadata": {"labels": pod_labels, "annotations": annotations},
            "spec": _pod_spec(spec, ks),
        },
    }
    if not _autoscaled(spec):  # otherwise the field is the HPA's, and applying it would fight it
        deployment_spec["replicas"] = spec.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec.deployment, ns, labels | {L_TEMPLATE: spec.template_hash}, annotations),
        "spec": deployment_spec,
    }


def _hpa(spec: DeploymentSpec, ks: KubeSettings, ns: str, labels: Mapping) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(spec.deployment, ns, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.deployment},
            "minReplicas": max(spec.min_replicas, 1),
            "maxReplicas": spec.max_replicas,
            "metrics": [_hpa_metric(spec, ks)],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": spec.scale_up_window_s},
                "scaleDown": {"stabilizationWindowSeconds": spec.scale_down_window_s},
            },
        },
    }


def _ingress(spec: DeploymentSpec, ks: KubeSettings, ns: str, labels: Mapping) -> dict:
    host = ks.host(spec.team, spec.deployment)
    backend = {"service": {"name": spec.deployment, "port": {"name": "http"}}}
    ingress_spec: dict = {
        "ingressClassName": ks.ingress_class,
        "rules": [
            {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
        ],
    }
    if ks.ingress_tls_secret:
        ingress_spec["tls"] = [{"hosts": [host], "secretName": ks.ingress_tls_secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(spec.deployment, ns, labels),
        "spec": ingress_spec,
    }


def render_deployment_manifests(spec: DeploymentSpec, ks: KubeSettings) -> list[dict]:
    """The deployment's own objects, in apply order."""
    _check_renderable(spec)
    ns, name = ks.namespace(spec.team), spec.deployment
    labels = _labels(spec, dict(spec.labels))
    selector = {MANAGED_BY: MANAGER, L_KEY: spec.key}
    objects = []
    if spec.secret_env:  # before the Deployment, so new pods find the values they reference
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _meta(secret_name(name), ns, labels),
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in spec.secret_env},
            }
        )
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, ns, labels),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        }
    )
    objects.append(_deployment(spec, ks, ns, labels, selector))
    if _autoscaled(spec):
        objects.append(_hpa(spec, ks, ns, labels))
    if spec.min_replicas >= 2 and spec.replicas > 0:
        objects.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": _meta(name, ns, labels),
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            }
        )
    if ks.routing == "ingress":
        objects.append(_ingress(spec, ks, ns, labels))
    return objects


def render_manifests(spec: DeploymentSpec, settings: Mapping) -> list[dict]:
    """Every object `apply(spec)` sends, in order: the exact "Show YAML" of a deployment."""
    ks = KubeSettings.from_settings(settings)
    return render_team_manifests(spec, ks) + render_deployment_manifests(spec, ks)
