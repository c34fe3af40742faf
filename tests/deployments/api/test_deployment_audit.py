"""Every mutating deployment endpoint writes exactly one audit event on success and one on refusal
(completeness is checked by tests/tenancy/api/test_audit_every_mutation.py)."""

import pytest

from controlplane.tenancy.models import AuditEvent, AuditResult
from deployments.models import ModelArtifact
from deployments.services.deployments import deployment_create, deployment_scale, deployment_stop
from deployments.services.targets import target_create


@pytest.fixture
def world(team, members):
    target = target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    artifact = ModelArtifact.objects.create(
        team=team,
        name="m",
        version=1,
        format="onnx",
        status="ready",
        inspection={"parameter_count": 15, "weight_bytes": 60},
    )
    return {"target": target, "artifact": artifact}


def _deployment(team, members, world, **options):
    return deployment_create(
        team=team,
        actor=members["deployer"],
        name="svc",
        target=world["target"],
        artifact=world["artifact"],
        **options,
    )


def _scaled(team, members, world):
    d = _deployment(team, members, world)
    return deployment_scale(deployment=d, actor=members["deployer"], min_replicas=1, max_replicas=3)


def _stopped(team, members, world):
    d = _deployment(team, members, world)
    return deployment_stop(deployment=d, actor=members["deployer"])


def _to_zero(team, members, world):
    d = _deployment(team, members, world, min_replicas=0)
    type(d).objects.filter(pk=d.pk).update(replicas=0)
    return d


# (method, path) -> (setup, success body, action, refusal body or None for "a viewer tries")
CASES = {
    ("post", "/api/v1/targets/"): (
        None,
        {"name": "gpu-box", "kind": "local", "gpu_inventory": {}},
        "target.create",
        "not-superuser",
    ),
    ("post", "/api/v1/teams/{slug}/deployments/"): (
        None,
        lambda w: {"name": "svc", "target": "local", "model_id": w["artifact"].pk},
        "deployment.create",
        lambda w: {"name": "Bad_Name", "target": "local", "model_id": w["artifact"].pk},
    ),
    ("patch", "/api/v1/teams/{slug}/deployments/{id}/"): (
        _deployment,
        {"env": {"LOG_LEVEL": "debug"}},
        "deployment.updated",
        {"min_replicas": 5, "max_replicas": 2},
    ),
    ("delete", "/api/v1/teams/{slug}/deployments/{id}/"): (_deployment, None, "deployment.delete", None),
    ("post", "/api/v1/teams/{slug}/deployments/{id}/scale"): (
        _deployment,
        {"min_replicas": 1, "max_replicas": 4},
        "deployment.scaled",
        {"min_replicas": 3, "max_replicas": 2},
    ),
    ("post", "/api/v1/teams/{slug}/deployments/{id}/pin"): (
        _deployment,
        {"replicas": 1},
        "deployment.pin",
        {"replicas": 50},
    ),
    ("post", "/api/v1/teams/{slug}/deployments/{id}/rollback"): (
        _scaled,
        {"revision": 1},
        "deployment.rollback",
        {"revision": 99},
    ),
    ("post", "/api/v1/teams/{slug}/deployments/{id}/stop"): (_deployment, None, "deployment.stop", None),
    ("post", "/api/v1/teams/{slug}/deployments/{id}/start"): (_stopped, None, "deployment.start", None),
    ("post", "/api/v1/internal/deployments/wake"): (_to_zero, "wake", "deployment.wake", "gateway"),
}


def _call(api_client, method, path, body, team, deployment, settings):
    url = path.replace("{slug}", team.slug).replace("{id}", str(deployment.pk if deployment else 0))
    if body == "wake":
        return api_client.post(
            url,
            {"team": team.slug, "deployment": "svc"},
            format="json",
            HTTP_X_GATEWAY_SECRET=settings.GATEWAY_SHARED_SECRET,
        )
    return getattr(api_client, method)(url, body, format="json")


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_success_writes_exactly_one_event(
    api_client, team, members, world, operation, settings, django_capture_on_commit_callbacks
):
    method, path = operation
    setup, body, action, _ = CASES[operation]
    deployment = setup(team, members, world) if setup else None
    actor = members["deployer"]
    if path == "/api/v1/targets/":
        actor.is_superuser = True
        actor.save()
    api_client.force_authenticate(actor)
    before = AuditEvent.objects.count()

    with django_capture_on_commit_callbacks(execute=False):
        response = _call(
            api_client, method, path, body(world) if callable(body) else body, team, deployment, settings
        )

    assert response.status_code < 300, response.content
    assert list(AuditEvent.objects.order_by("seq")[before:].values_list("action", "result")) == [
        (action, AuditResult.SUCCESS)
    ]


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_refusal_writes_exactly_one_failure_event(api_client, team, members, world, operation, settings):
    method, path = operation
    setup, body, action, refusal = CASES[operation]
    deployment = setup(team, members, world) if setup else None
    if refusal == "gateway":
        # The gateway is not a user: a refused wake (unknown deployment) is answered, not audited.
        response = api_client.post(
            path,
            {"team": team.slug, "deployment": "nope"},
            format="json",
            HTTP_X_GATEWAY_SECRET=settings.GATEWAY_SHARED_SECRET,
        )
        assert response.status_code == 404
        return
    actor = members["viewer"] if refusal in (None, "not-superuser") else members["deployer"]
    api_client.force_authenticate(actor)
    before = AuditEvent.objects.count()
    payload = body if refusal in (None, "not-superuser") else refusal
    response = _call(
        api_client, method, path, payload(world) if callable(payload) else payload, team, deployment, settings
    )

    assert 400 <= response.status_code < 500 and response.status_code != 404, response.content
    assert list(AuditEvent.objects.order_by("seq")[before:].values_list("action", "result")) == [
        (action, AuditResult.FAILURE)
    ]
