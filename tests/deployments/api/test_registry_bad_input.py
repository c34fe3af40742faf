"""Each bad input gets a clear reason and leaves nothing behind: no stored bytes, no staging files,
no file or upload rows. Versions rejected by inspection keep their row so the reason stays visible."""

import http.client
import io
import json
import tarfile
from urllib.parse import urlparse

import pytest

from controlplane.tenancy.models import AuditEvent
from deployments.models import ArtifactFile, RegistryPolicy, UploadSession
from tests.conftest import wait_until
from tests.deployments.conftest import staged_files, stored_files
from tests.factories.models import safetensors_bytes, tiny_onnx_bytes, zip_of

LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 8,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 16,
    "vocab_size": 10,
    "max_position_embeddings": 64,
}


def assert_nothing_left(tmp_path):
    assert stored_files(tmp_path) == []
    assert staged_files(tmp_path) == []
    assert not ArtifactFile.objects.exists() and not UploadSession.objects.exists()


def reject(registry, inspect, files: dict[str, bytes], format="onnx"):
    artifact = registry.create(name="bad", format=format)
    for path, data in files.items():
        assert registry.put(artifact["id"], path, data).status_code == 201
    result = inspect(registry, artifact["id"])
    assert result.status == "rejected"
    return result.status_reason


def test_bytes_that_are_not_onnx(registry, inspect, artifact_dirs):
    reason = reject(registry, inspect, {"model.onnx": b"GIF89a definitely not a protobuf \xff\xfe"})
    assert reason.startswith("model.onnx is not an ONNX model")
    assert_nothing_left(artifact_dirs)


def test_onnx_graph_that_fails_the_checker(registry, inspect, artifact_dirs):
    reason = reject(registry, inspect, {"model.onnx": tiny_onnx_bytes(broken=True)})
    assert reason.startswith("The ONNX checker rejected the graph") and "missing" in reason
    assert_nothing_left(artifact_dirs)


@pytest.mark.parametrize(
    "name,message",
    [
        ("../escape.txt", "climbs out of the folder"),
        ("/etc/cron.d/evil", "absolute path"),
    ],
)
def test_archive_with_escaping_paths(registry, artifact_dirs, name, message):
    """Member names are checked when the archive arrives: a 400 naming the member, nothing stored."""
    archive = zip_of({"config.json": json.dumps(LLAMA_CONFIG).encode(), name: b"x"})
    artifact = registry.create(name="bad", format="huggingface")
    response = registry.put(artifact["id"], "model.zip", archive)
    assert response.status_code == 400
    reason = response.json()["error"]["fields"]["path"][0]
    assert message in reason and repr(name) in reason
    assert_nothing_left(artifact_dirs)
    assert not (artifact_dirs.parent / "escape.txt").exists()


def test_archive_with_a_symlink(registry, inspect, artifact_dirs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        link = tarfile.TarInfo("config.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    reason = reject(registry, inspect, {"model.tar.gz": buf.getvalue()}, format="huggingface")
    assert "link" in reason
    assert_nothing_left(artifact_dirs)


def test_zip_bomb(registry, inspect, artifact_dirs):
    bomb = zip_of({"config.json": json.dumps(LLAMA_CONFIG).encode(), "model.safetensors": b"\0" * 30_000_000})
    assert len(bomb) < 100_000  # 30 MB of zeros deflate to a few tens of KB: a ratio far past 100
    reason = reject(registry, inspect, {"model.zip": bomb}, format="huggingface")
    assert "would expand to" in reason
    assert_nothing_left(artifact_dirs)


def test_huggingface_folder_without_config(registry, inspect, artifact_dirs):
    reason = reject(
        registry,
        inspect,
        {"model.safetensors": safetensors_bytes({"w": ("F32", [2, 2])})},
        format="huggingface",
    )
    assert reason.startswith("No config.json")
    assert_nothing_left(artifact_dirs)


def test_config_that_is_not_json(registry, inspect, artifact_dirs):
    reason = reject(
        registry,
        inspect,
        {
            "config.json": b"{'model_type': llama,}",
            "model.safetensors": safetensors_bytes({"w": ("F32", [2])}),
        },
        format="huggingface",
    )
    assert reason.startswith("config.json is not valid JSON")
    assert_nothing_left(artifact_dirs)


def test_safetensors_header_that_lies_about_sizes(registry, inspect, artifact_dirs):
    liar = safetensors_bytes({"w": ("F32", [1000, 1000])}, lie=3_999_000)
    reason = reject(
        registry,
        inspect,
        {"config.json": json.dumps(LLAMA_CONFIG).encode(), "model.safetensors": liar},
        format="huggingface",
    )
    assert "the header describes 4,000,000 bytes of tensors but the file holds 1,000" in reason
    assert_nothing_left(artifact_dirs)


def test_pickle_weights_need_an_admin(registry, inspect, artifact_dirs, team):
    files = {"config.json": json.dumps(LLAMA_CONFIG).encode(), "pytorch_model.bin": b"PK\x03\x04pickle"}
    assert "Loading pickle runs code" in reject(registry, inspect, files, format="huggingface")
    assert_nothing_left(artifact_dirs)

    RegistryPolicy.objects.create(team=team, allow_pickle_weights=True)
    artifact = registry.create(name="allowed", format="huggingface")
    for path, data in files.items():
        registry.put(artifact["id"], path, data)
    allowed = inspect(registry, artifact["id"])
    assert allowed.status == "ready"
    assert allowed.inspection["parameter_source"].startswith("config.json estimate")


def test_checksum_mismatch_one_shot(registry, artifact_dirs):
    artifact = registry.create()
    response = registry.put(artifact["id"], "model.onnx", tiny_onnx_bytes(), sha256="0" * 64)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["X-Checksum-SHA256"][0].startswith("Checksum mismatch")
    assert_nothing_left(artifact_dirs)


def test_checksum_mismatch_resumable(registry, artifact_dirs):
    data = tiny_onnx_bytes()
    artifact = registry.create()
    upload = registry.api.post(
        f"{registry.base}{artifact['id']}/uploads/",
        {"path": "model.onnx", "size": len(data), "sha256": "f" * 64},
        format="json",
    ).json()
    response = registry.api.patch(
        f"{registry.base}{artifact['id']}/uploads/{upload['id']}/",
        data=data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
    )
    assert response.status_code == 400
    assert "The upload was discarded" in response.json()["error"]["message"]
    assert_nothing_left(artifact_dirs)


def test_chunk_past_the_declared_size(registry, artifact_dirs):
    artifact = registry.create()
    upload = registry.api.post(
        f"{registry.base}{artifact['id']}/uploads/", {"path": "model.onnx", "size": 10}, format="json"
    ).json()
    response = registry.api.patch(
        f"{registry.base}{artifact['id']}/uploads/{upload['id']}/",
        data=b"x" * 11,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
    )
    assert response.status_code == 400 and "past the declared size" in response.json()["error"]["message"]
    assert UploadSession.objects.get().offset == 0


def test_file_over_the_team_limit(registry, artifact_dirs, team):
    RegistryPolicy.objects.create(team=team, max_artifact_bytes=100)
    artifact = registry.create()
    response = registry.put(artifact["id"], "model.onnx", b"x" * 101)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["Content-Length"] == [
        "This upload would make the model 101 bytes, over the team's limit of 100 bytes."
    ]
    too_big = registry.api.post(
        f"{registry.base}{artifact['id']}/uploads/", {"path": "w.bin", "size": 101}, format="json"
    )
    assert too_big.status_code == 400 and "size" in too_big.json()["error"]["fields"]
    assert_nothing_left(artifact_dirs)


@pytest.mark.parametrize("path", ["../../etc/passwd", "/abs.onnx"])
def test_file_paths_cannot_escape(registry, artifact_dirs, path):
    artifact = registry.create()
    response = registry.api.put(
        f"{registry.base}{artifact['id']}/files/{path}", data=b"x", content_type="application/octet-stream"
    )
    assert response.status_code in (400, 404)
    assert_nothing_left(artifact_dirs)


def test_upload_into_another_team_is_404(api_client, team, members, artifact_dirs):
    api_client.force_authenticate(members["outsider"])
    created = api_client.post(
        f"/api/v1/teams/{team.slug}/models/", {"name": "x", "format": "onnx"}, format="json"
    )
    assert created.status_code == 404
    assert (
        api_client.put(
            f"/api/v1/teams/{team.slug}/models/1/files/model.onnx",
            data=b"x",
            content_type="application/octet-stream",
        ).status_code
        == 404
    )
    assert_nothing_left(artifact_dirs)


def test_viewer_may_read_but_not_upload(api_client, team, members):
    api_client.force_authenticate(members["viewer"])
    assert api_client.get(f"/api/v1/teams/{team.slug}/models/").status_code == 200
    refused = api_client.post(
        f"/api/v1/teams/{team.slug}/models/", {"name": "x", "format": "onnx"}, format="json"
    )
    assert refused.status_code == 403


def test_bad_name_and_format_name_the_field(registry):
    response = registry.api.post(registry.base, {"name": "Has Spaces", "format": "gguf"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"format"}
    response = registry.api.post(registry.base, {"name": "Has Spaces", "format": "onnx"}, format="json")
    assert list(response.json()["error"]["fields"]) == ["name"]


@pytest.mark.django_db(transaction=True)
def test_truncated_upload_over_a_real_connection(live_server, team, members, make_token, settings, tmp_path):
    """The client promises 1 MB, sends 100 KB and hangs up: nothing is kept."""
    from deployments.services import artifact_create

    artifact = artifact_create(team=team, actor=members["deployer"], name="cut", format="onnx")
    _, raw = make_token(members["deployer"], team)
    url = urlparse(live_server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.putrequest("PUT", f"/api/v1/teams/{team.slug}/models/{artifact.pk}/files/model.onnx")
    conn.putheader("Authorization", f"Bearer {raw}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(1_000_000))
    conn.endheaders()
    conn.send(b"\0" * 100_000)
    conn.sock.shutdown(1)  # half-close: the server sees end of stream early
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()

    assert response.status == 400
    assert body["error"]["message"] == "Upload truncated: received 100,000 of 1,000,000 bytes."
    assert wait_until(
        lambda: AuditEvent.objects.filter(action="model.file_upload", result="failure").exists(), timeout=10
    )
    assert_nothing_left(tmp_path)
