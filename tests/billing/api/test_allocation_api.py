"""The allocation API over the hand-computed day (tests/billing/conftest.py): alpha $72.75,
gamma $107.00, of which idle own hardware $50.83 and amortised hardware $56.17."""

import pytest

from controlplane.tenancy.permissions import Role, Scope
from tests.billing.conftest import at, meter_day
from tests.factories.tenancy import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
WINDOW = f"{at(0).isoformat()},{at(0, day=1).isoformat()}".replace("+00:00", "Z")


@pytest.fixture
def day(ledger_world):
    meter_day()
    return ledger_world


def get(client, user, **params):
    client.force_authenticate(user)
    return client.get("/api/v1/allocation", {"window": WINDOW, **params})


def totals(response):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["code"] == 200
    return {name: round(a["totalCost"], 2) for name, a in body["data"][0].items()}


def test_finance_of_a_team_sees_that_team_only(api_client, day):
    accountant = MembershipFactory(
        team=day["gamma"], user=UserFactory(username="acc"), role=Role.FINANCE
    ).user
    assert totals(get(api_client, accountant)) == {"gamma": 107.00}
    assert totals(get(api_client, accountant, aggregate="deployment")) == {"gamma/vision": 107.00}


def test_platform_admin_sees_every_team(api_client, day):
    accountant = UserFactory(username="acc", is_superuser=True)
    assert totals(get(api_client, accountant)) == {"alpha": 72.75, "gamma": 107.00}
    assert totals(get(api_client, accountant, aggregate="deployment")) == {
        "alpha/chat": 72.75,
        "gamma/vision": 107.00,
    }
    assert totals(get(api_client, accountant, aggregate="cost_centre")) == {"CC-100": 72.75, "CC-200": 107.00}
    assert totals(get(api_client, accountant, aggregate="category")) == {
        "amortised_hardware": 56.17,
        "gpu_compute": 72.75,
        "idle_capacity": 50.83,
    }
    body = get(api_client, accountant).json()["data"][0]["gamma"]
    assert (round(body["gpuCost"], 2), round(body["sharedCost"], 2)) == (56.17, 50.83)
    assert round(body["gpuHours"], 4) == round(48 + 8 / 3, 4)


def test_owner_sees_own_team_only_and_viewers_none(api_client, day):
    owner = MembershipFactory(team=day["alpha"], user=UserFactory(username="own"), role=Role.OWNER).user
    viewer = MembershipFactory(team=day["alpha"], user=UserFactory(username="view"), role=Role.VIEWER).user
    assert totals(get(api_client, owner)) == {"alpha": 72.75}
    assert get(api_client, viewer).status_code == 403


def test_platform_idle_is_shown_to_finance(api_client, day, settings):
    settings.BILLING_IDLE_ALLOCATION = "platform"
    meter_day()
    assert totals(get(api_client, day["admin"])) == {"__idle__": 50.83, "alpha": 72.75, "gamma": 56.17}


def test_tokens_need_the_finance_scope_and_see_their_team(api_client, day, make_token):
    owner = MembershipFactory(team=day["alpha"], user=UserFactory(username="own"), role=Role.OWNER).user
    (read_only, _), (finance, _) = (
        make_token(owner, day["alpha"], scopes=(s,)) for s in (Scope.READ, Scope.FINANCE)
    )
    for token, expected in ((read_only, 403), (finance, 200)):
        api_client.force_authenticate(owner, token=token)
        response = api_client.get("/api/v1/allocation", {"window": WINDOW})
        assert response.status_code == expected, response.content
    assert totals(response) == {"alpha": 72.75}


@pytest.mark.parametrize(
    "params, field", [({"window": "forever"}, "window"), ({"aggregate": "planet"}, "aggregate")]
)
def test_bad_input_names_the_field(api_client, day, params, field):
    response = get(api_client, day["admin"], **params)
    assert response.status_code == 400
    assert field in response.content.decode()
