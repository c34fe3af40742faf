"""The TCO endpoint returns the figures hand-computed in tests/billing/test_tco.py for the same
workload over the same catalog, read from the database at today's prices."""

import pytest

from tests.billing.conftest import HAND_WORKLOAD


def test_tco_api_returns_the_hand_computed_comparison(api_client, members, catalog):
    api_client.force_authenticate(members["viewer"])  # any signed-in user may compare

    response = api_client.get("/api/v1/billing/tco/", HAND_WORKLOAD)

    assert response.status_code == 200, response.content
    body = response.json()
    modes = {m["mode"]: m for m in body["modes"]}
    assert body["months"] == 36
    assert modes["kubernetes_on_demand"]["monthly_usd"] == 7300.00
    assert modes["kubernetes_spot_mix"]["monthly_usd"] == 5110.00
    assert modes["managed_endpoint"]["monthly_usd"] == 10220.00
    assert modes["own_hardware"]["total_usd"] == 122048.00
    assert modes["own_hardware"]["cumulative_usd"][:2] == [81168.00, 82336.00]
    assert [
        modes[m]["break_even_month"]
        for m in ("kubernetes_on_demand", "kubernetes_spot_mix", "managed_endpoint")
    ] == [14, 21, 9]
    assert modes["serverless"]["feasible"] is False
    assert body["recommended"] == "own_hardware"
    assert body["sizing"] == {"weight_gb": 16.0, "memory_needed_gb": 21.6, "peak_requests_per_second": 2.0}
    assert any("bandwidth" in a for a in body["assumptions"])


def test_tco_console_page_shows_the_same_numbers_and_an_inline_svg_chart(client, members, catalog):
    client.force_login(members["finance"])

    page = client.get("/costs/tco/", HAND_WORKLOAD).content.decode()

    assert "Recommended: Own hardware" in page
    assert "$7,300.00" in page and "$122,048.00" in page and "month 21" in page
    assert "<svg" in page and 'data-mode="own_hardware"' in page
    assert "break-even vs Kubernetes, spot mix: month 21" in page
    assert "https://" not in page  # nothing loaded from outside: the console is air-gapped


def test_tco_htmx_request_gets_the_panel_only(client, members, catalog):
    client.force_login(members["viewer"])
    partial = client.get("/costs/tco/", HAND_WORKLOAD, HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="tco-panel">')


@pytest.mark.parametrize(
    "params,field",
    [
        ({"horizon_years": 6}, "horizon_years"),
        ({"latency_s": 2}, "tokens_per_request"),  # both tokens and latency
        ({"params_billions": ""}, "params_billions"),  # neither model size nor GPU
        ({"gpu_type": "no-such-gpu"}, "gpu_type"),
        ({"onprem_profile": "nowhere"}, "onprem_profile"),
        ({"traffic": "chaotic"}, "traffic"),
    ],
)
def test_tco_api_errors_name_the_field(api_client, members, catalog, params, field):
    api_client.force_authenticate(members["viewer"])
    response = api_client.get("/api/v1/billing/tco/", {**HAND_WORKLOAD, **params})
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]


def test_tco_console_form_shows_the_error_on_the_field(client, members, catalog):
    client.force_login(members["viewer"])
    page = client.get(
        "/costs/tco/", {**HAND_WORKLOAD, "params_billions": "", "gpu_type": ""}
    ).content.decode()
    assert 'data-field="params_billions"' in page
    assert "Give the model size in parameters or a GPU requirement." in page
