"""The REST API's routes as shapes (`teams/*/deployments/*/`), for role matrices that must not
leave a route out."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

API_PREFIX = "api/v1/"


def api_routes(app: str) -> set[str]:
    """Every /api/v1/ route served by a view of `app` (its top-level package)."""

    def walk(patterns, prefix):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                view = getattr(entry.callback, "view_class", entry.callback)
                yield prefix + str(entry.pattern), view.__module__

    return {
        re.sub(r"<[^>]+>", "*", route.removeprefix(API_PREFIX))
        for route, module in walk(get_resolver().url_patterns, "")
        if route.startswith(API_PREFIX) and module.split(".")[0] == app
    }


def route_shapes(paths) -> set[str]:
    """The shapes of test paths such as `/api/v1/teams/{team}/models/{draft}/files/extra.onnx`."""
    shapes = {re.sub(r"\{[^}]+\}", "*", path.removeprefix("/").removeprefix(API_PREFIX)) for path in paths}
    return {re.sub(r"files/[^*]+$", "files/*", shape) for shape in shapes}
