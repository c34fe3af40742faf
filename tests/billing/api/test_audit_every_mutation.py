"""Every mutating endpoint of the billing API writes exactly one audit event: on success, on bad
input and when a non-admin is refused. The endpoints come from the OpenAPI schema, so a new one
without a case here fails (here and in tests/tenancy/api/test_audit_every_mutation.py, which
checks the union of every app's cases). The catalog has its own walk because only platform
admins may change it."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from controlplane.tenancy.models import AuditEvent, AuditResult

PREFIX = "/api/v1/billing/"
PROFILE = {
    "slug": "rack-b",
    "name": "Rack B",
    "site": "dc2",
    "gpu_type": "g48",
    "gpus_per_server": 8,
    "hardware_cost_usd": "90000",
    "amortisation_years": 4,
    "power_kw": "5.5",
    "usd_per_kwh": "0.12",
    "pue": "1.3",
    "operations_usd_per_year": "9000",
    "expected_utilisation": "0.7",
    "source": "quote 2026-11",
    "effective_from": "2026-11-01T00:00:00Z",
}

# (method, path) -> (good body, expected action, bad body)
CASES = {
    ("post", "/api/v1/billing/gpu-types/"): (
        {
            "slug": "g96",
            "name": "Test GPU 96GB",
            "memory_gb": "96",
            "bandwidth_gbps": "2000",
            "source_key": "S1",
            "source": "datasheet",
        },
        "gpu_type.create",
        {
            "slug": "G 96",
            "name": "x",
            "memory_gb": "96",
            "bandwidth_gbps": "2000",
            "source_key": "S1",
            "source": "d",
        },
    ),
    ("patch", "/api/v1/billing/gpu-types/{slug}/"): (
        {"name": "Renamed GPU"},
        "gpu_type.update",
        {"memory_gb": "-4"},
    ),
    ("post", "/api/v1/billing/items/"): (
        {
            "provider": "azure",
            "region": "westeurope",
            "sku": "NC1",
            "kind": "instance",
            "gpu_type": "g48",
            "gpu_count": 1,
        },
        "catalog_item.create",
        {
            "provider": "aws",
            "region": "r1",
            "sku": "c1.xlarge",
            "kind": "instance",
            "gpu_type": "g48",
            "gpu_count": 1,
        },
    ),
    ("post", "/api/v1/billing/items/{id}/prices/"): (
        {"usd": "1.90", "effective_from": "2026-03-01T00:00:00Z", "source_key": "P1", "source": "page"},
        "price.add",
        {"usd": "1.90", "effective_from": "2025-12-01T00:00:00Z", "source_key": "P1", "source": "page"},
    ),
    ("post", "/api/v1/billing/onprem-profiles/"): (
        PROFILE,
        "onprem_profile.create",
        {**PROFILE, "pue": "0.5"},
    ),
    ("patch", "/api/v1/billing/onprem-profiles/{slug}/"): (
        {"usd_per_kwh": "0.2", "effective_from": "2026-07-01T00:00:00Z"},
        "onprem_profile.update",
        {"usd_per_kwh": "0.2"},
    ),
}


def _billing_mutations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if path.startswith(PREFIX) and method in {"post", "put", "patch", "delete"}
    }


def _url(path: str, catalog) -> str:
    slug = "rack" if "onprem" in path else "g48"
    return path.replace("{slug}", slug).replace("{id}", str(catalog["items"]["small"].pk))


def test_every_mutating_billing_endpoint_has_a_case():
    assert _billing_mutations() == set(CASES)


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_success_writes_exactly_one_event(api_client, catalog, operation):
    method, path = operation
    body, action, _ = CASES[operation]
    api_client.force_authenticate(catalog["admin"])
    before = AuditEvent.objects.count()

    response = getattr(api_client, method)(
        _url(path, catalog), body, format="json", HTTP_X_REQUEST_ID="req-bill-1"
    )

    assert response.status_code < 300, response.content
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.result) for e in events] == [(action, AuditResult.SUCCESS)]
    assert (events[0].actor_label, events[0].request_id) == ("root", "req-bill-1")


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_bad_input_writes_exactly_one_failure_event(api_client, catalog, operation):
    method, path = operation
    _, action, bad = CASES[operation]
    api_client.force_authenticate(catalog["admin"])
    before = AuditEvent.objects.count()

    response = getattr(api_client, method)(_url(path, catalog), bad, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"], response.content  # the error names the field
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.result) for e in events] == [(action, AuditResult.FAILURE)]
    assert events[0].error == response.json()["error"]["message"]


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_a_non_admin_is_refused_with_403_and_one_failure_event(api_client, catalog, members, operation):
    method, path = operation
    body, action, _ = CASES[operation]
    api_client.force_authenticate(members["owner"])  # owns a team, but is no platform admin
    before = AuditEvent.objects.count()

    response = getattr(api_client, method)(_url(path, catalog), body, format="json")

    assert response.status_code == 403, response.content
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.result) for e in events] == [(action, AuditResult.FAILURE)]
