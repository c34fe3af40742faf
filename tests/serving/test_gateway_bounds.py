"""The gateway's promised bounds, checked without waiting on a clock: revocation takes effect within
5 s (the introspection cache, moved with a fake clock) and a new route is live within 1 s (one poll
of the route table). The process tests in test_gateway.py only check that these things happen."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from serving.auth import Introspector
from serving.config import gateway_settings
from serving.routing import RouteTable, RouteWatcher
from serving.store import ROUTES_KEY, SqliteStore

REVOCATION_BOUND_S = 5.0  # serving/README.md and serving/auth.py
NEW_ROUTE_BOUND_S = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Introspection:
    """A real HTTP server answering introspection; counts the questions and can revoke."""

    def __init__(self) -> None:
        self.active, self.calls, self.server = True, 0, None

    async def __aenter__(self) -> str:
        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            self.calls += 1
            answer = (
                {"active": True, "team": "acme", "scopes": ["invoke"]} if self.active else {"active": False}
            )
            body = json.dumps(answer).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
def default_settings(monkeypatch):
    """The gateway's settings as shipped: no overrides in the environment."""
    for name in ("GATEWAY_AUTH_CACHE_SECONDS", "GATEWAY_ROUTES_POLL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_SHARED_SECRET", "s")
    return gateway_settings()


def test_revocation_takes_effect_within_5_seconds_of_the_cached_answer(default_settings):
    cache_s = default_settings.auth_cache_seconds
    assert 0 < cache_s < REVOCATION_BOUND_S  # room left for one introspection round trip

    async def run():
        clock, plane = Clock(), Introspection()
        async with plane as url, httpx.AsyncClient() as client:
            intro = Introspector(
                client, controlplane_url=url, shared_secret="s", cache_seconds=cache_s, clock=clock
            )
            assert (await intro.introspect("tok")).active
            plane.active = False  # revoked the instant after the gateway cached "allowed"
            clock.now += cache_s - 0.01
            still_cached = (await intro.introspect("tok")).active
            clock.now += 0.01
            refused = not (await intro.introspect("tok")).active
        return still_cached, refused, plane.calls

    still_cached, refused, calls = asyncio.run(run())
    assert still_cached and refused
    assert calls == 2  # the second question was asked when the cache ran out, not before


def test_introspection_is_one_question_per_cache_period():
    async def run():
        clock, plane = Clock(), Introspection()
        async with plane as url, httpx.AsyncClient() as client:
            intro = Introspector(
                client, controlplane_url=url, shared_secret="s", cache_seconds=2, clock=clock
            )
            for _ in range(20):
                assert (await intro.introspect("tok")).active
            in_first_period = plane.calls
            clock.now += 1.99
            await asyncio.gather(*(intro.introspect("tok") for _ in range(10)))
            still_first = plane.calls
            clock.now += 0.01
            await asyncio.gather(*(intro.introspect("tok") for _ in range(10)))  # one flight for all
            return in_first_period, still_first, plane.calls

    assert asyncio.run(run()) == (1, 1, 2)


def test_a_published_route_is_live_after_one_poll(tmp_path, default_settings):
    assert 0 < default_settings.routes_poll_seconds < NEW_ROUTE_BOUND_S
    store = SqliteStore(tmp_path / "dataplane.sqlite3")
    table = RouteTable()
    watcher = RouteWatcher(table, store, interval=default_settings.routes_poll_seconds)
    try:
        store.set_document(ROUTES_KEY, {"acme/old": {"replicas": ["http://a"]}})
        asyncio.run(watcher.poll_once())
        assert table.get("acme", "fresh") is None
        version = store.set_document(
            ROUTES_KEY, {"acme/old": {"replicas": ["http://a"]}, "acme/fresh": {"replicas": ["http://b"]}}
        )
        asyncio.run(watcher.poll_once())
    finally:
        store.close()
    assert table.version == version
    assert [r.url for r in table.get("acme", "fresh").replicas] == ["http://b"]
