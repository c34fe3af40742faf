def test_schema_and_swagger_ui_are_served_without_a_cdn(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/teams/{slug}/tokens/" in schema.content
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()


def test_errors_have_one_shape_with_fields_and_request_id(api_client, members):
    api_client.force_authenticate(members["viewer"])
    response = api_client.post("/api/v1/teams/", {"slug": "Bad Slug", "monthly_budget": "-5"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"name", "monthly_budget"}
    assert error["request_id"] == response["X-Request-ID"]

    bad_slug = api_client.post("/api/v1/teams/", {"slug": "Bad Slug", "name": "B"}, format="json").json()[
        "error"
    ]
    assert list(bad_slug["fields"]) == ["slug"] and "lowercase" in bad_slug["fields"]["slug"][0]


def test_unauthenticated_gets_401_with_the_same_shape(api_client):
    response = api_client.get("/api/v1/teams/", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid, expired or revoked token."


def test_lists_are_paginated(api_client, members):
    from controlplane.tenancy.services import team_create

    for i in range(3):
        team_create(actor=members["viewer"], slug=f"p-{i}", name=f"P {i}")
    api_client.force_authenticate(members["viewer"])
    page = api_client.get("/api/v1/teams/?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
