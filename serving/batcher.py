"""Adaptive micro-batching: concurrent requests share one model call.

Every request puts its validated rows on a queue together with the model handle it
took at its start. One task takes the first waiting request, then everything else
already queued (up to ``max_rows`` rows), optionally waiting up to ``wait_ms`` for
more, stacks the rows into one frame per model handle and scores each frame in one
``predict_proba`` call on a worker thread. While that call runs, new requests
queue up and form the next batch — so under load batches grow by themselves and an
idle server adds no wait (the default ``wait_ms`` is 0). A model whose per-call cost
dominates (pipelines with column transformers, tree ensembles) then runs once for
many requests instead of once per request.

Requests never mix models: rows are grouped by the handle each request took.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from serving.registry import ModelHandle
from serving.validation import ValidatedBatch, stack

__all__ = ["MicroBatcher"]


@dataclass
class _Item:
    handle: ModelHandle
    batch: ValidatedBatch
    future: asyncio.Future[np.ndarray]


class MicroBatcher:
    """Scores validated requests in shared model calls.

    Args:
        max_rows: most rows in one model call (a single larger request runs alone).
        wait_ms: longest the first request of a batch waits for company.
        on_batch: called with (requests, rows) of each model call.
        inline: score on the event loop itself instead of a worker thread (no GIL
            hand-over between threads; requests are parsed only between model calls).
    """

    def __init__(
        self,
        *,
        max_rows: int,
        wait_ms: float,
        on_batch: Callable[[int, int], None] | None = None,
        inline: bool = False,
    ) -> None:
        self.inline = inline
        self.max_rows = max_rows
        self.wait_s = wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")

    def start(self) -> None:
        """Start the batching task on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop batching (after in-flight requests are done) and the worker thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def score(self, handle: ModelHandle, batch: ValidatedBatch) -> np.ndarray:
        """Scores of the batch's rows by ``handle``'s model, in row order."""
        assert self._queue is not None, "MicroBatcher.start() was not called"
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(handle, batch, future))
        return await future

    async def _collect(self) -> list[_Item]:
        assert self._queue is not None
        items = [await self._queue.get()]
        rows = items[0].batch.rows
        deadline = time.monotonic() + self.wait_s
        while rows < self.max_rows:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            items.append(item)
            rows += item.batch.rows
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            groups: dict[int, list[_Item]] = {}
            for item in items:
                groups.setdefault(id(item.handle), []).append(item)
            for group in groups.values():
                live = [i for i in group if not i.future.done()]
                if not live:
                    continue
                try:
                    if self.inline:
                        scores = _score(live)
                    else:
                        scores = await loop.run_in_executor(self._executor, _score, live)
                except Exception as exc:
                    for i in live:
                        if not i.future.done():
                            i.future.set_exception(exc)
                    continue
                start = 0
                for i in live:
                    end = start + i.batch.rows
                    if not i.future.done():
                        i.future.set_result(scores[start:end])
                    start = end
                if self.on_batch is not None:
                    self.on_batch(len(live), start)


def _score(items: list[_Item]) -> np.ndarray:
    handle = items[0].handle
    frame = stack([i.batch for i in items], handle.features)
    return handle.score(frame)
