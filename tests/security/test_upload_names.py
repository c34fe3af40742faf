"""Issue 10: upload names with a NUL gave a 500 HTML page, `.` left an upload that blocked
`complete`, control characters were accepted. Every bad name, at every entry (the file URL, the
resumable upload's JSON body, archive members, the console's register form), is a JSON 400
naming `path` with its reason and an audit row; nothing is left open, stored or staged, and the
version still completes with good files afterwards."""

import hashlib
import io
import json
import tarfile
import uuid
import zipfile
from urllib.parse import quote

import boto3
import pytest

from controlplane.tenancy.models import AuditEvent
from controlplane.tenancy.services.audit import audit_verify
from deployments.models import ArtifactFile, ModelArtifact, UploadSession
from deployments.services import artifact_inspect
from deployments.storage import artifact_storage
from tests.deployments.conftest import staged_files, stored_files
from tests.factories.models import tiny_onnx_bytes

ONNX = tiny_onnx_bytes()

# (id, name, words the reason must hold)
BAD_NAMES = [
    ("nul", "a\x00b.onnx", "NUL byte"),
    ("nul-alone", "\x00", "NUL byte"),
    ("control-soh", "a\x01b.onnx", "control character"),
    ("control-newline", "model\n.onnx", "control character"),
    ("control-cr", "model.onnx\r", "control character"),
    ("control-tab", "model\t.onnx", "control character"),
    ("control-escape", "\x1b[31mmodel.onnx", "control character"),
    ("control-del", "model\x7f.onnx", "control character"),
    ("control-c1", "model\x85.onnx", "control character"),
    ("lone-surrogate", "model\ud800.onnx", "lone surrogate"),
    ("dot", ".", "'.' segment"),
    ("dot-prefix", "./model.onnx", "'.' segment"),
    ("dot-inner", "onnx/./model.onnx", "'.' segment"),
    ("dot-dot", "..", "'..' segment"),
    ("dot-dot-escape", "onnx/../../etc/passwd", "'..' segment"),
    ("empty", "", "empty"),
    ("absolute", "/model.onnx", "absolute path"),
    ("double-slash", "onnx//model.onnx", "empty segment"),
    ("trailing-slash", "onnx/", "empty segment"),
    ("backslash", "onnx\\model.onnx", "backslash"),
    ("backslash-climb", "..\\..\\model.onnx", "backslash"),
    ("segment-256-bytes", "a" * 256, "over the limit of 255"),
    ("segment-256-bytes-utf8", "é" * 128, "over the limit of 255"),
    ("path-over-1024-bytes", "/".join(["d" * 200] * 6) + "/model.onnx", "over the limit of 1,024"),
]


@pytest.fixture
def token_client(api_client, team, members, make_token):
    """The API as a CI pipeline calls it: a deployer's real bearer token, no forced login."""
    _, raw = make_token(members["deployer"], team)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_client


def _models(team) -> str:
    return f"/api/v1/teams/{team.slug}/models/"


def _create(client, team, name="m", format="onnx") -> int:
    response = client.post(_models(team), {"name": name, "format": format}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _url_segment(name: str) -> str:
    # What a client puts on the wire: the name's UTF-8 bytes, percent-encoded. A lone surrogate
    # can only travel as its (invalid) three-byte form.
    return quote(name.encode("utf-8", "surrogatepass"), safe="/")


def _put(client, team, artifact_id: int, name: str, data: bytes = ONNX):
    return client.put(
        f"{_models(team)}{artifact_id}/files/{_url_segment(name)}",
        data=data,
        content_type="application/octet-stream",
        HTTP_X_CHECKSUM_SHA256=hashlib.sha256(data).hexdigest(),
    )


def _start(client, team, artifact_id: int, name: str, size: int = len(ONNX)):
    # json.dumps escapes a lone surrogate as \ud800, as any JSON client sends it.
    return client.post(
        f"{_models(team)}{artifact_id}/uploads/",
        data=json.dumps({"path": name, "size": size}),
        content_type="application/json",
    )


def _assert_refused(response, words: str, field: str = "path") -> str:
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields", "request_id"}
    assert error["code"] == "invalid" and error["request_id"]
    assert list(error["fields"]) == [field], error
    assert words in error["message"], error["message"]
    return error["message"]


def _assert_nothing_left(tmp_path):
    assert not UploadSession.objects.exists()
    assert not ArtifactFile.objects.exists()
    assert stored_files(tmp_path) == []
    assert staged_files(tmp_path) == []


def _assert_completes(client, team, artifact_id, complete):
    """The refusal left nothing that blocks the version: a good file goes in and it completes."""
    assert _put(client, team, artifact_id, "model.onnx").status_code == 201
    result = complete(artifact_id)
    assert result.status == "ready", result.status_reason
    assert list(result.files.values_list("path", flat=True)) == ["model.onnx"]


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


@pytest.mark.parametrize("name,words", [(n, w) for _, n, w in BAD_NAMES], ids=[i for i, _, _ in BAD_NAMES])
def test_bad_name_in_the_file_url_is_a_json_400(
    token_client,
    team,
    artifact_dirs,
    complete,
    name,
    words,
):
    artifact_id = _create(token_client, team)
    _assert_refused(_put(token_client, team, artifact_id, name), words)
    _assert_nothing_left(artifact_dirs)
    refusal = AuditEvent.objects.get(action="model.file_upload", result="failure")
    assert "Invalid file path" in refusal.error
    _assert_completes(token_client, team, artifact_id, complete)
    assert audit_verify()[1] == []  # the escaped rows hash like any other


@pytest.mark.parametrize("name,words", [(n, w) for _, n, w in BAD_NAMES], ids=[i for i, _, _ in BAD_NAMES])
def test_bad_name_for_a_resumable_upload_is_a_json_400(
    token_client,
    team,
    artifact_dirs,
    complete,
    name,
    words,
):
    artifact_id = _create(token_client, team)
    _assert_refused(_start(token_client, team, artifact_id, name), words)
    _assert_nothing_left(artifact_dirs)
    # The refusal is audited even for names PostgreSQL cannot store as they are (NUL, surrogates).
    refusal = AuditEvent.objects.get(action="model.upload_start", result="failure")
    assert refusal.parameters["size"] == len(ONNX)
    assert "\x00" not in json.dumps(refusal.parameters, ensure_ascii=False)
    _assert_completes(token_client, team, artifact_id, complete)
    assert audit_verify()[1] == []


def test_the_audit_row_keeps_a_nul_name_readable(token_client, team, artifact_dirs):
    artifact_id = _create(token_client, team)
    _start(token_client, team, artifact_id, "a\x00b\ud800.onnx")
    refusal = AuditEvent.objects.get(action="model.upload_start", result="failure")
    assert refusal.parameters["path"] == "a\\u0000b\\ud800.onnx"


def test_reading_a_file_by_a_bad_name_is_a_400_not_a_500(token_client, team):
    artifact_id = _create(token_client, team)
    response = token_client.get(f"{_models(team)}{artifact_id}/files/a%00b.onnx")
    _assert_refused(response, "NUL byte")


def test_good_names_with_folders_and_unicode_are_kept_as_sent(token_client, team, artifact_dirs):
    artifact_id = _create(token_client, team)
    for name in ("onnx/model.onnx", "données/vocab.txt", "a" * 255, "x-1.2_3 (copy).txt"):
        response = _put(token_client, team, artifact_id, name, b"bytes")
        assert response.status_code == 201, response.content
        assert response.json()["path"] == name
    download = token_client.get(f"{_models(team)}{artifact_id}/files/{quote('données/vocab.txt')}")
    assert b"".join(download.streaming_content) == b"bytes"


def test_a_dot_upload_no_longer_blocks_complete(token_client, team, artifact_dirs, complete):
    """The issue's case: `.` used to open an upload that could never finish."""
    artifact_id = _create(token_client, team)
    _assert_refused(_start(token_client, team, artifact_id, "."), "'.' segment")
    assert _put(token_client, team, artifact_id, "model.onnx").status_code == 201
    with_upload = token_client.get(f"{_models(team)}{artifact_id}/").json()
    assert with_upload["uploads"] == []
    assert complete(artifact_id).status == "ready"


# ---- archive members -------------------------------------------------------------------------


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # as a hostile tool writes it: ZipInfo() would not sanitise it either
            zf.writestr(info, data)
    return buf.getvalue()


def _tar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
                continue
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


BAD_MEMBERS = [
    ("zip-control", "zip", "model/a\x01b.txt", "control character"),
    ("zip-escape", "zip", "model/\x1b]0;pwned\x07.txt", "control character"),
    ("zip-dot-dot", "zip", "model/../../escape.txt", "'..' segment"),
    ("zip-dot", "zip", "model/./x.txt", "'.' segment"),
    ("zip-empty-segment", "zip", "model//x.txt", "empty segment"),
    ("zip-backslash", "zip", "model\\..\\x.txt", "backslash"),
    ("zip-absolute", "zip", "/etc/cron.d/evil", "absolute path"),
    ("zip-drive", "zip", "C:/evil.txt", "absolute path"),
    ("tar-newline", "tar.gz", "model/a\nb.txt", "control character"),
    ("tar-del", "tar.gz", "model/a\x7fb.txt", "control character"),
    ("tar-dot-dot", "tar.gz", "../escape.txt", "'..' segment"),
    ("tar-absolute", "tar.gz", "/tmp/evil.txt", "absolute path"),
    ("tar-long-segment", "tar.gz", "model/" + "x" * 256, "over the limit of 255"),
    ("tar-long-path", "tar.gz", "/".join(["d" * 250] * 5), "over the limit of 1,024"),
]


@pytest.mark.parametrize("kind,member,words", [m[1:] for m in BAD_MEMBERS], ids=[m[0] for m in BAD_MEMBERS])
def test_archive_with_a_bad_member_name_is_refused_on_arrival(
    token_client,
    team,
    artifact_dirs,
    complete,
    kind,
    member,
    words,
):
    entries = {"model/model.onnx": ONNX, member: b"x"}
    archive = _zip(entries) if kind == "zip" else _tar(entries)
    artifact_id = _create(token_client, team)
    message = _assert_refused(_put(token_client, team, artifact_id, f"model.{kind}", archive), words)
    assert f"model.{kind}" in message and repr(member)[:60] in message  # names the member
    _assert_nothing_left(artifact_dirs)
    _assert_completes(token_client, team, artifact_id, complete)


def test_archive_refused_after_its_last_resumable_chunk(token_client, team, artifact_dirs):
    archive = _tar({"model.onnx": ONNX, "a\x02b.txt": b"x"})
    artifact_id = _create(token_client, team)
    upload = _start(token_client, team, artifact_id, "model.tar.gz", size=len(archive)).json()
    response = token_client.patch(
        f"{_models(team)}{artifact_id}/uploads/{upload['id']}/",
        data=archive,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
    )
    message = _assert_refused(response, "control character")
    assert "'a\\x02b.txt'" in message and "The upload was discarded." in message
    _assert_nothing_left(artifact_dirs)


def test_tar_written_from_inside_the_folder_is_accepted(token_client, team, artifact_dirs, complete):
    """`tar -C model -czf model.tgz .` writes "." and "./model.onnx": the one spelling tolerated."""
    archive = _tar({".": None, "./model.onnx": ONNX})
    artifact_id = _create(token_client, team)
    assert _put(token_client, team, artifact_id, "model.tgz", archive).status_code == 201
    result = complete(artifact_id)
    assert result.status == "ready", result.status_reason
    assert list(result.files.values_list("path", flat=True)) == ["model.onnx"]


def test_inspection_refuses_bad_members_that_reach_it(tmp_path):
    """Archives that skip the upload check (an S3 registration) meet the same rule when unpacked."""
    from deployments.inspection import InspectionError
    from deployments.inspection.archives import extract_archive

    archive = tmp_path / "m.zip"
    archive.write_bytes(_zip({"model.onnx": ONNX, "a\x01b": b"x"}))
    (tmp_path / "out").mkdir()
    with pytest.raises(InspectionError, match="control character"):
        extract_archive(archive, tmp_path / "out", max_bytes=10**9, max_ratio=100, max_files=100)
    assert not (tmp_path / "out" / "a\x01b").exists()


# ---- the console's register-from-S3 form -----------------------------------------------------


@pytest.fixture
def bucket(moto_server, settings):
    name = f"models-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    settings.AWS_S3_ENDPOINT_URL = moto_server
    artifact_storage.cache_clear()
    return client, name


@pytest.mark.parametrize(
    "key,words",
    [
        ("m/onnx//model.onnx", "empty segment"),
        ("m/./model.onnx", "'.' segment"),
        ("m/a\x01b.txt", "control character"),
        ("m/sitecustomize.py", "code file"),
    ],
    ids=["empty-segment", "dot", "control", "code-file"],
)
def test_console_register_form_names_the_bad_key(client, team, members, bucket, key, words):
    s3, name = bucket
    s3.put_object(Bucket=name, Key="m/model.onnx", Body=ONNX)
    s3.put_object(Bucket=name, Key=key, Body=b"x")
    client.force_login(members["deployer"])
    response = client.post(
        f"/teams/{team.slug}/models/upload/",
        {"name": "from-s3", "format": "onnx", "source_uri": f"s3://{name}/m"},
    )
    assert response.status_code == 200  # the form again, with its error
    errors = response.context["register"].errors
    assert list(errors) == ["source_uri"], errors
    assert words in errors["source_uri"][0] and repr(key)[:40] in errors["source_uri"][0]
    assert not ModelArtifact.objects.filter(team=team).exists()
    assert AuditEvent.objects.filter(action="model.register_uri", result="failure").exists()


def test_console_register_form_accepts_good_keys(
    client, team, members, bucket, django_capture_on_commit_callbacks
):
    s3, name = bucket
    s3.put_object(Bucket=name, Key="m/onnx/model.onnx", Body=ONNX)
    client.force_login(members["deployer"])
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            f"/teams/{team.slug}/models/upload/",
            {"name": "from-s3", "format": "onnx", "source_uri": f"s3://{name}/m"},
        )
    artifact = ModelArtifact.objects.get(team=team, name="from-s3")
    assert response.status_code == 302 and response["Location"].endswith(f"/models/{artifact.pk}/")
    assert artifact.status == "validating" and artifact.source_uri == f"s3://{name}/m"
