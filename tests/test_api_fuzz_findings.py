"""What schemathesis found (tests/test_api_schema_fuzz.py), pinned as plain regressions: each was a
500 and is now a JSON error naming what is wrong, and the refusal is audited."""

import pytest
from django.test import Client

from controlplane.tenancy.models import AuditEvent, AuditResult, Team
from controlplane.tenancy.permissions import Role
from deployments.models import ModelArtifact
from deployments.services.deployments import deployment_create
from deployments.services.targets import target_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(members):
    return members[Role.OWNER.value]


@pytest.fixture
def bearer(team, owner, make_token):
    _, plaintext = make_token(owner, team)
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def test_deleting_a_team_with_a_deployment_is_a_409_naming_it(client, team, owner, bearer):
    target = target_create(actor=owner, name="local", kind="local", gpu_inventory={})
    artifact = ModelArtifact.objects.create(
        team=team, name="m", version=1, format="onnx", status="ready", inspection={"parameter_count": 15}
    )
    deployment_create(team=team, actor=owner, name="svc", target=target, artifact=artifact)

    response = client.delete(f"/api/v1/teams/{team.slug}/", **bearer)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict" and "svc" in error["message"]
    assert Team.objects.filter(pk=team.pk).exists()
    refusal = AuditEvent.objects.get(action="team.delete")  # the success row rolled back with the delete
    assert refusal.result == AuditResult.FAILURE


def test_a_refused_request_with_a_nul_byte_is_audited_not_a_500(client, team, bearer):
    response = client.post(
        f"/api/v1/teams/{team.slug}/secrets/",
        "name=BAD%00NAME&value=x",
        content_type="application/x-www-form-urlencoded",
        **bearer,
    )
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]
    refusal = AuditEvent.objects.filter(result=AuditResult.FAILURE).latest("seq")
    assert refusal.parameters["name"] == ["BAD\\u0000NAME"]  # form fields are lists; NUL escaped


def test_a_secret_name_too_long_for_the_url_is_a_400(client, team, bearer):
    response = client.put(
        f"/api/v1/teams/{team.slug}/secrets/{'A' * 150}/",
        {"value": "x"},
        content_type="application/json",
        **bearer,
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["name"]


def test_a_mutation_on_an_over_long_team_slug_is_a_404(client, bearer):
    response = client.post(
        f"/api/v1/teams/{'a' * 150}/members/",
        {"user": "x", "role": "viewer"},
        content_type="application/json",
        **bearer,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
