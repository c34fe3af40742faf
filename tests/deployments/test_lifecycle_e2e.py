"""The whole lifecycle on the local target, through the real pieces: the REST API, a Celery worker
that reconciles, model-server processes, and the gateway."""

import threading

import httpx
import numpy as np
import pytest

from controlplane.tenancy.permissions import Scope
from deployments.services.targets import target_create
from tests.deployments.e2e import (
    Gateway,
    deployment_state,
    expected_output,
    infer_body,
    marked_processes,
    wait_artifact_ready,
    wait_for,
    wait_ready,
)
from tests.factories.models import tiny_onnx_bytes

pytestmark = pytest.mark.worker
X = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0]], dtype=np.float32)


@pytest.fixture
def worker_env(artifact_dirs):
    return {"CONTROLPLANE_VAR_DIR": str(artifact_dirs)}


@pytest.fixture
def gateway(live_server, settings, tmp_path):
    gw = Gateway(
        controlplane_url=live_server.url,
        secret=settings.GATEWAY_SHARED_SECRET,
        redis_url=settings.REDIS_URL,
        log=tmp_path / "gateway.log",
    )
    yield gw
    gw.stop()


def upload(registry, scale: float) -> int:
    artifact = registry.create(name="tiny-mlp")
    assert registry.put(artifact["id"], "model.onnx", tiny_onnx_bytes(scale=scale)).status_code == 201
    assert registry.complete(artifact["id"]).status_code == 202
    return wait_artifact_ready(artifact["id"]).pk


def test_deploy_call_scale_roll_out_roll_back_delete(
    celery_worker_process, gateway, registry, team, members, make_token, settings
):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    v1 = upload(registry, scale=0.1)
    api = registry.api
    base = f"/api/v1/teams/{team.slug}/deployments/"

    created = api.post(
        base,
        {"name": "tiny", "target": "local", "model_id": v1, "min_replicas": 1, "max_replicas": 1},
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    deployment = wait_ready(pk, replicas=1)
    assert deployment.endpoint_url == f"{settings.GATEWAY_PUBLIC_URL}/endpoints/{team.slug}/tiny"

    _, raw = make_token(members["deployer"], team, scopes=[Scope.INVOKE])
    client = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {raw}"}, timeout=30)
    url = f"/endpoints/{team.slug}/tiny/v2/models/tiny-mlp/infer"

    def infer() -> list[float]:
        response = client.post(url, json=infer_body(X))
        assert response.status_code == 200, response.text
        return response.json()["outputs"][0]["data"]

    assert wait_for(
        lambda: client.post(url, json=infer_body(X)).status_code == 200, what="route in the gateway"
    )
    assert np.allclose(infer(), expected_output(X, 0.1))

    # Scale to 2: a scale-only revision keeps the running replica and adds one.
    assert (
        api.post(f"{base}{pk}/scale", {"min_replicas": 2, "max_replicas": 2}, format="json").status_code
        == 202
    )
    wait_ready(pk, replicas=2, revision=2)
    assert len(marked_processes(deployment.key)) == 2

    # Roll out a new model version under load: no request may fail.
    v2 = upload(registry, scale=0.2)
    results, failures, stop = [], [], threading.Event()

    def load():
        with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {raw}"}, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post(url, json=infer_body(X))
                    (results if r.status_code == 200 else failures).append(
                        r.json() if r.status_code == 200 else (r.status_code, r.text)
                    )
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    loader = threading.Thread(target=load)
    loader.start()
    try:
        assert api.patch(f"{base}{pk}/", {"model_id": v2}, format="json").status_code == 202
        wait_ready(pk, replicas=2, revision=3)
        wait_for(lambda: len(marked_processes(deployment.key)) == 2, what="old replicas gone")
        seen = len(results)
        wait_for(lambda: len(results) > seen + 20, what="requests after the rollout")
    finally:
        stop.set()
        loader.join(30)
    assert failures == []
    outputs = [r["outputs"][0]["data"] for r in results]
    assert np.allclose(outputs[0], expected_output(X, 0.1)) and np.allclose(
        outputs[-1], expected_output(X, 0.2)
    )

    # Roll back to revision 2 (model v1, two replicas).
    assert api.post(f"{base}{pk}/rollback", {"revision": 2}, format="json").status_code == 202
    wait_ready(pk, replicas=2, revision=4)
    wait_for(lambda: np.allclose(infer(), expected_output(X, 0.1)), what="v1 answers again")
    kinds = list(deployment_state(pk).events.values_list("kind", flat=True))
    assert "revision" in kinds and "status_ready" in kinds

    assert api.delete(f"{base}{pk}/").status_code == 202
    wait_for(lambda: deployment_state(pk).status == "deleted", what="deleted")
    assert marked_processes(deployment.key) == []
    assert wait_for(lambda: client.post(url, json=infer_body(X)).status_code == 404, what="route removed")
