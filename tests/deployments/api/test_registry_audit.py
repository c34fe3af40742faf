"""Every mutating registry endpoint writes exactly one audit event on success and one on refusal
(the schema walk in tests/tenancy/api/test_audit_every_mutation.py checks this list is complete)."""

import io

import pytest

from controlplane.tenancy.models import AuditEvent, AuditResult
from deployments.services import artifact_create, artifact_file_put, upload_start
from tests.factories.models import tiny_onnx_bytes

BASE = "/api/v1/teams/{slug}/models/"
DATA = tiny_onnx_bytes()


def _uploading(team, actor):
    return artifact_create(team=team, actor=actor, name="m", format="onnx")


def _with_file(team, actor):
    artifact = _uploading(team, actor)
    artifact_file_put(
        artifact=artifact, actor=actor, path="model.onnx", stream=io.BytesIO(DATA), length=len(DATA)
    )
    return artifact


# (method, path) -> (setup, request kwargs builder for success, action, kwargs builder for a refusal)
CASES = {
    ("post", "/api/v1/teams/{slug}/models/"): (
        None,
        lambda a: {"data": {"name": "new", "format": "onnx"}, "format": "json"},
        "model.create",
        lambda a: {"data": {"name": "new", "format": "tflite"}, "format": "json"},
    ),
    ("delete", "/api/v1/teams/{slug}/models/{id}/"): (_uploading, lambda a: {}, "model.delete", None),
    ("put", "/api/v1/teams/{slug}/models/{id}/files/{path}"): (
        _uploading,
        lambda a: {"data": DATA, "content_type": "application/octet-stream"},
        "model.file_upload",
        lambda a: {
            "data": DATA,
            "content_type": "application/octet-stream",
            "HTTP_X_CHECKSUM_SHA256": "0" * 64,
        },
    ),
    ("post", "/api/v1/teams/{slug}/models/{id}/uploads/"): (
        _uploading,
        lambda a: {"data": {"path": "model.onnx", "size": 10}, "format": "json"},
        "model.upload_start",
        lambda a: {"data": {"path": "../x", "size": 10}, "format": "json"},
    ),
    ("patch", "/api/v1/teams/{slug}/models/{id}/uploads/{upload_id}/"): (
        _uploading,
        lambda a: {
            "data": DATA,
            "content_type": "application/offset+octet-stream",
            "HTTP_UPLOAD_OFFSET": "0",
        },
        "model.file_upload",
        lambda a: {
            "data": DATA,
            "content_type": "application/offset+octet-stream",
            "HTTP_UPLOAD_OFFSET": "7",
        },
    ),
    ("delete", "/api/v1/teams/{slug}/models/{id}/uploads/{upload_id}/"): (
        _uploading,
        lambda a: {},
        "model.upload_abort",
        None,
    ),
    ("post", "/api/v1/teams/{slug}/models/{id}/complete"): (_with_file, lambda a: {}, "model.complete", None),
    ("patch", "/api/v1/teams/{slug}/registry-policy"): (
        None,
        lambda a: {"data": {"allow_pickle_weights": True}, "format": "json"},
        "model.policy_update",
        lambda a: {"data": {"max_artifact_bytes": "lots"}, "format": "json"},
    ),
}
FAILURE_ACTIONS = {("patch", "/api/v1/teams/{slug}/models/{id}/uploads/{upload_id}/"): "model.upload_chunk"}


def _url(path, team, artifact, upload):
    return (
        path.replace("{slug}", team.slug)
        .replace("{id}", str(artifact.pk if artifact else 0))
        .replace("{path}", "model.onnx")
        .replace("{upload_id}", str(upload.pk if upload else ""))
    )


def _prepare(operation, team, members):
    setup = CASES[operation][0]
    artifact = setup(team, members["deployer"]) if setup else None
    upload = None
    if "{upload_id}" in operation[1]:
        upload = upload_start(artifact=artifact, actor=members["deployer"], path="model.onnx", size=len(DATA))
    return artifact, upload


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_success_writes_exactly_one_event(
    api_client, team, members, operation, artifact_dirs, django_capture_on_commit_callbacks
):
    method, path = operation
    _, request_kwargs, action, _ = CASES[operation]
    artifact, upload = _prepare(operation, team, members)
    actor = members["deployer"]
    if "registry-policy" in path:
        actor.is_superuser = True
        actor.save()
    api_client.force_authenticate(actor)
    before = AuditEvent.objects.count()

    with django_capture_on_commit_callbacks(execute=False):
        response = getattr(api_client, method)(_url(path, team, artifact, upload), **request_kwargs(artifact))

    assert response.status_code < 300, response.content
    events = list(AuditEvent.objects.order_by("seq")[before:].values_list("action", "result"))
    assert events == [(action, AuditResult.SUCCESS)]


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_refusal_writes_exactly_one_failure_event(
    api_client, team, members, operation, artifact_dirs, django_capture_on_commit_callbacks
):
    method, path = operation
    _, request_kwargs, action, refusal = CASES[operation]
    artifact, upload = _prepare(operation, team, members)
    # Refused for bad input where input can be bad; otherwise because a viewer lacks the right.
    actor = members["viewer"] if refusal is None else members["deployer"]
    if "registry-policy" in path:
        actor = members["owner"]  # a team owner is still not a platform admin
        refusal = None
    api_client.force_authenticate(actor)
    before = AuditEvent.objects.count()

    kwargs = (refusal or request_kwargs)(artifact)
    response = getattr(api_client, method)(_url(path, team, artifact, upload), **kwargs)

    assert 400 <= response.status_code < 500 and response.status_code != 404, response.content
    events = list(AuditEvent.objects.order_by("seq")[before:].values_list("action", "result"))
    assert events == [(FAILURE_ACTIONS.get(operation, action), AuditResult.FAILURE)]
