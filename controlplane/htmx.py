def htmx_partial(request) -> bool:
    """True when htmx asked for a fragment (not a boosted full-page navigation)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"
