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

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime

from .base import (
    BackendEvent,
    DeploymentSpec,
    Observed,
    PermanentBackendError,
    ReplicaState,
    TargetConfig,
)
from .kube_client import KubeClient, kubernetes_api
from .registry import register_backend

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "controlplane"
L_TEAM = "controlplane.io/team"
L_DEPLOYMENT = "controlplane.io/deployment"
L_KEY = "controlplane.io/key"
L_REVISION = "controlplane.io/revision"
# DeploymentSpec.template_hash: what the pods are made of. Pods carry it instead of the revision, so a
# revision that only changes scaling rolls nothing.
L_TEMPLATE = "controlplane.io/template"
L_COST_CENTRE = "controlplane.io/cost-centre"
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGER}"
GPU_RESOURCE = "nvidia.com/gpu"
MODEL_DIR = "/models"
# Per-deployment kinds in deletion order: traffic first, the pods last.
OWNED_KINDS = ("Ingress", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Service", "Deployment")
DENY_POLICY, ALLOW_POLICY, QUOTA = (
    "controlplane-default-deny",
    "controlplane-allow-gateway",
    "controlplane-gpu",
)
LOG_LINES = 20

# Images and arguments per runtime. `{model_dir}`, `{model_name}`, `{port}` and `{gpu_count}` are
# filled in. Targets override any of it (`runtimes`), per format or per "<format>:<gpu type>", so
# an air-gapped cluster points at its own registry.
DEFAULT_RUNTIMES: dict[str, dict] = {
    "onnx": {
        "image": "controlplane:0.1.0",
        "command": ["python", "-m", "serving.server"],
        "args": [
            "--model",
            "{model_dir}",
            "--format",
            "onnx",
            "--name",
            "{model_name}",
            "--host",
            "0.0.0.0",
            "--port",
            "{port}",
        ],
        "port": 9000,
        "ready_path": "/v2/health/ready",
        "live_path": "/v2/health/live",
    },
    "huggingface": {
        "image": "controlplane:0.1.0",
        "command": ["python", "-m", "serving.server"],
        "args": [
            "--model",
            "{model_dir}",
            "--format",
            "huggingface",
            "--name",
            "{model_name}",
            "--host",
            "0.0.0.0",
            "--port",
            "{port}",
        ],
        "port": 9000,
        "ready_path": "/v2/health/ready",
        "live_path": "/v2/health/live",
    },
    # Causal LMs on GPUs: vLLM's OpenAI-compatible server.
    "huggingface:gpu": {
        "image": "vllm/vllm-openai:v0.8.5",
        "command": [],
        "args": [
            "--model",
            "{model_dir}",
            "--served-model-name",
            "{model_name}",
            "--host",
            "0.0.0.0",
            "--port",
            "{port}",
            "--tensor-parallel-size",
            "{gpu_count}",
        ],
        "port": 8000,
        "ready_path": "/health",
        "live_path": "/health",
    },
}
DEFAULT_FETCH = {
    "image": "amazon/aws-cli:2.22.35",
    # Copies the artifact once; with a PVC cache a finished copy (marked .complete) is reused.
    "script": 'test -f "$DEST/.complete" || { aws s3 cp --recursive --only-show-errors "$SOURCE" "$DEST" '
    '&& touch "$DEST/.complete"; }',
}
DEFAULT_METRICS = {
    "concurrency": "serving_requests_in_flight",
    "rps": "serving_requests_per_second",
    "gpu": "DCGM_FI_DEV_GPU_UTIL",
}


def namespace_gpu_quota(team_quota: Mapping[str, int], target_gpu_types: Iterable[str]) -> int | None:
    """The `requests.nvidia.com/gpu` ceiling of a team's namespace on one cluster: the sum of the
    team's per-type quotas, but only when every GPU type the target offers is limited (a type the
    team has no quota for is unlimited, so no total can be set). The per-type rule itself is the
    deployment services' check; this is the cluster's own backstop."""
    types = [t for t in target_gpu_types]
    if not team_quota or not types or any(t not in team_quota for t in types):
        return None
    return sum(int(team_quota[t]) for t in types)


def _label_value(value: str) -> str:
    """Any text as a label value: [A-Za-z0-9._-], at most 63, alphanumeric at both ends."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", value)[:63].strip("-._")


def _quantity(value: float) -> str:
    """A metric target as a Kubernetes quantity: 4 -> "4", 2.5 -> "2500m"."""
    if float(value).is_integer():
        return str(int(value))
    return f"{math.ceil(value * 1000)}m"


@dataclass(frozen=True, slots=True)
class KubeSettings:
    """The target's settings for this backend, checked once with errors naming the setting."""

    namespace_prefix: str = "team-"
    routing: str = "gateway"  # "gateway" (the control plane's gateway routes to pods) or "ingress"
    gateway_namespace: str = "controlplane"
    gateway_pod_labels: Mapping = field(
        default_factory=lambda: {"app.kubernetes.io/name": "controlplane-gateway"}
    )
    ingress_class: str = "nginx"
    ingress_host_pattern: str = "{deployment}.{team}.models.example.com"
    ingress_tls_secret: str = ""
    ingress_controller_namespace: str = "ingress-nginx"
    gpu_product_label: str = "nvidia.com/gpu.product"
    gpu_products: Mapping = field(default_factory=dict)  # gpu type slug -> node label value
    tolerations: tuple = ({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},)
    runtimes: Mapping = field(default_factory=dict)
    model_fetch: Mapping = field(default_factory=dict)
    model_fetch_secret: str = ""  # a Secret in the team namespace with AWS_* variables for the fetch
    s3_endpoint_url: str = ""
    model_cache_pvc: str = ""  # a PVC in the team namespace; empty: an emptyDir per pod
    model_cache_size: str = "20Gi"  # emptyDir sizeLimit
    cpu_request: str = "1"
    memory_request: str = "2Gi"
    memory_limit: str = ""
    progress_deadline_s: int = 600
    startup_timeout_s: int = 1800  # how long a model may take to load before the pod is restarted
    pods_metrics: Mapping = field(default_factory=dict)
    gpu_quotas: Mapping = field(default_factory=dict)  # team slug -> GPUs; "*" for every other team

    @classmethod
    def from_settings(cls, settings: Mapping) -> "KubeSettings":
        types = {f.name: f.type for f in fields(cls)}
        values = {k: v for k, v in settings.items() if k in types}
        for name, value in values.items():
            expected = {str: str, int: int, Mapping: Mapping, tuple: (list, tuple)}[types[name]]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                kind = {str: "text", int: "a whole number", Mapping: "a mapping"}.get(expected, "a list")
                raise PermanentBackendError(f"{name}: must be {kind}, not {type(value).__name__}.")
        if "tolerations" in values:
            values["tolerations"] = tuple(values["tolerations"] or ())
        self = cls(**values)
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,21}[a-z0-9]-?)?", self.namespace_prefix or "x"):
            raise PermanentBackendError(
                "namespace_prefix: use up to 23 lowercase letters, digits or hyphens."
            )
        if self.routing not in ("gateway", "ingress"):
            raise PermanentBackendError(f"routing: {self.routing!r} is not one of 'gateway', 'ingress'.")
        return self

    @classmethod
    def validate(cls, settings: Mapping) -> None:
        """For registering or editing a target: every setting known and well-typed, credentials only
        through target_credentials_set. Raises PermanentBackendError starting with the setting's name."""
        allowed = {f.name for f in fields(cls)} | {
            "kubeconfig_encrypted",
            "context",
            "in_cluster",
            "request_timeout_s",
        }
        for key in settings:
            if key == "kubeconfig":
                raise PermanentBackendError(
                    "kubeconfig: upload it with the target's credentials action, which "
                    "stores it encrypted; settings are stored as they are."
                )
            if key not in allowed:
                raise PermanentBackendError(
                    f"{key}: not a setting of Kubernetes targets (see docs/kubernetes.md)."
                )
        cls.from_settings(settings)

    def namespace(self, team: str) -> str:
        return f"{self.namespace_prefix}{team}"

    def runtime(self, model_format: str, gpu_type: str) -> dict:
        keys = [model_format]
        if gpu_type:
            keys += [f"{model_format}:gpu", f"{model_format}:{gpu_type}"]
        merged: dict = {}
        for key in keys:  # most specific last, each level overriding the one before
            merged.update(DEFAULT_RUNTIMES.get(key, {}))
            merged.update(self.runtimes.get(key, {}))
        if not merged.get("image"):
            raise PermanentBackendError(
                f"runtimes: no image for model format {model_format!r} on this target."
            )
        return merged

    def gpu_quota(self, team: str, spec_labels: Mapping) -> int | None:
        if "gpu-quota" in spec_labels:
            return int(spec_labels["gpu-quota"])
        value = self.gpu_quotas.get(team, self.gpu_quotas.get("*"))
        return None if value is None else int(value)

    def host(self, spec_team: str, spec_deployment: str) -> str:
        return self.ingress_host_pattern.format(team=spec_team, deployment=spec_deployment)


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


def render_deployment_manifests(spec: DeploymentSpec, ks: KubeSettings) -> list[dict]:
    """The deployment's own objects, in apply order."""
    if not spec.model_path.startswith("s3://"):
        raise PermanentBackendError(
            f"model_path: {spec.model_path!r} is not in S3; a Kubernetes target fetches models from the artifact "
            "store, so set ARTIFACT_S3_BUCKET and register the model there."
        )
    if spec.gpu_count and not spec.gpu_type:
        raise PermanentBackendError("gpu_type: a GPU count needs a GPU type.")
    for name in ("scale_up_window_s", "scale_down_window_s"):
        if not 0 <= getattr(spec, name) <= 3600:
            raise PermanentBackendError(f"{name}: Kubernetes allows 0 to 3600 seconds.")
    extra = dict(spec.labels)
    ns, name = ks.namespace(spec.team), spec.deployment
    labels = _labels(spec, extra)
    pod_labels = {k: v for k, v in labels.items() if k != L_REVISION} | {L_TEMPLATE: spec.template_hash}
    selector = {MANAGED_BY: MANAGER, L_KEY: spec.key}
    runtime = ks.runtime(spec.model_format, spec.gpu_type)
    port = int(runtime["port"])
    ctx = {
        "model_dir": f"{MODEL_DIR}/model",
        "model_name": spec.model_name,
        "port": port,
        "gpu_count": max(spec.gpu_count, 1),
        "deployment": spec.deployment,
        "team": spec.team,
    }
    annotations = {
        "controlplane.io/model-sha256": spec.model_sha256,
        "controlplane.io/model-uri": spec.model_path,
    }
    if extra.get("cost-centre"):
        annotations["controlplane.io/cost-centre"] = extra["cost-centre"]

    fetch = {**DEFAULT_FETCH, **ks.model_fetch}
    cache_dir = f"{MODEL_DIR}/model"
    if ks.model_cache_pvc:  # a shared cache: one folder per model content
        cache_dir = f"{MODEL_DIR}/{spec.model_sha256[:16] or spec.key}"
        ctx["model_dir"] = cache_dir
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
    volume = (
        {"name": "models", "persistentVolumeClaim": {"claimName": ks.model_cache_pvc}}
        if ks.model_cache_pvc
        else {"name": "models", "emptyDir": {"sizeLimit": ks.model_cache_size}}
    )

    resources: dict = {"requests": {"cpu": ks.cpu_request, "memory": ks.memory_request}}
    if ks.memory_limit:
        resources["limits"] = {"memory": ks.memory_limit}
    if spec.gpu_count:
        resources.setdefault("limits", {})[GPU_RESOURCE] = str(spec.gpu_count)
    container = {
        "name": "model-server",
        "image": runtime["image"],
        "args": _fill(runtime.get("args", []), ctx),
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": k, "value": str(v)} for k, v in spec.env],
        "resources": resources,
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
    pod_spec: dict = {
        "initContainers": [init],
        "containers": [container],
        "volumes": [volume],
        "terminationGracePeriodSeconds": 60,
    }
    if spec.gpu_type:
        pod_spec["nodeSelector"] = {ks.gpu_product_label: ks.gpu_products.get(spec.gpu_type, spec.gpu_type)}
        pod_spec["tolerations"] = [dict(t) for t in ks.tolerations]

    deployment_spec: dict = {
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "progressDeadlineSeconds": ks.progress_deadline_s,
        "revisionHistoryLimit": 5,
        "template": {"metadata": {"labels": pod_labels, "annotations": annotations}, "spec": pod_spec},
    }
    if not _autoscaled(spec):  # otherwise the field is the HPA's, and applying it would fight it
        deployment_spec["replicas"] = spec.replicas
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, ns, labels),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(name, ns, labels | {L_TEMPLATE: spec.template_hash}, annotations),
            "spec": deployment_spec,
        },
    ]
    if _autoscaled(spec):
        objects.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": _meta(name, ns, labels),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": max(spec.min_replicas, 1),
                    "maxReplicas": spec.max_replicas,
                    "metrics": [_hpa_metric(spec, ks)],
                    "behavior": {
                        "scaleUp": {"stabilizationWindowSeconds": spec.scale_up_window_s},
                        "scaleDown": {"stabilizationWindowSeconds": spec.scale_down_window_s},
                    },
                },
            }
        )
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
        host = ks.host(spec.team, spec.deployment)
        ingress_spec: dict = {
            "ingressClassName": ks.ingress_class,
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": name, "port": {"name": "http"}}},
                            }
                        ]
                    },
                }
            ],
        }
        if ks.ingress_tls_secret:
            ingress_spec["tls"] = [{"hosts": [host], "secretName": ks.ingress_tls_secret}]
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": _meta(name, ns, labels),
                "spec": ingress_spec,
            }
        )
    return objects


def render_manifests(spec: DeploymentSpec, settings: Mapping) -> list[dict]:
    """Every object `apply(spec)` sends, in order: the exact "Show YAML" of a deployment."""
    ks = KubeSettings.from_settings(settings)
    return render_team_manifests(spec, ks) + render_deployment_manifests(spec, ks)


# -- observe ------------------------------------------------------------------------------------


def _timestamp(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _pod_ready(pod: Mapping) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _pod_problem(pod: Mapping) -> tuple[str, str, str] | None:
    """(event kind, message, container with a crash) for a pod that cannot serve, else None."""
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name", "?")
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            text = cond.get("message", "")
            if f"Insufficient {GPU_RESOURCE}" in text:
                return "unschedulable", f"No node has a free GPU for pod {name}: {text}", ""
            return "unschedulable", f"Pod {name} cannot be scheduled: {text}", ""
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
            return (
                "image_pull_failed",
                f"Cannot pull image {cs.get('image', '')!r} for pod {name}: {waiting.get('message', reason)}",
                "",
            )
        if reason == "CrashLoopBackOff":
            last = ((cs.get("lastState") or {}).get("terminated")) or {}
            code = last.get("exitCode")
            return (
                "crash_loop",
                f"Container {cs.get('name')} of pod {name} keeps crashing"
                + (
                    f" (exit code {code}, restarted {cs.get('restartCount', 0)} times)"
                    if code is not None
                    else ""
                ),
                cs.get("name", ""),
            )
        if reason in ("CreateContainerConfigError", "CreateContainerError"):
            return "container_config_error", f"Pod {name}: {waiting.get('message', reason)}", ""
    return None


def _deployment_problem(deployment: Mapping) -> tuple[str, str] | None:
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return (
                "progress_deadline_exceeded",
                f"The rollout made no progress in time: {cond.get('message', '')}",
            )
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            message = cond.get("message", "")
            kind = "quota_exceeded" if "exceeded quota" in message else "replica_failure"
            return kind, f"Pods cannot be created: {message}"
    return None


class KubernetesObserver:
    """Turns a Deployment and its pods into Observed: replicas, and reasons in plain words."""

    def __init__(self, client: KubeClient, runtime_port: int | None = None):
        self.client = client
        self.port = runtime_port

    def observed(self, deployment: Mapping | None, pods: list[Mapping], *, logs: bool = True) -> Observed:
        if deployment is None:
            return Observed(exists=False)
        status = deployment.get("status") or {}
        spec = deployment.get("spec") or {}
        meta = deployment.get("metadata") or {}
        revision = int((meta.get("labels") or {}).get(L_REVISION, "0") or 0)
        current_template = (meta.get("labels") or {}).get(L_TEMPLATE, "")
        replicas, events = [], []
        for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
            pmeta = pod.get("metadata") or {}
            pstatus = pod.get("status") or {}
            if pstatus.get("phase") in ("Succeeded", "Failed"):
                continue
            port = self.port or _container_port(pod)
            ip = pstatus.get("podIP", "")
            unscheduled = any(
                c.get("type") == "PodScheduled" and c.get("status") == "False"
                for c in pstatus.get("conditions") or []
            )
            template = (pmeta.get("labels") or {}).get(L_TEMPLATE, "")
            # A pod no node has taken holds no GPU: not a replica (billing meters replicas), only a reason.
            (replicas if not unscheduled else []).append(
                ReplicaState(
                    id=pmeta.get("name", ""),
                    # Pods of the current template belong to the current revision; older ones are
                    # being replaced (their revision is not on them: see L_TEMPLATE).
                    revision=revision if template and template == current_template else 0,
                    template=template,
                    url=f"http://{ip}:{port}" if ip else "",
                    ready=_pod_ready(pod) and bool(ip),
                    draining=bool(pmeta.get("deletionTimestamp")),
                    started_at=_timestamp(pstatus.get("startTime")),
                )
            )
            problem = _pod_problem(pod)
            if problem:
                kind, message, crashed = problem
                if (
                    crashed and logs and not any(e.kind == kind for e in events)
                ):  # one log read per deployment
                    tail = self.client.read_log(
                        pmeta.get("namespace", ""),
                        pmeta.get("name", ""),
                        container=crashed,
                        previous=True,
                        tail_lines=LOG_LINES,
                    )
                    if tail.strip():
                        message += ". Last log lines:\n" + tail.rstrip()[-1500:]
                events.append(BackendEvent(kind=kind, message=message, ongoing=True))
        problem = _deployment_problem(deployment)
        if problem:
            events.insert(0, BackendEvent(kind=problem[0], message=problem[1], ongoing=True))
        # Dedupe: many pods share one reason; keep the first of each kind.
        seen, unique = set(), []
        for e in events:
            if e.kind not in seen:
                seen.add(e.kind)
                unique.append(e)
        want = spec.get("replicas", 1)
        if want == 0 and not replicas and not meta.get("deletionTimestamp"):
            # Stopped or scaled to zero and drained: nothing runs. The objects stay (a start is one
            # apply), but like the local backend's "no process" this reads as not existing.
            return Observed(exists=False, message="Scaled to zero.", events=tuple(unique))
        ready = status.get("readyReplicas") or 0
        updated = status.get("updatedReplicas") or 0
        if meta.get("deletionTimestamp"):
            message = "Deleting: waiting for the pods to stop."
        elif unique:
            message = unique[0].message
        elif want == 0:
            message = f"Scaling to zero: {len(replicas)} replicas stopping."
        elif ready < want or updated < want:
            message = f"{ready} of {want} replicas ready, {updated} on the current revision {revision}."
        else:
            message = ""
        return Observed(exists=True, replicas=tuple(replicas), message=message, events=tuple(unique))


def _container_port(pod: Mapping) -> int:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == "http":
                return int(p.get("containerPort", 80))
    return 80


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
