"""Console pages of the catalog: read by all, changed by platform admins through the services,
refusals audited, htmx partials for the filtered table."""

import pytest

from billing.models import OnPremProfile, Price
from billing.services import catalog_seed
from controlplane.tenancy.models import AuditEvent, AuditResult

PAGES = [
    "/costs/catalog/",
    "/costs/catalog/items/{item}/",
    "/costs/onprem/",
    "/costs/onprem/rack/",
    "/costs/tco/",
]


@pytest.mark.parametrize("url", PAGES)
def test_every_member_reads_the_cost_pages(client, catalog, members, url):
    client.force_login(members["viewer"])
    response = client.get(url.format(item=catalog["items"]["small"].pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Add item" not in page and "Add a price" not in page and "Change the profile" not in page


@pytest.mark.parametrize(
    "url",
    [
        "/costs/catalog/items/new/",
        "/costs/catalog/gpus/new/",
        "/costs/catalog/gpus/g48/edit/",
        "/costs/onprem/new/",
    ],
)
def test_edit_pages_are_for_platform_admins(client, catalog, members, url):
    client.force_login(members["owner"])
    assert client.get(url).status_code == 403
    client.force_login(catalog["admin"])
    assert client.get(url).status_code == 200


def test_a_non_admin_cannot_post_a_price(client, catalog, members):
    item = catalog["items"]["small"]
    client.force_login(members["admin"])
    before = Price.objects.count()
    body = {
        "usd": "3",
        "term": "on_demand",
        "unit": "instance_hour",
        "effective_from": "2026-06-01T00:00",
        "source_key": "X",
        "source": "x",
    }
    assert client.post(f"/costs/catalog/items/{item.pk}/", body).status_code == 403
    assert Price.objects.count() == before


def test_admin_adds_a_price_in_the_console_and_it_is_audited(client, catalog):
    item = catalog["items"]["small"]
    client.force_login(catalog["admin"])
    before = AuditEvent.objects.count()
    body = {
        "usd": "1.75",
        "term": "on_demand",
        "unit": "instance_hour",
        "effective_from": "2026-06-01T00:00",
        "source_key": "P1",
        "source": "https://example.test/prices",
    }
    response = client.post(f"/costs/catalog/items/{item.pk}/", body)
    assert response.status_code == 302
    assert Price.objects.filter(item=item, usd="1.75", source_key="P1").exists()
    assert list(AuditEvent.objects.order_by("seq")[before:].values_list("action", "result")) == [
        ("price.add", AuditResult.SUCCESS)
    ]
    page = client.get(response.url).content.decode()
    assert "1.75" in page and "https://example.test/prices" in page


def test_console_refusal_names_the_field_and_is_audited(client, catalog):
    item = catalog["items"]["small"]
    client.force_login(catalog["admin"])
    before = AuditEvent.objects.count()
    body = {
        "usd": "1.75",
        "term": "on_demand",
        "unit": "instance_hour",
        "effective_from": "2025-06-01T00:00",
        "source_key": "P1",
        "source": "x",
    }
    page = client.post(f"/costs/catalog/items/{item.pk}/", body).content.decode()
    assert 'data-field="effective_from"' in page and "never rewritten" in page
    assert list(AuditEvent.objects.order_by("seq")[before:].values_list("action", "result")) == [
        ("price.add", AuditResult.FAILURE)
    ]


def test_admin_changes_an_onprem_profile_from_a_date(client, catalog):
    client.force_login(catalog["admin"])
    body = {
        "name": "4× g48 server",
        "gpus_per_server": 4,
        "hardware_cost_usd": "40000",
        "amortisation_years": 3,
        "power_kw": "2.0",
        "usd_per_kwh": "0.20",
        "pue": "1.5",
        "operations_usd_per_year": "4380",
        "expected_utilisation": "0.5",
        "source": "fixture quote",
        "effective_from": "2026-07-01T00:00",
    }
    response = client.post("/costs/onprem/rack/", body)
    assert response.status_code == 302, response.content.decode()
    prices = list(
        Price.objects.filter(item=catalog["profile"].item)
        .order_by("effective_from")
        .values_list("usd", flat=True)
    )
    assert [str(p) for p in prices] == ["1.1610350000", "1.3110350000"]
    assert str(OnPremProfile.objects.get(slug="rack").usd_per_kwh) == "0.2000"
    assert "Cost per GPU-hour: $1.3110" in client.get("/costs/onprem/rack/").content.decode()
    assert "$1.3110 per GPU-hour" in client.get("/costs/onprem/").content.decode()


def test_catalog_filters_return_the_table_partial_to_htmx(client, catalog, members):
    client.force_login(members["viewer"])
    partial = client.get("/costs/catalog/?provider=sagemaker", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="items-table">')
    assert "ml.c1.xlarge" in partial and "c1.4xlarge" not in partial


def test_seeded_catalog_shows_sources_and_unverified_flags(client, members):
    catalog_seed(actor=None)
    client.force_login(members["viewer"])
    page = client.get("/costs/catalog/?provider=aws&sku=p5.48").content.decode()
    assert "p5.48xlarge" in page
    assert "$55.04" in page and "unverified" in page  # post-cut on-demand price, [K]
    assert "$18.00" in page and "Spot" in page  # 8 × $2.25/GPU-h, P4
    assert "= $6.8800 per GPU-hour" in page


def test_costs_navigation_sits_beside_the_team_navigation(client, team, members):
    client.force_login(members["viewer"])
    page = client.get(f"/teams/{team.slug}/").content.decode()
    for link in ('href="/costs/catalog/"', 'href="/costs/onprem/"', 'href="/costs/tco/"'):
        assert link in page
    assert 'class="sidenav"' in page and f'href="/teams/{team.slug}/members/"' in page
