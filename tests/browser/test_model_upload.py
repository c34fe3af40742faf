import pytest
from playwright.sync_api import expect

from deployments.models import ModelArtifact
from deployments.storage import artifact_storage
from tests.factories.models import tiny_llama_folder, tiny_onnx_bytes
from tests.factories.tenancy import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def signed_in(live_server, page, settings, tmp_path):
    from django.core.management import call_command

    call_command("seed_price_catalog", verbosity=0)  # the sizing table prices GPUs from it
    settings.ARTIFACT_LOCAL_ROOT = tmp_path / "artifacts"
    settings.UPLOAD_STAGING_DIR = tmp_path / "uploads"
    artifact_storage.cache_clear()
    user = UserFactory(username="dana", password="correct horse battery staple")
    MembershipFactory(team=TeamFactory(slug="vision", name="Vision"), user=user, role="deployer")
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    yield page
    artifact_storage.cache_clear()


def _inspect_when_validating(artifact_id):
    """The live server commits, but no worker runs in this test: inspect as the worker would."""
    from deployments.services import artifact_inspect

    return artifact_inspect(artifact_id=artifact_id)


def test_upload_onnx_in_the_browser_and_see_the_inspection(
    signed_in, live_server, tmp_path, output_dir, monkeypatch
):
    page = signed_in
    model = tmp_path / "model.onnx"
    model.write_bytes(tiny_onnx_bytes())
    # Inspection runs where the task would: right after the version is completed.
    monkeypatch.setattr("deployments.tasks.inspect_artifact_task.delay", _inspect_when_validating)

    page.get_by_role("link", name="Models").click()
    expect(page.get_by_text("No models here yet.")).to_be_visible()
    page.get_by_role("link", name="Upload a model").click()
    page.get_by_label("Name").first.fill("tiny-mlp")
    page.locator("#up-files").set_input_files(str(model))
    # Generous: under the full suite's load the page's script can take a while to list the pick.
    expect(page.locator("#file-list")).to_contain_text("model.onnx", timeout=15_000)
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.locator("#model-status .badge")).to_have_text("ready", timeout=20_000)
    expect(page.locator("#model-status")).to_contain_text("[batch, 4]")
    expect(page.locator("#param-count")).to_have_text("15")
    expect(page.locator("#sizing")).to_contain_text("As stored")
    expect(page.locator("#sizing")).to_contain_text("1× ")  # the cheapest GPU in the seeded catalog
    page.screenshot(path=str(output_dir / "model-detail.png"), full_page=True)
    assert ModelArtifact.objects.get(name="tiny-mlp").status == "ready"


def test_upload_a_huggingface_folder_and_see_the_sizing(
    signed_in, live_server, tmp_path, output_dir, monkeypatch
):
    page = signed_in
    folder = tmp_path / "tiny-llama"
    facts = tiny_llama_folder(folder)
    monkeypatch.setattr("deployments.tasks.inspect_artifact_task.delay", _inspect_when_validating)

    page.goto(f"{live_server.url}/teams/vision/models/upload/")
    page.get_by_label("Name").first.fill("tiny-llama")
    page.locator("#up-format").select_option("huggingface")
    page.locator("#up-files").set_input_files([str(p) for p in sorted(folder.iterdir())])
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.locator("#model-status .badge")).to_have_text("ready", timeout=30_000)
    expect(page.locator("#model-status")).to_contain_text("LlamaForCausalLM")
    expect(page.locator("#param-count")).to_have_text(str(facts["parameters"]))
    expect(page.locator("#sizing")).to_contain_text("INT4")
    expect(page.locator("#sizing tbody tr").first).to_contain_text("1× ")
    page.screenshot(path=str(output_dir / "hf-detail.png"), full_page=True)
