import hashlib

import pytest

from deployments.models import ModelArtifact
from tests.conftest import wait_until
from tests.factories.models import tiny_onnx_bytes


@pytest.fixture
def worker_env(artifact_dirs):
    # The worker's var/ is the test's, so it reads the same artifact storage and staging folders.
    return {"CONTROLPLANE_VAR_DIR": str(artifact_dirs)}


@pytest.mark.worker
def test_a_real_worker_inspects_an_uploaded_model(celery_worker_process, registry):
    data = tiny_onnx_bytes()
    artifact = registry.create(name="via-worker")
    assert (
        registry.put(artifact["id"], "model.onnx", data, sha256=hashlib.sha256(data).hexdigest()).status_code
        == 201
    )
    assert registry.complete(artifact["id"]).json()["status"] == "validating"

    ready = wait_until(
        lambda: ModelArtifact.objects.filter(pk=artifact["id"], status="ready").first(), timeout=90
    )
    assert ready is not None, ModelArtifact.objects.get(pk=artifact["id"]).status_reason
    assert ready.inspection["inputs"][0]["name"] == "X"
    detail = registry.api.get(f"{registry.base}{artifact['id']}/").json()
    assert detail["status"] == "ready" and detail["parameter_count"] == 15
