"""A deployer creates a deployment through the wizard on the local target, watches it become ready
(a real Celery worker reconciles; model-server processes start), creates an invoke token from the
page's link, copies the curl snippet and runs it against a real gateway process."""

import contextlib
import io
import json
import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from deployments.models import Deployment
from deployments.services import artifact_complete, artifact_create, artifact_file_put
from deployments.services.targets import target_create
from deployments.storage import artifact_storage
from tests.deployments.e2e import Gateway, expected_output, marked_processes, wait_artifact_ready, wait_for
from tests.factories.billing import GpuTypeFactory
from tests.factories.models import tiny_onnx_bytes
from tests.factories.tenancy import MembershipFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]
PASSWORD = "correct horse battery staple"
# Team and deployment names no other test uses: the local backend finds replicas by "<team>-<name>".
TEAM, NAME = "wizardry", "tiny-web"
SWAP = 15_000  # ms for an htmx swap on a loaded machine


@pytest.fixture
def storage(settings, tmp_path):
    settings.ARTIFACT_LOCAL_ROOT = tmp_path / "artifacts"
    settings.UPLOAD_STAGING_DIR = tmp_path / "uploads"
    settings.ARTIFACT_S3_BUCKET = ""
    artifact_storage.cache_clear()
    yield tmp_path
    artifact_storage.cache_clear()


@pytest.fixture
def gateway(live_server, settings, tmp_path):
    gw = Gateway(
        controlplane_url=live_server.url,
        secret=settings.GATEWAY_SHARED_SECRET,
        redis_url=settings.REDIS_URL,
        log=tmp_path / "gateway.log",
    )
    settings.GATEWAY_PUBLIC_URL = gw.url  # the endpoint URL the pages show
    yield gw
    gw.stop()


@pytest.fixture
def worker_env(storage, gateway):
    # The worker shares the artifact folder and publishes endpoint URLs on this test's gateway.
    yield {"CONTROLPLANE_VAR_DIR": str(storage), "GATEWAY_PUBLIC_URL": gateway.url}
    # Replicas inherit the worker's environment; none may outlive the test, even a failed one.
    marker = f"CONTROLPLANE_VAR_DIR={storage}".encode()
    for entry in Path("/proc").iterdir():
        try:
            env = (entry / "environ").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if marker in env and any(item.startswith(b"CONTROLPLANE_REPLICA_KEY=") for item in env):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(entry.name), signal.SIGKILL)


def test_wizard_to_ready_then_the_copied_curl_snippet_answers(
    celery_worker_process, gateway, live_server, page, output_dir
):
    user = UserFactory(username="dana", password=PASSWORD)
    team = TeamFactory(slug=TEAM, name="Wizardry")
    MembershipFactory(team=team, user=user, role="deployer")
    target_create(actor=None, name="local", kind="local", gpu_inventory={})
    target_create(actor=None, name="gpu-box", kind="local", gpu_inventory={"l4-24gb": 2})
    GpuTypeFactory(slug="l4-24gb", name="NVIDIA L4", memory_gb=Decimal("24"))
    artifact = artifact_create(team=team, actor=user, name="tiny-mlp", format="onnx")
    data = tiny_onnx_bytes(scale=0.1)
    artifact_file_put(
        artifact=artifact, actor=user, path="model.onnx", stream=io.BytesIO(data), length=len(data)
    )
    artifact_complete(artifact=artifact, actor=user)  # the worker inspects it
    wait_artifact_ready(artifact.pk)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Deployments").click()
    expect(page.get_by_text("No deployments in Wizardry yet.")).to_be_visible()
    page.get_by_role("link", name="Deploy a model").click()

    page.get_by_label("Model version").select_option(label="tiny-mlp v1 (ONNX)")
    page.get_by_label("Name").fill(NAME)
    # A target with GPUs offers its types; choosing one suggests one GPU and marks the fit.
    page.get_by_label("Target", exact=True).select_option(label="gpu-box")
    page.get_by_label("GPU type").select_option("l4-24gb")
    expect(page.get_by_label("GPUs per replica")).to_have_value("1", timeout=SWAP)
    expect(page.locator("#fit-table tr.chosen")).to_contain_text("fits on 1× l4-24gb", timeout=SWAP)
    page.screenshot(path=str(output_dir / "wizard-gpu.png"), full_page=True)
    page.get_by_label("Target", exact=True).select_option(label="local")
    expect(page.locator("#cpu-note")).to_contain_text(
        "local has no GPUs: replicas serve on CPU", timeout=SWAP
    )
    expect(page.locator("#fit")).to_contain_text("needs about")
    expect(page.locator("#idle-off")).to_be_visible()
    page.get_by_label("Minimum replicas").fill("0")
    expect(page.get_by_label("Idle time before scale to zero (s)")).to_be_visible(
        timeout=SWAP
    )  # only with min 0
    page.get_by_label("Minimum replicas").fill("1")
    expect(page.locator("#idle-off")).to_be_visible(timeout=SWAP)
    page.get_by_label("Environment variables").fill("LOG_LEVEL=info")
    page.screenshot(path=str(output_dir / "wizard.png"), full_page=True)
    page.get_by_role("button", name="Create deployment").click()

    expect(page.get_by_role("heading", name=NAME)).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Created with tiny-mlp v1 on local (CPU)")
    page.screenshot(path=str(output_dir / "provisioning.png"), full_page=True)
    expect(page.locator("#deployment-status")).to_have_text(
        "ready", timeout=90_000
    )  # htmx polling, no reload
    expect(page.locator("#timeline")).to_contain_text("status_ready")
    expect(page.locator("#replicas")).to_contain_text("1 ready of 1 desired")
    endpoint = f"{gateway.url}/endpoints/{TEAM}/{NAME}"
    expect(page.locator("#endpoint-url")).to_have_text(endpoint)
    page.screenshot(path=str(output_dir / "ready.png"), full_page=True)

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.locator("[data-copy='#snippet-curl']").click()
    expect(page.locator("[data-copy='#snippet-curl']")).to_have_text("Copied")
    snippet = page.evaluate("navigator.clipboard.readText()")
    assert snippet == page.locator("#snippet-curl").inner_text()
    assert snippet.startswith(f"curl -sS -X POST {endpoint}/v2/models/tiny-mlp/infer")
    assert "$CONTROLPLANE_TOKEN" in snippet

    # The page's link opens the token form with the invoke scope chosen.
    page.get_by_role("link", name="create an invoke token").click()
    expect(page.get_by_label("invoke: call the team's endpoints through the gateway")).to_be_checked()
    expect(page.get_by_label("read: GET requests of the REST API")).not_to_be_checked()
    page.get_by_label("Name").fill("snippet test")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()

    env = {**os.environ, "CONTROLPLANE_TOKEN": token}

    def run_snippet():
        done = subprocess.run(["bash", "-c", snippet], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        body = json.loads(done.stdout)
        return body if "outputs" in body else None  # the gateway may not have read the new route yet

    body = wait_for(run_snippet, timeout=20, what="the snippet to answer")
    assert body["outputs"][0]["shape"] == [1, 3]
    assert np.allclose(body["outputs"][0]["data"], expected_output(np.zeros((1, 4), np.float32), 0.1))

    deployment = Deployment.objects.get(team=team, name=NAME)
    page.goto(f"{live_server.url}/teams/{TEAM}/deployments/")
    row = page.locator(f"#deployment-{NAME}")
    expect(row).to_contain_text("ready")
    expect(row).to_contain_text("1 / 1")
    expect(row).to_contain_text("tiny-mlp v1")
    expect(row).to_contain_text(endpoint)
    page.screenshot(path=str(output_dir / "list.png"), full_page=True)
    page.get_by_role("link", name=NAME).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".messages")).to_contain_text("Delete requested")
    wait_for(lambda: Deployment.objects.get(pk=deployment.pk).status == "deleted", what="deleted")
    assert marked_processes(deployment.key) == []
