"""The prediction log and the actuals log: partitioned parquet in the artifact store.

Layout. Every flush writes one parquet file per partition — (project, UTC date,
model version) for predictions, (project, UTC date) for actuals — into the
content-addressed store (kinds ``prediction-log`` and ``actuals``), then adds one entry
describing it to the partition index of that project and day. Objects in the store are
immutable and named by their hash, so they cannot be listed by partition; the index
says which objects a day holds. An entry is only added after its object is in the
store, so it never names a missing object, and entries are never rewritten. Each kind
of store keeps the index its own way.

On a local store: one small append-only file per project and day (``O_APPEND`` lines)::

    <store root>/.mlgate-index/<log>/<project>/<YYYY-MM-DD>.jsonl
    {"uri": ..., "sha256": ..., "rows": 812, "model_version": 3,
     "min_time": "...", "max_time": "...", "written_at": "..."}

On an S3 store: one immutable object per entry, created with a conditional PUT under a
unique name, so writers in several processes never overwrite each other's entries::

    <prefix>/.mlgate-index/<log>/<project>/<YYYY-MM-DD>/
        <min_time>-<max_time>-r<rows>-v<model version>-<sha256>-w<written_at>-<nonce>.json

The name holds the whole entry (times as ``YYYYMMDDTHHMMSSffffffZ``; the object's URI
follows from its log, hash and ``.parquet``), so reading a day is a paginated listing
of that prefix, not one request per entry; the body repeats the entry as JSON for
people looking. Project names and dates are checked as key segments on both stores.

A reader of a time window goes through the index of the days it covers, keeps the
entries whose ``[min_time, max_time]`` meets the window, in the order they were
appended (on S3: by ``written_at``), and reads those objects with their hashes verified.

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
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.errors import UnsafePath
from connectors.s3store import INDEX_AREA, S3ArtifactStore
from connectors.schema import arrow_type
from connectors.store import ArtifactStore, LocalArtifactStore, check_key
from core.spec import DataContract
from scoring.errors import LogUnavailable, ScoringError

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
INDEX_DIR = INDEX_AREA  # keys in the store never start with ".", so no collision
LOG_SUFFIX = ".parquet"
READ_THREADS = 8  # objects fetched at once when reading a window (a round trip each on S3)
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


def log_schema(contract: DataContract) -> pa.Schema:
    """The Arrow schema of a project's prediction-log files."""
    clash = sorted(set(contract.names) & set(LOG_COLUMNS))
    if clash:
        raise ScoringError(f"contract columns clash with prediction-log columns: {clash}")
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

    Each kind of store keeps it its own way (``_FileIndex`` on a local store,
    ``_ObjectIndex`` on S3); both give the same entries for the same appends.

    Raises:
        LogUnavailable: the store is of a kind that keeps no index.
    """

    def __init__(self, store: ArtifactStore, log: str) -> None:
        self.store = store
        self.log = log
        self._days: _FileIndex | _ObjectIndex
        if isinstance(store, LocalArtifactStore):
            self._days = _FileIndex(store.root / INDEX_DIR / log)
        elif isinstance(store, S3ArtifactStore):
            self._days = _ObjectIndex(store, log)
        else:
            raise LogUnavailable(
                f"the {log} index needs a local or an S3 artifact store, not {type(store).__name__}"
            )

    def append(self, project: str, day: date, entry: IndexEntry) -> None:
        """Record one written object (after it is in the store).

        Raises:
            UnsafePath: the project name is not one plain key segment.
        """
        self._days.append(_partition(project, day), entry)

    def entries(self, project: str, start: datetime, end: datetime) -> list[IndexEntry]:
        """Objects that may hold rows with a time in ``[start, end)``, in append order.

        Raises:
            UnsafePath: the project name is not one plain key segment.
        """
        found: list[IndexEntry] = []
        day = start.astimezone(UTC).date()
        last = end.astimezone(UTC).date()
        while day <= last:
            for entry in self._days.read(_partition(project, day)):
                if entry.max_time >= start and entry.min_time < end:
                    found.append(entry)
            day += timedelta(days=1)
        return found


def _check_project(project: str) -> None:
    """Refuse a project name that is not one plain key segment (it names partitions).

    Raises:
        UnsafePath: the name is empty, has a ``/``, a dot segment or other characters.
    """
    try:
        check_key(project)
    except UnsafePath as exc:
        raise UnsafePath(f"project name {project!r} cannot name a log partition: {exc}") from None
    if "/" in project:
        raise UnsafePath(f"project name {project!r} cannot name a log partition: it has a '/'")


def _partition(project: str, day: date) -> str:
    """``<project>/<YYYY-MM-DD>``: the key of one index partition, checked like any key."""
    _check_project(project)
    partition = f"{project}/{day.isoformat()}"
    check_key(partition)
    return partition


def _record(entry: IndexEntry, written_at: datetime) -> dict[str, Any]:
    return {
        "uri": entry.uri,
        "sha256": entry.sha256,
        "rows": entry.rows,
        "model_version": entry.model_version,
        "min_time": entry.min_time.isoformat(),
        "max_time": entry.max_time.isoformat(),
        "written_at": written_at.isoformat(),
    }


class _FileIndex:
    """A local store's index: one JSON-lines file per partition, appended to in place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def append(self, partition: str, entry: IndexEntry) -> None:
        path = self.root / f"{partition}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(_record(entry, datetime.now(UTC)), separators=(",", ":"))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, partition: str) -> list[IndexEntry]:
        path = self.root / f"{partition}.jsonl"
        if not path.is_file():
            return []
        found = []
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            raw = json.loads(line)
            found.append(
                IndexEntry(
                    uri=raw["uri"],
                    sha256=raw["sha256"],
                    rows=int(raw["rows"]),
                    min_time=datetime.fromisoformat(raw["min_time"]),
                    max_time=datetime.fromisoformat(raw["max_time"]),
                    model_version=raw.get("model_version"),
                )
            )
        return found


_STAMP = "%Y%m%dT%H%M%S%fZ"
_ENTRY_NAME = re.compile(
    r"(?P<min>\d{8}T\d{12}Z)-(?P<max>\d{8}T\d{12}Z)-r(?P<rows>\d{1,15})-v(?P<version>\d{0,15})"
    r"-(?P<sha>[0-9a-f]{64})-w(?P<written>\d{8}T\d{12}Z)-[0-9a-f]{12}\.json"
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_STAMP)


def _unstamp(text: str) -> datetime:
    return datetime.strptime(text, _STAMP).replace(tzinfo=UTC)


class _ObjectIndex:
    """An S3 store's index: one immutable object per entry, the entry spelled in its key.

    A partition is a key prefix; reading it is a paginated listing (no GET per entry),
    appending is one conditional PUT of a new, uniquely named object: concurrent
    writers never touch each other's entries.
    """

    def __init__(self, store: S3ArtifactStore, log: str) -> None:
        self.store = store
        self.log = log

    def append(self, partition: str, entry: IndexEntry) -> None:
        if entry.uri != self._uri(entry.sha256):
            raise LogUnavailable(
                f"the {self.log} index on {self.store.root_uri} only names this store's "
                f"{self.log} objects, not {entry.uri}"
            )
        written_at = datetime.now(UTC)
        version = "" if entry.model_version is None else str(int(entry.model_version))
        name = (
            f"{_stamp(entry.min_time)}-{_stamp(entry.max_time)}-r{int(entry.rows)}-v{version}"
            f"-{entry.sha256}-w{_stamp(written_at)}-{uuid.uuid4().hex[:12]}.json"
        )
        body = json.dumps(_record(entry, written_at), separators=(",", ":")).encode()
        self.store.put_index_object(f"{self.log}/{partition}/{name}", body)

    def read(self, partition: str) -> list[IndexEntry]:
        prefix = f"{self.log}/{partition}/"
        found: list[tuple[datetime, IndexEntry]] = []
        for key in self.store.list_index_keys(prefix.rstrip("/")):
            match = _ENTRY_NAME.fullmatch(key.removeprefix(prefix))
            if match is None:
                raise LogUnavailable(
                    f"the {self.log} index on {self.store.root_uri} holds {key!r}, "
                    "which is not an index entry"
                )
            version = match.group("version")
            entry = IndexEntry(
                uri=self._uri(match.group("sha")),
                sha256=match.group("sha"),
                rows=int(match.group("rows")),
                min_time=_unstamp(match.group("min")),
                max_time=_unstamp(match.group("max")),
                model_version=int(version) if version else None,
            )
            found.append((_unstamp(match.group("written")), entry))
        # Append order, as a local index file keeps it (the latest actual wins on ties).
        found.sort(key=lambda item: item[0])
        return [entry for _, entry in found]

    def _uri(self, sha256: str) -> str:
        return self.store.artifact_uri(kind=self.log, sha256=sha256, suffix=LOG_SUFFIX)


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
    _check_project(project)  # before any object is written
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
        stored = store.put_bytes(_parquet(part), kind=index.log, suffix=LOG_SUFFIX)
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
    entries = LogIndex(store, log).entries(project, start, end)

    def fetch(entry: IndexEntry) -> pa.Table:
        return pq.read_table(pa.BufferReader(store.get_bytes(entry.uri, sha256=entry.sha256)))

    with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="log-read") as pool:
        tables = list(pool.map(fetch, entries))  # in index order, whatever finishes first
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
    """Prediction-log rows for a frame scored by ``scoring.batch.score_frame``.

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
