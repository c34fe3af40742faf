"""Every error under /api/ is JSON in the one error shape, including those Django answers itself
(unknown paths, oversize bodies, bad hosts, crashes); the console keeps its HTML pages."""

import json
import logging

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings

from controlplane.tenancy.api import views as tenancy_views
from controlplane.tenancy.permissions import Role, Scope

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields", "request_id"}
    assert error["code"] == code and error["message"]
    # The id in the body is the one the response carries, so a user can quote either.
    assert error["request_id"] and error["request_id"] == response["X-Request-ID"]
    return error


@pytest.fixture
def owner_token(team, members, make_token):
    _, plaintext = make_token(members[Role.OWNER.value], team, scopes=(Scope.READ, Scope.WRITE))
    return plaintext


@pytest.fixture
def bearer(owner_token):
    return {"HTTP_AUTHORIZATION": f"Bearer {owner_token}"}


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert_error_shape(response, 404, "not_found")


def test_unknown_api_path_keeps_a_supplied_request_id(client):
    response = client.get("/api/v1/teams/alpha/nope", HTTP_X_REQUEST_ID="trace-0123456789")
    assert assert_error_shape(response, 404, "not_found")["request_id"] == "trace-0123456789"


def test_errors_are_json_when_a_browser_asks_for_html(client, bearer):
    # DRF's browsable API would render the error as an HTML page.
    browser = "text/html,application/xhtml+xml,*/*;q=0.8"
    response = client.get("/api/v1/teams/no-such-team/", HTTP_ACCEPT=browser, **bearer)
    assert_error_shape(response, 404, "not_found")
    anonymous = client.get("/api/v1/teams/", HTTP_ACCEPT=browser)
    assert_error_shape(anonymous, 401, "not_authenticated")


def test_an_unservable_accept_is_a_json_406(client, bearer):
    response = client.get("/api/v1/teams/", HTTP_ACCEPT="application/xml", **bearer)
    assert_error_shape(response, 406, "not_acceptable")


def test_schema_view_errors_are_json_not_yaml(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="text/html")
    assert_error_shape(response, 406, "not_acceptable")


def test_wrong_method_is_a_json_405(client, bearer):
    response = client.delete("/api/v1/me/", **bearer)
    assert_error_shape(response, 405, "method_not_allowed")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversize_json_body_is_a_json_413_and_creates_nothing(client, members):
    from controlplane.tenancy.models import Team

    client.force_login(members[Role.OWNER.value])
    body = json.dumps({"slug": "big", "name": "Big", "cost_centre": "x" * 4096})
    response = client.post("/api/v1/teams/", body, content_type="application/json")
    assert_error_shape(response, 413, "request_too_large")
    assert not Team.objects.filter(slug="big").exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversize_form_body_is_a_json_413(client, members):
    client.force_login(members[Role.OWNER.value])
    response = client.post(
        "/api/v1/teams/",
        "slug=big&name=" + "x" * 4096,
        content_type="application/x-www-form-urlencoded",
    )
    assert_error_shape(response, 413, "request_too_large")


def test_disallowed_host_is_a_json_400_that_does_not_echo_the_host(client):
    response = client.get("/api/v1/me/", HTTP_HOST="evil.example")
    error = assert_error_shape(response, 400, "bad_request")
    assert "evil.example" not in response.content.decode()
    assert error["fields"] == {}


def test_a_crash_is_a_json_500_with_request_id_and_no_traceback(members, bearer, monkeypatch, caplog):
    secret = "postgres://admin:hunter2@db"

    def crash(self, request):
        raise RuntimeError(f"could not connect to {secret}")

    monkeypatch.setattr(tenancy_views.MeApi, "get", crash)
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/me/", **bearer)
    error = assert_error_shape(response, 500, "server_error")
    text = response.content.decode()
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text
    # Whoever operates the server finds the crash by the id the user quotes.
    assert any(error["request_id"] in r.getMessage() for r in caplog.records)


def test_django_validation_error_from_a_service_is_a_400_naming_the_field(team, bearer, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError({"name": ["Team names may not be blank."], "__all__": ["Not now."]})

    monkeypatch.setattr(tenancy_views, "team_update", refuse)
    client = Client(raise_request_exception=False)
    response = client.patch(
        f"/api/v1/teams/{team.slug}/", {"name": "x"}, content_type="application/json", **bearer
    )
    error = assert_error_shape(response, 400, "invalid")
    assert error["fields"] == {"name": ["Team names may not be blank."], "non_field_errors": ["Not now."]}


def test_session_post_without_csrf_token_is_a_json_403(members):
    client = Client(enforce_csrf_checks=True)
    client.force_login(members[Role.OWNER.value])
    response = client.post("/api/v1/teams/", {"slug": "x", "name": "X"}, content_type="application/json")
    error = assert_error_shape(response, 403, "permission_denied")
    assert "CSRF" in error["message"]


def test_console_404_stays_html(client, members):
    client.force_login(members[Role.OWNER.value])
    response = client.get("/no-such-console-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_console_csrf_failure_stays_html():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "a", "password": "b"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def test_console_crash_stays_an_html_500(members, monkeypatch):
    from controlplane.tenancy import views as console_views

    def crash(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(console_views, "team_list_for", crash)
    client = Client(raise_request_exception=False)
    client.force_login(members[Role.OWNER.value])
    response = client.get("/teams/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
