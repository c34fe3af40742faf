"""For every route of the billing API, each caller gets what controlplane/tenancy/permissions.py
and the platform grants give it: team roles with `cost.view` (owner, admin, finance) read their own
team's costs and nobody else's, the other roles are refused, the price catalog is read by everyone
signed in and changed by platform admins only, and an anonymous caller gets 401.

The cost routes are not under /teams/{team}/: a member of another team is not refused there but
sees its own team only, which is what the outsider column checks."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import CostEntry
from controlplane.tenancy.permissions import ROLE_ACTIONS, Action, Role
from deployments.services.targets import target_create
from tests.api_routes import api_routes, route_shapes
from tests.billing.api.test_audit_every_mutation import CASES as CATALOG_WRITES
from tests.billing.conftest import HAND_WORKLOAD

pytestmark = pytest.mark.django_db

ROLES = sorted(r.value for r in Role)
COST_READERS = frozenset(role for role, actions in ROLE_ACTIONS.items() if Action.COST_VIEW in actions)
CALLERS = [*ROLES, "outsider", "platform", "anonymous"]


@pytest.fixture
def costs(catalog, team, members):
    """One priced hour for alpha and one for beta (the outsider's team), this month."""
    local = target_create(actor=catalog["admin"], name="local", kind="local", gpu_inventory={})
    price = catalog["items"]["small"].prices.first()
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    beta = members["outsider"].memberships.get().team
    for owner, usd in ((team, "3.00"), (beta, "5.00")):
        CostEntry.objects.create(
            hour=hour,
            team=owner,
            target=local,
            category="gpu_compute",
            price=price,
            quantity=Decimal(3600),
            rate_usd=Decimal(usd) / 3600,
            usd=Decimal(usd),
        )
    return {"month": f"{hour:%Y-%m}", "alpha": team.slug, "beta": beta.slug}


def authenticate(api_client, members, catalog, caller):
    if caller == "platform":
        api_client.force_authenticate(catalog["admin"])
    elif caller != "anonymous":
        api_client.force_authenticate(members[caller])


def teams_seen(route: str, body) -> set[str]:
    if route.startswith("allocation"):
        return set(body["data"][0])
    if route == "billing/budgets/":
        return {row["team"] for row in body}
    return {group["name"] for group in body["groups"]}


COST_ROUTES = [
    ("allocation", {"window": "month", "aggregate": "team"}),
    ("allocation/compute", {"window": "month", "aggregate": "team"}),
    ("billing/budgets/", {}),
    ("billing/reports/{month}/", {"by": "team"}),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route,params", COST_ROUTES, ids=[r for r, _ in COST_ROUTES])
def test_cost_routes(api_client, members, catalog, costs, caller, route, params):
    authenticate(api_client, members, catalog, caller)

    response = api_client.get("/api/v1/" + route.format(**costs), params)

    if caller == "anonymous":
        assert response.status_code == 401, response.content
    elif caller in COST_READERS or caller in ("outsider", "platform"):
        assert response.status_code == 200, response.content
        expected = {
            "platform": {costs["alpha"], costs["beta"]},
            "outsider": {costs["beta"]},  # an owner of beta: beta's costs, never alpha's
        }.get(caller, {costs["alpha"]})
        assert teams_seen(route, response.json()) == expected
    else:
        assert response.status_code == 403, response.content
        assert response.json()["error"]["request_id"]


def _catalog_path(path: str, catalog) -> str:
    slug = "rack" if "onprem" in path else "g48"
    return path.replace("{slug}", slug).replace("{id}", str(catalog["items"]["small"].pk))


CATALOG_READS = [
    ("billing/gpu-types/", {}),
    ("billing/gpu-types/{slug}/", {}),
    ("billing/gpu-prices/", {}),
    ("billing/items/", {}),
    ("billing/items/{id}/", {}),
    ("billing/items/{id}/prices/", {}),
    ("billing/onprem-profiles/", {}),
    ("billing/onprem-profiles/{slug}/", {}),
    ("billing/tco/", HAND_WORKLOAD),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route,params", CATALOG_READS, ids=[r for r, _ in CATALOG_READS])
def test_catalog_reads(api_client, members, catalog, caller, route, params):
    authenticate(api_client, members, catalog, caller)
    response = api_client.get(_catalog_path("/api/v1/" + route, catalog), params)
    assert response.status_code == (401 if caller == "anonymous" else 200), response.content


WRITES = sorted(CATALOG_WRITES)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method,path", WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_catalog_writes(api_client, members, catalog, caller, method, path):
    authenticate(api_client, members, catalog, caller)
    body = CATALOG_WRITES[(method, path)][0]
    response = getattr(api_client, method)(_catalog_path(path, catalog), body, format="json")
    expected = {"anonymous": 401, "platform": 201 if method == "post" else 200}.get(caller, 403)
    assert response.status_code == expected, response.content


def test_the_matrix_covers_every_route_of_the_billing_api():
    listed = [route for route, _ in COST_ROUTES + CATALOG_READS] + [path for _, path in WRITES]
    assert api_routes("billing") - route_shapes(listed) == set()
