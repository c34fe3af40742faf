"""The data-plane store the gateway reads: routes, wake requests and meters. One client for the
reconciler, the autoscaler and billing's metering, so they all see the gateway's view."""

from django.conf import settings


def dataplane_store():
    """The same Redis as the gateway, or the same SQLite file under var/ on the embedded default."""
    from serving.store import open_store

    return open_store(
        redis_url=settings.REDIS_URL or None, sqlite_path=str(settings.VAR_DIR / "dataplane.sqlite3")
    )
