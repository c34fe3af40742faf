"""The gateway retries introspection once when the web server drops a reused connection."""

import asyncio
import json

import httpx

from serving.auth import Introspector


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
