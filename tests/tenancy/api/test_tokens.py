from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from controlplane.tenancy.models import ApiToken, Membership
from controlplane.tenancy.permissions import Scope
from controlplane.tenancy.services import api_token_revoke


def _all_database_text() -> str:
    """Every value of every table, as text: the plaintext must be in none of them."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            chunks.extend(str(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_token_is_shown_once_and_never_stored_in_plaintext(client, team, members):
    client.force_login(members["deployer"])
    response = client.post(
        f"/api/v1/teams/{team.slug}/tokens/",
        {"name": "ci", "scopes": ["read", "invoke"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    plaintext = response.json()["token"]
    secret = plaintext.split("_", 2)[2]  # the secret part may itself contain "_"
    assert len(secret) == 43
    assert plaintext.startswith(f"cpt_{response.json()['prefix'][4:12]}_")

    text = _all_database_text()
    assert secret not in text and plaintext not in text
    listed = client.get(f"/api/v1/teams/{team.slug}/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["ci"]
    assert "token" not in listed[0]
    assert plaintext not in str(client.get(f"/api/v1/teams/{team.slug}/tokens/{listed[0]['id']}/").json())


def test_bearer_token_acts_for_its_user_in_its_team_only(api_client, team, members, make_token):
    _, raw = make_token(members["owner"], team, scopes=[Scope.READ])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    me = api_client.get("/api/v1/me/").json()
    assert me["username"] == "owner" and me["teams"] == {"alpha": "owner"}
    assert api_client.get(f"/api/v1/teams/{team.slug}/").status_code == 200
    assert [t["slug"] for t in api_client.get("/api/v1/teams/").json()["results"]] == ["alpha"]

    Membership.objects.create(
        team=members["outsider"].memberships.get().team, user=members["owner"], role="owner"
    )
    assert api_client.get("/api/v1/teams/beta/").status_code == 404  # the user is in beta; the token is not


def test_scopes_limit_what_a_token_can_do(api_client, team, members, make_token):
    _, read_only = make_token(members["owner"], team, scopes=[Scope.READ])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_only}")
    refused = api_client.patch(f"/api/v1/teams/{team.slug}/", {"name": "X"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "This token lacks the 'write' scope."

    _, invoke_only = make_token(members["owner"], team, scopes=[Scope.INVOKE])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {invoke_only}")
    assert api_client.get(f"/api/v1/teams/{team.slug}/").status_code == 403

    _, writer = make_token(members["owner"], team, scopes=[Scope.READ, Scope.WRITE])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert api_client.patch(f"/api/v1/teams/{team.slug}/", {"name": "X"}, format="json").status_code == 200
    assert (
        api_client.post("/api/v1/teams/", {"slug": "via-token", "name": "T"}, format="json").status_code
        == 403
    )


@pytest.mark.parametrize("state", ["revoked", "expired", "garbage", "member-removed"])
def test_dead_tokens_get_401(api_client, team, members, make_token, state):
    token, raw = make_token(members["viewer"], team)
    if state == "revoked":
        api_token_revoke(token=token, actor=members["viewer"])
    elif state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "garbage":
        raw = raw[:-2] + "xx"
    else:
        Membership.objects.filter(team=team, user=members["viewer"]).delete()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid, expired or revoked token."


def test_last_used_is_recorded(api_client, team, members, make_token):
    token, raw = make_token(members["viewer"], team)
    assert token.last_used_at is None
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api_client.get("/api/v1/me/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_expiry_in_the_past_is_refused_with_the_field(api_client, team, members):
    api_client.force_authenticate(members["viewer"])
    response = api_client.post(
        f"/api/v1/teams/{team.slug}/tokens/",
        {"name": "old", "scopes": ["read"], "expires_at": (timezone.now() - timedelta(days=1)).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"expires_at": ["The expiry must be in the future."]}
    assert not ApiToken.objects.filter(name="old").exists()


def test_removing_a_member_revokes_their_tokens(api_client, team, members, make_token):
    token, _ = make_token(members["deployer"], team)
    api_client.force_authenticate(members["admin"])
    membership = Membership.objects.get(team=team, user=members["deployer"])
    assert api_client.delete(f"/api/v1/teams/{team.slug}/members/{membership.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None


@override_settings(GATEWAY_SHARED_SECRET="gw-secret")
def test_introspection_for_the_gateway(api_client, team, members, make_token):
    token, raw = make_token(members["deployer"], team, scopes=[Scope.INVOKE])
    url = "/api/v1/auth/introspect"
    assert api_client.post(url, {"token": raw}, format="json").status_code == 403
    assert (
        api_client.post(url, {"token": raw}, format="json", HTTP_X_GATEWAY_SECRET="wrong").status_code == 403
    )

    active = api_client.post(url, {"token": raw}, format="json", HTTP_X_GATEWAY_SECRET="gw-secret").json()
    assert active == {
        "active": True,
        "token_id": token.pk,
        "team": "alpha",
        "scopes": ["invoke"],
        "expires_at": None,
    }

    api_token_revoke(token=token, actor=members["deployer"])
    revoked = api_client.post(url, {"token": raw}, format="json", HTTP_X_GATEWAY_SECRET="gw-secret").json()
    assert revoked == {"active": False}
