"""Every mutating endpoint writes exactly one audit event, on success and on refusal. The list of
endpoints comes from the OpenAPI schema, so a new endpoint without a case here fails the test."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from controlplane.tenancy.models import AuditEvent, AuditResult, Membership
from controlplane.tenancy.permissions import Role
from deployments.services.secrets import secret_set
from tests.factories.tenancy import MembershipFactory, UserFactory

MUTATING = {"post", "put", "patch", "delete"}
# Not audited by design: the gateway's token check changes nothing (it is a read over POST).
NOT_MUTATING = {("post", "/api/v1/auth/introspect")}


def _mutating_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in MUTATING and (method, path) not in NOT_MUTATING
    }


@pytest.fixture
def world(team, members, make_token):
    victim = MembershipFactory(team=team, user=UserFactory(username="victim"), role=Role.VIEWER)
    UserFactory(username="newcomer")
    token, _ = make_token(members["owner"], team)
    secret_set(team=team, name="HF_TOKEN", value="s3cr3t-value", actor=members["owner"])
    return {"team": team, "victim": victim, "token": token}


# (method, path) -> (path args, good body, expected action, bad body or None when refusal is by state)
CASES = {
    ("post", "/api/v1/teams/"): (
        {},
        {"slug": "gamma", "name": "Gamma"},
        "team.create",
        {"slug": "Not A Slug!", "name": "x"},
    ),
    ("patch", "/api/v1/teams/{slug}/"): ({}, {"name": "Alpha 2"}, "team.update", {"monthly_budget": "-1"}),
    ("delete", "/api/v1/teams/{slug}/"): ({}, None, "team.delete", None),
    ("post", "/api/v1/teams/{slug}/members/"): (
        {},
        {"user": "newcomer", "role": "deployer"},
        "member.add",
        {"user": "nobody", "role": "viewer"},
    ),
    ("patch", "/api/v1/teams/{slug}/members/{id}/"): (
        {"id": "victim"},
        {"role": "deployer"},
        "member.change_role",
        {"role": "emperor"},
    ),
    ("delete", "/api/v1/teams/{slug}/members/{id}/"): ({"id": "victim"}, None, "member.remove", None),
    ("post", "/api/v1/teams/{slug}/tokens/"): (
        {},
        {"name": "ci", "scopes": ["read", "invoke"]},
        "token.create",
        {"name": "ci", "scopes": ["root"]},
    ),
    ("delete", "/api/v1/teams/{slug}/tokens/{id}/"): ({"id": "token"}, None, "token.revoke", None),
    ("post", "/api/v1/teams/{slug}/secrets/"): (
        {},
        {"name": "DB_PASSWORD", "value": "hunter2"},
        "secret.create",
        {"name": "DB_PASSWORD", "value": ""},
    ),
    ("put", "/api/v1/teams/{slug}/secrets/{name}/"): (
        {},
        {"value": "rotated"},
        "secret.rotate",
        {"value": ""},
    ),
    ("delete", "/api/v1/teams/{slug}/secrets/{name}/"): ({}, None, "secret.delete", None),
}


# Platform grants are a platform admin's: success needs a superuser's session, and a refusal is
# either bad input from one or any team member trying (403, audited like every other refusal).
PLATFORM_CASES = {
    ("post", "/api/v1/platform/grants/"): (
        {"user": "newcomer", "role": "finance"},
        "platform_grant.create",
        {"user": "newcomer", "role": "emperor"},
    ),
    ("delete", "/api/v1/platform/grants/{id}/"): (None, "platform_grant.revoke", None),
}


@pytest.fixture
def platform_world(world):
    from controlplane.tenancy.models import PlatformGrant

    operator = UserFactory(username="operator", is_superuser=True, is_staff=True)
    grant = PlatformGrant.objects.create(user=UserFactory(username="counter"), role="finance")
    return {**world, "operator": operator, "grant": grant}


@pytest.mark.parametrize("operation", sorted(PLATFORM_CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_platform_grant_success_writes_exactly_one_event(api_client, platform_world, operation):
    method, path = operation
    body, action, _ = PLATFORM_CASES[operation]
    api_client.force_authenticate(platform_world["operator"])
    before = AuditEvent.objects.count()

    response = getattr(api_client, method)(
        path.replace("{id}", str(platform_world["grant"].pk)), body, format="json"
    )

    assert response.status_code < 300, response.content
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.result, e.actor_label) for e in events] == [
        (action, AuditResult.SUCCESS, "operator")
    ]


@pytest.mark.parametrize("operation", sorted(PLATFORM_CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_platform_grant_refusal_writes_exactly_one_failure_event(
    api_client, platform_world, members, operation
):
    method, path = operation
    _, action, bad_body = PLATFORM_CASES[operation]
    api_client.force_authenticate(platform_world["operator"] if bad_body is not None else members["owner"])
    before = AuditEvent.objects.count()

    response = getattr(api_client, method)(
        path.replace("{id}", str(platform_world["grant"].pk)), bad_body, format="json"
    )

    assert response.status_code in (400, 403), response.content
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.result) for e in events] == [(action, AuditResult.FAILURE)]
    assert events[0].error == response.json()["error"]["message"]


def _url(path: str, args: dict, world) -> str:
    ids = {"victim": world["victim"].pk, "token": world["token"].pk}
    path = path.replace("{name}", "HF_TOKEN")
    return path.replace("{slug}", world["team"].slug).replace("{id}", str(ids.get(args.get("id"), "")))


def test_every_mutating_endpoint_has_a_case():
    from tests.billing.api.test_audit_every_mutation import CASES as BILLING_CASES
    from tests.deployments.api.test_deployment_audit import CASES as DEPLOYMENT_CASES
    from tests.deployments.api.test_kubernetes_api import CASES as KUBERNETES_CASES
    from tests.deployments.api.test_registry_audit import CASES as REGISTRY_CASES

    assert _mutating_operations() == set(CASES) | set(PLATFORM_CASES) | set(REGISTRY_CASES) | set(
        DEPLOYMENT_CASES
    ) | set(BILLING_CASES) | set(KUBERNETES_CASES)


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_success_writes_exactly_one_event(api_client, world, members, operation):
    method, path = operation
    args, body, action, _ = CASES[operation]
    api_client.force_authenticate(members["owner"])
    before = AuditEvent.objects.count()

    response = getattr(api_client, method)(
        _url(path, args, world), body, format="json", HTTP_X_REQUEST_ID="req-test-0001"
    )

    assert response.status_code < 300, response.content
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.result) for e in events] == [(action, AuditResult.SUCCESS)]
    assert events[0].actor_label == "owner"
    assert events[0].request_id == "req-test-0001"
    assert events[0].client_address == "127.0.0.1"


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_refusal_writes_exactly_one_failure_event(api_client, world, members, operation):
    method, path = operation
    args, _, action, bad_body = CASES[operation]
    # Refused either for bad input, or (where input cannot be wrong) because the role lacks the right.
    actor = members["owner"] if bad_body is not None else members["viewer"]
    if bad_body is None and operation == ("delete", "/api/v1/teams/{slug}/tokens/{id}/"):
        world["token"].revoked_at = world["token"].created_at
        world["token"].save()  # revoking an already revoked token is refused
        actor = members["owner"]
    api_client.force_authenticate(actor)
    before = AuditEvent.objects.count()

    response = getattr(api_client, method)(_url(path, args, world), bad_body, format="json")

    assert 400 <= response.status_code < 500 and response.status_code != 404, response.content
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.result) for e in events] == [(action, AuditResult.FAILURE)]
    assert events[0].error == response.json()["error"]["message"]


def test_secrets_in_parameters_are_masked(api_client, world, members):
    api_client.force_authenticate(members["owner"])
    body = {"user": "nobody", "role": "viewer", "password": "hunter2", "extra": {"api_key": "k-123"}}
    api_client.post(f"/api/v1/teams/{world['team'].slug}/members/", body, format="json")
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.result) == ("member.add", AuditResult.FAILURE)
    assert event.parameters == {
        "user": "nobody",
        "role": "viewer",
        "password": "***",
        "extra": {"api_key": "***"},
    }


def test_anonymous_refusals_are_not_written(api_client, world):
    before = AuditEvent.objects.count()
    assert api_client.post("/api/v1/teams/", {"slug": "x", "name": "x"}, format="json").status_code in (
        401,
        403,
    )
    assert AuditEvent.objects.count() == before
    assert Membership.objects.filter(team__slug="x").count() == 0
