"""Usage metering in the gateway: counted in memory per request, flushed to the store each second.

For every request that passed authentication the gateway adds to two counter keys (layout in
``serving/README.md``)::

    meter:{team}/{deployment}                  all traffic of the deployment
    meter:{team}/{deployment}:token:{token_id} the same, for one API token

Flushing adds to the store's counters (``incr_many``); billing and monitoring take them with
``pop_counters``, so several gateway processes can meter the same deployment. A failed flush
keeps its counts for the next one.

Token counts come from the OpenAI ``usage`` field, which :class:`UsageSniffer` picks out of a
response as it streams past: the JSON body of a plain response, or the last ``data:`` event that
carries ``usage`` in a server-sent event stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

from serving.store import Store

logger = logging.getLogger("serving.metering")

# Latency buckets (milliseconds) of the stored histogram; fields are cumulative like
# Prometheus's: latency_ms_le_50 counts requests that took at most 50 ms.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
_BUCKET_FIELDS = tuple(f"latency_ms_le_{b}" for b in LATENCY_BUCKETS_MS)
_JSON_SNIFF_LIMIT = 4 * 1024 * 1024  # larger JSON bodies are passed through without reading usage


def meter_key(team: str, deployment: str) -> str:
    return f"meter:{team}/{deployment}"


def autoscale_key(team: str, deployment: str) -> str:
    """The autoscaler's own copy of request counts and latency: billing pops the meter keys, so the
    two readers must not share one."""
    return f"autoscale:{team}/{deployment}"


def token_meter_key(team: str, deployment: str, token_id: int | None) -> str:
    return f"meter:{team}/{deployment}:token:{token_id if token_id is not None else 'unknown'}"


class UsageSniffer:
    """Watches response bytes go by and remembers the last OpenAI ``usage`` seen."""

    __slots__ = ("mode", "buffer", "prompt_tokens", "completion_tokens")

    def __init__(self, content_type: str) -> None:
        content_type = content_type.lower()
        if "text/event-stream" in content_type:
            self.mode = "sse"
        elif "json" in content_type:
            self.mode = "json"
        else:
            self.mode = None
        self.buffer = bytearray()
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def feed(self, chunk: bytes) -> None:
        if self.mode == "json":
            if len(self.buffer) + len(chunk) > _JSON_SNIFF_LIMIT:
                self.mode, self.buffer = None, bytearray()
            else:
                self.buffer += chunk
        elif self.mode == "sse":
            self.buffer += chunk
            while True:
                end = self.buffer.find(b"\n")
                if end < 0:
                    break
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                if line.startswith(b"data:") and b'"usage"' in line:
                    self._take(line[5:])

    def finish(self) -> tuple[int, int]:
        if self.mode == "json" and b'"usage"' in self.buffer:
            self._take(bytes(self.buffer))
        elif self.mode == "sse" and self.buffer.startswith(b"data:") and b'"usage"' in self.buffer:
            self._take(bytes(self.buffer[5:]))
        self.buffer = bytearray()
        return self.prompt_tokens, self.completion_tokens

    def _take(self, raw: bytes) -> None:
        try:
            usage = json.loads(raw).get("usage")
        except (ValueError, AttributeError):
            return
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            self.prompt_tokens = prompt if isinstance(prompt, int) and prompt >= 0 else 0
            self.completion_tokens = completion if isinstance(completion, int) and completion >= 0 else 0


class Meter:
    def __init__(self, store: Store, *, interval: float) -> None:
        self.store, self.interval = store, interval
        self._pending: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def record(
        self,
        *,
        team: str,
        deployment: str,
        token_id: int | None,
        status: int,
        latency_s: float,
        bytes_in: int,
        bytes_out: int,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        latency_ms = latency_s * 1000
        for key in (meter_key(team, deployment), token_meter_key(team, deployment, token_id)):
            fields = self._pending[key]
            fields["requests"] += 1
            fields[f"status_{status // 100}xx"] += 1
            if status >= 500:
                fields["errors"] += 1
            fields["latency_us_sum"] += int(latency_s * 1_000_000)
            for bound, name in zip(LATENCY_BUCKETS_MS, _BUCKET_FIELDS, strict=True):
                if latency_ms <= bound:
                    fields[name] += 1
            fields["bytes_in"] += bytes_in
            fields["bytes_out"] += bytes_out
            if tokens_in:
                fields["tokens_in"] += tokens_in
            if tokens_out:
                fields["tokens_out"] += tokens_out
        scaling = self._pending[autoscale_key(team, deployment)]
        scaling["requests"] += 1
        scaling["latency_us_sum"] += int(latency_s * 1_000_000)

    def _write(self, batch: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """Write each key's counts (one atomic step per key); return the keys not written."""
        items = list(batch.items())
        for done, (key, fields) in enumerate(items):
            try:
                self.store.incr_many(key, {f: v for f, v in fields.items() if v})
            except Exception:
                logger.exception("serving.metering.flush_failed", extra={"key": key})
                return dict(items[done:])
        return {}

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, defaultdict(lambda: defaultdict(int))
        # Keys that could not be written go back, so the next flush retries them; keys already
        # written are not repeated, so nothing is counted twice.
        unwritten = await asyncio.to_thread(self._write, batch)
        for key, fields in unwritten.items():
            for name, value in fields.items():
                self._pending[key][name] += value

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()
