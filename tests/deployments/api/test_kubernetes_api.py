"""The Kubernetes target's API: credentials stored encrypted and never shown again, "test
connection", and a deployment's manifests ("Show YAML") as JSON and as a YAML download. Also the
audit cases of its mutating endpoints (completeness: tests/tenancy/api/test_audit_every_mutation.py)."""

import base64

import pytest
import yaml

from controlplane.crypto import decrypt_secret
from controlplane.tenancy.models import AuditEvent, AuditResult
from deployments.models import ModelArtifact, Target
from deployments.services.deployments import deployment_create, deployment_update
from deployments.services.secrets import secret_set
from deployments.services.targets import target_create
from deployments.storage import artifact_storage
from tests.deployments.backends.test_kubernetes_wire import kubeconfig_for
from tests.fakes_kube import FakeCluster

KUBECONFIG = kubeconfig_for("https://gpu.example.internal:6443")


@pytest.fixture
def cluster(tmp_path, monkeypatch, settings):
    cluster = FakeCluster(tmp_path / "cluster.json", gpu_nodes={"NVIDIA-A100-SXM4-80GB": 8, "NVIDIA-L4": 2})
    monkeypatch.setenv("FAKE_KUBE_STATE", str(cluster.path))
    settings.KUBERNETES_CLIENT_FACTORY = "tests.fakes_kube.fake_client"
    return cluster


@pytest.fixture
def k8s(members):
    return target_create(
        actor=members["owner"],
        name="gpu-cluster",
        kind="kubernetes",
        gpu_inventory={"a100-80gb": 8, "h100-sxm-80gb": 8},
        settings={"gpu_products": {"a100-80gb": "NVIDIA-A100-SXM4-80GB"}},
    )


@pytest.fixture
def admin(members):
    user = members["owner"]
    user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def s3_artifacts(settings, artifact_dirs):
    settings.ARTIFACT_S3_BUCKET = "models"
    artifact_storage.cache_clear()
    yield
    artifact_storage.cache_clear()


@pytest.fixture
def deployment(team, members, k8s):
    artifact = ModelArtifact.objects.create(
        team=team,
        name="qwen",
        version=1,
        format="huggingface",
        status="ready",
        sha256="ef" * 32,
        size_bytes=10,
    )
    return deployment_create(
        team=team,
        actor=members["deployer"],
        name="chat",
        target=k8s,
        artifact=artifact,
        gpu_type="a100-80gb",
        gpu_count=1,
        min_replicas=1,
        max_replicas=3,
    )


def test_a_kubeconfig_is_stored_encrypted_and_never_shown(api_client, admin, k8s):
    api_client.force_authenticate(admin)
    response = api_client.post(
        f"/api/v1/targets/{k8s.pk}/credentials", {"kubeconfig": KUBECONFIG, "context": "gpu"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (
        "kubeconfig" not in response.content.decode() and "wire-test-token" not in response.content.decode()
    )
    stored = Target.objects.get(pk=k8s.pk).settings
    assert "wire-test-token" not in str(stored)
    assert decrypt_secret(stored["kubeconfig_encrypted"]) == KUBECONFIG and stored["context"] == "gpu"
    listed = api_client.get("/api/v1/targets/").content.decode()
    assert "kubeconfig" not in listed and "wire-test-token" not in listed
    event = AuditEvent.objects.filter(action="target.credentials_set").get()
    assert event.parameters == {"name": "gpu-cluster", "context_name": "gpu", "cluster_count": 2}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"kubeconfig": "clusters: [\n"}, "kubeconfig", "not valid YAML"),
        ({"kubeconfig": "apiVersion: v1\n"}, "kubeconfig", "needs `clusters` and `contexts`"),
        ({"kubeconfig": KUBECONFIG, "context": "prod"}, "context", "Context 'prod' is not in the kubeconfig"),
        ({"kubeconfig": ""}, "kubeconfig", "Upload a kubeconfig"),
        ({"kubeconfig": KUBECONFIG, "in_cluster": True}, "in_cluster", "not both"),
    ],
)
def test_bad_credentials_name_the_field_and_store_nothing(api_client, admin, k8s, body, field, words):
    api_client.force_authenticate(admin)
    response = api_client.post(f"/api/v1/targets/{k8s.pk}/credentials", body, format="json")
    assert response.status_code == 400
    assert words in response.json()["error"]["fields"][field][0]
    assert "kubeconfig_encrypted" not in Target.objects.get(pk=k8s.pk).settings


def test_credentials_are_for_kubernetes_targets_and_platform_admins(api_client, admin, members):
    local = target_create(actor=admin, name="local", kind="local", gpu_inventory={})
    api_client.force_authenticate(admin)
    response = api_client.post(f"/api/v1/targets/{local.pk}/credentials", {"in_cluster": True}, format="json")
    assert response.status_code == 400 and "not a Kubernetes cluster" in response.json()["error"]["message"]
    api_client.force_authenticate(members["admin"])
    assert (
        api_client.post(
            f"/api/v1/targets/{local.pk}/credentials", {"in_cluster": True}, format="json"
        ).status_code
        == 403
    )


def test_test_connection_reports_version_and_gpus(api_client, admin, k8s, cluster):
    api_client.force_authenticate(admin)
    response = api_client.post(f"/api/v1/targets/{k8s.pk}/test-connection")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["ok"] is True and report["server_version"] == "v1.31.4"
    assert report["gpu_resource"] is True and report["gpu_product_labels_present"] is True
    assert report["allocatable_gpus"] == {"NVIDIA-A100-SXM4-80GB": 8, "NVIDIA-L4": 2}
    # The target offers h100s, but no node has them.
    assert report["missing_gpu_types"] == ["h100-sxm-80gb"]


def test_test_connection_failure_is_reported_and_audited(api_client, admin, k8s, cluster):
    cluster.fail_next("version", 403, 'User "system:anonymous" cannot get path "/version"')
    api_client.force_authenticate(admin)
    report = api_client.post(f"/api/v1/targets/{k8s.pk}/test-connection").json()
    assert report["ok"] is False and "cannot get path" in report["error"]
    event = AuditEvent.objects.filter(action="target.test_connection").get()
    assert event.result == AuditResult.FAILURE and "cannot get path" in event.error


def test_manifests_show_exactly_what_the_backend_applies(api_client, team, members, deployment, s3_artifacts):
    from deployments.backends.kubernetes import render_manifests
    from deployments.reconcile import build_spec

    api_client.force_authenticate(members["viewer"])
    url = f"/api/v1/teams/{team.slug}/deployments/{deployment.pk}/manifests"
    response = api_client.get(url)
    assert response.status_code == 200, response.content
    objects = response.json()["objects"]
    assert objects == render_manifests(build_spec(deployment), deployment.target.settings)
    assert [o["kind"] for o in objects][-3:] == ["Service", "Deployment", "HorizontalPodAutoscaler"]
    download = api_client.get(url + ".yaml")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/yaml; charset=utf-8"
    assert download["Content-Disposition"] == 'attachment; filename="alpha-chat.yaml"'
    assert list(yaml.safe_load_all(download.content)) == objects


def test_manifests_need_artifacts_in_s3_and_a_kubernetes_target(api_client, team, members, deployment):
    api_client.force_authenticate(members["viewer"])
    response = api_client.get(f"/api/v1/teams/{team.slug}/deployments/{deployment.pk}/manifests")
    assert response.status_code == 400
    assert "model_path" in response.json()["error"]["fields"]


def test_manifests_are_scoped_to_the_team(api_client, team, members, deployment, s3_artifacts):
    api_client.force_authenticate(members["outsider"])
    assert (
        api_client.get(f"/api/v1/teams/{team.slug}/deployments/{deployment.pk}/manifests").status_code == 404
    )


def test_console_download_link(client, team, members, deployment, s3_artifacts):
    client.force_login(members["viewer"])
    response = client.get(f"/teams/{team.slug}/deployments/{deployment.pk}/manifests.yaml")
    assert response.status_code == 200
    assert yaml.safe_load_all(response.content.decode())
    assert response["Content-Disposition"] == 'attachment; filename="alpha-chat.yaml"'
    client.force_login(members["outsider"])
    assert client.get(f"/teams/{team.slug}/deployments/{deployment.pk}/manifests.yaml").status_code == 404


def test_console_target_page_tests_the_connection(client, admin, k8s, cluster, members):
    client.force_login(admin)
    page = client.get(f"/targets/{k8s.pk}/kubernetes/")
    assert page.status_code == 200 and b"Test connection" in page.content
    result = client.post(f"/targets/{k8s.pk}/kubernetes/test-connection/", HTTP_HX_REQUEST="true")
    assert result.status_code == 200
    assert b"v1.31.4" in result.content and b"NVIDIA-A100-SXM4-80GB" in result.content
    uploaded = client.post(f"/targets/{k8s.pk}/kubernetes/", {"kubeconfig": KUBECONFIG, "context": "gpu"})
    assert uploaded.status_code == 302
    assert "kubeconfig_encrypted" in Target.objects.get(pk=k8s.pk).settings
    client.force_login(members["deployer"])
    assert client.get(f"/targets/{k8s.pk}/kubernetes/").status_code == 403


# -- audit cases (the walk in tests/tenancy/api/test_audit_every_mutation.py requires them) ----------

CASES = {
    ("post", "/api/v1/targets/{id}/credentials"): (
        {"kubeconfig": KUBECONFIG},
        "target.credentials_set",
        {"kubeconfig": "apiVersion: v1\n"},
    ),
    ("post", "/api/v1/targets/{id}/test-connection"): (None, "target.test_connection", "not-superuser"),
}


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_success_writes_exactly_one_event(api_client, admin, k8s, cluster, operation):
    _, path = operation
    body, action, _ = CASES[operation]
    api_client.force_authenticate(admin)
    before = AuditEvent.objects.count()
    response = api_client.post(path.replace("{id}", str(k8s.pk)), body, format="json")
    assert response.status_code < 300, response.content
    assert list(AuditEvent.objects.order_by("seq")[before:].values_list("action", "result")) == [
        (action, AuditResult.SUCCESS)
    ]


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_refusal_writes_exactly_one_failure_event(api_client, admin, members, k8s, cluster, operation):
    _, path = operation
    body, action, refusal = CASES[operation]
    api_client.force_authenticate(members["deployer"] if refusal == "not-superuser" else admin)
    before = AuditEvent.objects.count()
    response = api_client.post(
        path.replace("{id}", str(k8s.pk)), body if refusal == "not-superuser" else refusal, format="json"
    )
    assert 400 <= response.status_code < 500, response.content
    assert list(AuditEvent.objects.order_by("seq")[before:].values_list("action", "result")) == [
        (action, AuditResult.FAILURE)
    ]


@pytest.mark.parametrize(
    ("target_settings", "words"),
    [
        ({"gpu_products": ["a100"]}, "settings: gpu_products: must be a mapping, not list."),
        ({"progress_deadline_s": "10m"}, "settings: progress_deadline_s: must be a whole number, not str."),
        ({"gpu_product": "x"}, "settings: gpu_product: not a setting of Kubernetes targets"),
        (
            {"kubeconfig": "apiVersion: v1"},
            "settings: kubeconfig: upload it with the target's credentials action",
        ),
        ({"routing": "mesh"}, "settings: routing: 'mesh' is not one of 'gateway', 'ingress'."),
    ],
)
def test_registering_a_target_checks_its_settings(api_client, admin, target_settings, words):
    api_client.force_authenticate(admin)
    response = api_client.post(
        "/api/v1/targets/", {"name": "gpu", "kind": "kubernetes", "settings": target_settings}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]["settings"][0].startswith(words)
    assert not Target.objects.filter(name="gpu").exists()


def test_manifests_show_team_secrets_by_name_only(
    api_client, team, members, deployment, s3_artifacts, client
):
    secret_set(team=team, name="HF_TOKEN", value="hf-canary-value", actor=members["owner"])
    deployment_update(deployment=deployment, actor=members["deployer"], secrets=["HF_TOKEN"])
    api_client.force_authenticate(members["viewer"])
    url = f"/api/v1/teams/{team.slug}/deployments/{deployment.pk}/manifests"
    objects = api_client.get(url).json()["objects"]
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert secret["stringData"] == {"HF_TOKEN": "<redacted>"} and "data" not in secret
    client.force_login(members["viewer"])
    for response in (
        api_client.get(url),
        api_client.get(url + ".yaml"),
        client.get(f"/teams/{team.slug}/deployments/{deployment.pk}/manifests.yaml"),
    ):
        assert response.status_code == 200
        assert b"hf-canary-value" not in response.content
        assert base64.b64encode(b"hf-canary-value") not in response.content
