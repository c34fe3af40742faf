"""The OpenAPI schema says what the API really answers: lists in their paginated envelope and
errors in the one error shape, so generated clients can read both."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_paginated_lists_document_the_envelope_they_return(schema, api_client, members):
    teams = _resolve(
        schema,
        schema["paths"]["/api/v1/teams/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
    )
    assert set(teams["properties"]) == {"count", "next", "previous", "results"}
    params = {p["name"] for p in schema["paths"]["/api/v1/teams/"]["get"]["parameters"]}
    assert {"page", "page_size"} <= params

    api_client.force_authenticate(members["viewer"])
    body = api_client.get("/api/v1/teams/").json()
    assert set(body) == set(teams["properties"])


def test_every_operation_documents_its_errors_in_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]["error"]["required"]) == {"code", "message", "fields", "request_id"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for code in ("400", "401", "403", "404", "500"):
                ref = responses[code]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/Error"}, (method, path, code)
            if "requestBody" in operation:
                assert "413" in responses, (method, path)
            if method in {"post", "put", "patch", "delete"}:
                assert "409" in responses, (method, path)
