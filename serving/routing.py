"""The gateway's route table: which replicas serve each deployment, and which of them are well.

The control plane publishes the table as the store document ``gateway:routes``::

    {"<team>/<deployment>": {"replicas": ["http://127.0.0.1:9001", ...],
                             "scaled_to_zero": false, "revision": 3}}

:class:`RouteWatcher` polls the document's version and reloads on change; :class:`HealthChecker`
probes every replica's ``/v2/health/ready`` and takes failing ones out of rotation (a refused
connection takes a replica out at once, see :meth:`RouteTable.mark_down`). :meth:`RouteTable.pick`
balances by fewest outstanding requests.

Every replica in the table carries the token the gateway sends it (:mod:`serving.replica_token`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field

import aiohttp

from serving.replica_token import replica_token
from serving.store import ROUTES_KEY, Store

logger = logging.getLogger("serving.routing")

HEALTH_PATH = "/v2/health/ready"


@dataclass(slots=True, eq=False)
class Replica:
    url: str
    outstanding: int = 0
    healthy: bool = True
    route: str = ""  # the "team/deployment" it serves
    token: str = field(default="", repr=False)  # sent as X-Replica-Token on every proxied request


@dataclass(slots=True)
class Route:
    team: str
    deployment: str
    replicas: list[Replica] = field(default_factory=list)
    scaled_to_zero: bool = False
    revision: int | None = None

    @property
    def key(self) -> str:
        return f"{self.team}/{self.deployment}"


class RouteTable:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret  # the gateway secret replica tokens are derived from
        self.routes: dict[str, Route] = {}
        self.version = 0
        self.loaded = False
        # Replica state is kept by URL across reloads, so republishing a table does not forget
        # which replicas are busy or down.
        self._replicas: dict[str, Replica] = {}
        self._changed = asyncio.Event()
        self._tiebreak = itertools.count()

    def get(self, team: str, deployment: str) -> Route | None:
        return self.routes.get(f"{team}/{deployment}")

    def replicas(self) -> list[Replica]:
        return list(self._replicas.values())

    def load(self, version: int, document: object) -> None:
        routes: dict[str, Route] = {}
        replicas: dict[str, Replica] = {}
        for key, entry in (document or {}).items() if isinstance(document, dict) else ():
            team, slash, deployment = str(key).partition("/")
            if not slash or not team or not deployment or not isinstance(entry, dict):
                logger.warning("serving.routing.bad_entry", extra={"key": key})
                continue
            urls = entry.get("replicas") or []
            if not isinstance(urls, list):
                logger.warning("serving.routing.bad_entry", extra={"key": key})
                continue
            route = Route(
                team,
                deployment,
                scaled_to_zero=bool(entry.get("scaled_to_zero", False)),
                revision=entry.get("revision"),
            )
            for url in urls:
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    logger.warning("serving.routing.bad_replica", extra={"key": key, "url": url})
                    continue
                url = url.rstrip("/")
                replica = replicas.get(url) or self._replicas.get(url)
                if replica is None or replica.route != route.key:  # new, or a port another deployment had
                    replica = Replica(url, route=route.key, token=self._token(route.key, url))
                replicas[url] = replica
                route.replicas.append(replica)
            routes[route.key] = route
        self.routes, self._replicas, self.version, self.loaded = routes, replicas, version, True
        self.notify()

    def _token(self, route_key: str, url: str) -> str:
        return replica_token(self.secret, route_key, url) if self.secret else ""

    def notify(self) -> None:
        """Wake everyone waiting for a replica (a route or a replica's health changed)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changed(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def pick(self, route: Route, exclude: tuple[Replica, ...] = ()) -> Replica | None:
        """The healthy replica with the fewest requests in flight; ties go round-robin so an idle
        deployment still spreads its load."""
        best: Replica | None = None
        candidates = [r for r in route.replicas if r.healthy and r not in exclude]
        if not candidates:
            return None
        start = next(self._tiebreak) % len(candidates)
        for replica in candidates[start:] + candidates[:start]:
            if best is None or replica.outstanding < best.outstanding:
                best = replica
        return best

    def mark_down(self, replica: Replica) -> None:
        if replica.healthy:
            logger.warning("serving.routing.replica_down", extra={"url": replica.url})
        replica.healthy = False

    def mark_up(self, replica: Replica) -> None:
        if not replica.healthy:
            logger.info("serving.routing.replica_up", extra={"url": replica.url})
            replica.healthy = True
            self.notify()


class RouteWatcher:
    """Reloads the table whenever the control plane publishes a new version."""

    def __init__(self, table: RouteTable, store: Store, *, interval: float) -> None:
        self.table, self.store, self.interval = table, store, interval

    async def poll_once(self) -> None:
        version = await asyncio.to_thread(self.store.document_version, ROUTES_KEY)
        if version != self.table.version or not self.table.loaded:
            version, document = await asyncio.to_thread(self.store.get_document, ROUTES_KEY)
            self.table.load(version, document)
            logger.info(
                "serving.routing.reloaded", extra={"version": version, "routes": len(self.table.routes)}
            )

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # a store hiccup must not stop routing with the last good table
                logger.exception("serving.routing.poll_failed")
            await asyncio.sleep(self.interval)


class HealthChecker:
    """Probes each replica's readiness every ``interval`` seconds."""

    def __init__(self, table: RouteTable, session: aiohttp.ClientSession, *, interval: float) -> None:
        self.table, self.session, self.interval = table, session, interval
        self._timeout = aiohttp.ClientTimeout(total=min(2.0, interval * 2))

    async def probe(self, replica: Replica) -> None:
        try:
            async with self.session.get(replica.url + HEALTH_PATH, timeout=self._timeout) as response:
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self.table.mark_up(replica)
        else:
            self.table.mark_down(replica)

    async def run(self) -> None:
        while True:
            replicas = self.table.replicas()
            if replicas:
                await asyncio.gather(*(self.probe(r) for r in replicas), return_exceptions=True)
            await asyncio.sleep(self.interval)
