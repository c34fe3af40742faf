import pytest
from playwright.sync_api import expect

from controlplane.tenancy.models import ApiToken, AuditEvent, Membership
from controlplane.tenancy.models.tokens import token_hash
from tests.factories.tenancy import UserFactory

pytestmark = pytest.mark.browser


def test_sign_in_create_team_and_token_shown_exactly_once(live_server, page, output_dir):
    UserFactory(username="alice", password="correct horse battery staple")

    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Welcome, alice")).to_be_visible()

    page.get_by_role("link", name="Create your first team").click()
    page.get_by_label("Name").fill("Search Ranking")
    page.get_by_label("Slug").fill("search-ranking")
    page.get_by_label("Cost centre").fill("CC-4410")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Search Ranking")).to_be_visible()
    assert Membership.objects.get(team__slug="search-ranking", user__username="alice").role == "owner"

    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("ci pipeline")
    page.get_by_label("invoke: call the team's endpoints through the gateway").check()
    page.get_by_role("button", name="Create token").click()
    shown = page.locator("#new-token")
    expect(shown).to_be_visible()
    plaintext = shown.inner_text().strip()
    assert plaintext.startswith("cpt_")
    expect(page.locator("#token-table")).to_contain_text("ci pipeline")
    page.screenshot(path=str(output_dir / "token-created.png"), full_page=True)

    token = ApiToken.objects.get(name="ci pipeline")
    assert token.token_hash == token_hash(plaintext)
    assert token.scopes == ["read", "invoke"]

    page.reload()
    expect(page.locator("#token-table")).to_contain_text("ci pipeline")
    assert plaintext not in page.content()
    page.goto(f"{live_server.url}/teams/search-ranking/audit/")
    expect(page.locator("#audit-table")).to_contain_text("token.create")
    page.screenshot(path=str(output_dir / "audit-log.png"), full_page=True)
    assert list(
        AuditEvent.objects.filter(team_slug="search-ranking").order_by("seq").values_list("action", flat=True)
    ) == ["team.create", "token.create"]
