"""Dynamic batching: requests that arrive within a short window run as one batch.

Requests are grouped by their *signature* (input names, dtypes and every dimension but the
first), stacked along the first dimension up to ``max_batch_size`` rows, run once, and the
outputs are split back by row count. The window is measured from the arrival of the oldest
waiting request (Triton's "max queue delay"): under load the oldest request has already waited
for a free slot, so full batches leave at once; at low load a lone request waits at most one
window.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from serving.errors import ApiError

Feeds = dict[str, np.ndarray]
RunFn = Callable[[Feeds], Feeds]


@dataclass(slots=True)
class _Item:
    key: tuple
    feeds: Feeds
    rows: int
    arrived: float
    future: asyncio.Future = field(repr=False)


def signature(feeds: Feeds) -> tuple:
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(feeds.items()))


class DynamicBatcher:
    """Collects concurrent :meth:`submit` calls into batches for a ``run`` function.

    ``concurrency`` batches may run at once (in ``executor``): two lets the next batch be
    stacked while the previous one is in onnxruntime, which releases the GIL.
    """

    def __init__(
        self,
        run: RunFn,
        *,
        executor: Executor,
        max_batch_size: int = 32,
        window_s: float = 0.005,
        concurrency: int = 2,
        max_queue: int = 1024,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run, self._executor = run, executor
        self.max_batch_size, self.window_s, self.max_queue = max_batch_size, window_s, max_queue
        self._on_batch = on_batch
        self._pending: collections.deque[_Item] = collections.deque()
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()

    @property
    def depth(self) -> int:
        """Requests waiting to be batched."""
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="dynamic-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._running, return_exceptions=True)

    async def submit(self, feeds: Feeds) -> Feeds:
        rows = {a.shape[0] for a in feeds.values()}
        if len(rows) != 1:
            raise ApiError(
                400,
                "invalid_input",
                f"inputs disagree on the batch (first) dimension: {sorted(rows)}",
                field=sorted(feeds)[0],
            )
        if len(self._pending) >= self.max_queue:
            raise ApiError(
                503,
                "overloaded",
                f"{len(self._pending)} requests are already waiting; retry shortly",
                headers={"Retry-After": "1"},
            )
        loop = asyncio.get_running_loop()
        item = _Item(signature(feeds), feeds, rows.pop(), loop.time(), loop.create_future())
        self._pending.append(item)
        self._wakeup.set()
        return await item.future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            # Take a slot before choosing the batch, so requests keep piling into it while all
            # slots are busy and the batch that leaves is as full as the load allows.
            await self._slots.acquire()
            try:
                first = self._pending[0]
                deadline = first.arrived + self.window_s
                while self._rows_like(first.key) < self.max_batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), remaining)
                    except TimeoutError:
                        break
                batch = self._take(first.key)
            except BaseException:
                self._slots.release()
                raise
            task = loop.create_task(self._execute(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _rows_like(self, key: tuple) -> int:
        return sum(item.rows for item in self._pending if item.key == key)

    def _take(self, key: tuple) -> list[_Item]:
        """Remove and return the oldest requests of one signature, up to max_batch_size rows
        (always at least one, even if that one alone is larger)."""
        batch: list[_Item] = []
        rows = 0
        kept: collections.deque[_Item] = collections.deque()
        while self._pending:
            item = self._pending.popleft()
            if item.key == key and (not batch or rows + item.rows <= self.max_batch_size):
                batch.append(item)
                rows += item.rows
                if rows >= self.max_batch_size:
                    break
            else:
                kept.append(item)
        kept.extend(self._pending)
        self._pending = kept
        return batch

    async def _execute(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        try:
            live = [item for item in batch if not item.future.cancelled()]  # clients that hung up
            if not live:
                return
            if len(live) == 1:
                feeds = live[0].feeds
            else:
                feeds = {name: np.concatenate([item.feeds[name] for item in live]) for name in live[0].feeds}
            total = sum(item.rows for item in live)
            if self._on_batch is not None:
                self._on_batch(total)
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, feeds)
            except Exception as exc:  # the model rejected the stacked input: fail every member
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(exc)
                return
            bad = [name for name, a in outputs.items() if a.ndim == 0 or a.shape[0] != total]
            if bad and len(live) > 1:
                error = RuntimeError(
                    f"output '{bad[0]}' does not keep the batch dimension; cannot split the batch"
                )
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(error)
                return
            offset = 0
            for item in live:
                if not item.future.done():
                    item.future.set_result(
                        outputs
                        if len(live) == 1
                        else {n: a[offset : offset + item.rows] for n, a in outputs.items()}
                    )
                offset += item.rows
        finally:
            self._slots.release()
