"""The gateway retries introspection once when the web server drops a reused connection."""

import asyncio
import json

import httpx
import pytest

from serving.auth import Introspector
from serving.errors import ApiError


async def _server():
    """A real HTTP server whose first connection closes without answering, as gunicorn does when its
    keep-alive timer fires just as the gateway reuses the connection."""
    calls = {"n": 0}

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        calls["n"] += 1
        if calls["n"] == 1:
            writer.close()
            return
        body = json.dumps({"active": True, "team": "acme", "scopes": ["invoke"], "token_id": 1}).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, calls


def test_one_retry_on_dropped_connection():
    async def run():
        server, calls = await _server()
        port = server.sockets[0].getsockname()[1]
        async with httpx.AsyncClient() as client:
            intro = Introspector(
                client, controlplane_url=f"http://127.0.0.1:{port}", shared_secret="s", cache_seconds=2
            )
            info = await intro.introspect("tok")
        server.close()
        return info, calls["n"]

    info, calls = asyncio.run(run())
    assert info.active and info.team == "acme"
    assert calls == 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _answering(active: dict):
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        payload = {"active": True, "team": "acme", "scopes": ["invoke"]} if active["v"] else {"active": False}
        body = json.dumps(payload).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_allowed_token_served_stale_while_unreachable_then_bounded():
    async def run():
        active = {"v": True}
        server = await _answering(active)
        port = server.sockets[0].getsockname()[1]
        clock = Clock()
        async with httpx.AsyncClient() as client:
            intro = Introspector(
                client,
                controlplane_url=f"http://127.0.0.1:{port}",
                shared_secret="s",
                cache_seconds=2,
                stale_seconds=60,
                clock=clock,
            )
            assert (await intro.introspect("tok")).active
            server.close()
            await server.wait_closed()
            clock.now += 30  # control plane down 30 s: still allowed from the cache
            assert (await intro.introspect("tok")).active
            clock.now += 33  # past cache time + 60 s stale: refused as unavailable
            with pytest.raises(ApiError) as err:
                await intro.introspect("tok")
            assert err.value.status == 503

    asyncio.run(run())


def test_revocation_takes_effect_when_reachable():
    async def run():
        active = {"v": True}
        server = await _answering(active)
        port = server.sockets[0].getsockname()[1]
        clock = Clock()
        async with httpx.AsyncClient() as client:
            intro = Introspector(
                client,
                controlplane_url=f"http://127.0.0.1:{port}",
                shared_secret="s",
                cache_seconds=2,
                clock=clock,
            )
            assert (await intro.introspect("tok")).active
            active["v"] = False
            clock.now += 2.5
            assert not (await intro.introspect("tok")).active
        server.close()

    asyncio.run(run())
