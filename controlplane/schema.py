"""OpenAPI postprocessing: every operation documents the error responses it can give, all in the one
error shape (controlplane/exceptions.py, controlplane/errors.py), so generated clients can read them."""

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error, whatever its status.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable reason, e.g. `invalid`."},
                "message": {"type": "string", "description": "What went wrong, for a person."},
                "fields": {
                    "type": "object",
                    "description": "Input field → what is wrong with it; empty when no field is at fault.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
                "request_id": {"type": "string", "description": "Quote it when reporting a problem."},
            },
            "required": ["code", "message", "fields", "request_id"],
        }
    },
    "required": ["error"],
}

# status → (description, applies to an operation?)
_ALWAYS = lambda method, operation: True  # noqa: E731
_MUTATING = lambda method, operation: method in {"post", "put", "patch", "delete"}  # noqa: E731
_WITH_BODY = lambda method, operation: "requestBody" in operation  # noqa: E731

ERROR_RESPONSES = {
    "400": ("Invalid input; `fields` names what is wrong.", _ALWAYS),
    "401": ("No credentials, or an invalid, expired or revoked token.", _ALWAYS),
    "403": ("The token's scopes or the caller's role do not allow this.", _ALWAYS),
    "404": ("No such object, or it belongs to another team.", _ALWAYS),
    "409": ("The object's state conflicts with the request.", _MUTATING),
    "413": ("The request body is larger than the server accepts.", _WITH_BODY),
    "415": ("The request body's content type is not one this operation reads.", _WITH_BODY),
    "429": ("Too many requests.", _ALWAYS),
    "500": ("Internal error; quote `request_id` when reporting it.", _ALWAYS),
}

_REF = {"$ref": "#/components/schemas/Error"}


def add_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry. A view's own documented response for a status wins."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, (description, applies) in ERROR_RESPONSES.items():
                if applies(method, operation):
                    operation["responses"].setdefault(
                        code, {"description": description, "content": {"application/json": {"schema": _REF}}}
                    )
    return result
