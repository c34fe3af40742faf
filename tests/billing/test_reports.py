"""Finance reports of March 2026 over the hand-computed day (tests/billing/conftest.py)."""

import csv
import io
import shutil
import subprocess

import pytest

from controlplane.tenancy.permissions import Role
from tests.billing.conftest import meter_day
from tests.factories.tenancy import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def accountant(ledger_world):
    # The whole-installation report is platform-level: a team's finance role sees its team only.
    meter_day()
    return UserFactory(username="acc", is_superuser=True)


def test_json_report_by_team_and_by_cost_centre(api_client, accountant):
    api_client.force_authenticate(accountant)
    body = api_client.get("/api/v1/billing/reports/2026-03/").json()
    assert body["total"] == "179.75"
    groups = {g["name"]: g for g in body["groups"]}
    assert groups["gamma"]["by_category"] == {"amortised_hardware": "56.17", "idle_capacity": "50.83"}
    assert groups["alpha"]["by_deployment"] == {"alpha/chat": "72.75"}
    by_centre = api_client.get("/api/v1/billing/reports/2026-03/", {"by": "cost_centre"}).json()
    assert {g["name"]: g["total"] for g in by_centre["groups"]} == {"CC-100": "72.75", "CC-200": "107.00"}
    assert api_client.get("/api/v1/billing/reports/2026-04/").json()["total"] == "0.00"
    assert api_client.get("/api/v1/billing/reports/March/").status_code == 404


def test_csv_report_adds_up(api_client, accountant):
    api_client.force_authenticate(accountant)
    response = api_client.get("/api/v1/billing/reports/2026-03/", {"output": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    lines = [r for r in rows if r["category"] != "total"]
    assert {(r["team"], r["deployment"], r["category"], r["usd"]) for r in lines} == {
        ("alpha", "alpha/chat", "GPU compute", "72.75"),
        ("gamma", "gamma/vision", "Amortised hardware", "56.17"),
        ("gamma", "gamma/vision", "Idle on-premises capacity", "50.83"),
    }
    assert rows[-1]["team"] == "all" and rows[-1]["usd"] == "179.75"


def test_owners_get_their_team_only_and_deployers_nothing(api_client, ledger_world):
    meter_day()
    owner = MembershipFactory(
        team=ledger_world["gamma"], user=UserFactory(username="own"), role=Role.OWNER
    ).user
    deployer = MembershipFactory(
        team=ledger_world["gamma"], user=UserFactory(username="dep"), role=Role.DEPLOYER
    ).user
    api_client.force_authenticate(owner)
    assert [g["name"] for g in api_client.get("/api/v1/billing/reports/2026-03/").json()["groups"]] == [
        "gamma"
    ]
    api_client.force_authenticate(deployer)
    assert api_client.get("/api/v1/billing/reports/2026-03/").status_code == 403


def test_pdf_report_renders_to_a_png_that_is_not_blank(api_client, accountant, tmp_path):
    from PIL import Image

    assert shutil.which("pdftoppm"), "make browser installs poppler-utils"
    api_client.force_authenticate(accountant)
    response = api_client.get("/api/v1/billing/reports/2026-03/", {"output": "pdf"})
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(response.content)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
        timeout=30,
    )
    page = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    colours = page.getcolors(maxcolors=1 << 20)
    non_white = sum(n for n, rgb in colours if rgb != (255, 255, 255))
    assert non_white > 0.01 * page.width * page.height  # text, the table and the chart's bars
    assert any(b > r + 60 and b > g + 30 for _, (r, g, b) in colours)  # the chart's blue bars
