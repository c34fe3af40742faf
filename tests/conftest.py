import pytest
from rest_framework.test import APIClient

from controlplane.tenancy.permissions import Role, Scope
from controlplane.tenancy.services import api_token_create
from tests.factories.tenancy import MembershipFactory, TeamFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def team(db):
    return TeamFactory(slug="alpha", name="Alpha")


@pytest.fixture
def members(team) -> dict[str, object]:
    """One user per role in `team`, plus an outsider who belongs to another team."""
    users = {role.value: MembershipFactory(team=team, role=role, user=UserFactory(username=role.value)).user
             for role in Role}
    outsider = UserFactory(username="outsider")
    MembershipFactory(team=TeamFactory(slug="beta"), user=outsider, role=Role.OWNER)
    users["outsider"] = outsider
    return users


@pytest.fixture
def make_token():
    def make(user, team, scopes=(Scope.READ, Scope.WRITE), **kwargs):
        return api_token_create(team=team, actor=user, name=f"{user.username}-token", scopes=list(scopes), **kwargs)

    return make
