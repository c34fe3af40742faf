"""Only the gateway reaches a replica. A deployment made through the real path (REST API, Celery
worker, local backend, model-server process) answers a caller who goes straight to its port with
401 whatever token they make up; its health checks stay open to the probes; the gateway, with a
team's API token, gets the answer."""

import httpx
import numpy as np
import pytest

from controlplane.tenancy.permissions import Scope
from deployments.services.targets import target_create
from serving.replica_token import replica_token
from tests.deployments.e2e import (
    Gateway,
    expected_output,
    infer_body,
    wait_artifact_ready,
    wait_for,
    wait_ready,
)
from tests.factories.models import tiny_onnx_bytes

pytestmark = pytest.mark.worker
X = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
INFER = "/v2/models/tiny-mlp/infer"


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


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "replica_token_required" and error["field"] == "X-Replica-Token"
    assert "outputs" not in response.text


def test_a_replica_answers_only_the_gateway(
    celery_worker_process, gateway, registry, team, members, make_token, settings
):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    artifact = registry.create(name="tiny-mlp")
    assert registry.put(artifact["id"], "model.onnx", tiny_onnx_bytes(scale=0.1)).status_code == 201
    assert registry.complete(artifact["id"]).status_code == 202
    model_id = wait_artifact_ready(artifact["id"]).pk
    created = registry.api.post(
        f"/api/v1/teams/{team.slug}/deployments/",
        {"name": "tiny", "target": "local", "model_id": model_id},
        format="json",
    )
    assert created.status_code == 201, created.content
    (replica,) = wait_ready(created.json()["id"], replicas=1).serving_urls

    with httpx.Client(base_url=replica, timeout=10) as direct:
        # Straight to the port, as another team's replica or any local process could.
        _refused(direct.post(INFER, json=infer_body(X)))
        _refused(direct.post(INFER, json=infer_body(X), headers={"X-Replica-Token": "guess"}))
        # A token the platform would give another replica (another deployment at this very address,
        # or this deployment elsewhere) does not open this one.
        for route, url in ((f"{team.slug}/other", replica), (f"{team.slug}/tiny", "http://127.0.0.1:1")):
            token = replica_token(settings.GATEWAY_SHARED_SECRET, route, url)
            _refused(direct.post(INFER, json=infer_body(X), headers={"X-Replica-Token": token}))
        # The gateway secret itself is no token either.
        secret = {"X-Replica-Token": settings.GATEWAY_SHARED_SECRET}
        _refused(direct.post(INFER, json=infer_body(X), headers=secret))
        _refused(direct.get("/v2/models/tiny-mlp"))
        _refused(direct.get("/metrics"))
        # What the local backend, the gateway's health checker and Kubernetes probe stays open.
        assert direct.get("/v2/health/ready").json()["ready"] is True
        assert direct.get("/v2/health/live").status_code == 200

    _, raw = make_token(members["deployer"], team, scopes=[Scope.INVOKE])
    url = f"{gateway.url}/endpoints/{team.slug}/tiny{INFER}"
    # A made-up X-Replica-Token from the client is dropped, not passed on in place of the real one.
    headers = {"Authorization": f"Bearer {raw}", "X-Replica-Token": "guess"}

    def through_gateway():
        response = httpx.post(url, json=infer_body(X), headers=headers, timeout=30)
        return response if response.status_code == 200 else None

    answer = wait_for(through_gateway, what="the deployment through the gateway")
    assert np.allclose(answer.json()["outputs"][0]["data"], expected_output(X, 0.1))
