"""Ingest: read a source through its connector into an immutable snapshot.

The source (file://, s3:// or snowflake://) is streamed in Arrow batches conformed to
the data contract and written as deterministic parquet, keyed by the sha256 of its
bytes: the same data always lands on the same snapshot whatever the source, a re-run
never writes a second copy, and memory stays bounded by a batch and a row group.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.errors import ConnectorError
from connectors.sources import DEFAULT_BATCH_ROWS, open_source
from connectors.store import ArtifactStore
from core.spec import DataContract
from flows.results import Snapshot

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import State, TaskRun


def snapshot_source(
    source: str,
    contract: DataContract,
    store: ArtifactStore,
    *,
    base_dir: Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Snapshot:
    """Stream `source`, conformed to `contract`, into a content-addressed snapshot.

    Raises:
        connectors.errors.ConnectorError: the source is missing, unreachable, malformed
            or does not have the contract's columns, or its credentials are refused;
            nothing is stored in that case.
    """
    stream = open_source(source, contract=contract, base_dir=base_dir, batch_rows=batch_rows)
    written = store.write_snapshot_stream(stream.schema, stream.batches)
    return Snapshot(
        source=source,
        uri=written.stored.uri,
        content_hash=written.stored.sha256,
        rows=written.rows,
        columns=written.columns,
    )


def retry_if_retryable(
    task: Task[..., Any] | None, task_run: TaskRun | None, state: State[Any]
) -> bool:
    """Prefect ``retry_condition_fn`` for I/O tasks: retry only what a retry can help.

    A connector error says whether it is worth retrying (only an unavailable system
    is); a missing object, refused credentials or a malformed file fail at once instead
    of after every retry delay. Other failures keep the task's retry policy.
    """
    del task, task_run
    error = getattr(state, "data", None)
    if isinstance(error, ConnectorError):
        return error.retryable
    return True
