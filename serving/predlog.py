"""The prediction log and the actuals log: partitioned parquet in the artifact store.

Layout. Every flush writes one parquet file per partition — (project, UTC date,
model version) for predictions, (project, UTC date) for actuals — into the
content-addressed store (kinds ``prediction-log`` and ``actuals``), then appends one
line describing it to the partition index::

    <store root>/.mlgate-index/<log>/<project>/<YYYY-MM-DD>.jsonl
    {"uri": ..., "sha256": ..., "rows": 812, "model_version": 3,
     "min_time": "...", "max_time": "...", "written_at": "..."}

Objects in the store are immutable and named by their hash, so they cannot be listed
by partition; the index is the one mutable part: one small append-only file per
project and day (``O_APPEND`` lines, written after the object they describe, so a
line never names a missing object). A reader of a time window opens only the index
files of the days it covers, keeps the lines whose ``[min_time, max_time]`` meets the
window, and reads those objects with their hashes verified.

Prediction-log columns: the contract's features under their own names (typed as the
contract says), the id column when the contract has one, then ``prediction_id``,
``score``, ``label``, ``model_version`` (``project@N``), ``version``, ``predicted_at``
(UTC), ``latency_ms`` and ``source`` (``api`` or ``batch``).

Actuals columns: ``prediction_id``, ``actual``, ``received_at`` (UTC).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.schema import arrow_type
from connectors.store import ArtifactStore, LocalArtifactStore
from mlgate.spec import DataContract
from serving.errors import ServingError

__all__ = [
    "ACTUALS",
    "LOG_COLUMNS",
    "PREDICTIONS",
    "LogIndex",
    "log_schema",
    "read_actuals",
    "read_predictions",
    "write_actuals",
    "write_predictions",
]

PREDICTIONS = "prediction-log"
ACTUALS = "actuals"
INDEX_DIR = ".mlgate-index"  # keys in the store never start with ".", so no collision
LOG_COLUMNS: dict[str, pa.DataType] = {
    "prediction_id": pa.string(),
    "score": pa.float64(),
    "label": pa.int64(),
    "model_version": pa.string(),
    "version": pa.int64(),
    "predicted_at": pa.timestamp("us", tz="UTC"),
    "latency_ms": pa.float64(),
    "source": pa.string(),
}
ACTUALS_SCHEMA = pa.schema(
    [
        pa.field("prediction_id", pa.string()),
        pa.field("actual", pa.float64()),
        pa.field("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


class LogUnavailable(ServingError):
    """The log cannot be written or read where the store lives."""

    code = "log_unavailable"


def log_schema(contract: DataContract) -> pa.Schema:
    """The Arrow schema of a project's prediction-log files."""
    clash = sorted(set(contract.names) & set(LOG_COLUMNS))
    if clash:
        raise ServingError(f"contract columns clash with prediction-log columns: {clash}")
    fields = [pa.field(n, arrow_type(contract.column(n).type)) for n in contract.features]
    if contract.id_column:
        fields.append(pa.field(contract.id_column, pa.string()))
    fields += [pa.field(n, t) for n, t in LOG_COLUMNS.items()]
    return pa.schema(fields)


@dataclass(frozen=True)
class IndexEntry:
    uri: str
    sha256: str
    rows: int
    min_time: datetime
    max_time: datetime
    model_version: int | None = None


class LogIndex:
    """The append-only partition index of one log (``prediction-log`` or ``actuals``).

    Raises:
        LogUnavailable: the store is not a local store (only local stores have an index
            so far; an object store would list a key prefix instead).
    """

    def __init__(self, store: ArtifactStore, log: str) -> None:
        if not isinstance(store, LocalArtifactStore):
            raise LogUnavailable(
                f"the {log} index needs a local artifact store, not {type(store).__name__}"
            )
        self.store = store
        self.root = store.root / INDEX_DIR / log

    def _file(self, project: str, day: date) -> Path:
        return self.root / project / f"{day.isoformat()}.jsonl"

    def append(self, project: str, day: date, entry: IndexEntry) -> None:
        """Record one written object (after it is in the store)."""
        path = self._file(project, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "uri": entry.uri,
                "sha256": entry.sha256,
                "rows": entry.rows,
                "model_version": entry.model_version,
                "min_time": entry.min_time.isoformat(),
                "max_time": entry.max_time.isoformat(),
                "written_at": datetime.now(UTC).isoformat(),
            },
            separators=(",", ":"),
        )
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self, project: str, start: datetime, end: datetime) -> list[IndexEntry]:
        """Objects that may hold rows with a time in ``[start, end)``."""
        found: list[IndexEntry] = []
        day = start.astimezone(UTC).date()
        last = end.astimezone(UTC).date()
        while day <= last:
            path = self._file(project, day)
            if path.is_file():
                for line in path.read_text().splitlines():
                    if not line.strip():
                        continue
                    raw = json.loads(line)
                    entry = IndexEntry(
                        uri=raw["uri"],
                        sha256=raw["sha256"],
                        rows=int(raw["rows"]),
                        min_time=datetime.fromisoformat(raw["min_time"]),
                        max_time=datetime.fromisoformat(raw["max_time"]),
                        model_version=raw.get("model_version"),
                    )
                    if entry.max_time >= start and entry.min_time < end:
                        found.append(entry)
            day += timedelta(days=1)
        return found


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _write_partitioned(
    store: ArtifactStore,
    index: LogIndex,
    project: str,
    table: pa.Table,
    *,
    time_column: str,
    by_version: bool,
) -> int:
    """Write ``table`` as one object per partition and index each; returns rows written."""
    if table.num_rows == 0:
        return 0
    frame_keys = pd.DataFrame(
        {
            "day": table.column(time_column).to_pandas().dt.date,
            **({"version": table.column("version").to_pandas()} if by_version else {}),
        }
    )
    written = 0
    for key, rows in frame_keys.groupby(list(frame_keys.columns), sort=True).indices.items():
        part = table.take(pa.array(rows))
        times = part.column(time_column)
        stored = store.put_bytes(_parquet(part), kind=index.root.name, suffix=".parquet")
        parts = key if isinstance(key, tuple) else (key,)
        index.append(
            project,
            parts[0],
            IndexEntry(
                uri=stored.uri,
                sha256=stored.sha256,
                rows=part.num_rows,
                min_time=pc.min(times).as_py(),
                max_time=pc.max(times).as_py(),
                model_version=int(parts[1]) if by_version else None,
            ),
        )
        written += part.num_rows
    return written


def write_predictions(store: ArtifactStore, project: str, table: pa.Table) -> int:
    """Append prediction-log rows (a table of ``log_schema``); returns rows written."""
    index = LogIndex(store, PREDICTIONS)
    return _write_partitioned(
        store, index, project, table, time_column="predicted_at", by_version=True
    )


def write_actuals(store: ArtifactStore, project: str, table: pa.Table) -> int:
    """Append actuals (a table of ``ACTUALS_SCHEMA``); returns rows written."""
    index = LogIndex(store, ACTUALS)
    return _write_partitioned(
        store,
        index,
        project,
        table.cast(ACTUALS_SCHEMA),
        time_column="received_at",
        by_version=False,
    )


def _read(
    store: ArtifactStore, log: str, project: str, start: datetime, end: datetime, time_column: str
) -> pa.Table | None:
    index = LogIndex(store, log)
    tables = [
        pq.read_table(pa.BufferReader(store.get_bytes(e.uri, sha256=e.sha256)))
        for e in index.entries(project, start, end)
    ]
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="default")
    times = table.column(time_column)
    lo = pa.scalar(start.astimezone(UTC), type=times.type)
    hi = pa.scalar(end.astimezone(UTC), type=times.type)
    mask = pc.and_(pc.greater_equal(times, lo), pc.less(times, hi))
    return table.filter(mask)


def read_predictions(
    store: ArtifactStore, project: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Logged predictions with ``start <= predicted_at < end`` (aware datetimes), by time."""
    table = _read(store, PREDICTIONS, project, start, end, "predicted_at")
    if table is None:
        return pd.DataFrame(columns=list(LOG_COLUMNS))
    frame = table.to_pandas()
    return frame.sort_values("predicted_at", kind="stable").reset_index(drop=True)


def read_actuals(
    store: ArtifactStore, project: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Actuals received in ``[start, end)``; the latest one wins per prediction id."""
    table = _read(store, ACTUALS, project, start, end, "received_at")
    if table is None:
        return pd.DataFrame(columns=ACTUALS_SCHEMA.names)
    frame = table.to_pandas().sort_values("received_at", kind="stable")
    return frame.drop_duplicates("prediction_id", keep="last").reset_index(drop=True)


def to_table(schema: pa.Schema, columns: dict[str, Any]) -> pa.Table:
    """A table of ``schema`` from column arrays (NumPy, lists)."""
    arrays = []
    for f in schema:
        values = columns[f.name]
        if isinstance(values, pa.Array | pa.ChunkedArray):
            arrays.append(values.cast(f.type))
        else:
            arrays.append(pa.array(values, type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def scored_log_table(
    contract: DataContract,
    frame: pd.DataFrame,
    scored: pd.DataFrame,
    *,
    version: int,
    latency_ms: float,
    source: str = "batch",
) -> pa.Table:
    """Prediction-log rows for a frame scored by ``serving.batch.score_frame``.

    The same columns as the server's, so batch and online predictions share one log.
    """
    n = len(scored)
    columns: dict[str, Any] = {name: frame[name].to_numpy() for name in contract.features}
    if contract.id_column:
        ids = frame[contract.id_column]
        columns[contract.id_column] = [None if pd.isna(v) else str(v) for v in ids]
    columns.update(
        prediction_id=pa.array(scored["prediction_id"], type=pa.string()),
        score=scored["score"].to_numpy(),
        label=scored["label"].to_numpy(),
        model_version=scored["model_version"].to_numpy(dtype=object),
        version=pa.array([version] * n, type=pa.int64()),
        predicted_at=pa.Array.from_pandas(scored["scored_at"]),
        latency_ms=pa.array([latency_ms] * n, type=pa.float64()),
        source=pa.array([source] * n, type=pa.string()),
    )
    return to_table(log_schema(contract), columns)
