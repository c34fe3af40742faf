"""Issue 10: "a model may carry files of any name". Model folders are untrusted, so code in them
(.py, .pyc, .so, .pth, ...) and Hugging Face configs that make transformers import folder code
(auto_map, trust_remote_code) are refused with a 400 naming the file, unless a platform admin
allowed code files for the team, exactly as pickle weights are. A team owner cannot allow it."""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest
from django.contrib.auth import get_user_model

from controlplane.tenancy.models import AuditEvent
from deployments.models import ArtifactFile, ModelArtifact, RegistryPolicy, UploadSession
from deployments.services import artifact_inspect
from tests.deployments.conftest import staged_files, stored_files
from tests.factories.models import safetensors_bytes, tiny_llama_folder, tiny_onnx_bytes

ONNX = tiny_onnx_bytes()
SITECUSTOMIZE = b"import os\nopen('/tmp/pwned', 'w').write(os.environ.get('DATABASE_URL', ''))\n"
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
REMOTE = {**LLAMA_CONFIG, "auto_map": {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}}
WEIGHTS = safetensors_bytes({"w": ("F32", [2, 2])})

CODE_NAMES = [
    "sitecustomize.py",
    "usercustomize.PY",
    "pkg/deep/er/__init__.py",
    "__pycache__/sitecustomize.cpython-311.pyc",
    "legacy.pyo",
    "tool.pyw",
    "lib/_ops.so",
    "lib/libevil.so.1.2",
    "evil.pth",
    "Weights.PTH",
    "native/evil.dylib",
    "win/evil.dll",
    "win/evil.pyd",
]


@pytest.fixture
def token_client(api_client, team, members, make_token):
    _, raw = make_token(members["deployer"], team)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_client


@pytest.fixture
def complete(token_client, team, django_capture_on_commit_callbacks):
    """Complete through the API, then inspect in-process as the worker would."""

    def run(artifact_id: int) -> ModelArtifact:
        with django_capture_on_commit_callbacks(execute=False):
            response = token_client.post(f"{_models(team)}{artifact_id}/complete")
        assert response.status_code == 202, response.content
        with django_capture_on_commit_callbacks(execute=True):
            return artifact_inspect(artifact_id=artifact_id)

    return run


@pytest.fixture
def platform_admin(db):
    return get_user_model().objects.create_superuser("platform", "platform@example.com", "x" * 20)


def _models(team) -> str:
    return f"/api/v1/teams/{team.slug}/models/"


def _create(client, team, name="m", format="onnx") -> int:
    response = client.post(_models(team), {"name": name, "format": format}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _put(client, team, artifact_id, path, data):
    return client.put(
        f"{_models(team)}{artifact_id}/files/{path}",
        data=data,
        content_type="application/octet-stream",
        HTTP_X_CHECKSUM_SHA256=hashlib.sha256(data).hexdigest(),
    )


def _refused(response, *names: str) -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["path"], error
    for name in names:
        assert name in error["message"], error["message"]
    return error["message"]


def _allow_code(admin, team, allow=True):
    """What a platform admin does: a signed-in session of a superuser (not a team token)."""
    from rest_framework.test import APIClient

    session = APIClient()
    session.force_login(admin)
    response = session.patch(
        f"/api/v1/teams/{team.slug}/registry-policy", {"allow_code_files": allow}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["allow_code_files"] is allow


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _stored_paths(artifact_dirs) -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in stored_files(artifact_dirs)]


def test_onnx_folder_with_sitecustomize_is_refused_by_default(token_client, team, artifact_dirs, complete):
    artifact_id = _create(token_client, team)
    assert _put(token_client, team, artifact_id, "model.onnx", ONNX).status_code == 201
    message = _refused(
        _put(token_client, team, artifact_id, "sitecustomize.py", SITECUSTOMIZE), "sitecustomize.py"
    )
    assert "platform admin" in message
    assert "sitecustomize.py" not in _stored_paths(artifact_dirs) and staged_files(artifact_dirs) == []
    refusal = AuditEvent.objects.get(action="model.file_upload", result="failure")
    assert "sitecustomize.py" in refusal.error and refusal.team_slug == team.slug
    # The model itself is fine and completes without the code.
    result = complete(artifact_id)
    assert result.status == "ready", result.status_reason
    assert list(result.files.values_list("path", flat=True)) == ["model.onnx"]


@pytest.mark.parametrize("name", CODE_NAMES)
def test_every_kind_of_code_file_is_refused(token_client, team, artifact_dirs, name):
    artifact_id = _create(token_client, team)
    _refused(_put(token_client, team, artifact_id, name, b"\x7fELF or source"), repr(name))
    resumable = token_client.post(
        f"{_models(team)}{artifact_id}/uploads/", {"path": name, "size": 10}, format="json"
    )
    _refused(resumable, repr(name))
    assert not UploadSession.objects.exists() and not ArtifactFile.objects.exists()
    assert stored_files(artifact_dirs) == [] and staged_files(artifact_dirs) == []


@pytest.mark.parametrize(
    "archive_name,entries,culprit",
    [
        ("model.zip", {"model.onnx": ONNX, "sitecustomize.py": SITECUSTOMIZE}, "sitecustomize.py"),
        ("model.tar.gz", {"model/model.onnx": ONNX, "model/lib/_evil.so": b"\x7fELF"}, "lib/_evil.so"),
        ("model.tgz", {"model.onnx": ONNX, "a/b/c/evil.pth": b"import os"}, "a/b/c/evil.pth"),
        ("model.zip", {"model.onnx": ONNX, "__pycache__/x.cpython-311.pyc": b"\x00"}, "x.cpython-311.pyc"),
    ],
    ids=["zip-py", "tar-so", "tgz-pth", "zip-pyc"],
)
def test_code_inside_an_archive_is_refused_on_arrival(
    token_client, team, artifact_dirs, archive_name, entries, culprit
):
    archive = _zip(entries) if archive_name.endswith(".zip") else _tar(entries)
    artifact_id = _create(token_client, team)
    _refused(_put(token_client, team, artifact_id, archive_name, archive), archive_name, culprit)
    assert stored_files(artifact_dirs) == [] and staged_files(artifact_dirs) == []


@pytest.mark.parametrize(
    "files,culprit",
    [
        ({"config.json": json.dumps(REMOTE).encode()}, "config.json sets auto_map"),
        (
            {
                "config.json": json.dumps(LLAMA_CONFIG).encode(),
                "tokenizer_config.json": json.dumps(
                    {"auto_map": {"AutoTokenizer": ["tok.T", None]}}
                ).encode(),
            },
            "tokenizer_config.json sets auto_map",
        ),
        (
            {
                "model.tar.gz": _tar(
                    {"m/config.json": json.dumps(REMOTE).encode(), "m/model.safetensors": WEIGHTS}
                )
            },
            "config.json in model.tar.gz",
        ),
    ],
    ids=["config", "tokenizer-config", "config-in-archive"],
)
def test_hf_configs_that_need_trust_remote_code_are_refused(
    token_client, team, artifact_dirs, files, culprit
):
    artifact_id = _create(token_client, team, format="huggingface")
    *fine, (last, data) = files.items()
    for path, body in fine:
        assert _put(token_client, team, artifact_id, path, body).status_code == 201
    message = _refused(_put(token_client, team, artifact_id, last, data), culprit)
    assert "trust_remote_code" in message
    assert last not in _stored_paths(artifact_dirs)


def test_a_platform_admin_allows_code_files_and_the_same_uploads_pass(
    token_client, team, platform_admin, artifact_dirs, complete
):
    _allow_code(platform_admin, team)
    assert RegistryPolicy.objects.get(team=team).allow_code_files is True
    assert AuditEvent.objects.filter(action="model.policy_update", actor_label="platform").exists()

    onnx = _create(token_client, team)
    for path, data in (
        ("model.onnx", ONNX),
        ("sitecustomize.py", SITECUSTOMIZE),
        ("lib/_ops.so", b"\x7fELF"),
    ):
        assert _put(token_client, team, onnx, path, data).status_code == 201
    assert complete(onnx).status == "ready"

    archive = _create(token_client, team, name="zipped")
    assert (
        _put(token_client, team, archive, "m.zip", _zip({"model.onnx": ONNX, "x.py": b"1"})).status_code
        == 201
    )
    assert complete(archive).status == "ready"

    hf = _create(token_client, team, name="remote", format="huggingface")
    for path, data in (("config.json", json.dumps(REMOTE).encode()), ("model.safetensors", WEIGHTS)):
        assert _put(token_client, team, hf, path, data).status_code == 201
    result = complete(hf)
    assert result.status == "ready", result.status_reason
    assert result.inspection["trust_remote_code"] is True


def test_a_team_owner_cannot_allow_code_files(api_client, team, members, make_token, artifact_dirs):
    _, raw = make_token(members["owner"], team)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api_client.patch(
        f"/api/v1/teams/{team.slug}/registry-policy", {"allow_code_files": True}, format="json"
    )
    assert response.status_code == 403, response.content
    assert set(response.json()["error"]) == {"code", "message", "fields", "request_id"}
    assert not RegistryPolicy.objects.filter(team=team, allow_code_files=True).exists()
    assert AuditEvent.objects.filter(action="model.policy_update", result="failure").exists()
    assert api_client.get(f"/api/v1/teams/{team.slug}/registry-policy").json()["allow_code_files"] is False
    # The same upload is still refused for the owner.
    artifact_id = _create(api_client, team)
    _refused(_put(api_client, team, artifact_id, "sitecustomize.py", SITECUSTOMIZE), "sitecustomize.py")


def test_revoking_the_policy_before_complete_rejects_what_was_uploaded(
    token_client, team, platform_admin, artifact_dirs, complete
):
    """Upload-time checks are the fast answer; inspection is the verdict, under the policy of now."""
    _allow_code(platform_admin, team)
    artifact_id = _create(token_client, team)
    assert _put(token_client, team, artifact_id, "model.onnx", ONNX).status_code == 201
    assert _put(token_client, team, artifact_id, "sitecustomize.py", SITECUSTOMIZE).status_code == 201
    _allow_code(platform_admin, team, allow=False)
    result = complete(artifact_id)
    assert result.status == "rejected"
    assert "'sitecustomize.py' is a code file" in result.status_reason
    assert stored_files(artifact_dirs) == []
    assert AuditEvent.objects.filter(
        action="model.inspect", result="failure", error__contains="sitecustomize"
    ).exists()


def test_only_an_allowed_remote_code_model_gets_trust_remote_code_in_its_spec(
    token_client, team, members, platform_admin, artifact_dirs, complete
):
    from deployments.reconcile import build_spec
    from deployments.services.deployments import deployment_create
    from deployments.services.targets import target_create

    target = target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    _allow_code(platform_admin, team)
    specs = {}
    for name, config in (("plain", LLAMA_CONFIG), ("remote", REMOTE)):
        artifact_id = _create(token_client, team, name=name, format="huggingface")
        assert (
            _put(token_client, team, artifact_id, "config.json", json.dumps(config).encode()).status_code
            == 201
        )
        assert _put(token_client, team, artifact_id, "model.safetensors", WEIGHTS).status_code == 201
        artifact = complete(artifact_id)
        assert artifact.status == "ready", artifact.status_reason
        specs[name] = deployment_create(
            team=team, actor=members["deployer"], name=f"svc-{name}", target=target, artifact=artifact
        )
    assert ("SERVING_TRUST_REMOTE_CODE", "1") in build_spec(specs["remote"]).env
    assert not any(k == "SERVING_TRUST_REMOTE_CODE" for k, _ in build_spec(specs["plain"]).env)
    # Revoked later: the switch goes with it at the next reconcile.
    _allow_code(platform_admin, team, allow=False)
    assert not any(k == "SERVING_TRUST_REMOTE_CODE" for k, _ in build_spec(specs["remote"]).env)


EVIL_MODULE = """
import os, pathlib
pathlib.Path(os.environ["EVIL_MARKER"]).write_text("ran")
from transformers import LlamaConfig


class EvilConfig(LlamaConfig):
    pass
"""


def test_the_hf_runtime_never_imports_folder_code_unless_the_platform_says_so(tmp_path):
    """A real transformers load, in a replica-like subprocess, of a folder whose config points at
    its own Python module: without SERVING_TRUST_REMOTE_CODE=1 the module is never imported."""
    folder = tmp_path / "model"
    tiny_llama_folder(folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(EVIL_MODULE)
    load = f"from serving.runtimes.hf import HfModel; print(HfModel({str(folder)!r}, device='cpu').kind)"

    def run(marker, **extra):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "HF_HOME": str(tmp_path / "hf"),
            "EVIL_MARKER": str(marker),
            **extra,
        }
        return subprocess.run(
            [sys.executable, "-c", load],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=os.getcwd(),
        )

    refused = run(tmp_path / "default")
    assert refused.returncode == 0, refused.stderr[-2000:]
    assert refused.stdout.strip() == "generate"
    assert not (tmp_path / "default").exists()

    allowed = run(tmp_path / "allowed", SERVING_TRUST_REMOTE_CODE="1")
    assert (tmp_path / "allowed").read_text() == "ran", allowed.stderr[-2000:]
