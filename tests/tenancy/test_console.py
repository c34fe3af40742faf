"""Console pages: scoped like the API, audited like the API, htmx partials where the page uses them."""

import csv
import io

from controlplane.tenancy.models import AuditEvent, AuditResult, Membership, Team
from controlplane.tenancy.services import audit_record


def test_sign_in_and_out_are_audited(client, members):
    assert client.post("/login/", {"username": "viewer", "password": "wrong"}).status_code == 200
    client.post("/login/", {"username": "viewer", "password": "correct horse battery staple"})
    client.post("/logout/")
    events = list(AuditEvent.objects.order_by("seq").values_list("action", "result", "actor_label"))
    assert events[-3:] == [
        ("session.login", AuditResult.FAILURE, "system"),
        ("session.login", AuditResult.SUCCESS, "viewer"),
        ("session.logout", AuditResult.SUCCESS, "viewer"),
    ]


def test_outsider_gets_404_on_every_team_page(client, team, members):
    client.force_login(members["outsider"])
    for suffix in ["", "members/", "tokens/", "audit/", "settings/"]:
        assert client.get(f"/teams/{team.slug}/{suffix}").status_code == 404, suffix
    assert client.post(f"/teams/{team.slug}/delete/", {"confirm_slug": team.slug}).status_code == 404
    assert Team.objects.filter(pk=team.pk).exists()


def test_member_without_the_role_gets_403(client, team, members):
    client.force_login(members["viewer"])
    assert client.get(f"/teams/{team.slug}/audit/").status_code == 403
    assert client.get(f"/teams/{team.slug}/settings/").status_code == 403
    assert (
        client.post(f"/teams/{team.slug}/members/", {"user": "finance", "role": "owner"}).status_code == 403
    )


def test_create_team_form_names_the_bad_field_and_leaves_nothing(client, members):
    client.force_login(members["viewer"])
    response = client.post("/teams/new/", {"name": "Shiny", "slug": "alpha"})
    assert response.status_code == 200
    assert "The slug &#x27;alpha&#x27; is already taken." in response.content.decode()
    assert not Team.objects.filter(name="Shiny").exists()
    refused = AuditEvent.objects.order_by("-seq").first()
    assert (refused.action, refused.result) == ("team.create", AuditResult.FAILURE)


def test_role_change_by_htmx_returns_the_row(client, team, members):
    client.force_login(members["owner"])
    viewer = Membership.objects.get(team=team, user=members["viewer"])
    response = client.post(
        f"/teams/{team.slug}/members/{viewer.pk}/role/", {"role": "deployer"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="member-{viewer.pk}">')
    assert '<option value="deployer" selected>' in body
    viewer.refresh_from_db()
    assert viewer.role == "deployer"


def test_audit_page_filters_and_exports_csv(client, team, members):
    for action in ["token.create", "token.revoke", "member.add"]:
        audit_record(actor=members["owner"], action=action, resource_type="x", team=team)
    audit_record(
        actor=members["outsider"],
        action="token.create",
        resource_type="x",
        team=members["outsider"].memberships.get().team,
    )
    client.force_login(members["admin"])

    partial = client.get(f"/teams/{team.slug}/audit/?action=token.", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="audit-table">')
    assert "token.revoke" in partial and "member.add" not in partial

    export = client.get(f"/teams/{team.slug}/audit/?action=token.&format=csv")
    assert export["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["token.revoke", "token.create"]  # newest first; beta's row absent
    assert {r["team_slug"] for r in rows} == {"alpha"}


def test_home_shows_an_empty_state_then_the_last_team(client, members, team):
    from tests.factories.tenancy import UserFactory

    client.force_login(UserFactory(username="newbie"))
    assert "Create your first team" in client.get("/").content.decode()
    client.force_login(members["viewer"])
    assert client.get("/").url == f"/teams/{team.slug}/"


def test_static_htmx_is_served_locally(client, members):
    client.force_login(members["viewer"])
    page = client.get("/teams/alpha/").content.decode()
    assert '<script src="/static/vendor/htmx.min.js"' in page
    assert "https://" not in page.split("<body")[0]  # nothing loaded from a CDN
