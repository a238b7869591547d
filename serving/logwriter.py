"""Writing the prediction log off the request path: a bounded buffer and one writer thread.

A request first *reserves* room for its rows (``reserve``), then — once scored — hands
its rows over (``put``), which never blocks. The writer thread wakes every
``flush_s`` seconds, or as soon as ``flush_rows`` rows wait, and writes what it has as
partitioned parquet (:mod:`scoring.predlog`); only then is the room released.

When the buffer is full (the store is slow or down), ``reserve`` waits up to
``wait_s`` for room and then returns False: the server answers 503 *before* scoring,
so no prediction is ever served that is not logged, and memory stays bounded by
``capacity_rows``. A failed write keeps its rows and is retried on the next wake-up
(so the buffer fills and requests are refused rather than rows dropped). ``close``
stops the thread after a last flush of everything buffered.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from connectors.store import ArtifactStore
from scoring.predlog import to_table, write_predictions

__all__ = ["LogBatch", "PredictionLogWriter", "merge_columns"]

log = logging.getLogger("mlgate.serving.log")


@dataclass(frozen=True)
class LogBatch:
    """The rows of one request (or one batch-scoring chunk), as columns."""

    columns: dict[str, Any]
    rows: int


def merge_columns(names: list[str], batches: list[LogBatch]) -> dict[str, Any]:
    """One array per column from many small batches (one Arrow conversion per column).

    A column may be given per batch as an array, a list, or one value for all its rows
    (model version, time, latency, source), which is repeated here, off the request path,
    with one ``np.repeat`` per column.
    """
    merged: dict[str, Any] = {}
    counts = np.array([b.rows for b in batches], dtype=np.int64)
    for name in names:
        values = [b.columns[name] for b in batches]
        if not isinstance(values[0], np.ndarray | list):
            merged[name] = _repeat(values, counts)
            continue
        parts = [v if isinstance(v, np.ndarray) else np.array(v, dtype=object) for v in values]
        if len(parts) == 1:
            merged[name] = parts[0]
        elif any(p.dtype == object for p in parts) and not all(p.dtype == object for p in parts):
            merged[name] = np.concatenate([p.astype(object) for p in parts])
        else:
            merged[name] = np.concatenate(parts)
    return merged


def _repeat(values: list[Any], counts: np.ndarray) -> Any:
    """Per-batch scalars repeated for each batch's rows."""
    if isinstance(values[0], datetime):
        micros = np.array([int(v.timestamp() * 1_000_000) for v in values], dtype=np.int64)
        return pa.array(np.repeat(micros, counts)).cast(pa.timestamp("us", tz="UTC"))
    if isinstance(values[0], str):
        # few distinct values (model versions, sources): a dictionary array, decoded once
        uniques, codes = np.unique(np.array(values, dtype=object), return_inverse=True)
        indices = pa.array(np.repeat(codes.astype(np.int32), counts))
        return pa.DictionaryArray.from_arrays(indices, pa.array(list(uniques))).dictionary_decode()
    return np.repeat(np.array(values), counts)


class PredictionLogWriter:
    """A bounded, thread-written prediction log of one project.

    Args:
        store: where the parquet files go.
        project: the project whose log this is.
        schema: ``scoring.predlog.log_schema(contract)``.
        capacity_rows: rows buffered at most (reserved or waiting to be written).
        flush_rows: write as soon as this many rows wait.
        flush_s: write at least this often while rows wait.
        on_written: called with the number of rows after each successful write.
    """

    def __init__(
        self,
        store: ArtifactStore,
        project: str,
        schema: pa.Schema,
        *,
        capacity_rows: int,
        flush_rows: int,
        flush_s: float,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.project = project
        self.schema = schema
        self.capacity_rows = capacity_rows
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self._on_written = on_written
        self._lock = threading.Lock()
        self._reserved = 0
        self._waiting: deque[LogBatch] = deque()
        self._waiting_rows = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.written_rows = 0
        self.failed_writes = 0
        self._thread = threading.Thread(target=self._run, name=f"predlog-{project}", daemon=True)
        self._thread.start()

    # -- request side -------------------------------------------------------------------

    @property
    def buffered_rows(self) -> int:
        """Rows reserved or waiting to be written."""
        return self._reserved

    def try_reserve(self, rows: int) -> bool:
        """Reserve room for ``rows`` rows if there is some now."""
        with self._lock:
            if self._stop.is_set():
                return False
            if self._reserved + rows > self.capacity_rows and self._reserved > 0:
                return False
            self._reserved += rows
            return True

    async def reserve(self, rows: int, wait_s: float) -> bool:
        """Reserve room for ``rows`` rows, waiting up to ``wait_s`` seconds for it."""
        if self.try_reserve(rows):
            return True
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            if self.try_reserve(rows):
                return True
        return False

    def release(self, rows: int) -> None:
        """Give back room reserved for rows that will not be logged (the request failed)."""
        with self._lock:
            self._reserved -= rows

    def put(self, batch: LogBatch) -> None:
        """Hand over rows whose room was reserved; never blocks."""
        with self._lock:
            self._waiting.append(batch)
            self._waiting_rows += batch.rows
            ready = self._waiting_rows >= self.flush_rows
        if ready:
            self._wake.set()

    def write_now(self, batch: LogBatch) -> int:
        """Write rows synchronously (batch scoring); returns rows written."""
        return write_predictions(self.store, self.project, self._table([batch]))

    # -- writer side --------------------------------------------------------------------

    def _table(self, batches: list[LogBatch]) -> pa.Table:
        return to_table(self.schema, merge_columns(self.schema.names, batches))

    def _take(self) -> list[LogBatch]:
        with self._lock:
            batches = list(self._waiting)
            self._waiting.clear()
            self._waiting_rows = 0
        return batches

    def _give_back(self, batches: list[LogBatch]) -> None:
        with self._lock:
            self._waiting.extendleft(reversed(batches))
            self._waiting_rows += sum(b.rows for b in batches)

    def _flush(self) -> None:
        batches = self._take()
        if not batches:
            return
        rows = sum(b.rows for b in batches)
        try:
            write_predictions(self.store, self.project, self._table(batches))
        except Exception:
            self.failed_writes += 1
            log.exception("prediction log: writing %d rows failed; kept for retry", rows)
            self._give_back(batches)
            return
        with self._lock:
            self._reserved -= rows
            self.written_rows += rows
        if self._on_written is not None:
            self._on_written(rows)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self._flush()
        # Last flushes on close; a failing store gets a few more tries, then we say so.
        for attempt in range(5):
            self._flush()
            if not self._waiting:
                return
            time.sleep(0.2 * (attempt + 1))
        log.error("prediction log: %d rows could not be written at shutdown", self._waiting_rows)

    def close(self, timeout: float = 60.0) -> None:
        """Refuse new reservations, write everything buffered, stop the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    @property
    def unwritten_rows(self) -> int:
        """Rows handed over but not written (non-zero after close means they were lost)."""
        with self._lock:
            return self._waiting_rows
