"""The gateway against the control plane as `make run` serves it (gunicorn, not Django's test
server), while that web server misbehaves the way a real one does: workers recycled every few
hundred requests and idle keep-alive connections closed after a second, then the web server
stopped outright for longer than the gateway caches a token. Inference must not notice either."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx
import numpy as np
import pytest
from django.conf import settings as django_settings
from django.db import connection

from controlplane.tenancy.permissions import Scope
from controlplane.tenancy.services import api_token_create
from serving.store import ROUTES_KEY, SqliteStore
from tests.serving.conftest import Process, free_port, start_gateway

pytestmark = pytest.mark.django_db(transaction=True)

X = np.ones((1, 4), dtype=np.float32)
PATH = "/endpoints/alpha/tiny/v2/models/tiny/infer"  # the `team` fixture's slug
BODY = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": X.ravel().tolist()}]}


class WebServer:
    """gunicorn serving the control plane on the test database, restartable on the same port."""

    def __init__(self, tmp_path, *gunicorn_args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp_path, self.args = tmp_path, gunicorn_args
        self.starts = 0
        self.process: Process | None = None

    def start(self) -> None:
        db = connection.settings_dict
        self.starts += 1
        self.process = Process(
            [
                "-m",
                "gunicorn",
                "controlplane.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--control-socket",
                str(self.tmp_path / "gunicorn.ctl"),
                *self.args,
            ],
            env={
                "DJANGO_SETTINGS_MODULE": "controlplane.settings.test",
                "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
                "REDIS_URL": django_settings.REDIS_URL,
                "GATEWAY_SHARED_SECRET": django_settings.GATEWAY_SHARED_SECRET,
            },
            log=self.tmp_path / f"gunicorn-{self.starts}.log",
        )
        self.process.wait_ready(self.url + "/login/")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("gunicorn-*.log")))


@pytest.fixture
def routes(tmp_path, onnx_server, team):
    store_path = tmp_path / "dataplane.sqlite3"
    store = SqliteStore(store_path)
    store.set_document(
        ROUTES_KEY,
        {f"{team.slug}/tiny": {"replicas": [onnx_server.url], "scaled_to_zero": False, "revision": 1}},
    )
    yield store_path
    store.close()


def invoke_tokens(members, team, n: int) -> list[str]:
    return [
        api_token_create(team=team, actor=members["deployer"], name=f"load-{i}", scopes=[Scope.INVOKE])[1]
        for i in range(n)
    ]


async def drive(
    port: int,
    path: str,
    tokens: list[str],
    *,
    total: int | None,
    clients: int,
    stop: asyncio.Event | None = None,
    statuses: Counter[int] | None = None,
):
    """`clients` keep-alive connections, each sending its next request when the last is answered,
    until `total` are sent or `stop` is set; returns (status counts, the first failures). The counts
    go into `statuses` as they come, for a caller watching the load. Raw HTTP/1.1 over asyncio
    streams: on a two-core machine a client library would spend more CPU than the gateway it drives."""
    statuses = Counter() if statuses is None else statuses
    failures: list[str] = []
    body = json.dumps(BODY).encode()
    requests = [
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
        + body
        for token in tokens
    ]
    sent = 0

    async def one_client() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (total is None or sent < total) and (stop is None or not stop.is_set()):
                sent += 1
                writer.write(requests[sent % len(requests)])
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                answer = await reader.readexactly(length)
                status = int(head[9:12])
                statuses[status] += 1
                if status != 200 and len(failures) < 20:
                    failures.append(f"{status} {answer[:200]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return statuses, failures


def test_30000_requests_while_gunicorn_recycles_connections_and_workers(tmp_path, routes, team, members):
    # gunicorn closes a keep-alive connection idle for 1 s, and the gateway asks about each token
    # again once its 1 s cache runs out: it reuses pooled connections just as gunicorn closes them,
    # the race behind the spurious 503s (7 in 30,000 here with the retry taken out). Workers are
    # also replaced every ~10 requests, which closes their connections too.
    web = WebServer(tmp_path, "--keep-alive", "1", "--max-requests", "10", "--max-requests-jitter", "4")
    web.start()
    tokens = invoke_tokens(members, team, 2)
    gateway = start_gateway(
        controlplane_url=web.url,
        secret=django_settings.GATEWAY_SHARED_SECRET,
        store_path=routes,
        log=tmp_path / "gateway.log",
        # Never fall back on a cached answer: any introspection that fails shows as a 503 here.
        extra_env={"GATEWAY_AUTH_CACHE_SECONDS": "1.0", "GATEWAY_AUTH_STALE_SECONDS": "0"},
    )
    try:
        statuses, failures = asyncio.run(drive(gateway.port, PATH, tokens, total=30_000, clients=16))
    finally:
        gateway.stop()
        web.stop()
    assert sum(statuses.values()) >= 30_000
    assert statuses[200] == sum(statuses.values()), (statuses, failures[:5], gateway.output()[-2000:])
    recycled = web.output().count("Autorestarting worker")
    assert recycled >= 2, f"gunicorn recycled {recycled} workers: the soak did not exercise what it is for"


async def until(predicate, what: str, timeout: float = 120):
    """Poll until predicate() is truthy; the timeout only stops a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return value


def test_inference_outlives_a_web_server_outage(tmp_path, routes, team, members):
    web = WebServer(tmp_path)
    web.start()
    *tokens, fresh = invoke_tokens(members, team, 5)  # `fresh` is first used while the web server is down
    gateway = start_gateway(
        controlplane_url=web.url,
        secret=django_settings.GATEWAY_SHARED_SECRET,
        store_path=routes,
        log=tmp_path / "gateway.log",
    )

    def failed_introspections() -> int:
        return gateway.output().count("serving.auth.introspect_failed")

    async def ask(token: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                f"{gateway.url}{PATH}", json=BODY, headers={"Authorization": f"Bearer {token}"}
            )

    async def outage():
        # Warm: every token is known to the gateway before the control plane goes away.
        warm, _ = await drive(gateway.port, PATH, tokens, total=len(tokens) * 2, clients=2)
        assert warm[200] == len(tokens) * 2
        live: Counter[int] = Counter()
        stop = asyncio.Event()
        load = asyncio.create_task(
            drive(gateway.port, PATH, tokens, total=None, clients=4, stop=stop, statuses=live)
        )
        try:
            await until(lambda: live[200] >= 50, "load flowing through the gateway")
            await asyncio.to_thread(web.stop)
            # A cached answer ran out and the gateway could not ask again: from here on, requests
            # are served on what the control plane said before it went away.
            await until(
                lambda: failed_introspections() >= 1, "an introspection against the stopped web server"
            )
            on_stale = live[200]
            # A token the gateway has never seen cannot be checked while the control plane is down:
            # that is a clear 503, never a guess.
            unknown = await ask(fresh)
            await until(lambda: live[200] >= on_stale + 200, "requests answered during the outage")
            await asyncio.to_thread(web.start)
            # Back up: the gateway asks again and lets the new token in.
            back = await ask(fresh)
            deadline = time.monotonic() + 120
            while back.status_code != 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                back = await ask(fresh)
        finally:
            stop.set()
        statuses, failures = await load
        return statuses, failures, unknown, back

    try:
        statuses, failures, unknown, back = asyncio.run(outage())
    finally:
        gateway.stop()
        web.stop()
    assert statuses[200] > 250 and statuses[200] == sum(statuses.values()), (statuses, failures[:5])
    assert unknown.status_code == 503
    assert unknown.json()["error"]["code"] == "auth_unavailable"
    assert back.status_code == 200, back.text
