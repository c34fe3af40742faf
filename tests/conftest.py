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
    users = {
        role.value: MembershipFactory(team=team, role=role, user=UserFactory(username=role.value)).user
        for role in Role
    }
    outsider = UserFactory(username="outsider")
    MembershipFactory(team=TeamFactory(slug="beta"), user=outsider, role=Role.OWNER)
    users["outsider"] = outsider
    return users


@pytest.fixture
def make_token():
    def make(user, team, scopes=(Scope.READ, Scope.WRITE), **kwargs):
        return api_token_create(
            team=team, actor=user, name=f"{user.username}-token", scopes=list(scopes), **kwargs
        )

    return make


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Extra environment for the worker process; override in a test module to share folders."""
    return {}


@pytest.fixture
def celery_worker_process(transactional_db, worker_env):
    """Start a real Celery worker on the test database and Redis; yields its Popen. The queue is
    emptied first so tasks left by earlier runs cannot satisfy a test."""
    import os
    import subprocess
    import sys

    import redis
    from django.conf import settings
    from django.db import connection

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        # The replicas it starts get tokens derived from this secret; the tests' gateway has the same.
        "GATEWAY_SHARED_SECRET": settings.GATEWAY_SHARED_SECRET,
        **worker_env,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controlplane",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--queues",
            "default,provisioning,metering,reports",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def wait_until(predicate, *, timeout: float = 60, interval: float = 0.2):
    """Poll until predicate() is truthy; returns its value, or None after the timeout."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 as a real HTTP server on 127.0.0.1; yields its endpoint URL."""
    import os

    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main thread
    for the whole session, which asyncio tests collected after them cannot share."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
