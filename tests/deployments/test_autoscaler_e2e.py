"""The autoscaler end to end: load through the gateway raises replicas, they fall back after the
scale-down window, an idle deployment with min 0 goes to zero, and the next request cold-starts it."""

import threading

import httpx
import numpy as np
import pytest

from controlplane.tenancy.permissions import Scope
from deployments.autoscale import autoscale_all
from deployments.models import Deployment, ModelArtifact
from deployments.services.deployments import deployment_create
from deployments.services.targets import target_create
from tests.deployments.e2e import Gateway, expected_output, infer_body, marked_processes, wait_for, wait_ready
from tests.factories.models import tiny_onnx_bytes

pytestmark = pytest.mark.worker
X = np.ones((1, 4), dtype=np.float32)


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


@pytest.fixture
def beat():
    """The autoscale beat entry, ticking every half second in this test."""
    stop = threading.Event()

    def tick():
        from django.db import connection

        try:
            while not stop.is_set():
                autoscale_all()
                stop.wait(0.5)
        finally:
            connection.close()  # this thread's own connection; left open it blocks dropping the test database

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


@pytest.fixture
def ready_model(celery_worker_process, registry):
    artifact = registry.create(name="tiny-mlp")
    registry.put(artifact["id"], "model.onnx", tiny_onnx_bytes())
    registry.complete(artifact["id"])
    return wait_for(
        lambda: ModelArtifact.objects.filter(pk=artifact["id"], status="ready").first(), what="model ready"
    )


class Load:
    """Clients calling the endpoint back to back until stopped."""

    def __init__(self, gateway, token, url, *, clients: int):
        self.ok, self.failed, self.stop = [0], [], threading.Event()

        def run():
            with httpx.Client(
                base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as c:
                while not self.stop.is_set():
                    response = c.post(url, json=infer_body(X))
                    if response.status_code == 200:
                        self.ok[0] += 1
                    else:
                        self.failed.append((response.status_code, response.text))

        self.threads = [threading.Thread(target=run) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def test_load_scales_up_then_down(ready_model, gateway, beat, team, members, make_token):
    target = target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    deployment = deployment_create(
        team=team,
        actor=members["deployer"],
        name="tiny",
        target=target,
        artifact=ready_model,
        min_replicas=1,
        max_replicas=3,
        scaling_metric="rps",
        scaling_target=5,
        scale_down_window_s=4,
    )
    wait_ready(deployment.pk, replicas=1)
    _, token = make_token(members["deployer"], team, scopes=[Scope.INVOKE])
    url = f"/endpoints/{team.slug}/tiny/v2/models/tiny-mlp/infer"
    wait_for(
        lambda: (
            httpx.post(
                f"{gateway.url}{url}", json=infer_body(X), headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 200
        ),
        what="route",
    )

    # Four clients back to back are far above 5 requests/s per replica: the autoscaler goes to max.
    load = Load(gateway, token, url, clients=4)
    try:
        wait_ready(deployment.pk, replicas=3)
    finally:
        load.finish()
    assert load.failed == [] and load.ok[0] > 0
    scaled = Deployment.objects.get(pk=deployment.pk)
    assert scaled.events.filter(kind="scaled_up").exists()

    # Idle: after the 4 s scale-down window it returns to min.
    wait_for(lambda: Deployment.objects.get(pk=deployment.pk).replicas == 1, timeout=60, what="scale down")
    wait_ready(deployment.pk, replicas=1)
    wait_for(lambda: len(marked_processes(deployment.key)) == 1, what="extra replicas stopped")


def test_idle_scales_to_zero_and_a_request_cold_starts(ready_model, gateway, beat, team, members, make_token):
    target = target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    deployment = deployment_create(
        team=team,
        actor=members["deployer"],
        name="tiny",
        target=target,
        artifact=ready_model,
        min_replicas=0,
        max_replicas=1,
        idle_timeout_s=2,
    )
    wait_ready(deployment.pk, replicas=1)  # starts with one replica; idleness counts from its readiness
    wait_for(lambda: Deployment.objects.get(pk=deployment.pk).replicas == 0, timeout=60, what="scale to zero")
    wait_for(lambda: marked_processes(deployment.key) == [], timeout=60, what="replica stopped")
    assert Deployment.objects.get(pk=deployment.pk).status == "ready"

    _, token = make_token(members["deployer"], team, scopes=[Scope.INVOKE])
    response = httpx.post(
        f"{gateway.url}/endpoints/{team.slug}/tiny/v2/models/tiny-mlp/infer",
        json=infer_body(X),
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert np.allclose(response.json()["outputs"][0]["data"], expected_output(X, 0.1))
    kinds = list(Deployment.objects.get(pk=deployment.pk).events.values_list("kind", flat=True))
    assert "cold_start" in kinds and "scaled_down" in kinds
