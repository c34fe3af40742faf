"""Everyone signed in reads the catalog; only platform admins change it; errors name the field."""

import pytest

from billing.models import Price

READS = [
    "/api/v1/billing/gpu-types/",
    "/api/v1/billing/gpu-types/g48/",
    "/api/v1/billing/gpu-prices/",
    "/api/v1/billing/items/",
    "/api/v1/billing/items/{item}/",
    "/api/v1/billing/items/{item}/prices/",
    "/api/v1/billing/onprem-profiles/",
    "/api/v1/billing/onprem-profiles/rack/",
    "/api/v1/billing/tco/?requests_per_day=1000&params_billions=1&latency_s=1",
]
WRITES = [
    (
        "post",
        "/api/v1/billing/gpu-types/",
        {
            "slug": "g1",
            "name": "G1",
            "memory_gb": "8",
            "bandwidth_gbps": "100",
            "source_key": "X",
            "source": "x",
        },
    ),
    ("patch", "/api/v1/billing/gpu-types/g48/", {"name": "Renamed"}),
    ("post", "/api/v1/billing/items/", {"provider": "gcp", "region": "r3", "sku": "n1", "kind": "storage"}),
    (
        "post",
        "/api/v1/billing/items/{item}/prices/",
        {"usd": "1", "effective_from": "2026-05-01T00:00:00Z", "source_key": "X", "source": "x"},
    ),
    ("patch", "/api/v1/billing/onprem-profiles/rack/", {"name": "Renamed rack"}),
]


@pytest.mark.parametrize("role", ["owner", "viewer", "finance", "outsider", "admin"])
@pytest.mark.parametrize("url", READS)
def test_every_signed_in_user_reads_the_catalog(api_client, catalog, members, role, url):
    api_client.force_authenticate(members[role])
    response = api_client.get(url.format(item=catalog["items"]["small"].pk))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("url", READS)
def test_anonymous_callers_read_nothing(api_client, catalog, url):
    assert api_client.get(url.format(item=catalog["items"]["small"].pk)).status_code in (401, 403)


@pytest.mark.parametrize("role", ["owner", "admin", "viewer", "finance", "outsider"])
@pytest.mark.parametrize("method,url,body", WRITES, ids=[f"{w[0]} {w[1]}" for w in WRITES])
def test_only_platform_admins_change_the_catalog(api_client, catalog, members, role, method, url, body):
    url = url.format(item=catalog["items"]["small"].pk)
    api_client.force_authenticate(members[role])
    refused = getattr(api_client, method)(url, body, format="json")
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["message"] == "Only platform admins (superusers) change the price catalog."

    api_client.force_authenticate(catalog["admin"])
    assert getattr(api_client, method)(url, body, format="json").status_code in (200, 201)


def test_a_read_token_reads_but_cannot_write(api_client, catalog, team, members, make_token):
    _, plaintext = make_token(members["viewer"], team, scopes=["read"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api_client.get("/api/v1/billing/gpu-prices/").status_code == 200
    item = catalog["items"]["small"].pk
    body = {"usd": "1", "effective_from": "2026-05-01T00:00:00Z", "source_key": "X", "source": "x"}
    assert api_client.post(f"/api/v1/billing/items/{item}/prices/", body, format="json").status_code == 403


def test_item_detail_has_current_prices_and_history(api_client, catalog, members):
    item = catalog["items"]["small"]
    api_client.force_authenticate(catalog["admin"])
    api_client.post(
        f"/api/v1/billing/items/{item.pk}/prices/",
        {
            "usd": "2.40",
            "effective_from": "2999-01-01T00:00:00Z",
            "source_key": "P9",
            "source": "future list",
            "unverified": True,
        },
        format="json",
    )
    api_client.force_authenticate(members["viewer"])
    body = api_client.get(f"/api/v1/billing/items/{item.pk}/").json()
    assert [(p["term"], p["usd"]) for p in body["current_prices"]] == [
        ("on_demand", "2.0000000000"),
        ("spot", "0.8000000000"),
    ]
    assert [(p["usd"], p["source_key"], p["unverified"], p["created_by"]) for p in body["prices"]][:2] == [
        ("2.4000000000", "P9", True, "root"),
        ("2.0000000000", "TEST", False, "root"),
    ]


def test_items_filter_by_provider_and_gpu(api_client, catalog, members):
    api_client.force_authenticate(members["viewer"])
    skus = [
        i["sku"]
        for i in api_client.get("/api/v1/billing/items/?provider=sagemaker&kind=instance").json()["results"]
    ]
    assert skus == ["ml.c1.xlarge"]
    assert api_client.get("/api/v1/billing/items/?provider=ibm").status_code == 400


def test_gpu_prices_and_profile_working_in_the_api(api_client, catalog, members):
    api_client.force_authenticate(members["finance"])
    (row,) = api_client.get("/api/v1/billing/gpu-prices/").json()
    assert (row["gpu_type"], row["usd_per_gpu_hour"], row["instance"]) == ("g48", "1.161035", "rack")
    profile = api_client.get("/api/v1/billing/onprem-profiles/rack/").json()
    assert [t["label"] for t in profile["working"]["terms"]] == [
        "Hardware, amortised",
        "Energy",
        "Operations",
    ]
    assert profile["working"]["usd_per_gpu_hour"] == 1.161035


@pytest.mark.parametrize(
    "url,body,field",
    [
        (
            "/api/v1/billing/items/{item}/prices/",
            {"usd": "-1", "effective_from": "2026-05-01T00:00:00Z", "source_key": "X", "source": "x"},
            "usd",
        ),
        (
            "/api/v1/billing/items/{item}/prices/",
            {"usd": "1", "source_key": "X", "source": "x"},
            "effective_from",
        ),
        (
            "/api/v1/billing/items/{item}/prices/",
            {
                "usd": "1",
                "effective_from": "2026-05-01T00:00:00Z",
                "unit": "request",
                "source_key": "X",
                "source": "x",
            },
            "unit",
        ),
        (
            "/api/v1/billing/gpu-types/",
            {
                "slug": "g2",
                "name": "G2",
                "memory_gb": "0",
                "bandwidth_gbps": "100",
                "source_key": "X",
                "source": "x",
            },
            "memory_gb",
        ),
        (
            "/api/v1/billing/items/",
            {
                "provider": "aws",
                "region": "r1",
                "sku": "s3",
                "kind": "storage",
                "gpu_type": "g48",
                "gpu_count": 1,
            },
            "gpu_type",
        ),
        (
            "/api/v1/billing/onprem-profiles/",
            {
                "slug": "rack",
                "name": "Dup",
                "site": "dc1",
                "gpu_type": "g48",
                "gpus_per_server": 4,
                "hardware_cost_usd": "1",
                "amortisation_years": 3,
                "power_kw": "1",
                "usd_per_kwh": "0.1",
                "pue": "1.2",
                "operations_usd_per_year": "0",
                "expected_utilisation": "0.5",
                "source": "x",
                "effective_from": "2026-05-01T00:00:00Z",
            },
            "slug",
        ),
    ],
)
def test_api_errors_name_the_field_and_change_nothing(api_client, catalog, url, body, field):
    api_client.force_authenticate(catalog["admin"])
    prices = Price.objects.count()
    response = api_client.post(url.format(item=catalog["items"]["small"].pk), body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]
    assert Price.objects.count() == prices
