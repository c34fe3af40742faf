"""The S3 storage path and registration by URI, against moto's server over real HTTP."""

import hashlib
import json
import uuid

import boto3
import pytest

from deployments.storage import artifact_storage
from tests.factories.models import safetensors_bytes, tiny_onnx_bytes


@pytest.fixture
def s3(moto_server, settings):
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    settings.ARTIFACT_S3_BUCKET = bucket
    settings.ARTIFACT_S3_PREFIX = "registry"
    settings.AWS_S3_ENDPOINT_URL = moto_server
    artifact_storage.cache_clear()
    yield client, bucket
    artifact_storage.cache_clear()


def keys(client, bucket, prefix=""):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_upload_to_s3_storage_and_inspect(registry, inspect, s3, artifact_dirs, team):
    client, bucket = s3
    data = tiny_onnx_bytes()
    artifact = registry.create(name="on-s3")
    assert registry.put(artifact["id"], "model.onnx", data).status_code == 201
    key = f"registry/artifacts/{team.pk}/{artifact['id']}/model.onnx"
    assert keys(client, bucket) == [key]
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data

    result = inspect(registry, artifact["id"])
    assert result.status == "ready", result.status_reason
    assert result.inspection["parameter_count"] == 15
    download = registry.api.get(f"{registry.base}{artifact['id']}/files/model.onnx")
    assert b"".join(download.streaming_content) == data
    assert list(artifact_dirs.joinpath("artifacts").rglob("*.onnx")) == []  # nothing on local disk


def test_rejected_upload_leaves_nothing_in_the_bucket(registry, inspect, s3):
    client, bucket = s3
    artifact = registry.create(name="junk")
    registry.put(artifact["id"], "model.onnx", b"not onnx at all")
    assert inspect(registry, artifact["id"]).status == "rejected"
    assert keys(client, bucket) == []


def test_register_a_huggingface_folder_by_uri(registry, s3, django_capture_on_commit_callbacks):
    client, bucket = s3
    config = {
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
    weights = safetensors_bytes(
        {"model.embed_tokens.weight": ("BF16", [10, 8]), "lm_head.weight": ("BF16", [10, 8])}
    )
    client.put_object(Bucket=bucket, Key="teams/llm/config.json", Body=json.dumps(config).encode())
    client.put_object(Bucket=bucket, Key="teams/llm/model.safetensors", Body=weights)

    with django_capture_on_commit_callbacks(execute=True):
        response = registry.api.post(
            registry.base,
            {"name": "llm", "format": "huggingface", "source_uri": f"s3://{bucket}/teams/llm"},
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source_uri"] == f"s3://{bucket}/teams/llm"
    assert body["size_bytes"] == len(json.dumps(config)) + len(weights)

    from deployments.services import artifact_inspect

    with django_capture_on_commit_callbacks(execute=True):
        artifact = artifact_inspect(artifact_id=body["id"])
    assert artifact.status == "ready", artifact.status_reason
    assert artifact.inspection["parameter_count"] == 160 and artifact.inspection["dtype"] == "bfloat16"
    assert sorted(artifact.files.values_list("path", "sha256")) == [
        ("config.json", hashlib.sha256(json.dumps(config).encode()).hexdigest()),
        ("model.safetensors", hashlib.sha256(weights).hexdigest()),
    ]


def test_register_a_missing_uri_is_refused(registry, s3):
    _, bucket = s3
    response = registry.api.post(
        registry.base,
        {"name": "x", "format": "onnx", "source_uri": f"s3://{bucket}/nope/model.onnx"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "source_uri": [f"Nothing exists at s3://{bucket}/nope/model.onnx."]
    }
    from deployments.models import ModelArtifact

    assert not ModelArtifact.objects.exists()
