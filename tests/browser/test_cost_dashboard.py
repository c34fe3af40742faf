"""The cost dashboard over the hand-computed day (tests/billing/conftest.py), as finance sees it."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from billing.services import budgets
from controlplane.tenancy.permissions import Role
from tests.billing.conftest import ledger_world, meter_day, platform_admin  # noqa: F401 (fixtures)
from tests.factories.tenancy import MembershipFactory, UserFactory

pytestmark = pytest.mark.browser


def test_cost_dashboard_showback_chargeback_banner_and_downloads(
    live_server,
    page,
    output_dir,
    ledger_world,  # noqa: F811 (fixture)
):
    meter_day()
    alpha = ledger_world["alpha"]
    alpha.monthly_budget = Decimal(100)
    alpha.save()
    budgets.budget_alerts_check(team=alpha, now=datetime(2026, 3, 11, tzinfo=UTC))  # 73 %: 50 and forecast
    # Every team's costs are a platform-level view; a team's finance member sees its team only.
    UserFactory(username="accountant", password="correct horse battery staple", is_superuser=True)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("accountant")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/costs/dashboard/?month=2026-03")

    expect(page.get_by_role("heading", name="Costs, March 2026")).to_be_visible()
    expect(page.locator(".budget-banner")).to_have_count(2)
    expect(page.locator(".budget-banner").first).to_contain_text("alpha")
    expect(page.locator("#cost-total")).to_have_text("$179.75")
    expect(page.locator("#showback-table")).to_contain_text("$72.75")
    expect(page.locator("#showback-table")).to_contain_text("$107.00")
    expect(page.locator("#deployment-table")).to_contain_text("gamma/vision")
    expect(page.locator("#category-table")).to_contain_text("Idle on-premises capacity")
    expect(page.locator("svg.cost-chart rect title").first).to_be_attached()
    page.screenshot(path=str(output_dir / "cost-dashboard.png"), full_page=True)

    page.get_by_role("link", name="chargeback").click()
    expect(page.locator("#chargeback-table")).to_contain_text("CC-200")
    page.screenshot(path=str(output_dir / "cost-chargeback.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#downloads a", has_text="CSV").first.click()
    assert "alpha/chat" in Path(download.value.path()).read_text()
    assert (output_dir / "cost-dashboard.png").stat().st_size > 10_000


def test_a_deployer_cannot_open_the_dashboard(live_server, page, team):
    MembershipFactory(
        team=team,
        role=Role.DEPLOYER,
        user=UserFactory(username="dev", password="correct horse battery staple"),
    )
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("dev")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    response = page.goto(f"{live_server.url}/costs/dashboard/")
    assert response.status == 403
