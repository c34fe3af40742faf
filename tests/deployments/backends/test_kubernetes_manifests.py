"""Every object the Kubernetes backend renders, validated against the API's own schemas (strict:
unknown fields are errors) for each Kubernetes version from 1.29 to the newest kubernetes-validate
ships, plus the cross-field rules schemas cannot express."""

import copy

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient
from kubernetes_validate.utils import all_versions, latest_version, major_minor

from deployments.backends.base import DeploymentSpec, PermanentBackendError
from deployments.backends.kubernetes import (
    L_COST_CENTRE,
    L_KEY,
    L_REVISION,
    L_TEAM,
    MANAGED_BY,
    render_manifests,
)


def _minor(version: str) -> tuple[int, int]:
    major, minor = major_minor(version).split(".")
    return int(major), int(minor)


VERSIONS = sorted(
    {major_minor(v) for v in all_versions() if (1, 29) <= _minor(v) <= _minor(latest_version())}, key=_minor
)


def spec(**changes) -> DeploymentSpec:
    fields = dict(
        key="alpha-chat",
        team="alpha",
        deployment="chat",
        revision=3,
        model_format="huggingface",
        model_name="qwen-7b",
        model_path="s3://models/alpha/qwen/3",
        model_sha256="ab" * 32,
        replicas=2,
        min_replicas=2,
        max_replicas=6,
        gpu_type="a100-80gb",
        gpu_count=2,
        scaling_metric="concurrency",
        scaling_target=2.5,
        scale_down_window_s=120,
        env=(("HF_HOME", "/tmp"),),
        labels=(("cost-centre", "ML Research / 42"),),
    )
    fields.update(changes)
    return DeploymentSpec(**fields)


GPU_TARGET = {"gpu_quotas": {"alpha": 8}, "gpu_products": {"a100-80gb": "NVIDIA-A100-SXM4-80GB"}}
CASES = {
    "gpu-llm-hpa-pdb-gateway": (spec(), GPU_TARGET),
    "gpu-ingress-tls-pvc": (
        spec(),
        {
            **GPU_TARGET,
            "routing": "ingress",
            "ingress_tls_secret": "models-tls",
            "model_cache_pvc": "model-cache",
            "model_fetch_secret": "s3-reader",
            "s3_endpoint_url": "http://minio:9000",
            "memory_limit": "64Gi",
        },
    ),
    "cpu-onnx-fixed": (
        spec(
            model_format="onnx",
            gpu_type="",
            gpu_count=0,
            replicas=1,
            min_replicas=1,
            max_replicas=1,
            labels=(),
        ),
        {},
    ),
    "cpu-metric-no-quota": (spec(scaling_metric="cpu", scaling_target=70, min_replicas=1), {}),
    "scaled-to-zero": (spec(replicas=0, min_replicas=0), GPU_TARGET),
    "team-secrets": (spec(secret_env=(("HF_TOKEN", "hf-canary"),), secrets_digest="d1"), GPU_TARGET),
}


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {o["kind"] if o["kind"] != "NetworkPolicy" else o["metadata"]["name"]: o for o in objects}


def test_versions_cover_129_to_newest():
    assert VERSIONS[0] == "1.29" and len(VERSIONS) >= 2, VERSIONS


@pytest.mark.parametrize("case", CASES)
def test_every_object_validates_strictly_on_every_version(case):
    the_spec, target = CASES[case]
    objects = ApiClient().sanitize_for_serialization(render_manifests(the_spec, target))
    problems = []
    for version in VERSIONS:
        for obj in objects:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError as exc:  # the CLI only warns; here it fails
                problems.append(f"{version} {obj['kind']}: no schema ({exc})")
            except kubernetes_validate.ValidationError as exc:
                problems.append(
                    f"{version} {obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}"
                )
    assert not problems, "\n".join(problems)


def test_validator_would_catch_an_unknown_field():
    objects = render_manifests(*CASES["gpu-llm-hpa-pdb-gateway"])
    broken = copy.deepcopy(by_kind(objects)["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["gpuCount"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


@pytest.mark.parametrize("case", CASES)
def test_cross_field_rules(case):
    the_spec, target = CASES[case]
    objects = render_manifests(the_spec, target)
    kinds = by_kind(objects)
    deployment = kinds["Deployment"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    # The Deployment's selector must select its own pods, and must not include the revision
    # (selectors are immutable; a new revision would need a new Deployment).
    assert selector.items() <= template_labels.items()
    assert L_REVISION not in selector
    assert kinds["Service"]["spec"]["selector"] == selector
    assert (
        kinds["Service"]["spec"]["ports"][0]["targetPort"]
        == deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"]
    )
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # Everything lives in the team's namespace, and every object carries the cost labels.
    ns = kinds["Namespace"]["metadata"]["name"]
    for obj in objects:
        assert obj["metadata"].get("namespace", ns) == ns
        assert obj["metadata"]["labels"][MANAGED_BY] == "controlplane"
        assert obj["metadata"]["labels"][L_TEAM] == "alpha"
    for obj in objects:
        if obj["kind"] not in ("Namespace", "ResourceQuota", "NetworkPolicy"):
            assert obj["metadata"]["labels"][L_KEY] == the_spec.key
            assert obj["metadata"]["labels"][L_REVISION] == str(the_spec.revision)
    if "PodDisruptionBudget" in kinds:
        pdb = kinds["PodDisruptionBudget"]["spec"]
        assert not ("minAvailable" in pdb and "maxUnavailable" in pdb)
        assert pdb["selector"]["matchLabels"] == selector
        assert the_spec.min_replicas >= 2
    else:
        assert the_spec.min_replicas < 2 or the_spec.replicas == 0
    if "HorizontalPodAutoscaler" in kinds:
        hpa = kinds["HorizontalPodAutoscaler"]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == the_spec.scale_down_window_s
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    else:
        assert deployment["spec"]["replicas"] == the_spec.replicas
    if "Ingress" in kinds:
        backend = kinds["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend["name"] == kinds["Service"]["metadata"]["name"]
        assert backend["port"]["name"] == kinds["Service"]["spec"]["ports"][0]["name"]
    init = deployment["spec"]["template"]["spec"]["initContainers"][0]
    volumes = {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert {m["name"] for m in init["volumeMounts"]} <= volumes


def test_gpu_deployment_fields():
    kinds = by_kind(render_manifests(*CASES["gpu-llm-hpa-pdb-gateway"]))
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert container["image"].startswith("vllm/vllm-openai:")
    assert container["args"][:2] == ["--model", "/models/model"]
    assert "--tensor-parallel-size" in container["args"] and container["args"][-1] == "2"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert pod["initContainers"][0]["env"][0] == {"name": "SOURCE", "value": "s3://models/alpha/qwen/3/"}
    assert kinds["ResourceQuota"]["spec"]["hard"] == {"requests.nvidia.com/gpu": "8"}
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert hpa["metrics"][0]["pods"] == {
        "metric": {"name": "serving_requests_in_flight"},
        "target": {"type": "AverageValue", "averageValue": "2500m"},
    }
    assert kinds["controlplane-default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    peer = kinds["controlplane-allow-gateway"]["spec"]["ingress"][0]["from"][0]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "controlplane"}
    assert kinds["Deployment"]["metadata"]["labels"][L_COST_CENTRE] == "ML-Research-42"
    assert kinds["Deployment"]["metadata"]["annotations"]["controlplane.io/cost-centre"] == "ML Research / 42"


def test_onnx_on_cpu_uses_the_project_model_server_and_its_health_routes():
    kinds = by_kind(render_manifests(*CASES["cpu-onnx-fixed"]))
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "serving.server"]
    assert container["args"] == [
        "--model",
        "/models/model",
        "--format",
        "onnx",
        "--name",
        "qwen-7b",
        "--host",
        "0.0.0.0",
        "--port",
        "9000",
    ]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
    assert pod["volumes"] == [{"name": "models", "emptyDir": {"sizeLimit": "20Gi"}}]
    assert set(kinds) == {
        "Namespace",
        "controlplane-default-deny",
        "controlplane-allow-gateway",
        "Service",
        "Deployment",
    }


def test_target_overrides_runtime_image_per_format_and_gpu_type():
    target = {"runtimes": {"huggingface:a100-80gb": {"image": "registry.internal/vllm:0.8"}}}
    kinds = by_kind(render_manifests(spec(), target))
    assert (
        kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.internal/vllm:0.8"
    )


def test_rendering_is_deterministic_and_a_new_revision_changes_only_labels():
    first, again = (
        render_manifests(*CASES["gpu-llm-hpa-pdb-gateway"]),
        render_manifests(*CASES["gpu-llm-hpa-pdb-gateway"]),
    )
    assert first == again
    next_revision = render_manifests(spec(revision=4), GPU_TARGET)
    assert [o["metadata"]["name"] for o in next_revision] == [o["metadata"]["name"] for o in first]


@pytest.mark.parametrize(
    ("changes", "target", "field"),
    [
        ({"model_path": "/var/models/x"}, {}, "model_path"),
        ({"scale_down_window_s": 7200}, {}, "scale_down_window_s"),
        ({"scaling_metric": "queue"}, {}, "scaling_metric"),
        ({"gpu_type": "", "gpu_count": 1}, {}, "gpu_type"),
        ({}, {"routing": "mesh"}, "routing"),
        ({}, {"namespace_prefix": "Team_"}, "namespace_prefix"),
    ],
)
def test_bad_spec_or_settings_name_the_field(changes, target, field):
    with pytest.raises(PermanentBackendError, match=f"^{field}:"):
        render_manifests(spec(**changes), target)


def test_the_shipped_clusterrole_validates_and_covers_every_call_the_backend_makes():
    from pathlib import Path

    import yaml

    from deployments.backends.kube_client import KINDS

    documents = list(
        yaml.safe_load_all((Path(__file__).resolve().parents[3] / "deploy/rbac/clusterrole.yaml").read_text())
    )
    for obj in documents:
        for version in (VERSIONS[0], VERSIONS[-1]):
            kubernetes_validate.validate(obj, version, strict=True)
    role = next(o for o in documents if o["kind"] == "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }

    def group(kind):
        api_version = KINDS[kind].api_version
        return "" if api_version == "v1" else api_version.split("/")[0]

    applied = {o["kind"] for case in CASES.values() for o in render_manifests(*case)} | {"Ingress"}
    applied |= {o["kind"] for o in render_manifests(spec(), {"routing": "ingress"})}
    needed = {
        (group(k), KINDS[k].plural, verb) for k in applied for verb in ("create", "patch", "delete", "list")
    }
    needed |= {("", "pods", "list"), ("", "pods/log", "get"), ("", "nodes", "list")}
    assert needed <= granted, sorted(needed - granted)


def test_team_secrets_go_into_a_secret_and_pods_read_them_by_reference():
    import base64
    import json

    objects = render_manifests(spec(secret_env=(("HF_TOKEN", "hf-canary"),), secrets_digest="d1"), GPU_TARGET)
    kinds = [o["kind"] for o in objects]
    assert kinds.index("Secret") < kinds.index("Deployment")  # pods find what they reference
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert secret["metadata"]["name"] == "chat-secrets"
    assert base64.b64decode(secret["data"]["HF_TOKEN"]) == b"hf-canary"
    deployment = by_kind(objects)["Deployment"]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "chat-secrets", "key": "HF_TOKEN"}},
    } in env
    assert "hf-canary" not in json.dumps([o for o in objects if o["kind"] != "Secret"])
    assert "Secret" not in [o["kind"] for o in render_manifests(spec(), GPU_TARGET)]


def test_a_rotated_secret_changes_the_pod_template_so_pods_roll():
    before = spec(secret_env=(("HF_TOKEN", "old"),), secrets_digest="d1")
    after = spec(secret_env=(("HF_TOKEN", "new"),), secrets_digest="d2")
    assert before.template_hash != after.template_hash
    assert "old" not in repr(before)  # a logged spec never shows a value
