"""The lifecycle on a Kubernetes target, end to end: the REST API, a real Celery worker running the
reconciler, and the Kubernetes backend talking to an in-memory cluster (tests/fakes_kube.py) that
the worker and this test share through a file. The test plays the cluster's part: it marks pods
ready and finishes deletions."""

import pytest

from deployments.backends.kubernetes import L_COST_CENTRE, L_KEY
from deployments.models import Deployment, ModelArtifact
from deployments.services.targets import target_create
from deployments.tasks import reconcile_deployment_task
from tests.deployments.e2e import wait_for, wait_ready
from tests.fakes_kube import FakeCluster

pytestmark = pytest.mark.worker
NS = "team-alpha"
A100 = "NVIDIA-A100-SXM4-80GB"


@pytest.fixture
def cluster(tmp_path):
    # Two GPUs on the nodes; the team's namespace may hold three (a quota above what the nodes have).
    return FakeCluster(tmp_path / "cluster.json", gpu_nodes={A100: 2})


@pytest.fixture
def worker_env(cluster):
    return {
        "KUBERNETES_CLIENT_FACTORY": "tests.fakes_kube.fake_client",
        "FAKE_KUBE_STATE": str(cluster.path),
        "ARTIFACT_S3_BUCKET": "models",
    }


@pytest.fixture
def k8s_target(members):
    return target_create(
        actor=members["owner"],
        name="gpu-cluster",
        kind="kubernetes",
        gpu_inventory={"a100-80gb": 8},
        settings={"gpu_products": {"a100-80gb": A100}, "gpu_quotas": {"alpha": 3}},
    )


@pytest.fixture
def artifact(team, members):
    return ModelArtifact.objects.create(
        team=team,
        name="qwen",
        version=1,
        format="huggingface",
        status="ready",
        sha256="cd" * 32,
        size_bytes=1000,
        created_by=members["deployer"],
    )


def status(pk):
    return Deployment.objects.get(pk=pk)


def events(pk, kind):
    return list(Deployment.objects.get(pk=pk).events.filter(kind=kind).values_list("message", flat=True))


def settle_until(cluster, predicate, what):
    """Let the cluster's controllers run (deletions finish) while waiting."""

    def check():
        cluster.settle()
        return predicate()

    return wait_for(check, timeout=60, what=what)


def test_create_ready_scale_roll_out_drift_failures_delete(
    celery_worker_process, api_client, team, members, cluster, k8s_target, artifact
):
    api_client.force_authenticate(members["deployer"])
    base = f"/api/v1/teams/{team.slug}/deployments/"
    created = api_client.post(
        base,
        {
            "name": "chat",
            "target": "gpu-cluster",
            "model_id": artifact.pk,
            "gpu_type": "a100-80gb",
            "gpu_count": 1,
            "min_replicas": 1,
            "max_replicas": 1,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]

    # Create: the objects appear with the right fields, but the deployment is not ready until its
    # pods pass their readiness probe.
    deployment = wait_for(lambda: cluster.get_object("Deployment", "chat", NS), what="Deployment applied")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": A100}
    assert pod["initContainers"][0]["env"][0]["value"].startswith("s3://models/")
    assert deployment["metadata"]["labels"][L_COST_CENTRE] == "CC-100"
    assert deployment["metadata"]["labels"][L_KEY] == "alpha-chat"
    assert cluster.get_object("ResourceQuota", "controlplane-gpu", NS)["spec"]["hard"] == {
        "requests.nvidia.com/gpu": "3"
    }
    wait_for(lambda: "0 of 1 replicas ready" in status(pk).status_message, what="provisioning message")
    assert status(pk).status == "provisioning"
    cluster.set_ready("alpha-chat")
    ready = wait_ready(pk, replicas=1, timeout=30)
    assert ready.serving_urls and ready.serving_urls[0].startswith("http://10.0.")

    # Scale: a fixed count of 2 and a PodDisruptionBudget; the running pod is kept (same template).
    first_pod = {p["metadata"]["name"] for p in cluster.objects("Pod", NS)}
    assert (
        api_client.post(
            f"{base}{pk}/scale", {"min_replicas": 2, "max_replicas": 2}, format="json"
        ).status_code
        == 202
    )
    wait_ready(pk, replicas=2, revision=2, timeout=30)
    assert cluster.get_object("PodDisruptionBudget", "chat", NS)["spec"]["maxUnavailable"] == 1
    assert cluster.get_object("Deployment", "chat", NS)["spec"]["replicas"] == 2
    assert first_pod < {p["metadata"]["name"] for p in cluster.objects("Pod", NS)}
    template_before = cluster.get_object("Deployment", "chat", NS)["metadata"]["labels"][
        "controlplane.io/template"
    ]

    # A new revision rolls the pods.
    assert api_client.patch(f"{base}{pk}/", {"env": {"LOG_LEVEL": "debug"}}, format="json").status_code == 202
    wait_ready(pk, replicas=2, revision=3, timeout=30)
    pods = cluster.objects("Pod", NS)
    template = cluster.get_object("Deployment", "chat", NS)["metadata"]["labels"]["controlplane.io/template"]
    assert template != template_before
    assert {p["metadata"]["labels"]["controlplane.io/template"] for p in pods} == {template}
    assert cluster.get_object("Deployment", "chat", NS)["spec"]["template"]["spec"]["containers"][0][
        "env"
    ] == [{"name": "LOG_LEVEL", "value": "debug"}]

    # Rollback to revision 2 applies its manifest again, as revision 4.
    assert api_client.post(f"{base}{pk}/rollback", {"revision": 2}, format="json").status_code == 202
    wait_ready(pk, replicas=2, revision=4, timeout=30)
    rolled_back = cluster.get_object("Deployment", "chat", NS)
    assert rolled_back["metadata"]["labels"]["controlplane.io/revision"] == "4"
    assert rolled_back["metadata"]["labels"]["controlplane.io/template"] == template_before
    assert rolled_back["spec"]["template"]["spec"]["containers"][0]["env"] == []

    # Drift: someone deletes the Service and edits the image; the periodic reconcile repairs both.
    cluster.remove("Service", "chat", NS)
    cluster.edit(
        "Deployment",
        "chat",
        NS,
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="someone/else:1"),
    )
    reconcile_deployment_task.delay(pk)  # what the beat sweep sends
    wait_for(lambda: cluster.get_object("Service", "chat", NS) is not None, what="Service restored")
    wait_for(
        lambda: cluster.get_object("Deployment", "chat", NS)["spec"]["template"]["spec"]["containers"][0][
            "image"
        ].startswith("vllm/"),
        what="image restored",
    )

    # No node has a free GPU for a third pod: the reason surfaces as an event and the status message.
    embed = api_client.post(
        base,
        {
            "name": "embed",
            "target": "gpu-cluster",
            "model_id": artifact.pk,
            "gpu_type": "a100-80gb",
            "gpu_count": 1,
            "min_replicas": 1,
            "max_replicas": 1,
        },
        format="json",
    ).json()["id"]
    wait_for(lambda: events(embed, "unschedulable"), what="unschedulable event")
    assert "Insufficient nvidia.com/gpu" in events(embed, "unschedulable")[0]
    wait_for(lambda: "No node has a free GPU" in status(embed).status_message, what="unschedulable message")
    # The namespace's GPU quota (3) is used up by chat (2) and embed (1): a fourth GPU is refused.
    big = api_client.post(
        base,
        {
            "name": "big",
            "target": "gpu-cluster",
            "model_id": artifact.pk,
            "gpu_type": "a100-80gb",
            "gpu_count": 1,
            "min_replicas": 1,
            "max_replicas": 1,
        },
        format="json",
    ).json()["id"]
    wait_for(lambda: events(big, "quota_exceeded"), what="quota event")
    assert "exceeded quota: controlplane-gpu" in events(big, "quota_exceeded")[0]
    assert len(events(big, "quota_exceeded")) == 1, "a standing condition is recorded once"

    # Delete: every object goes, and the namespace with the last deployment.
    for d in (pk, embed, big):
        assert api_client.delete(f"{base}{d}/").status_code == 202
    settle_until(cluster, lambda: all(status(d).status == "deleted" for d in (pk, embed, big)), "all deleted")
    cluster.settle()
    assert cluster.objects() == []


def test_transient_errors_retry_and_permanent_ones_fail_with_the_servers_message(
    celery_worker_process, api_client, team, members, cluster, k8s_target, artifact
):
    api_client.force_authenticate(members["deployer"])
    base = f"/api/v1/teams/{team.slug}/deployments/"
    body = {"target": "gpu-cluster", "model_id": artifact.pk, "min_replicas": 1, "max_replicas": 1}
    # The API server is overloaded for the first apply: the task retries with backoff and gets through.
    cluster.fail_next("apply", 429, "Too many requests, please try again later.")
    retried = api_client.post(base, {"name": "retried", **body}, format="json").json()["id"]
    wait_for(
        lambda: cluster.get_object("Deployment", "retried", NS), timeout=30, what="applied after a retry"
    )
    wait_for(lambda: status(retried).status == "provisioning", timeout=30, what="provisioning after a retry")
    # An admission webhook refuses the object: nothing a retry can fix, so the deployment fails
    # with its words.
    cluster.fail_next(
        "apply", 422, 'admission webhook "policy.example.com" denied the request: images must be signed'
    )
    refused = api_client.post(base, {"name": "refused", **body}, format="json").json()["id"]
    failed = wait_for(
        lambda: status(refused).status == "failed" and status(refused), timeout=30, what="failed"
    )
    assert "Kubernetes answered 422 Invalid: admission webhook" in failed.status_message
    assert "images must be signed" in failed.status_message
