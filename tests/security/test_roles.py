"""Roles that nobody can grant themself past (issue 10), replayed against the API and console with
real sessions and real bearer tokens:

- a user who makes a team, adds a second owner and demotes themself to finance sees that team's
  costs only; every team's costs need a platform finance grant, which only a platform admin gives;
- a superuser's team token acts as a member of its team (no targets, catalog items, registry
  policies, other teams); a platform token, which only superusers can make, acts as platform admin;
- deleting a team is a 409 naming its live deployments, then a 204 that leaves no row behind."""

import hashlib

import pytest
from django.apps import apps
from django.db import models
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from controlplane.tenancy.models import ApiToken, AuditEvent, PlatformGrant, Team
from controlplane.tenancy.permissions import Role, Scope
from controlplane.tenancy.services import api_token_create, audit_verify
from tests.billing.conftest import at, ledger_world, meter_day, platform_admin  # noqa: F401
from tests.deployments.conftest import RegistryClient, inspect, staged_files, stored_files  # noqa: F401
from tests.factories.models import tiny_onnx_bytes
from tests.factories.tenancy import MembershipFactory, UserFactory

WINDOW = f"{at(0).isoformat()},{at(0, day=1).isoformat()}".replace("+00:00", "Z")
ALL_TEAMS = {"alpha": 72.75, "gamma": 107.00}  # the hand-computed day of tests/billing/conftest.py


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def console(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def costs(client) -> dict[str, float]:
    response = client.get("/api/v1/allocation", {"window": WINDOW})
    assert response.status_code == 200, response.content
    return {name: round(a["totalCost"], 2) for name, a in response.json()["data"][0].items()}


def budget_teams(client) -> set[str]:
    response = client.get("/api/v1/billing/budgets/")
    assert response.status_code == 200, response.content
    return {row["team"] for row in response.json()}


def report_teams(client) -> set[str]:
    response = client.get("/api/v1/billing/reports/2026-03/")
    assert response.status_code == 200, response.content
    return {group["name"] for group in response.json()["groups"]}


def dashboard(user) -> str:
    response = console(user).get(reverse("billing:dashboard"), {"month": "2026-03"})
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def day(ledger_world):  # noqa: F811
    meter_day()
    return ledger_world


def test_a_self_made_finance_member_sees_only_their_team(day):
    mallory, colleague = UserFactory(username="mallory"), UserFactory(username="colleague")
    api = session(mallory)
    assert api.post("/api/v1/teams/", {"slug": "mallory", "name": "M"}, format="json").status_code == 201
    added = api.post("/api/v1/teams/mallory/members/", {"user": "colleague", "role": "owner"}, format="json")
    assert added.status_code == 201, added.content
    me = next(
        m for m in api.get("/api/v1/teams/mallory/members/").json()["results"] if m["username"] == "mallory"
    )
    demoted = api.patch(f"/api/v1/teams/mallory/members/{me['id']}/", {"role": "finance"}, format="json")
    assert demoted.status_code == 200 and demoted.json()["role"] == "finance"
    _, raw = api_token_create(
        team=Team.objects.get(slug="mallory"), actor=mallory, name="ci", scopes=[Scope.FINANCE]
    )

    for client in (api, bearer(raw)):
        assert costs(client) == {}  # her own team has spent nothing; alpha and gamma are not hers
        assert budget_teams(client) == {"mallory"}
        assert report_teams(client) == set()
    page = dashboard(mallory)
    assert "mallory" in page and "gamma" not in page and "alpha" not in page
    # The same page for a platform admin does show the other teams, so the check above can fail.
    assert "gamma" in dashboard(day["admin"])
    assert colleague.memberships.get(team__slug="mallory").role == Role.OWNER


def test_a_platform_finance_grant_sees_every_team_and_only_a_platform_admin_gives_it(day, make_token):
    carol = MembershipFactory(team=day["alpha"], user=UserFactory(username="carol"), role=Role.FINANCE).user
    assert costs(session(carol)) == {"alpha": 72.75}

    granted = session(day["admin"]).post(
        "/api/v1/platform/grants/", {"user": "carol", "role": "finance"}, format="json"
    )
    assert granted.status_code == 201, granted.content
    assert granted.json()["granted_by"] == day["admin"].username
    assert costs(session(carol)) == ALL_TEAMS
    assert budget_teams(session(carol)) == {"alpha", "gamma"}
    assert report_teams(session(carol)) == {"alpha", "gamma"}
    page = dashboard(carol)
    assert "alpha" in page and "gamma" in page
    # Her team token still reads her team only: a team token never reaches past its team.
    _, raw = make_token(carol, day["alpha"], scopes=(Scope.FINANCE,))
    assert costs(bearer(raw)) == {"alpha": 72.75}
    assert [e.action for e in AuditEvent.objects.filter(resource_type="platform_grant")] == [
        "platform_grant.create"
    ]

    revoked = session(day["admin"]).delete(f"/api/v1/platform/grants/{granted.json()['id']}/")
    assert revoked.status_code == 204
    assert costs(session(carol)) == {"alpha": 72.75}
    assert AuditEvent.objects.filter(action="platform_grant.revoke", result="success").count() == 1


@pytest.mark.parametrize("via", ["session", "team token", "superuser's team token"])
def test_nobody_but_a_platform_admin_grants_platform_roles(day, make_token, via):
    owner = MembershipFactory(team=day["alpha"], user=UserFactory(username="own"), role=Role.OWNER).user
    if via == "superuser's team token":
        owner.is_superuser = True
        owner.save()
    client = session(owner) if via == "session" else bearer(make_token(owner, day["alpha"])[1])
    grant = PlatformGrant.objects.create(user=UserFactory(username="someone"), role="finance")

    asked = client.post("/api/v1/platform/grants/", {"user": "own", "role": "finance"}, format="json")
    listed = client.get("/api/v1/platform/grants/")
    removed = client.delete(f"/api/v1/platform/grants/{grant.pk}/")

    assert (asked.status_code, listed.status_code, removed.status_code) == (403, 403, 403)
    assert asked.json()["error"]["code"] == "permission_denied"
    assert list(PlatformGrant.objects.values_list("user__username", flat=True)) == ["someone"]


PLATFORM_WRITES = [
    ("post", "/api/v1/targets/", {"name": "rogue", "kind": "local", "gpu_inventory": {}}),
    (
        "post",
        "/api/v1/billing/items/",
        {"provider": "gcp", "region": "r9", "sku": "rogue", "kind": "storage"},
    ),
    ("patch", "/api/v1/teams/alpha/registry-policy", {"allow_pickle_weights": True}),
]


@pytest.fixture
def root(day):
    """A superuser who is also an ordinary owner of alpha, with a team token there."""
    user = day["admin"]
    MembershipFactory(team=day["alpha"], user=user, role=Role.OWNER)
    return user


def test_a_superusers_team_token_acts_as_a_member_of_its_team(day, root):
    _, raw = api_token_create(
        team=day["alpha"], actor=root, name="ci", scopes=[Scope.READ, Scope.WRITE, Scope.FINANCE]
    )
    client = bearer(raw)

    for method, path, body in PLATFORM_WRITES:
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 403, (path, response.content)
        assert response.json()["error"]["message"].startswith("Only platform admins")
    for path in ("/api/v1/teams/gamma/", "/api/v1/teams/gamma/deployments/", "/api/v1/teams/gamma/members/"):
        assert client.get(path).status_code == 404, path
    assert (
        client.patch(
            "/api/v1/teams/gamma/registry-policy", {"allow_pickle_weights": True}, format="json"
        ).status_code
        == 404
    )
    assert [t["slug"] for t in client.get("/api/v1/teams/").json()["results"]] == ["alpha"]
    assert {t["name"] for t in client.get("/api/v1/targets/").json()["results"]} == {"cloud", "dc1"}
    assert client.get("/api/v1/audit-events/").status_code == 403
    assert costs(client) == {"alpha": 72.75}
    assert client.get("/api/v1/me/").json()["platform_admin"] is False
    minted = client.post(
        "/api/v1/teams/alpha/tokens/", {"name": "up", "scopes": ["read"], "scope": "platform"}, format="json"
    )
    assert minted.status_code == 403 and "scope" in minted.json()["error"]["fields"]
    assert not ApiToken.objects.filter(name__in=["rogue", "up"]).exists()
    from billing.models import CatalogItem
    from deployments.models import RegistryPolicy, Target

    assert not Target.objects.filter(name="rogue").exists()
    assert not CatalogItem.objects.filter(sku="rogue").exists()
    assert not RegistryPolicy.objects.filter(allow_pickle_weights=True).exists()


def test_a_superusers_platform_token_acts_as_platform_admin_while_they_are_one(day, root):
    created = session(root).post(
        "/api/v1/teams/alpha/tokens/",
        {"name": "ops", "scopes": ["read", "write", "finance"], "scope": "platform"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["scope"] == "platform"
    listed = session(root).get("/api/v1/teams/alpha/tokens/").json()["results"]
    assert [(t["name"], t["scope"]) for t in listed] == [("ops", "platform")]
    assert session(root).get("/api/v1/teams/alpha/tokens/", {"scope": "team"}).json()["results"] == []
    event = AuditEvent.objects.filter(action="token.create").latest("seq")
    assert event.parameters["scope"] == "platform"
    client = bearer(created.json()["token"])

    for method, path, body in PLATFORM_WRITES:
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code in (200, 201), (path, response.content)
    assert (
        client.patch(
            "/api/v1/teams/gamma/registry-policy", {"max_artifact_bytes": 10}, format="json"
        ).status_code
        == 200
    )
    assert client.get("/api/v1/teams/gamma/").status_code == 200
    assert {t["slug"] for t in client.get("/api/v1/teams/").json()["results"]} == {"alpha", "gamma"}
    assert client.get("/api/v1/audit-events/").status_code == 200
    assert costs(client) == ALL_TEAMS
    assert client.get("/api/v1/me/").json()["platform_admin"] is True

    # Losing superuser status ends the token: it never falls back to acting as a team member.
    root.is_superuser = False
    root.save()
    assert client.get("/api/v1/teams/alpha/").status_code == 401


def test_only_superusers_create_platform_tokens(team, members, make_token):
    owner = members["owner"]
    body = {"name": "up", "scopes": ["read", "write"], "scope": "platform"}
    for client in (session(owner), bearer(make_token(owner, team)[1])):
        refused = client.post(f"/api/v1/teams/{team.slug}/tokens/", body, format="json")
        assert refused.status_code == 403, refused.content
        assert refused.json()["error"]["fields"]["scope"][0].startswith("Only platform admins")
    page = console(owner).post(reverse("tokens", args=[team.slug]), {**body, "scopes": ["read"]})
    assert page.status_code == 200 and b"Only platform admins" in page.content
    assert not ApiToken.objects.filter(name="up").exists()
    # The console offers the choice to platform admins only.
    assert b'name="scope"' not in console(owner).get(reverse("tokens", args=[team.slug])).content
    operator = UserFactory(username="operator", is_superuser=True)
    assert b'name="scope"' in console(operator).get(reverse("tokens", args=[team.slug])).content
    made = console(operator).post(reverse("tokens", args=[team.slug]), {**body, "scopes": ["read"]})
    assert made.status_code == 200 and b'data-scope="platform"' in made.content
    assert ApiToken.objects.get(name="up").scope == "platform"


# ---- team deletion ------------------------------------------------------------------------------


def _rows_referencing(team_id: int, deployment_ids: list[int], artifact_ids: list[int]) -> dict[str, int]:
    """Rows of every model with a foreign key (or many-to-many) to Team, Deployment or
    ModelArtifact that still point at the deleted team's objects; found from the models, not a list."""
    targets = {"tenancy.team": [team_id], "deployments.deployment": deployment_ids,
               "deployments.modelartifact": artifact_ids}  # fmt: skip
    left = {}
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields():
            if not isinstance(field, models.ForeignKey | models.OneToOneField) or not field.concrete:
                continue
            ids = targets.get(field.related_model._meta.label_lower)
            if ids and (n := model._default_manager.filter(**{f"{field.attname}__in": ids}).count()):
                left[f"{model._meta.label}.{field.name}"] = n
    return left


def test_team_delete_is_a_409_naming_live_deployments_then_a_204_that_leaves_nothing(
    day,
    artifact_dirs,
    inspect,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    from deployments.models import Deployment, ReplicaInterval
    from deployments.reconcile import reconcile_deployment

    owner, deployer = UserFactory(username="own"), UserFactory(username="dep")
    api = session(owner)
    assert api.post("/api/v1/teams/", {"slug": "delta", "name": "Delta"}, format="json").status_code == 201
    delta = Team.objects.get(slug="delta")
    MembershipFactory(team=delta, user=deployer, role=Role.DEPLOYER)
    registry = RegistryClient(session(deployer), "delta")
    model = registry.create(name="tiny")
    data = tiny_onnx_bytes()
    put = registry.put(model["id"], "model.onnx", data, sha256=hashlib.sha256(data).hexdigest())
    assert put.status_code == 201, put.content
    assert inspect(registry, model["id"]).status == "ready"
    half = registry.create(name="half")  # an upload left open: its staged bytes must go too
    started = registry.api.post(
        f"{registry.base}{half['id']}/uploads/", {"path": "m.onnx", "size": 1000}, format="json"
    )
    assert started.status_code == 201, started.content
    url = f"{registry.base}{half['id']}/uploads/{started.json()['id']}/"
    chunk = registry.api.patch(
        url, data=b"x" * 100, content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET="0"
    )
    assert chunk.status_code == 200 and staged_files(artifact_dirs)
    with django_capture_on_commit_callbacks(execute=False):  # no worker: the reconcile runs below
        created = registry.api.post(
            "/api/v1/teams/delta/deployments/",
            {"name": "svc", "target": "dc1", "model_id": model["id"]},
            format="json",
        )
    assert created.status_code == 201, created.content
    svc = Deployment.objects.get(pk=created.json()["id"])
    ReplicaInterval.objects.create(
        deployment=svc,
        replica_id="d1",
        revision=1,
        gpu_type="g48",
        gpu_count=1,
        started_at=at(0),
        ended_at=at(6),
    )
    meter_day()  # delta now has usage and cost rows too
    assert svc.cost_entries.exists() and svc.usage_records.exists()
    secret = api.post("/api/v1/teams/delta/secrets/", {"name": "HF_TOKEN", "value": "v"}, format="json")
    assert secret.status_code == 201, secret.content
    api_token_create(team=delta, actor=owner, name="ci", scopes=[Scope.READ])
    assert any(p.startswith(f"artifacts/{delta.pk}/") for p in stored_files(artifact_dirs))

    refused = api.delete("/api/v1/teams/delta/")
    assert refused.status_code == 409, refused.content
    error = refused.json()["error"]
    assert (
        error["code"] == "conflict" and "svc" in error["message"] and set(error) >= {"fields", "request_id"}
    )
    page = console(owner).post(reverse("team-delete", args=["delta"]), {"confirm_slug": "delta"}, follow=True)
    assert page.status_code == 200 and b"svc" in page.content
    assert Team.objects.filter(slug="delta").exists()

    with django_capture_on_commit_callbacks(execute=False):
        assert registry.api.delete(f"/api/v1/teams/delta/deployments/{svc.pk}/").status_code == 202
    reconcile_deployment(deployment_id=svc.pk)  # the worker's step: nothing runs, so it is deleted
    svc.refresh_from_db()
    assert svc.status == "deleted"
    artifact_ids = list(delta.model_artifacts.values_list("pk", flat=True))
    before = costs(session(day["admin"]))
    assert "delta" in before

    with django_capture_on_commit_callbacks(execute=True):
        deleted = api.delete("/api/v1/teams/delta/")

    assert deleted.status_code == 204, deleted.content
    assert _rows_referencing(delta.pk, [svc.pk], artifact_ids) == {}
    assert not Team.objects.filter(pk=delta.pk).exists()
    assert not any(p.startswith(f"artifacts/{delta.pk}/") for p in stored_files(artifact_dirs))
    assert staged_files(artifact_dirs) == []
    assert not (artifact_dirs / "artifacts" / "artifacts" / str(delta.pk)).exists()
    # Its history stays, hash chain intact; other teams are untouched.
    history = AuditEvent.objects.filter(team_id=delta.pk)
    assert history.filter(action="team.delete", result="success").count() == 1
    assert history.filter(action="team.delete", result="failure").count() == 2  # API and console
    assert history.filter(action="deployment.create").exists()
    assert audit_verify()[1] == []
    assert costs(session(day["admin"])) == {k: v for k, v in before.items() if k != "delta"}


def test_deleting_a_team_that_never_deployed_is_a_204(team, members):
    response = session(members["owner"]).delete(f"/api/v1/teams/{team.slug}/")
    assert response.status_code == 204
    assert not Team.objects.filter(pk=team.pk).exists()
