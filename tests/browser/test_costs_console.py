import pytest
from playwright.sync_api import expect

from billing.services import catalog_seed
from tests.factories.tenancy import UserFactory

pytestmark = pytest.mark.browser


def test_catalog_and_tco_pages(live_server, page, output_dir):
    admin = UserFactory(username="platform", password="correct horse battery staple")
    admin.is_superuser = admin.is_staff = True
    admin.save()
    catalog_seed(actor=None)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("platform")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Price catalog").click()
    expect(page.get_by_role("heading", name="Price catalog")).to_be_visible()
    expect(page.locator("#gpu-table")).to_contain_text("h100-sxm-80gb")
    expect(page.locator("#items-table")).to_contain_text("p5.48xlarge")
    expect(page.locator("#items-table .badge.unverified").first).to_be_visible()
    page.screenshot(path=str(output_dir / "price-catalog.png"), full_page=True)

    page.locator("#id_provider").select_option("sagemaker")  # htmx swaps the table in place
    expect(page.locator("#items-table")).not_to_contain_text("g6e.48xlarge")
    expect(page.locator("#items-table")).to_contain_text("ml.g5.xlarge")

    page.get_by_role("link", name="TCO").click()
    page.get_by_label("Requests per day").fill("150000")
    page.get_by_label("Model size (B params)").fill("8")
    page.get_by_label("Tokens per request").fill("400")
    page.get_by_label("Horizon").select_option("3")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#tco-recommendation h2")).to_contain_text("Recommended:")
    expect(page.locator("svg.chart polyline")).to_have_count(4)  # serverless cannot hold an 8 B model
    expect(page.locator("#tco-table")).to_contain_text("not possible")
    page.screenshot(path=str(output_dir / "tco.png"), full_page=True)
    assert "requests_per_day=150000" in page.url  # hx-push-url: the comparison can be shared as a link

    page.get_by_role("link", name="On-prem").click()
    page.get_by_role("link", name="Example: 8× H100 SXM server").click()
    expect(page.locator(".working-table").first).to_contain_text("Energy")
    page.screenshot(path=str(output_dir / "onprem-working.png"), full_page=True)
