import hashlib

import numpy as np
import onnxruntime
import pytest

from controlplane.tenancy.models import AuditEvent
from deployments.models import ArtifactFile, ModelArtifact, UploadSession
from tests.deployments.conftest import staged_files, stored_files
from tests.factories.models import tar_gz_of, tiny_llama_folder, tiny_onnx_bytes


@pytest.fixture(scope="session")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    facts = tiny_llama_folder(folder)
    return folder, facts


def test_onnx_one_shot_upload_is_inspected(registry, inspect, artifact_dirs):
    data = tiny_onnx_bytes()
    artifact = registry.create(name="tiny-mlp", format="onnx")
    assert (artifact["version"], artifact["status"]) == (1, "uploading")

    put = registry.put(artifact["id"], "model.onnx", data, sha256=hashlib.sha256(data).hexdigest())
    assert put.status_code == 201
    assert put.json()["sha256"] == hashlib.sha256(data).hexdigest()

    result = inspect(registry, artifact["id"])
    assert result.status == "ready", result.status_reason
    facts = result.inspection
    assert facts["opset"] == 17
    assert facts["inputs"] == [{"name": "X", "datatype": "FLOAT", "shape": ["batch", 4]}]
    assert facts["outputs"] == [{"name": "Y", "datatype": "FLOAT", "shape": ["batch", 3]}]
    assert facts["parameter_count"] == 15 and result.parameter_count == 15
    assert facts["batch_dimension"] is True
    assert (result.size_bytes, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    download = registry.api.get(f"{registry.base}{artifact['id']}/files/model.onnx")
    body = b"".join(download.streaming_content)
    assert body == data
    session = onnxruntime.InferenceSession(body, providers=["CPUExecutionProvider"])
    y = session.run(None, {"X": np.ones((1, 4), dtype=np.float32)})[0]
    assert y.shape == (1, 3)


def test_versions_increase_per_name(registry):
    assert [registry.create(name="m")["version"] for _ in range(3)] == [1, 2, 3]
    assert registry.create(name="other")["version"] == 1


def test_huggingface_folder_as_separate_files(registry, inspect, llama_folder):
    folder, expected = llama_folder
    artifact = registry.create(name="tiny-llama", format="huggingface")
    registry.upload_folder(artifact["id"], folder)

    result = inspect(registry, artifact["id"])
    assert result.status == "ready", result.status_reason
    facts = result.inspection
    assert facts["architecture"] == "LlamaForCausalLM" and facts["model_type"] == "llama"
    assert facts["parameter_count"] == expected["parameters"]
    assert facts["parameter_source"] == "safetensors headers"
    assert (facts["num_layers"], facts["num_key_value_heads"], facts["head_dim"]) == (2, 2, 4)
    assert facts["num_attention_heads"] == 4 and facts["hidden_size"] == 16
    assert facts["context_length"] == expected["context"]
    assert facts["dtype"] == "float32"
    assert facts["tokenizer"] is True and facts["chat_template"] is True


def test_huggingface_folder_as_tar_gz(registry, inspect, llama_folder, artifact_dirs):
    folder, expected = llama_folder
    artifact = registry.create(name="tiny-llama", format="huggingface")
    assert registry.put(artifact["id"], "tiny-llama.tar.gz", tar_gz_of(folder)).status_code == 201

    result = inspect(registry, artifact["id"])
    assert result.status == "ready", result.status_reason
    assert result.inspection["parameter_count"] == expected["parameters"]
    paths = sorted(result.files.values_list("path", flat=True))
    assert "config.json" in paths and "model.safetensors" in paths and "tiny-llama.tar.gz" not in paths
    assert not any(p.endswith(".tar.gz") for p in stored_files(artifact_dirs))


def test_resumable_upload_resumes_from_the_acknowledged_offset(registry, inspect, artifact_dirs):
    data = tiny_onnx_bytes()
    digest = hashlib.sha256(data).hexdigest()
    artifact = registry.create(name="chunked")
    started = registry.api.post(
        f"{registry.base}{artifact['id']}/uploads/",
        {"path": "model.onnx", "size": len(data), "sha256": digest},
        format="json",
    )
    assert started.status_code == 201
    url = f"{registry.base}{artifact['id']}/uploads/{started.json()['id']}/"

    first = registry.api.patch(
        url, data=data[:100], content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET="0"
    )
    assert first.status_code == 200 and first["Upload-Offset"] == "100"
    # The connection dropped; the client asks where to resume and sends a stale offset first.
    assert registry.api.get(url).json()["offset"] == 100
    stale = registry.api.patch(
        url, data=data[50:], content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET="50"
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["fields"] == {
        "Upload-Offset": ["Wrong offset 50: the upload has 100 bytes; resume from there."]
    }
    last = registry.api.patch(
        url, data=data[100:], content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET="100"
    )
    assert last.status_code == 201 and last.json()["file"]["sha256"] == digest
    assert not UploadSession.objects.exists() and staged_files(artifact_dirs) == []
    assert inspect(registry, artifact["id"]).status == "ready"


def test_every_step_is_audited(registry, inspect):
    data = tiny_onnx_bytes()
    artifact = registry.create(name="audited")
    registry.put(artifact["id"], "model.onnx", data)
    inspect(registry, artifact["id"])
    registry.api.delete(f"{registry.base}{artifact['id']}/")
    actions = list(
        AuditEvent.objects.filter(resource_type="model_artifact")
        .order_by("seq")
        .values_list("action", "result")
    )
    assert actions == [
        ("model.create", "success"),
        ("model.file_upload", "success"),
        ("model.complete", "success"),
        ("model.inspect", "success"),
        ("model.delete", "success"),
    ]


def test_delete_removes_the_bytes(registry, inspect, artifact_dirs, django_capture_on_commit_callbacks):
    artifact = registry.create(name="gone")
    registry.put(artifact["id"], "model.onnx", tiny_onnx_bytes())
    inspect(registry, artifact["id"])
    assert len(stored_files(artifact_dirs)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert registry.api.delete(f"{registry.base}{artifact['id']}/").status_code == 204
    assert not ModelArtifact.objects.exists() and not ArtifactFile.objects.exists()
    assert stored_files(artifact_dirs) == []
