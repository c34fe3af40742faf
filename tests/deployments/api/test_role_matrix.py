"""For every route of the deployments API (deployments, their actions, revisions and events, the
model registry, secrets, targets), each role gets exactly what controlplane/tenancy/permissions.py
gives it; a member of another team gets 404 and an anonymous caller 401. Real objects, real
services; the reconcile and inspection tasks the changes queue are captured, never run."""

import io
import re
from dataclasses import dataclass

import pytest

from controlplane.tenancy.permissions import ROLE_ACTIONS, Action, Role
from deployments.models import ModelArtifact, Target
from deployments.services import artifact_create, artifact_file_put, upload_start
from deployments.services.deployments import deployment_create, deployment_scale, deployment_stop
from deployments.services.secrets import secret_set
from deployments.services.targets import target_create
from deployments.storage import artifact_storage
from tests.api_routes import api_routes, route_shapes
from tests.factories.models import tiny_onnx_bytes
from tests.factories.tenancy import TeamFactory, UserFactory

ROLES = sorted(r.value for r in Role)


def allowed(action: Action) -> frozenset[str]:
    """The roles whose actions include `action`: the expectation comes from the role map itself."""
    return frozenset(role for role, actions in ROLE_ACTIONS.items() if action in actions)


VIEW, MANAGE = allowed(Action.MODEL_VIEW), allowed(Action.MODEL_MANAGE)
TEAM_VIEW, TEAM_UPDATE = allowed(Action.TEAM_VIEW), allowed(Action.TEAM_UPDATE)
NOBODY: frozenset[str] = frozenset()  # platform admins only: no team role suffices


@dataclass(frozen=True)
class Raw:
    """A request body sent as bytes with its own content type and headers."""

    data: bytes
    content_type: str = "application/octet-stream"
    headers: tuple[tuple[str, str], ...] = ()


ONNX = tiny_onnx_bytes()
T = "/api/v1/teams/{team}"

# (method, path, body, roles allowed, status on success)
CASES = [
    ("get", T + "/deployments/", None, VIEW, 200),
    (
        "post",
        T + "/deployments/",
        lambda w: {"name": "fresh", "target": "local", "model_id": w["model"]},
        MANAGE,
        201,
    ),
    ("get", T + "/deployments/{deployment}/", None, VIEW, 200),
    ("patch", T + "/deployments/{deployment}/", {"env": {"LOG_LEVEL": "debug"}}, MANAGE, 202),
    ("delete", T + "/deployments/{deployment}/", None, MANAGE, 202),
    ("post", T + "/deployments/{deployment}/scale", {"min_replicas": 1, "max_replicas": 4}, MANAGE, 202),
    ("post", T + "/deployments/{deployment}/pin", {"replicas": 1}, MANAGE, 202),
    ("post", T + "/deployments/{deployment}/rollback", {"revision": 1}, MANAGE, 202),
    ("post", T + "/deployments/{deployment}/stop", None, MANAGE, 202),
    ("post", T + "/deployments/{stopped}/start", None, MANAGE, 202),
    ("get", T + "/deployments/{deployment}/revisions/", None, VIEW, 200),
    ("get", T + "/deployments/{deployment}/events/", None, VIEW, 200),
    ("get", T + "/deployments/{on_cluster}/manifests", None, VIEW, 200),
    ("get", T + "/deployments/{on_cluster}/manifests.yaml", None, VIEW, 200),
    ("get", T + "/models/", None, VIEW, 200),
    ("post", T + "/models/", {"name": "another", "format": "onnx"}, MANAGE, 201),
    ("get", T + "/models/{model}/", None, VIEW, 200),
    ("delete", T + "/models/{spare}/", None, MANAGE, 204),
    ("put", T + "/models/{draft}/files/extra.onnx", Raw(ONNX), MANAGE, 201),
    ("get", T + "/models/{draft}/files/model.onnx", None, VIEW, 200),
    ("post", T + "/models/{draft}/uploads/", {"path": "big.onnx", "size": 10}, MANAGE, 201),
    ("get", T + "/models/{draft}/uploads/{upload}/", None, MANAGE, 200),
    (
        "patch",
        T + "/models/{draft}/uploads/{upload}/",
        Raw(b"01234", "application/offset+octet-stream", (("HTTP_UPLOAD_OFFSET", "0"),)),
        MANAGE,
        200,
    ),
    ("delete", T + "/models/{draft}/uploads/{upload}/", None, MANAGE, 204),
    ("post", T + "/models/{uploaded}/complete", None, MANAGE, 202),
    ("get", T + "/registry-policy", None, VIEW, 200),
    ("patch", T + "/registry-policy", {"allow_code_files": True}, NOBODY, 200),
    ("get", T + "/secrets/", None, TEAM_VIEW, 200),
    ("post", T + "/secrets/", {"name": "NEW_TOKEN", "value": "s3cret"}, TEAM_UPDATE, 201),
    ("put", T + "/secrets/{secret}/", {"value": "rotated"}, TEAM_UPDATE, 200),
    ("delete", T + "/secrets/{secret}/", None, TEAM_UPDATE, 204),
]
IDS = [f"{method} {path.removeprefix(T)}" for method, path, *_ in CASES]


@pytest.fixture
def world(team, members, settings):
    deployer = members["deployer"]
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})

    def ready(name):
        return ModelArtifact.objects.create(
            team=team,
            name=name,
            version=1,
            format="onnx",
            status="ready",
            inspection={"parameter_count": 15, "weight_bytes": 60},
        )

    model, spare = ready("m"), ready("spare")
    running = deployment_create(
        team=team, actor=deployer, name="svc", target=Target.objects.get(name="local"), artifact=model
    )
    deployment_scale(deployment=running, actor=deployer, min_replicas=1, max_replicas=2)  # revision 2
    stopped = deployment_create(
        team=team, actor=deployer, name="idle", target=Target.objects.get(name="local"), artifact=model
    )
    deployment_stop(deployment=stopped, actor=deployer)
    draft, uploaded = (
        artifact_create(team=team, actor=deployer, name=name, format="onnx") for name in ("draft", "uploaded")
    )
    for artifact in (draft, uploaded):
        artifact_file_put(
            artifact=artifact, actor=deployer, path="model.onnx", stream=io.BytesIO(ONNX), length=len(ONNX)
        )
    cluster = target_create(
        actor=members["owner"],
        name="gpu-cluster",
        kind="kubernetes",
        gpu_inventory={"a100-80gb": 8},
        settings={"gpu_products": {"a100-80gb": "NVIDIA-A100-SXM4-80GB"}},
    )
    weights = ModelArtifact.objects.create(
        team=team,
        name="qwen",
        version=1,
        format="huggingface",
        status="ready",
        sha256="ef" * 32,
        size_bytes=10,
    )
    on_cluster = deployment_create(
        team=team,
        actor=deployer,
        name="chat",
        target=cluster,
        artifact=weights,
        gpu_type="a100-80gb",
        gpu_count=1,
    )
    upload = upload_start(artifact=draft, actor=deployer, path="chunked.onnx", size=10)  # still going
    secret_set(team=team, actor=members["owner"], name="HF_TOKEN", value="hf_abc")
    return {
        "team": team.slug,
        "deployment": running.pk,
        "stopped": stopped.pk,
        "on_cluster": on_cluster.pk,
        "model": model.pk,
        "spare": spare.pk,
        "draft": draft.pk,
        "uploaded": uploaded.pk,
        "upload": upload.id,
        "secret": "HF_TOKEN",
    }


def call(api_client, method, path, body, world):
    url = path.format(**world)
    body = body(world) if callable(body) else body
    if isinstance(body, Raw):
        return getattr(api_client, method)(
            url, data=body.data, content_type=body.content_type, **dict(body.headers)
        )
    return getattr(api_client, method)(url, body, format="json")


@pytest.mark.parametrize("role", [*ROLES, "outsider", "anonymous"])
@pytest.mark.parametrize("method,path,body,roles,ok", CASES, ids=IDS)
def test_role_matrix(
    api_client,
    members,
    world,
    settings,
    role,
    method,
    path,
    body,
    roles,
    ok,
    django_capture_on_commit_callbacks,
):
    if role != "anonymous":
        api_client.force_authenticate(members[role])

    if "{on_cluster}" in path:  # manifests name the model by its S3 URI
        settings.ARTIFACT_S3_BUCKET = "models"
        artifact_storage.cache_clear()

    with django_capture_on_commit_callbacks(execute=False):
        response = call(api_client, method, path, body, world)

    expected = {"anonymous": 401, "outsider": 404}.get(role, ok if role in roles else 403)
    assert response.status_code == expected, response.content
    if expected >= 400:
        error = response.json()["error"]
        assert error["request_id"]
        if expected == 403 and roles:  # refused by the role map, which says whose role it is
            assert role in error["message"]


def test_a_platform_admin_may_change_the_registry_policy(api_client, team, world):
    api_client.force_authenticate(UserFactory(username="operator", is_superuser=True, is_staff=True))
    response = api_client.patch(f"/api/v1/teams/{team.slug}/registry-policy", {"allow_code_files": True})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("role", [*ROLES, "outsider", "anonymous"])
def test_targets_are_read_by_everyone_signed_in_and_registered_by_platform_admins(
    api_client, members, team, role
):
    local = {"actor": members["owner"], "kind": "local", "gpu_inventory": {}}
    target_create(name="shared", **local)
    target_create(name="alpha-box", all_teams=False, teams=[team], **local)
    TeamFactory(slug="gamma")  # a team nobody here is in
    cluster = target_create(name="gpu-cluster", **local | {"kind": "kubernetes", "gpu_inventory": {"l4": 1}})
    if role != "anonymous":
        api_client.force_authenticate(members[role])

    listed = api_client.get("/api/v1/targets/")
    platform_only = [
        api_client.post("/api/v1/targets/", {"name": "mine", "kind": "local"}, format="json"),
        api_client.post(f"/api/v1/targets/{cluster.pk}/credentials", {"kubeconfig": "x"}, format="json"),
        api_client.post(f"/api/v1/targets/{cluster.pk}/test-connection"),
    ]

    statuses = [r.status_code for r in platform_only]
    if role == "anonymous":
        assert (listed.status_code, statuses) == (401, [401] * 3)
        return
    assert listed.status_code == 200, listed.content
    names = sorted(t["name"] for t in listed.json()["results"])
    everyone = ["gpu-cluster", "shared"]
    assert names == (everyone if role == "outsider" else sorted([*everyone, "alpha-box"]))
    assert statuses == [403] * 3, [r.content for r in platform_only]
    assert not Target.objects.filter(name="mine").exists()


# Routes whose callers are not team members: the gateway (its shared secret; refusals in
# test_deployment_audit.py and tests/security/test_roles.py) and platform admins (above).
NOT_TEAM_ROUTES = {
    "internal/deployments/wake",
    "targets/",
    "targets/<int:pk>/credentials",
    "targets/<int:pk>/test-connection",
}


def test_the_matrix_covers_every_route_of_the_deployments_api():
    not_team = {re.sub(r"<[^>]+>", "*", route) for route in NOT_TEAM_ROUTES}
    assert api_routes("deployments") - route_shapes(path for _, path, *_ in CASES) - not_team == set()
