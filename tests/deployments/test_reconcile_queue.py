"""The reconcile work queue keeps controllers bounded: a deployment that never settles costs about
one reconcile per backoff interval however many sweeps pass, and one target whose API fails never
stops the sweep of another. Time is simulated: the queue's clock is moved and the messages it
sends are delivered when due, through the real task body, locks and database rows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.backends.base import Observed, ReplicaState, TransientBackendError
from deployments.backends.registry import register_backend, unregister_backend
from deployments.models import Deployment, ModelArtifact, ReconcileTicket
from deployments.reconcile import sweep_plan
from deployments.services import reconcile_queue
from deployments.services.deployments import deployment_create
from deployments.services.targets import target_create
from deployments.tasks import reconcile_sweep_task

pytestmark = pytest.mark.django_db(transaction=True)  # the queue sends its messages on commit

SWEEP_SECONDS = 30


class PendingBackend:
    """A cluster with no free GPU: the replica is created and stays Pending forever."""

    kind = "pending"
    requeue_floor_seconds = 2.0  # as the Kubernetes backend's
    calls: list[str] = []
    fail_with: Exception | None = None

    def __init__(self, target):
        pass

    def apply(self, spec):
        PendingBackend.calls.append("apply")
        if PendingBackend.fail_with is not None:
            raise PendingBackend.fail_with

    def observe(self, key):
        PendingBackend.calls.append("observe")
        return Observed(
            exists=True,
            replicas=(ReplicaState(id="p1", revision=1, url="http://pod", ready=False),),
            message="No node has a free GPU.",
        )

    def delete(self, key):
        pass

    def endpoint(self, key):
        return "http://cluster/endpoint"


class Simulation:
    """Delivers the queue's messages at their due time on a clock the test moves."""

    def __init__(self, monkeypatch):
        self.now = timezone.now()
        self.inbox: list[tuple[object, int, str]] = []
        monkeypatch.setattr(reconcile_queue, "_now", lambda: self.now)
        monkeypatch.setattr(reconcile_queue, "_send", self.send)

    def send(self, deployment_id, ticket, countdown):
        self.inbox.append((self.now + timedelta(seconds=countdown), deployment_id, ticket))

    def run_until(self, end, *, sweep_every: float | None = None, on_sweep=None):
        next_sweep = self.now if sweep_every else None
        while True:
            due = min((m[0] for m in self.inbox), default=None)
            upcoming = [t for t in (due, next_sweep) if t is not None]
            if not upcoming or min(upcoming) > end:
                self.now = end
                return
            self.now = min(upcoming)
            if next_sweep is not None and self.now == next_sweep:
                reconcile_sweep_task()
                if on_sweep:
                    on_sweep()
                next_sweep += timedelta(seconds=sweep_every)
                continue
            message = min(self.inbox, key=lambda m: m[0])
            self.inbox.remove(message)
            reconcile_queue.reconcile_run(message[1], message[2])


@pytest.fixture
def pending_target(members):
    register_backend(PendingBackend)
    PendingBackend.calls, PendingBackend.fail_with = [], None
    yield target_create(actor=members["owner"], name="gpu", kind="pending", gpu_inventory={})
    unregister_backend("pending")


@pytest.fixture
def artifact(team):
    return ModelArtifact.objects.create(
        team=team, name="m", version=1, format="onnx", status="ready", inspection={"weight_bytes": 60}
    )


def test_a_deployment_that_never_settles_costs_one_reconcile_per_backoff_interval(
    monkeypatch, team, members, pending_target, artifact
):
    sim = Simulation(monkeypatch)
    deployment_create(
        team=team, actor=members["deployer"], name="stuck", target=pending_target, artifact=artifact
    )
    start = sim.now
    per_sweep: list[int] = []
    counted = [0]

    def count():
        applies = PendingBackend.calls.count("apply")
        per_sweep.append(applies - counted[0])
        counted[0] = applies

    sim.run_until(start + timedelta(seconds=10 * SWEEP_SECONDS), sweep_every=SWEEP_SECONDS, on_sweep=count)

    reconciles = PendingBackend.calls.count("apply")
    # 2 s doubling to 5 minutes: 2, 4, 8, 16, 32, 64, 128 fit in 300 s, plus the first reconcile.
    # Before the queue, every sweep started another chain requeueing every 2 s: hundreds.
    assert reconciles <= 10, (reconciles, per_sweep)
    assert max(per_sweep[3:]) <= 2, per_sweep  # no growth from sweep to sweep
    ticket = ReconcileTicket.objects.get()
    assert ticket.backoff_s >= 60  # still trying, ever more slowly
    # At any time one message at most is live: the others were superseded and ended at once.
    live = [m for m in sim.inbox if m[2] == ticket.ticket]
    assert len(live) <= 1

    # A change resets the backoff: the next reconcile runs at once, not minutes later.
    before = PendingBackend.calls.count("apply")
    from deployments.services.deployments import deployment_pin

    deployment_pin(deployment=Deployment.objects.get(), actor=members["deployer"], replicas=1)
    sim.run_until(sim.now + timedelta(seconds=1))
    assert PendingBackend.calls.count("apply") == before + 1


def test_transient_errors_retry_with_backoff_for_a_time_budget_then_fail(
    monkeypatch, settings, team, members, pending_target, artifact
):
    settings.RECONCILE_RETRY_BUDGET_SECONDS = 120
    sim = Simulation(monkeypatch)
    PendingBackend.fail_with = TransientBackendError("Kubernetes answered 503 Service Unavailable.")
    d = deployment_create(
        team=team, actor=members["deployer"], name="flaky", target=pending_target, artifact=artifact
    )
    sim.run_until(sim.now + timedelta(seconds=60))
    assert Deployment.objects.get(pk=d.pk).status != "failed"  # within budget: still pending
    tries_in_first_minute = PendingBackend.calls.count("apply")
    assert 3 <= tries_in_first_minute <= 6  # 2, 4, 8, 16, 32 s apart
    sim.run_until(sim.now + timedelta(seconds=120))
    failed = Deployment.objects.get(pk=d.pk)
    assert failed.status == "failed"
    assert "after 120 s of retries" in failed.status_message and "503" in failed.status_message
    assert failed.events.filter(kind="failed").exists()


class SplitBackend:
    """Two clusters: listing one fails (403); the other has lost a deployment's pods."""

    kind = "split"
    broken = "broken"
    applied: list[str] = []
    world: dict[str, Observed] = {}

    def __init__(self, target):
        self.target = target.name

    def observe_many(self, keys):
        if self.target == SplitBackend.broken:
            raise RuntimeError("Kubernetes answered 403 Forbidden: cannot list deployments")
        return {k: SplitBackend.world[k] for k in keys if k in SplitBackend.world}

    def observe(self, key):
        return SplitBackend.world.get(key, Observed(exists=False))

    def apply(self, spec):
        SplitBackend.applied.append(spec.key)

    def delete(self, key):
        pass

    def endpoint(self, key):
        return "http://cluster/endpoint"


def test_one_broken_target_never_stops_the_sweep_of_another(monkeypatch, team, members, artifact):
    register_backend(SplitBackend)
    SplitBackend.applied, SplitBackend.world = [], {}
    try:
        healthy = target_create(actor=members["owner"], name="healthy", kind="split", gpu_inventory={})
        broken = target_create(actor=members["owner"], name="broken", kind="split", gpu_inventory={})
        ok = deployment_create(
            team=team, actor=members["deployer"], name="ok", target=healthy, artifact=artifact
        )
        deployment_create(
            team=team, actor=members["deployer"], name="elsewhere", target=broken, artifact=artifact
        )
        ok = Deployment.objects.select_related("team", "target", "current_revision__artifact").get(pk=ok.pk)
        Deployment.objects.filter(pk=ok.pk).update(
            status="ready", observed_generation=ok.generation, serving_urls=["http://pod"]
        )
        # Someone deleted the healthy target's Deployment by hand: nothing is observed for it.
        SplitBackend.world = {}
        SplitBackend.applied.clear()

        assert ok.pk in sweep_plan()  # the broken target's error did not stop this target's repair
        sim = Simulation(monkeypatch)
        sim.run_until(sim.now + timedelta(seconds=5), sweep_every=SWEEP_SECONDS)
        assert ok.key in SplitBackend.applied  # repaired on this sweep
    finally:
        unregister_backend("split")
