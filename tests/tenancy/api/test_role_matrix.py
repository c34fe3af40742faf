"""For every endpoint of the tenancy API, each role gets exactly what it may do; a member of
another team gets 404."""

import pytest

from controlplane.tenancy.models import Membership, Team
from controlplane.tenancy.permissions import Role
from tests.factories.tenancy import MembershipFactory, UserFactory

ALL = {r.value for r in Role}
ADMINS = {Role.OWNER.value, Role.ADMIN.value}
READERS = ALL - {Role.FINANCE.value}  # finance sees costs, not the team's internals


def _objects(team, members, make_token):
    victim = MembershipFactory(team=team, user=UserFactory(username="victim"), role=Role.VIEWER)
    victim_token, _ = make_token(victim.user, team)
    return {"victim": victim, "victim_token": victim_token}


# (method, path template, body, roles allowed, success status)
CASES = [
    ("get", "/api/v1/teams/{team}/", None, ALL, 200),
    ("patch", "/api/v1/teams/{team}/", {"name": "Renamed"}, ADMINS, 200),
    ("delete", "/api/v1/teams/{team}/", None, {Role.OWNER.value}, 204),
    ("get", "/api/v1/teams/{team}/members/", None, READERS, 200),
    ("post", "/api/v1/teams/{team}/members/", {"user": "newcomer", "role": "viewer"}, ADMINS, 201),
    ("get", "/api/v1/teams/{team}/members/{victim}/", None, READERS, 200),
    ("patch", "/api/v1/teams/{team}/members/{victim}/", {"role": "deployer"}, ADMINS, 200),
    ("delete", "/api/v1/teams/{team}/members/{victim}/", None, ADMINS, 204),
    ("get", "/api/v1/teams/{team}/tokens/", None, ALL, 200),
    ("post", "/api/v1/teams/{team}/tokens/", {"name": "ci", "scopes": ["read"]}, ALL, 201),
    ("get", "/api/v1/teams/{team}/tokens/{own_token}/", None, ALL, 200),
    ("delete", "/api/v1/teams/{team}/tokens/{own_token}/", None, ALL, 200),
    ("get", "/api/v1/teams/{team}/tokens/{victim_token}/", None, ADMINS, 200),
    ("delete", "/api/v1/teams/{team}/tokens/{victim_token}/", None, ADMINS, 200),
    ("get", "/api/v1/teams/{team}/audit-events/", None, ADMINS, 200),
]

# A member whose role lacks the action gets 403, except where the object itself is hidden from
# them (another member's token is simply not theirs to see): then 404.
HIDDEN_OBJECT_CASES = {"{victim_token}"}


@pytest.mark.parametrize("role", [*sorted(ALL), "outsider"])
@pytest.mark.parametrize("method,path,body,allowed,ok", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_role_matrix(api_client, team, members, make_token, role, method, path, body, allowed, ok):
    UserFactory(username="newcomer")
    objects = _objects(team, members, make_token)
    user = members[role]
    own_token = make_token(user, user.memberships.first().team)[0]
    url = path.format(
        team=team.slug,
        victim=objects["victim"].pk,
        victim_token=objects["victim_token"].pk,
        own_token=own_token.pk,
    )
    api_client.force_authenticate(user)

    response = getattr(api_client, method)(url, body, format="json")

    if role == "outsider":
        assert response.status_code == 404, response.content
    elif role in allowed:
        assert response.status_code == ok, response.content
    elif any(marker in path for marker in HIDDEN_OBJECT_CASES):
        assert response.status_code == 404, response.content
    else:
        assert response.status_code == 403, response.content
        assert role in response.json()["error"]["message"]


def test_team_list_shows_only_own_teams(api_client, team, members):
    api_client.force_authenticate(members["outsider"])
    slugs = [t["slug"] for t in api_client.get("/api/v1/teams/").json()["results"]]
    assert slugs == ["beta"]

    api_client.force_authenticate(members["viewer"])
    listed = api_client.get("/api/v1/teams/").json()["results"]
    assert [(t["slug"], t["role"]) for t in listed] == [("alpha", "viewer")]


@pytest.mark.parametrize("role", sorted(ALL))
def test_any_signed_in_user_can_create_a_team_and_owns_it(api_client, members, role):
    api_client.force_authenticate(members[role])
    response = api_client.post("/api/v1/teams/", {"slug": f"new-{role}", "name": "New"}, format="json")
    assert response.status_code == 201
    assert Membership.objects.get(team__slug=f"new-{role}", user=members[role]).role == Role.OWNER


@pytest.mark.parametrize("role", [*sorted(ALL), "outsider"])
def test_platform_audit_log_is_for_superusers_only(api_client, members, role):
    api_client.force_authenticate(members[role])
    assert api_client.get("/api/v1/audit-events/").status_code == 403

    operator = UserFactory(username="operator", is_superuser=True, is_staff=True)
    api_client.force_authenticate(operator)
    assert api_client.get("/api/v1/audit-events/").status_code == 200


def test_admin_cannot_make_an_owner_but_owner_can(api_client, team, members):
    viewer = Membership.objects.get(team=team, user=members["viewer"])
    api_client.force_authenticate(members["admin"])
    refused = api_client.patch(
        f"/api/v1/teams/{team.slug}/members/{viewer.pk}/", {"role": "owner"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["fields"] == {"role": ["Only an owner can make another owner."]}

    api_client.force_authenticate(members["owner"])
    granted = api_client.patch(
        f"/api/v1/teams/{team.slug}/members/{viewer.pk}/", {"role": "owner"}, format="json"
    )
    assert granted.status_code == 200 and granted.json()["role"] == "owner"


def test_last_owner_cannot_leave_or_be_demoted(api_client, team, members):
    owner = Membership.objects.get(team=team, user=members["owner"])
    api_client.force_authenticate(members["owner"])
    demote = api_client.patch(
        f"/api/v1/teams/{team.slug}/members/{owner.pk}/", {"role": "admin"}, format="json"
    )
    assert demote.status_code == 400
    assert demote.json()["error"]["fields"]["role"] == ["A team must keep at least one owner."]
    assert api_client.delete(f"/api/v1/teams/{team.slug}/members/{owner.pk}/").status_code == 400
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER
    assert Team.objects.filter(pk=team.pk).exists()
