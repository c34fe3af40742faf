"""The wire contract between the backend's client and a Kubernetes API server, checked against
kmock's KubernetesScaffold: a real HTTP server, stateless, answering what each test scripts. The
official client is synchronous, so it runs in a thread while the server runs on the test's loop."""

import asyncio

import kmock
import pytest
import pytest_asyncio
import yaml
from kubernetes import client as k8s_client

from deployments.backends.base import PermanentBackendError, TargetConfig, TransientBackendError
from deployments.backends.kube_client import OfficialKubeClient, official_client
from deployments.backends.kubernetes import KubernetesBackend, connection_report, render_manifests
from tests.deployments.backends.test_kubernetes_manifests import spec

TOKEN = "wire-test-token"


@pytest_asyncio.fixture
async def api():
    async with kmock.KubernetesScaffold() as handler, kmock.Server(handler):
        yield handler


def client_for(api, *, timeout: float = 5.0, page_size: int = 500) -> OfficialKubeClient:
    configuration = k8s_client.Configuration(host=str(api.url).rstrip("/"))
    configuration.api_key = {"BearerToken": TOKEN}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.retries = 0
    return OfficialKubeClient(k8s_client.ApiClient(configuration), timeout=timeout, page_size=page_size)


def status_body(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def echo(request):
    """What a server answers to an apply: the object as stored."""
    return request.data


@pytest.mark.asyncio
async def test_apply_is_server_side_apply_with_our_field_manager_and_force(api):
    api["patch"] << echo
    manifest = next(o for o in render_manifests(spec(), {}) if o["kind"] == "Deployment")
    answer = await asyncio.to_thread(client_for(api).apply, manifest)
    assert answer == manifest
    request = api["patch"][0]
    assert request.url.path == "/apis/apps/v1/namespaces/team-alpha/deployments/chat"
    assert request.params == {"fieldManager": "controlplane", "force": "true"}
    assert request.headers["Content-Type"] == "application/apply-patch+yaml"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert yaml.safe_load(request.body) == manifest  # JSON is YAML: the body is the manifest itself


@pytest.mark.asyncio
async def test_backend_apply_sends_every_object_and_prunes_what_the_revision_no_longer_wants(api):
    api["patch"] << echo
    api["delete"] << 404 << status_body(404, "NotFound", "not found")
    target = TargetConfig(name="c", kind="kubernetes", settings={})
    the_spec = spec(gpu_type="", gpu_count=0, min_replicas=1, max_replicas=1, replicas=1)
    backend = KubernetesBackend(target, client=client_for(api))
    await asyncio.to_thread(backend.apply, the_spec)
    assert [r.url.path for r in api["patch"]] == [
        "/api/v1/namespaces/team-alpha",
        "/apis/networking.k8s.io/v1/namespaces/team-alpha/networkpolicies/controlplane-default-deny",
        "/apis/networking.k8s.io/v1/namespaces/team-alpha/networkpolicies/controlplane-allow-gateway",
        "/api/v1/namespaces/team-alpha/services/chat",
        "/apis/apps/v1/namespaces/team-alpha/deployments/chat",
    ]
    assert [r.data for r in api["patch"]] == render_manifests(the_spec, {})
    assert all(
        r.params["fieldManager"] == "controlplane" and r.params["force"] == "true" for r in api["patch"]
    )
    assert [r.url.path for r in api["delete"]] == [
        "/apis/autoscaling/v2/namespaces/team-alpha/horizontalpodautoscalers/chat",
        "/apis/policy/v1/namespaces/team-alpha/poddisruptionbudgets/chat",
        "/apis/networking.k8s.io/v1/namespaces/team-alpha/ingresses/chat",
        "/api/v1/namespaces/team-alpha/secrets/chat-secrets",  # a revision without team secrets
        "/api/v1/namespaces/team-alpha/resourcequotas/controlplane-gpu",
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "reason", "message", "error"),
    [
        (
            409,
            "Conflict",
            "Operation cannot be fulfilled: the object has been modified",
            TransientBackendError,
        ),
        (
            422,
            "Invalid",
            'Deployment.apps "chat" is invalid: spec.template.spec.containers[0].image: Required value',
            PermanentBackendError,
        ),
        (429, "TooManyRequests", "Too many requests, please try again later.", TransientBackendError),
        (500, "InternalError", "etcdserver: request timed out", TransientBackendError),
        (
            403,
            "Forbidden",
            'deployments.apps "chat" is forbidden: User "system:serviceaccount:cp:cp" cannot patch',
            PermanentBackendError,
        ),
        (
            403,
            "Forbidden",
            "unable to create new content in namespace team-alpha because it is being terminated",
            TransientBackendError,
        ),
    ],
)
async def test_api_errors_keep_the_servers_message(api, code, reason, message, error):
    api["patch"] << code << status_body(code, reason, message)
    manifest = next(o for o in render_manifests(spec(), {}) if o["kind"] == "Deployment")
    with pytest.raises(error) as caught:
        await asyncio.to_thread(client_for(api).apply, manifest)
    assert (
        str(caught.value)
        == f"apply Deployment team-alpha/chat: Kubernetes answered {code} {reason}: {message}"
    )


@pytest.mark.asyncio
async def test_get_of_an_absent_object_is_none_and_list_follows_continue_tokens(api):
    (
        api["get /apis/apps/v1/namespaces/team-alpha/deployments/chat"]
        << 404
        << status_body(404, "NotFound", "gone")
    )
    pages = {
        "": {"items": [{"metadata": {"name": "a"}}], "metadata": {"continue": "page-2"}},
        "page-2": {"items": [{"metadata": {"name": "b"}}], "metadata": {}},
    }
    api["get /apis/apps/v1/deployments"] << (lambda request: pages[request.params.get("continue", "")])
    client = client_for(api, page_size=1)
    assert await asyncio.to_thread(client.get, "Deployment", "chat", "team-alpha") is None
    items = await asyncio.to_thread(
        client.list, "Deployment", label_selector="app.kubernetes.io/managed-by=controlplane"
    )
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    lists = api["get /apis/apps/v1/deployments"]
    assert [dict(r.params) for r in lists] == [
        {"limit": "1", "labelSelector": "app.kubernetes.io/managed-by=controlplane"},
        {"limit": "1", "labelSelector": "app.kubernetes.io/managed-by=controlplane", "continue": "page-2"},
    ]
    assert client.calls == 3


@pytest.mark.asyncio
async def test_delete_is_foreground_and_an_absent_object_is_fine(api):
    api["delete /apis/apps/v1/namespaces/team-alpha/deployments/chat"] << {
        "kind": "Status",
        "status": "Success",
    }
    client = client_for(api)
    assert await asyncio.to_thread(client.delete, "Deployment", "chat", "team-alpha") is True
    assert api["delete"][0].data == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Foreground",
    }
    assert await asyncio.to_thread(client.delete, "Service", "chat", "team-alpha") is False  # unscripted: 404


@pytest.mark.asyncio
async def test_crash_loop_log_lines_come_from_the_previous_container(api):
    api["get /api/v1/namespaces/team-alpha/pods/chat-1/log"] << kmock.body(b"loading\nCUDA out of memory\n")
    text = await asyncio.to_thread(
        client_for(api).read_log,
        "team-alpha",
        "chat-1",
        container="model-server",
        previous=True,
        tail_lines=20,
    )
    assert text == "loading\nCUDA out of memory\n"
    assert dict(api["get"][0].params) == {"container": "model-server", "tailLines": "20", "previous": "true"}
    assert api["get"][0].headers["Accept"] == "text/plain"


@pytest.mark.asyncio
async def test_a_slow_server_is_a_transient_timeout(api):
    api["get /version"] << (lambda: asyncio.sleep(3)) << {"gitVersion": "v1.31.0"}
    with pytest.raises(TransientBackendError, match="cannot reach the Kubernetes API"):
        await asyncio.to_thread(client_for(api, timeout=0.3).version)


@pytest.mark.asyncio
async def test_an_unreachable_server_is_transient():
    configuration = k8s_client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = 0
    client = OfficialKubeClient(k8s_client.ApiClient(configuration), timeout=2)
    with pytest.raises(TransientBackendError, match="cannot reach the Kubernetes API"):
        await asyncio.to_thread(client.version)


def kubeconfig_for(url: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "other",
            "clusters": [
                {"name": "gpu", "cluster": {"server": url}},
                {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}},
            ],
            "users": [{"name": "cp", "user": {"token": TOKEN}}],
            "contexts": [
                {"name": "gpu", "context": {"cluster": "gpu", "user": "cp"}},
                {"name": "other", "context": {"cluster": "nowhere", "user": "cp"}},
            ],
        }
    )


@pytest.mark.asyncio
async def test_the_factory_uses_the_encrypted_kubeconfig_and_its_context(api, settings):
    from controlplane.crypto import encrypt_secret

    api["get /version"] << {"major": "1", "minor": "31", "gitVersion": "v1.31.4"}
    api["get /api/v1/nodes"] << {
        "items": [
            {
                "metadata": {"name": "n1", "labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
                "status": {"allocatable": {"nvidia.com/gpu": "8", "cpu": "96"}},
            },
            {"metadata": {"name": "n2", "labels": {}}, "status": {"allocatable": {"cpu": "16"}}},
        ],
        "metadata": {},
    }
    target = TargetConfig(
        name="c",
        kind="kubernetes",
        settings={
            "kubeconfig_encrypted": encrypt_secret(kubeconfig_for(str(api.url).rstrip("/"))),
            "context": "gpu",
        },
    )
    client = official_client(target)
    report = await asyncio.to_thread(connection_report, client, target.settings)
    assert report | {"elapsed_ms": 0} == {
        "server_version": "v1.31.4",
        "nodes": 2,
        "gpu_resource": True,
        "gpu_product_label": "nvidia.com/gpu.product",
        "gpu_product_labels_present": True,
        "allocatable_gpus": {"NVIDIA-H100-80GB-HBM3": 8},
        "elapsed_ms": 0,
    }
    assert api["get /version"][0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_missing_context_or_unreadable_secret_is_a_permanent_error(settings):
    from controlplane.crypto import encrypt_secret

    missing = TargetConfig(
        name="c",
        kind="kubernetes",
        settings={
            "kubeconfig_encrypted": encrypt_secret(kubeconfig_for("http://127.0.0.1:9")),
            "context": "prod",
        },
    )
    with pytest.raises(PermanentBackendError, match=r"^context: 'prod' is not in the kubeconfig"):
        official_client(missing)
    settings.CONTROLPLANE_SECRET_KEY = "another key entirely"
    with pytest.raises(PermanentBackendError, match="cannot be decrypted"):
        official_client(
            TargetConfig(
                name="c",
                kind="kubernetes",
                settings={"kubeconfig_encrypted": missing.settings["kubeconfig_encrypted"]},
            )
        )
    with pytest.raises(PermanentBackendError, match="has no kubeconfig"):
        official_client(TargetConfig(name="c", kind="kubernetes", settings={}))
