"""The Kubernetes backend's behaviour against the in-memory cluster (tests/fakes_kube.py): what
apply makes, what observe reports, how delete cleans up, and how API errors are classified."""

import pytest

from deployments.backends.base import PermanentBackendError, TargetConfig, TransientBackendError
from deployments.backends.kubernetes import KubernetesBackend
from tests.deployments.backends.test_kubernetes_manifests import spec
from tests.fakes_kube import FakeCluster, FakeKubeClient

SETTINGS = {"gpu_quotas": {"*": 4}, "gpu_products": {"a100-80gb": "NVIDIA-A100-SXM4-80GB"}}


@pytest.fixture
def cluster():
    return FakeCluster(gpu_nodes={"NVIDIA-A100-SXM4-80GB": 4})


def backend_for(cluster, **settings):
    target = TargetConfig(name="gpu-cluster", kind="kubernetes", settings={**SETTINGS, **settings})
    return KubernetesBackend(target, client=FakeKubeClient(cluster))


def kinds_in(cluster, namespace="team-alpha"):
    return sorted(
        f"{o['kind']}/{o['metadata']['name']}"
        for o in cluster.objects(namespace=namespace)
        if o["kind"] != "Pod"
    )


def test_apply_creates_the_team_namespace_and_the_deployment_objects(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))
    assert (
        cluster.get_object("Namespace", "team-alpha")["metadata"]["labels"]["controlplane.io/team"] == "alpha"
    )
    assert kinds_in(cluster) == [
        "Deployment/chat",
        "HorizontalPodAutoscaler/chat",
        "NetworkPolicy/controlplane-allow-gateway",
        "NetworkPolicy/controlplane-default-deny",
        "PodDisruptionBudget/chat",
        "ResourceQuota/controlplane-gpu",
        "Service/chat",
    ]
    deployment = cluster.get_object("Deployment", "chat", "team-alpha")
    assert deployment["metadata"]["managedFields"] == [{"manager": "controlplane", "operation": "Apply"}]


def test_a_repeated_apply_changes_nothing(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))
    before = cluster.objects()
    backend.apply(spec(gpu_count=1))
    assert cluster.objects() == before
    assert cluster.get_object("Deployment", "chat", "team-alpha")["metadata"]["generation"] == 1


def test_ready_means_pods_pass_their_readiness_probe(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))
    observed = backend.observe("alpha-chat")
    assert observed.exists and len(observed.replicas) == 1 and not observed.ready()
    assert observed.message == "0 of 1 replicas ready, 1 on the current revision 3."
    cluster.set_ready("alpha-chat")
    observed = backend.observe("alpha-chat")
    assert [r.revision for r in observed.ready()] == [3]
    assert observed.serving_urls()[0].startswith("http://10.0.") and observed.serving_urls()[0].endswith(
        ":8000"
    )
    assert observed.message == "" and observed.events == ()


def test_a_new_revision_rolls_the_pods(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))
    cluster.set_ready("alpha-chat")
    backend.apply(spec(gpu_count=1, revision=4, model_path="s3://models/alpha/qwen/4"))
    observed = backend.observe("alpha-chat")
    assert {r.revision for r in observed.replicas} == {4}
    assert cluster.get_object("Deployment", "chat", "team-alpha")["metadata"]["generation"] == 2


def test_a_revision_that_only_changes_scaling_rolls_nothing(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1, min_replicas=1, max_replicas=1, replicas=1))
    cluster.set_ready("alpha-chat")
    before = backend.observe("alpha-chat").replicas
    backend.apply(spec(gpu_count=1, min_replicas=2, max_replicas=2, replicas=2, revision=4))
    after = backend.observe("alpha-chat")
    assert before[0].id in [r.id for r in after.replicas] and len(after.replicas) == 2
    assert {r.template for r in after.replicas} == {spec(gpu_count=1).template_hash}
    assert {r.revision for r in after.replicas} == {4}


def test_unschedulable_pods_name_the_missing_gpu(cluster):
    backend = backend_for(cluster, gpu_quotas={})
    backend.apply(spec(gpu_count=8, min_replicas=1, max_replicas=1, replicas=1))
    observed = backend.observe("alpha-chat")
    assert [e.kind for e in observed.events] == ["unschedulable"]
    assert "No node has a free GPU" in observed.message and "Insufficient nvidia.com/gpu" in observed.message
    assert observed.exists and observed.replicas == (), "a pod no node took holds no GPU: nothing to bill"


def test_quota_exhaustion_is_reported(cluster):
    backend = backend_for(cluster, gpu_quotas={"alpha": 1})
    backend.apply(spec(gpu_count=2, min_replicas=1, max_replicas=1, replicas=1))
    observed = backend.observe("alpha-chat")
    assert observed.events[0].kind == "quota_exceeded"
    assert "exceeded quota: controlplane-gpu" in observed.message


@pytest.mark.parametrize(
    ("failure", "kind", "words"),
    [
        ("image_pull", "image_pull_failed", "Cannot pull image 'vllm/vllm-openai"),
        (
            "crash_loop",
            "crash_loop",
            "keeps crashing (exit code 1, restarted 4 times). "
            "Last log lines:\nloading weights\nCUDA out of memory",
        ),
        ("progress_deadline", "progress_deadline_exceeded", "The rollout made no progress in time"),
    ],
)
def test_failures_become_events_and_a_message(cluster, failure, kind, words):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1, min_replicas=1, max_replicas=1, replicas=1))
    cluster.set_failure("alpha-chat", failure, logs="loading weights\nCUDA out of memory\n")
    observed = backend.observe("alpha-chat")
    assert observed.events[0].kind == kind
    assert words in observed.message
    assert not observed.ready()


def test_observe_of_something_never_applied(cluster):
    assert backend_for(cluster).observe("alpha-nothing").exists is False


def test_observe_many_uses_two_list_calls_whatever_the_count(cluster):
    backend = backend_for(cluster, gpu_quotas={})
    for i in range(12):
        backend.apply(
            spec(
                key=f"alpha-m{i}",
                deployment=f"m{i}",
                gpu_type="",
                gpu_count=0,
                min_replicas=1,
                max_replicas=1,
                replicas=1,
            )
        )
    cluster.set_ready("alpha-m3")
    backend.client.calls = 0
    observed = backend.observe_many([f"alpha-m{i}" for i in range(12)] + ["alpha-gone"])
    assert backend.client.calls == 2
    assert observed["alpha-gone"].exists is False
    assert len(observed["alpha-m3"].ready()) == 1 and not observed["alpha-m4"].ready()


def test_scaling_the_fixed_count_and_handing_it_to_the_hpa(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=0, gpu_type="", min_replicas=1, max_replicas=1, replicas=1))
    assert cluster.get_object("HorizontalPodAutoscaler", "chat", "team-alpha") is None
    backend.apply(spec(gpu_count=0, gpu_type="", min_replicas=2, max_replicas=2, replicas=2))
    assert len(backend.observe("alpha-chat").replicas) == 2
    assert cluster.get_object("PodDisruptionBudget", "chat", "team-alpha") is not None
    backend.apply(spec(gpu_count=0, gpu_type="", min_replicas=1, max_replicas=4, replicas=1))
    cluster.settle()
    assert cluster.get_object("HorizontalPodAutoscaler", "chat", "team-alpha")["spec"]["maxReplicas"] == 4
    assert cluster.get_object("PodDisruptionBudget", "chat", "team-alpha") is None
    backend.apply(spec(gpu_count=0, gpu_type="", min_replicas=0, max_replicas=4, replicas=0))  # stopped
    cluster.settle()
    assert cluster.get_object("HorizontalPodAutoscaler", "chat", "team-alpha") is None
    assert backend.observe("alpha-chat").replicas == ()


def test_drift_is_repaired_by_the_next_apply(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))

    def hand_edit(obj):
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:latest"

    cluster.edit("Deployment", "chat", "team-alpha", hand_edit)
    cluster.remove("Service", "chat", "team-alpha")
    backend.apply(spec(gpu_count=1))
    deployment = cluster.get_object("Deployment", "chat", "team-alpha")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith("vllm/")
    assert deployment["metadata"]["managedFields"][0]["manager"] == "controlplane"
    assert cluster.get_object("Service", "chat", "team-alpha") is not None


def test_an_unforced_apply_over_another_manager_conflicts(cluster):
    """The fake's 409 on conflicting managers is real SSA behaviour; the backend forces, so it wins."""
    backend_for(cluster).apply(spec(gpu_count=1))
    other = FakeKubeClient(cluster, manager="kubectl", force=False)
    with pytest.raises(TransientBackendError, match="409 Conflict"):
        other.apply(cluster.get_object("Service", "chat", "team-alpha"))


def test_delete_removes_everything_and_the_namespace_with_the_last_deployment(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))
    backend.apply(spec(key="alpha-embed", deployment="embed", gpu_type="", gpu_count=0))
    backend.delete("alpha-chat")
    assert backend.observe("alpha-chat").exists, "foreground delete: the Deployment stays until its pods go"
    assert "Deleting" in backend.observe("alpha-chat").message
    cluster.settle()
    assert backend.observe("alpha-chat").exists is False
    assert not [
        o for o in cluster.objects() if o["metadata"]["labels"].get("controlplane.io/key") == "alpha-chat"
    ]
    assert cluster.get_object("Namespace", "team-alpha") is not None, "embed still lives there"
    backend.delete("alpha-embed")
    cluster.settle()
    assert cluster.objects() == []
    backend.delete("alpha-embed")  # already gone: fine


def test_a_delete_that_died_before_the_namespace_is_finished_by_the_next(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        cluster.remove(kind, "chat", "team-alpha")
    backend.delete("alpha-chat")
    cluster.settle()
    assert cluster.objects() == []


def test_apply_into_a_terminating_namespace_is_transient(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))
    backend.delete("alpha-chat")  # the namespace is now terminating
    with pytest.raises(TransientBackendError, match="being terminated"):
        backend.apply(spec(gpu_count=1))
    cluster.settle()
    backend.apply(spec(gpu_count=1))
    assert backend.observe("alpha-chat").exists


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (409, TransientBackendError),
        (429, TransientBackendError),
        (500, TransientBackendError),
        (503, TransientBackendError),
        (403, PermanentBackendError),
        (422, PermanentBackendError),
    ],
)
def test_api_errors_are_classified_with_the_servers_message(cluster, code, error):
    cluster.fail_next("apply", code, f"the server says {code}")
    with pytest.raises(
        error, match=f"apply Namespace team-alpha: Kubernetes answered {code}.*the server says {code}"
    ):
        backend_for(cluster).apply(spec(gpu_count=1))


def test_endpoint_is_the_ingress_host_or_none_for_gateway_routing(cluster):
    backend = backend_for(cluster)
    backend.apply(spec(gpu_count=1))
    assert backend.endpoint("alpha-chat") is None
    ingress = backend_for(
        cluster,
        routing="ingress",
        ingress_host_pattern="{deployment}-{team}.ml.corp",
        ingress_tls_secret="tls",
    )
    ingress.apply(spec(gpu_count=1))
    assert ingress.endpoint("alpha-chat") == "https://chat-alpha.ml.corp"
    assert (
        cluster.get_object("Ingress", "chat", "team-alpha")["spec"]["rules"][0]["host"]
        == "chat-alpha.ml.corp"
    )
    backend.apply(spec(gpu_count=1))  # back to gateway routing: the Ingress goes
    cluster.settle()
    assert cluster.get_object("Ingress", "chat", "team-alpha") is None


def test_a_pinned_count_overrides_the_hpa(cluster):
    backend = backend_for(cluster)
    backend.apply(
        spec(
            gpu_type="",
            gpu_count=0,
            min_replicas=1,
            max_replicas=4,
            replicas=3,
            labels=(("replicas-pinned", "true"),),
        )
    )
    assert cluster.get_object("HorizontalPodAutoscaler", "chat", "team-alpha") is None
    assert cluster.get_object("Deployment", "chat", "team-alpha")["spec"]["replicas"] == 3


def test_observe_tolerates_objects_with_fields_missing():
    """Servers omit empty fields (no status yet, no conditions, no pod IP): nothing breaks."""
    from deployments.backends.kubernetes import KubernetesObserver

    observed = KubernetesObserver(client=None).observed(
        {"metadata": {"name": "chat"}, "spec": {"replicas": 1}},
        [
            {"metadata": {"name": "chat-1"}},
            {"metadata": {"name": "chat-2"}, "status": {"containerStatuses": [{}]}},
        ],
    )
    assert observed.exists and [r.ready for r in observed.replicas] == [False, False]
    assert observed.message == "0 of 1 replicas ready, 0 on the current revision 0."
