"""Stop, start, scale and delete fired at one deployment from several clients at once, over HTTP,
while a Celery worker and a second in-process reconciler (as a second worker would) and the
autoscaler run: no accepted request is lost, none is applied against a stale state, the timeline
explains every status the deployment passed through, and no replica outlives the deployment."""

import random
import threading
import time

import httpx
import pytest
from django.db import connection

from controlplane.tenancy.permissions import Scope
from deployments.autoscale import autoscale_all
from deployments.locks import deployment_lock
from deployments.models import Deployment
from deployments.reconcile import reconcile_deployment
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

# The status each accepted action sets at once (deployments/services/deployments.py `_set_desired`).
ACTION_STATUS = {"stop": "stopping", "start": "provisioning", "delete": "deleting", "failed": "failed"}


@pytest.fixture
def worker_env(artifact_dirs):
    return {"CONTROLPLANE_VAR_DIR": str(artifact_dirs)}


@pytest.fixture
def same_replica_root(settings, artifact_dirs):
    """The in-process reconciler keeps replicas where the worker does, so they see one another's."""
    settings.VAR_DIR = artifact_dirs


class Background:
    """Runs `step` in a loop on its own thread (and database connection) until stopped."""

    def __init__(self, step, pause: float):
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(step, pause), daemon=True)
        self._thread.start()

    def _run(self, step, pause):
        try:
            while not self._stop.is_set():
                step()
                time.sleep(pause)
        except BaseException as exc:  # reported by stop(): a crash here must fail the test
            self.errors.append(exc)
        finally:
            connection.close()

    def stop(self):
        self._stop.set()
        self._thread.join(60)
        assert not self.errors, self.errors


def test_concurrent_stop_start_scale_delete(
    celery_worker_process, same_replica_root, live_server, registry, team, members, make_token
):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    artifact = registry.create(name="tiny-mlp")
    assert registry.put(artifact["id"], "model.onnx", tiny_onnx_bytes()).status_code == 201
    assert registry.complete(artifact["id"]).status_code == 202
    model_id = wait_artifact_ready(artifact["id"]).pk
    _, raw = make_token(members["deployer"], team, scopes=[Scope.READ, Scope.WRITE])
    base = f"{live_server.url}/api/v1/teams/{team.slug}/deployments/"
    headers = {"Authorization": f"Bearer {raw}"}
    created = httpx.post(
        base,
        json={"name": "race", "target": "local", "model_id": model_id, "min_replicas": 1, "max_replicas": 2},
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    pk = created.json()["id"]
    wait_ready(pk, replicas=1)

    def reconcile_once():
        with deployment_lock(pk) as held:
            if held:
                reconcile_deployment(deployment_id=pk)

    reconciler = Background(reconcile_once, pause=0.05)
    autoscaler = Background(autoscale_all, pause=0.2)

    accepted: list[tuple[str, dict]] = []
    refused: list[tuple[str, int, str]] = []
    record = threading.Lock()

    def fire(action: str, body: dict | None = None, client: httpx.Client | None = None) -> None:
        url = f"{base}{pk}/" if action == "delete" else f"{base}{pk}/{action}"
        response = client.delete(url) if action == "delete" else client.post(url, json=body)
        with record:
            if response.status_code == 202:
                accepted.append((action, body or {}))
            else:
                # Refusals are the state machine's: already stopped or started, nothing to change,
                # being deleted. Never a server error or a lost write.
                assert response.status_code in (400, 409), response.text
                refused.append((action, response.status_code, response.json()["error"]["message"]))

    thread_errors: list[BaseException] = []

    def client_thread(seed: int) -> None:
        chooser = random.Random(seed)
        try:
            with httpx.Client(headers=headers, timeout=60) as client:
                for _ in range(5):
                    action = chooser.choice(["stop", "start", "scale"])
                    scale = {"min_replicas": chooser.choice([1, 2]), "max_replicas": 2}
                    fire(action, scale if action == "scale" else None, client)
                    time.sleep(chooser.uniform(0, 0.3))
        except BaseException as exc:  # a client's failure (a 500 above all) fails the test
            thread_errors.append(exc)

    threads = [threading.Thread(target=client_thread, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not thread_errors, thread_errors

    deployment = _settled_after_the_storm(pk, accepted)

    # Deletes racing starts and stops: exactly one delete is accepted; after it, nothing is.
    def racer(action: str, client: httpx.Client) -> None:
        try:
            fire(action, None, client)
        except BaseException as exc:
            thread_errors.append(exc)

    with httpx.Client(headers=headers, timeout=60) as client:
        racers = [
            threading.Thread(target=racer, args=(action, client))
            for action in ("delete", "start", "delete", "stop", "delete")
        ]
        for t in racers:
            t.start()
        for t in racers:
            t.join(60)
    assert not thread_errors, thread_errors
    assert [a for a, _ in accepted].count("delete") == 1
    wait_for(lambda: deployment_state(pk).status == "deleted", what="deleted", timeout=120)
    reconciler.stop()
    autoscaler.stop()
    assert marked_processes(deployment.key) == [], "a replica outlived its deployment"

    # The timeline holds every accepted request once, in an order the state machine allows, and its
    # status events explain every status the deployment took, ending with the one it has.
    events = list(Deployment.objects.get(pk=pk).events.order_by("id").values_list("kind", flat=True))
    for kind in ("stop", "start", "delete"):
        assert events.count(kind) == [a for a, _ in accepted].count(kind), (kind, events, accepted)
    assert events.count("revision") == len([a for a, _ in accepted if a == "scale"])
    assert _replay(events) == "deleted" == deployment_state(pk).status
    assert events.index("delete") > max(i for i, k in enumerate(events) if k in ("stop", "start", "revision"))


def _settled_after_the_storm(pk: int, accepted: list[tuple[str, dict]]):
    """The state the last accepted stop/start asked for, with the replica count of the last
    accepted scale, once the reconciler settles it."""
    deployment = deployment_state(pk)
    last_state = next((a for a, _ in reversed(accepted) if a in ("stop", "start")), "start")
    scales = [body for action, body in accepted if action == "scale"]
    if scales:
        assert deployment.current_revision.min_replicas == scales[-1]["min_replicas"]
    if last_state == "stop":
        wait_for(lambda: deployment_state(pk).status == "stopped", what="stopped", timeout=120)
        assert marked_processes(deployment.key) == []
    else:
        wanted = deployment_state(pk).replicas
        wait_ready(pk, replicas=wanted, timeout=120)
        wait_for(
            lambda: len(marked_processes(deployment.key)) == wanted, what=f"{wanted} replicas", timeout=60
        )
    return deployment


def _replay(events: list[str]) -> str:
    """Walk the timeline as the state machine would, failing on a step it forbids (stop or start
    accepted twice in a row, a second delete, a status event that changes nothing); returns the
    status the timeline ends in."""
    desired, status = "start", "pending"
    for kind in events:
        if kind in ("stop", "start"):
            assert kind != desired, f"{kind} accepted twice in a row: {events}"
            desired = kind
        if kind == "delete":
            assert desired != "delete"
            desired = kind
        if kind in ACTION_STATUS:
            status = ACTION_STATUS[kind]
        elif kind.startswith("status_"):
            new = kind.removeprefix("status_")
            assert new != status, f"status_{new} recorded without a change: {events}"
            status = new
    return status
