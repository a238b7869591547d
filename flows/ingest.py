"""Ingest: read a source through its connector into an immutable snapshot.

The snapshot is parquet conformed to the data contract's Arrow schema and keyed by
the sha256 of its bytes, so the same data always lands on the same snapshot and a
re-run never writes a second copy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from connectors.schema import conform
from connectors.sources import read_table
from connectors.store import ArtifactStore
from mlgate.spec import DataContract


@dataclass(frozen=True)
class Snapshot:
    """Where a snapshot lives and what it holds (small: safe to pass between tasks)."""

    source: str
    uri: str
    content_hash: str
    rows: int
    columns: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def snapshot_source(
    source: str, contract: DataContract, store: ArtifactStore, *, base_dir: Path | None = None
) -> Snapshot:
    """Read `source`, conform it to `contract` and store it as a content-addressed snapshot.

    Raises:
        connectors.errors.ConnectorError: the source is missing, malformed or does not
            have the contract's columns; nothing is written in that case.
    """
    table = read_table(source, contract=contract, base_dir=base_dir)
    table = conform(table, contract)
    stored = store.write_snapshot(table)
    return Snapshot(
        source=source,
        uri=stored.uri,
        content_hash=stored.sha256,
        rows=table.num_rows,
        columns=table.num_columns,
    )
