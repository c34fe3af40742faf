"""Deployment console pages: the wizard, list, detail and actions call the services, name the field
on refusals, audit every change and refusal, and answer 404 to other teams."""

from decimal import Decimal

import pytest

from controlplane.tenancy.models import AuditEvent, AuditResult
from deployments.models import Deployment, ModelArtifact
from deployments.services.deployments import deployment_create
from deployments.services.targets import target_create
from tests.factories.billing import GpuTypeFactory

ONNX_FACTS = {
    "parameter_count": 15,
    "weight_bytes": 60,
    "inputs": [{"name": "X", "datatype": "FLOAT", "shape": ["batch", 4]}],
    "outputs": [{"name": "Y", "datatype": "FLOAT", "shape": ["batch", 3]}],
}


@pytest.fixture
def world(team, members):
    GpuTypeFactory(slug="l4-24gb", name="NVIDIA L4", memory_gb=Decimal("24"))
    cpu = target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    gpu = target_create(actor=members["owner"], name="gpu-box", kind="local", gpu_inventory={"l4-24gb": 2})
    artifact = ModelArtifact.objects.create(
        team=team, name="tiny-mlp", version=1, format="onnx", status="ready", inspection=ONNX_FACTS
    )
    return {"cpu": cpu, "gpu": gpu, "artifact": artifact}


def _wizard(world, target="cpu", **overrides):
    data = {
        "name": "tiny",
        "artifact": world["artifact"].pk,
        "target": world[target].pk,
        "gpu_type": "",
        "gpu_count": 0,
        "min_replicas": 1,
        "max_replicas": 2,
        "scaling_metric": "concurrency",
        "scaling_target": 4,
        "scale_up_window_s": 0,
        "scale_down_window_s": 300,
        "idle_timeout_s": 600,
        "env": "LOG_LEVEL=debug\n\nMODE=fast",
    }
    return {**data, **overrides}


def _audits(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq").values_list("result", flat=True))


def _create(team, members, world, **options):
    return deployment_create(
        team=team,
        actor=members["deployer"],
        name="tiny",
        target=world["cpu"],
        artifact=world["artifact"],
        **options,
    )


def test_wizard_creates_the_deployment_with_revision_one(client, team, members, world):
    client.force_login(members["deployer"])
    page = client.get(f"/teams/{team.slug}/deployments/new/")
    assert page.status_code == 200 and b"tiny-mlp v1 (ONNX)" in page.content

    response = client.post(f"/teams/{team.slug}/deployments/new/", _wizard(world))
    deployment = Deployment.objects.get(team=team, name="tiny")
    assert (
        response.status_code == 302
        and response["Location"] == f"/teams/{team.slug}/deployments/{deployment.pk}/"
    )
    revision = deployment.current_revision
    assert (revision.number, revision.min_replicas, revision.max_replicas, revision.gpu_type) == (1, 1, 2, "")
    assert revision.env == {"LOG_LEVEL": "debug", "MODE": "fast"}
    assert revision.idle_timeout_s == 900  # min 1: the hidden idle timeout is not taken
    assert _audits("deployment.create") == [AuditResult.SUCCESS]

    client.post(f"/teams/{team.slug}/deployments/new/", _wizard(world, name="zero", min_replicas=0))
    assert Deployment.objects.get(name="zero").current_revision.idle_timeout_s == 600


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas", "cannot exceed max_replicas"),
        ({"name": "Bad_Name"}, "name", "Invalid name"),
        (
            {"target": "gpu", "gpu_type": "h100-sxm-80gb", "gpu_count": 1},
            "gpu_type",
            "does not offer h100-sxm-80gb",
        ),
        ({"target": "gpu", "gpu_type": "l4-24gb", "gpu_count": 4}, "gpu_count", "has 2 l4-24gb GPUs"),
        ({"env": "not a pair"}, "env", "Line 1"),
    ],
)
def test_wizard_refusal_names_the_field_and_creates_nothing(
    client, team, members, world, overrides, field, message
):
    client.force_login(members["deployer"])
    response = client.post(f"/teams/{team.slug}/deployments/new/", _wizard(world, **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field] and message in errors[field][0]
    assert f'data-field="{field}"'.encode() in response.content
    assert not Deployment.objects.exists()
    # Service refusals are audited; malformed input (the env lines) never reaches the service.
    assert _audits("deployment.create") == ([] if field == "env" else [AuditResult.FAILURE])


def test_wizard_refuses_a_model_that_does_not_fit_the_gpu(client, team, members, world):
    big = ModelArtifact.objects.create(
        team=team,
        name="big",
        version=1,
        format="onnx",
        status="ready",
        inspection={**ONNX_FACTS, "weight_bytes": 30 * 10**9},
    )
    client.force_login(members["deployer"])
    response = client.post(
        f"/teams/{team.slug}/deployments/new/",
        _wizard(world, artifact=big.pk, target="gpu", gpu_type="l4-24gb", gpu_count=1),
    )
    assert "needs about 33.0 GB" in response.context["form"].errors["gpu_count"][0]
    assert not Deployment.objects.exists()


def test_wizard_partials_show_the_gpu_fit_cpu_and_idle_timeout(client, team, members, world):
    client.force_login(members["deployer"])
    url = f"/teams/{team.slug}/deployments/new/"
    htmx = {"HTTP_HX_REQUEST": "true"}
    cpu = client.get(
        url, {"part": "hardware", "artifact": world["artifact"].pk, "target": world["cpu"].pk}, **htmx
    )
    assert b'id="cpu-note"' in cpu.content and b"has no GPUs: replicas serve on CPU" in cpu.content
    assert b"<html" not in cpu.content

    big = ModelArtifact.objects.create(
        team=team,
        name="big",
        version=1,
        format="onnx",
        status="ready",
        inspection={**ONNX_FACTS, "weight_bytes": 30 * 10**9},
    )
    gpu = client.get(
        url,
        {"part": "hardware", "artifact": big.pk, "target": world["gpu"].pk, "gpu_type": "l4-24gb"},
        **htmx,
    )
    text = gpu.content.decode()
    assert 'value="l4-24gb" selected' in text and 'value="1"' in text  # choosing a GPU type suggests one GPU
    assert "fits</span> on 2× l4-24gb" in text  # 33 GB needs two 24 GB GPUs (90% usable)

    assert b"id_idle_timeout_s" in client.get(url, {"part": "scaling", "min_replicas": "0"}, **htmx).content
    assert b'id="idle-off"' in client.get(url, {"part": "scaling", "min_replicas": "2"}, **htmx).content


def test_list_and_detail_show_status_endpoint_snippets_and_revisions(client, team, members, world, settings):
    settings.GATEWAY_PUBLIC_URL = "http://gateway.example:8080"
    client.force_login(members["viewer"])
    empty = client.get(f"/teams/{team.slug}/deployments/")
    assert b"No deployments in" in empty.content

    deployment = _create(team, members, world)
    listing = client.get(f"/teams/{team.slug}/deployments/").content.decode()
    assert "tiny-mlp v1" in listing and 'class="badge info">pending' in listing and "0 / 1" in listing
    assert 'hx-trigger="every 2s"' in listing  # not converged: the table polls

    page = client.get(f"/teams/{team.slug}/deployments/{deployment.pk}/").content.decode()
    endpoint = f"http://gateway.example:8080/endpoints/{team.slug}/tiny"
    assert f'<code id="endpoint-url">{endpoint}</code>' in page
    assert f"{endpoint}/v2/models/tiny-mlp/infer" in page
    assert "&quot;shape&quot;:[1,4],&quot;datatype&quot;:&quot;FP32&quot;" in page  # symbolic batch → 1
    assert f"/teams/{team.slug}/tokens/?scope=invoke" in page
    assert (
        'id="revision-1"' in page and "Roll back" not in page and "Scale" not in page
    )  # a viewer has no actions

    live = client.get(
        f"/teams/{team.slug}/deployments/{deployment.pk}/", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert (
        live.startswith('<div id="deployment-live"') and 'hx-trigger="every 2s"' in live and "created" in live
    )
    Deployment.objects.filter(pk=deployment.pk).update(
        status="ready", observed_generation=1, ready_replicas=1
    )
    settled = client.get(
        f"/teams/{team.slug}/deployments/{deployment.pk}/", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "hx-trigger" not in settled and "1 ready of 1 desired" in settled


def test_actions_call_their_services_and_are_audited(client, team, members, world):
    deployment = _create(team, members, world)
    client.force_login(members["deployer"])
    base = f"/teams/{team.slug}/deployments/{deployment.pk}"

    def post(action, **data):
        response = client.post(f"{base}/{action}/", data, follow=True)
        assert response.status_code == 200
        return [str(m) for m in response.context["messages"]]

    assert post("scale", min_replicas=2, max_replicas=3) == ["Scaled: revision 2 rolls out."]
    assert post("pin", replicas=3) == ["Pinned at 3 replicas; the autoscaler waits."]
    assert post("unpin") == ["Unpinned; the autoscaler decides again."]
    assert post("rollback", revision=1) == ["Rolling back: revision 3 copies the one you chose."]
    assert post("stop")[0].startswith("Stop requested")
    assert post("start") == ["Start requested."]
    v2 = ModelArtifact.objects.create(
        team=team, name="tiny-mlp", version=2, format="onnx", status="ready", inspection=ONNX_FACTS
    )
    assert post("rollout", artifact=v2.pk)[0].startswith("Rolling out revision 4")
    d = Deployment.objects.get(pk=deployment.pk)
    assert (
        d.current_revision.number,
        d.current_revision.artifact,
        d.current_revision.min_replicas,
        d.pinned_replicas,
    ) == (4, v2, 1, None)

    # Refusals: the service's message, one failure row each, nothing changed.
    assert post("scale", min_replicas=5, max_replicas=2) == [
        "min_replicas (5) cannot exceed max_replicas (2)."
    ]
    assert post("pin", replicas=9) == ["Pin between 0 and max_replicas (1)."]
    assert post("rollback", revision=42) == ["No revision 42."]
    assert post("rollout", artifact=v2.pk) == ["Nothing changes: the new spec equals the current revision."]
    assert post("rollout", artifact=999)[0].startswith("Model version: Select a valid choice.")
    assert Deployment.objects.get(pk=deployment.pk).current_revision.number == 4

    response = client.post(f"{base}/delete/")
    assert response.status_code == 302 and response["Location"] == f"/teams/{team.slug}/deployments/"
    assert Deployment.objects.get(pk=deployment.pk).desired_state == "deleted"
    results = {
        a: _audits(a)
        for a in (
            "deployment.scaled",
            "deployment.pin",
            "deployment.rollback",
            "deployment.stop",
            "deployment.start",
            "deployment.delete",
            "deployment.updated",
        )
    }
    assert results == {
        "deployment.scaled": [AuditResult.SUCCESS, AuditResult.FAILURE],
        "deployment.pin": [AuditResult.SUCCESS, AuditResult.SUCCESS, AuditResult.FAILURE],
        "deployment.rollback": [AuditResult.SUCCESS, AuditResult.FAILURE],
        "deployment.stop": [AuditResult.SUCCESS],
        "deployment.start": [AuditResult.SUCCESS],
        "deployment.delete": [AuditResult.SUCCESS],
        "deployment.updated": [AuditResult.SUCCESS, AuditResult.FAILURE, AuditResult.FAILURE],
    }
    assert client.post(f"{base}/reboot/").status_code == 404


def test_other_teams_get_404_and_viewers_403(client, team, members, world):
    deployment = _create(team, members, world)
    base = f"/teams/{team.slug}/deployments"
    client.force_login(members["outsider"])
    for url in (f"{base}/", f"{base}/new/", f"{base}/{deployment.pk}/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"{base}/{deployment.pk}/stop/").status_code == 404
    # The outsider's own team cannot reach it by id either.
    assert client.get(f"/teams/beta/deployments/{deployment.pk}/").status_code == 404
    client.force_login(members["viewer"])
    assert client.post(f"{base}/{deployment.pk}/stop/").status_code == 403
    assert client.get(f"{base}/new/").status_code == 403
    assert Deployment.objects.get(pk=deployment.pk).desired_state == "running"


def test_a_ready_model_page_offers_to_deploy_it(client, team, members, world):
    client.force_login(members["deployer"])
    page = client.get(f"/teams/{team.slug}/models/{world['artifact'].pk}/").content.decode()
    link = f"/teams/{team.slug}/deployments/new/?model={world['artifact'].pk}"
    assert f'href="{link}"' in page
    wizard = client.get(link).content.decode()
    assert f'<option value="{world["artifact"].pk}" selected>tiny-mlp v1 (ONNX)</option>' in wizard


def test_a_causal_lm_deployment_shows_the_openai_sdk_snippet(client, team, members, world, settings):
    settings.GATEWAY_PUBLIC_URL = "http://gw:8080"
    llm = ModelArtifact.objects.create(
        team=team,
        name="qwen-tiny",
        version=1,
        format="huggingface",
        status="ready",
        inspection={"architecture": "Qwen2ForCausalLM", "parameter_count": 1000},
    )
    deployment = deployment_create(
        team=team, actor=members["deployer"], name="chat", target=world["cpu"], artifact=llm
    )
    client.force_login(members["viewer"])
    page = client.get(f"/teams/{team.slug}/deployments/{deployment.pk}/").content.decode()
    assert (
        'id="snippet-openai"' in page
        and "base_url=&quot;http://gw:8080/endpoints/alpha/chat/v1&quot;" in page
    )
    assert "http://gw:8080/endpoints/alpha/chat/v1/chat/completions" in page
