"""The periodic sweep asks backends that can observe in bulk once per target and reconciles only
deployments that are not settled."""

import pytest

from deployments.backends.base import Observed, ReplicaState
from deployments.backends.registry import register_backend, unregister_backend
from deployments.models import Deployment, ModelArtifact
from deployments.reconcile import build_spec, sweep_plan
from deployments.services.deployments import deployment_create
from deployments.services.targets import target_create


class BulkBackend:
    """A backend that observes many deployments with one call, and counts its calls."""

    kind = "bulk"
    world: dict[str, Observed] = {}
    calls: list[str] = []

    def __init__(self, target):
        pass

    def observe_many(self, keys):
        BulkBackend.calls.append("observe_many")
        return {k: BulkBackend.world[k] for k in keys if k in BulkBackend.world}

    def observe(self, key):
        BulkBackend.calls.append("observe")
        return BulkBackend.world.get(key, Observed(exists=False))

    def apply(self, spec):
        pass

    def delete(self, key):
        pass

    def endpoint(self, key):
        return None


@pytest.fixture
def bulk_target(members):
    register_backend(BulkBackend)
    BulkBackend.world, BulkBackend.calls = {}, []
    yield target_create(actor=members["owner"], name="cluster", kind="bulk", gpu_inventory={})
    unregister_backend("bulk")


def test_only_unsettled_deployments_are_reconciled(team, members, bulk_target):
    artifact = ModelArtifact.objects.create(
        team=team, name="m", version=1, format="onnx", status="ready", inspection={"weight_bytes": 60}
    )
    settled, drifted = (
        deployment_create(team=team, actor=members["deployer"], name=n, target=bulk_target, artifact=artifact)
        for n in ("settled", "drifted")
    )
    for d in (settled, drifted):
        d = Deployment.objects.select_related("team", "target", "current_revision__artifact").get(pk=d.pk)
        template = build_spec(d).template_hash
        BulkBackend.world[d.key] = Observed(
            exists=True,
            replicas=(
                ReplicaState(id="r1", revision=1, url=f"http://pod-{d.name}", ready=True, template=template),
            ),
        )
        Deployment.objects.filter(pk=d.pk).update(
            status="ready", observed_generation=d.generation, serving_urls=[f"http://pod-{d.name}"]
        )
    # Someone deleted the drifted one's pods by hand.
    BulkBackend.world[drifted.key] = Observed(exists=False)

    assert sweep_plan() == [drifted.pk]
    assert BulkBackend.calls == ["observe_many"]  # one bulk call for the target, none per deployment
