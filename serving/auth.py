"""Bearer-token authentication for the gateway, by introspection against the control plane.

The control plane owns API tokens; the gateway asks it about each token it has not seen for a
few seconds::

    POST {CONTROLPLANE_URL}/api/v1/auth/introspect
    X-Gateway-Secret: {GATEWAY_SHARED_SECRET}
    {"token": "<bearer token>"}

    200 {"active": true, "token_id": 12, "team": "acme", "scopes": ["read", "invoke"],
         "expires_at": "2026-12-01T00:00:00Z" | null}
    200 {"active": false}

Answers (active or not) are cached for ``GATEWAY_AUTH_CACHE_SECONDS`` (default 2 s), so a
revoked token stops working within that time plus one round trip, well inside 5 s. Concurrent
requests with the same uncached token share one introspection call. While the control plane
cannot be reached at all, a token it allowed keeps working for ``GATEWAY_AUTH_STALE_SECONDS``
(default 60 s) past its cache time; a denial is never extended, and any answer from a reachable
control plane replaces the cached one. Tokens are cached under their SHA-256, never in clear.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from serving.errors import ApiError

logger = logging.getLogger("serving.auth")

INTROSPECT_PATH = "/api/v1/auth/introspect"
INVOKE_SCOPE = "invoke"
_CACHE_LIMIT = 50_000  # distinct tokens remembered before expired entries are swept
# How long past its cache time an allowed token keeps working while the control plane cannot be
# reached at all. A reachable control plane always wins: its answer replaces the entry at once.
STALE_SECONDS = 60.0


class _Unreachable(Exception):
    """The control plane did not answer (connection refused, reset, timeout)."""

    def __init__(self, error: ApiError) -> None:
        self.error = error


@dataclass(frozen=True, slots=True)
class TokenInfo:
    active: bool
    token_id: int | None = None
    team: str | None = None
    scopes: frozenset[str] = frozenset()
    expires_at: float | None = None  # unix time

    def is_live(self, now: float) -> bool:
        return self.active and (self.expires_at is None or now < self.expires_at)


INACTIVE = TokenInfo(active=False)


def parse_introspection(body: object) -> TokenInfo:
    """Read the control plane's answer; anything malformed counts as an inactive token."""
    if not isinstance(body, dict) or body.get("active") is not True:
        return INACTIVE
    team, scopes, token_id = body.get("team"), body.get("scopes"), body.get("token_id")
    if not isinstance(team, str) or not isinstance(scopes, list):
        return INACTIVE
    expires_at = None
    raw_expiry = body.get("expires_at")
    if raw_expiry is not None:
        try:
            parsed = datetime.fromisoformat(str(raw_expiry).replace("Z", "+00:00"))
        except ValueError:
            return INACTIVE
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        expires_at = parsed.timestamp()
    return TokenInfo(
        active=True,
        token_id=token_id if isinstance(token_id, int) else None,
        team=team,
        scopes=frozenset(s for s in scopes if isinstance(s, str)),
        expires_at=expires_at,
    )


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise ApiError(
            401,
            "unauthenticated",
            "missing Authorization header; send 'Authorization: Bearer <token>'",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "unauthenticated",
            "the Authorization header must be 'Bearer <token>'",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token


def authorize(info: TokenInfo, team: str, deployment: str, *, now: float | None = None) -> None:
    """Raise the error the caller gets for ``/endpoints/{team}/{deployment}``, or return if allowed.

    Another team's token gets the same 404 as a deployment that does not exist, so a token never
    reveals which deployments other teams have.
    """
    if not info.is_live(time.time() if now is None else now):
        raise ApiError(
            401,
            "invalid_token",
            "the bearer token is invalid, expired or revoked",
            field="Authorization",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if info.team != team:
        raise not_found(team, deployment)
    if INVOKE_SCOPE not in info.scopes:
        raise ApiError(
            403,
            "insufficient_scope",
            f"the token lacks the '{INVOKE_SCOPE}' scope",
            field="Authorization",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{INVOKE_SCOPE}"'},
        )


def not_found(team: str, deployment: str) -> ApiError:
    return ApiError(
        404, "deployment_not_found", f"no deployment '{deployment}' in team '{team}'", field="deployment"
    )


class Introspector:
    """Cached, single-flight token introspection against the control plane."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        controlplane_url: str,
        shared_secret: str,
        cache_seconds: float,
        stale_seconds: float = STALE_SECONDS,
        clock=time.monotonic,
    ) -> None:
        self._client = client
        self._url = controlplane_url.rstrip("/") + INTROSPECT_PATH
        self._headers = {"X-Gateway-Secret": shared_secret}
        self._ttl = cache_seconds
        self._stale = stale_seconds
        self._clock = clock
        self._cache: dict[bytes, tuple[float, TokenInfo]] = {}
        self._inflight: dict[bytes, asyncio.Future] = {}

    async def introspect(self, token: str) -> TokenInfo:
        key = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            info = await self._ask(token)
        except _Unreachable as exc:
            # Control plane down: keep serving a token it allowed recently, for a bounded time.
            if cached is not None and cached[1].active and now < cached[0] + self._stale:
                future.set_result(cached[1])
                return cached[1]
            future.set_exception(exc.error)
            future.exception()
            raise exc.error from None
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else has to
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(info)
        if len(self._cache) >= _CACHE_LIMIT:
            self._sweep(now)
        self._cache[key] = (self._clock() + self._ttl, info)
        return info

    async def _post(self, token: str) -> httpx.Response:
        kwargs = {"json": {"token": token}, "headers": self._headers, "timeout": 5.0}
        try:
            return await self._client.post(self._url, **kwargs)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            # A pooled keep-alive connection the web server closed just as we reused it
            # (gunicorn's keep-alive race). Introspection is read-only, so one retry on a
            # fresh connection is safe and turns that race into no error at all.
            return await self._client.post(self._url, **kwargs)

    async def _ask(self, token: str) -> TokenInfo:
        try:
            response = await self._post(token)
        except httpx.HTTPError as exc:
            logger.warning("serving.auth.introspect_failed", extra={"error": repr(exc)})
            raise _Unreachable(
                ApiError(
                    503,
                    "auth_unavailable",
                    "the control plane could not be reached to check the token",
                    headers={"Retry-After": "2"},
                )
            ) from None
        if response.status_code != 200:
            logger.warning("serving.auth.introspect_status", extra={"status": response.status_code})
            raise ApiError(
                503,
                "auth_unavailable",
                f"token introspection answered {response.status_code}; cannot check the token",
                headers={"Retry-After": "2"},
            )
        try:
            return parse_introspection(response.json())
        except ValueError:
            return INACTIVE

    def _sweep(self, now: float) -> None:
        for key in [k for k, (expiry, _) in self._cache.items() if expiry + self._stale <= now]:
            del self._cache[key]
        if len(self._cache) >= _CACHE_LIMIT:  # all still fresh: drop everything rather than grow
            self._cache.clear()
