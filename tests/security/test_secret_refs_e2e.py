"""A deployment that injects a team secret, through the real pieces: the REST API, a Celery worker
that reconciles, and a model-server process. The value reaches the replica's environment and
nowhere else a member can look: no API response, event, revision, console page, audit row or
worker log holds it. Rotating the secret replaces the replica; deleting a secret in use is refused."""

import uuid
from pathlib import Path

import pytest

from controlplane.tenancy.models import AuditEvent
from deployments.models import Deployment, Event
from deployments.services.targets import target_create
from tests.deployments.e2e import (
    deployment_state,
    marked_processes,
    wait_artifact_ready,
    wait_for,
    wait_ready,
)
from tests.factories.models import tiny_onnx_bytes

pytestmark = pytest.mark.worker


@pytest.fixture
def worker_env(artifact_dirs, settings):
    # The worker decrypts the team's secrets: it needs this process's key, not one of its own var/.
    return {"CONTROLPLANE_VAR_DIR": str(artifact_dirs), "DJANGO_SECRET_KEY": settings.SECRET_KEY}


def _environ(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def _everything_a_member_can_read(api, client, team, pk) -> str:
    base = f"/api/v1/teams/{team.slug}"
    pages = [
        api.get(f"{base}/deployments/"),
        api.get(f"{base}/deployments/{pk}/"),
        api.get(f"{base}/deployments/{pk}/revisions/"),
        api.get(f"{base}/deployments/{pk}/events/"),
        api.get(f"{base}/secrets/"),
        client.get(f"/teams/{team.slug}/deployments/"),
        client.get(f"/teams/{team.slug}/deployments/{pk}/"),
    ]
    for page in pages:
        assert page.status_code == 200, (page.request["PATH_INFO"], page.status_code)
    return "\n".join(p.content.decode() for p in pages)


def test_secret_reaches_only_the_replica_and_rotation_rolls_it(
    celery_worker_process, registry, team, members, client, api_client
):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    artifact = registry.create(name="tiny-mlp")
    assert registry.put(artifact["id"], "model.onnx", tiny_onnx_bytes()).status_code == 201
    assert registry.complete(artifact["id"]).status_code == 202
    model_id = wait_artifact_ready(artifact["id"]).pk
    first, second = f"hf-{uuid.uuid4().hex}", f"hf-{uuid.uuid4().hex}"

    api_client.force_authenticate(members["owner"])
    secrets = f"/api/v1/teams/{team.slug}/secrets/"
    assert api_client.post(secrets, {"name": "HF_TOKEN", "value": first}, format="json").status_code == 201

    # A secret the team does not have: a field error, and nothing is created.
    refused = api_client.post(
        f"/api/v1/teams/{team.slug}/deployments/",
        {"name": "tiny", "target": "local", "model_id": model_id, "secrets": ["NOPE"]},
        format="json",
    )
    assert refused.status_code == 400 and "secrets.NOPE" in refused.json()["error"]["fields"]
    assert not Deployment.objects.filter(team=team).exists()

    created = api_client.post(
        f"/api/v1/teams/{team.slug}/deployments/",
        {"name": "tiny", "target": "local", "model_id": model_id, "secrets": ["HF_TOKEN"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["revision"]["secrets"] == {"HF_TOKEN": "HF_TOKEN"}
    deployment = wait_ready(pk, replicas=1)
    (pid,) = marked_processes(deployment.key)
    assert f"HF_TOKEN={first}".encode() in _environ(pid)

    client.force_login(members["viewer"])
    api_client.force_authenticate(members["viewer"])
    seen = _everything_a_member_can_read(api_client, client, team, pk)
    assert first not in seen
    assert "HF_TOKEN" in seen  # referred to by name

    # Rotation: a new replica starts with the new value and the old one goes.
    api_client.force_authenticate(members["owner"])
    rotated = api_client.put(f"{secrets}HF_TOKEN/", {"value": second}, format="json")
    assert rotated.status_code == 200, rotated.content
    assert Event.objects.filter(deployment_id=pk, kind="secret_rotated").exists()

    def rolled():
        pids = marked_processes(deployment.key)
        return len(pids) == 1 and pids[0] != pid and f"HF_TOKEN={second}".encode() in _environ(pids[0])

    wait_for(rolled, what="a replica with the rotated value, and the old one gone")
    wait_for(lambda: deployment_state(pk).status == "ready", what="ready again")

    # In use: refused with 409 naming the deployment; the secret stays.
    in_use = api_client.delete(f"{secrets}HF_TOKEN/")
    assert in_use.status_code == 409 and "tiny" in in_use.json()["error"]["message"]

    api_client.force_authenticate(members["viewer"])
    seen = _everything_a_member_can_read(api_client, client, team, pk)
    api_client.force_authenticate(members["owner"])
    seen += api_client.get(f"/api/v1/teams/{team.slug}/audit-events/").content.decode()
    audit = "\n".join(str(a.parameters) + a.error for a in AuditEvent.objects.all())
    celery_worker_process.terminate()
    worker_log = celery_worker_process.communicate(timeout=30)[0]
    for value in (first, second):
        assert value not in seen
        assert value not in audit
        assert value not in worker_log
