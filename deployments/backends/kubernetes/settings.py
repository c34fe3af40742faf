"""A Kubernetes target's settings, the labels every object carries, and the runtime defaults."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from ..base import PermanentBackendError

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
OWNED_KINDS = ("Ingress", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Service", "Deployment", "Secret")
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
