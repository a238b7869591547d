"""Actuals that arrive as a file or table: ``(prediction_id, actual)`` rows into the log.

The same store and format as ``POST /api/v1/projects/{project}/actuals`` (see
:mod:`scoring.predlog`); a later actual for the same prediction id replaces an
earlier one when the monitor reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from connectors.errors import SchemaMismatch
from connectors.sources import read_table
from connectors.store import ArtifactStore
from core.spec import ColumnSpec, DataContract, ProjectSpec
from monitoring.errors import ActualsError
from scoring.predlog import ACTUALS_SCHEMA, write_actuals

__all__ = ["ingest_actuals"]


def ingest_actuals(
    store: ArtifactStore,
    spec: ProjectSpec,
    source: str,
    *,
    base_dir: str | Path | None = None,
    id_column: str = "prediction_id",
    actual_column: str = "actual",
) -> int:
    """Read ``source`` (any connector URI) and store its actuals; returns rows stored.

    Raises:
        ActualsError: a column is missing, an id is not a prediction id, or an actual
            is not one of the target's allowed values.
    """
    # Typed by a contract of its own, so ids made only of digits stay strings.
    contract = DataContract(
        columns=[
            ColumnSpec(name=id_column, type="string"),
            ColumnSpec(name=actual_column, type="float", role="target"),
        ]
    )
    try:
        table = read_table(source, base_dir=base_dir, contract=contract)
    except SchemaMismatch as exc:
        raise ActualsError(f"actuals source does not have the expected columns: {exc}") from exc
    for name in (id_column, actual_column):
        if name not in table.column_names:
            raise ActualsError(f"actuals source has no column {name!r}")
    ids = table.column(id_column).cast(pa.string())
    bad_id = pc.invert(pc.match_substring_regex(ids, r"^[0-9a-f]{32}$"))
    if pc.any(pc.fill_null(bad_id, True)).as_py():
        row = pc.index(pc.fill_null(bad_id, True), True).as_py()
        raise ActualsError(f"row {row}: {id_column} is not a prediction id (32 hex digits)")
    try:
        actual = table.column(actual_column).cast(pa.float64())
    except pa.ArrowInvalid as exc:
        raise ActualsError(f"column {actual_column!r} is not numeric: {exc}") from exc
    target = spec.contract.column(spec.contract.target)
    if target.allowed is not None:
        allowed = pa.array([float(a) for a in target.allowed], type=pa.float64())
        outside = pc.fill_null(pc.invert(pc.is_in(actual, value_set=allowed)), True)
        if pc.any(outside).as_py():
            row = pc.index(outside, True).as_py()
            raise ActualsError(
                f"row {row}: {actual_column} must be one of {target.allowed}, "
                f"got {actual[row].as_py()}"
            )
    now = pa.array([datetime.now(UTC)] * len(table), type=ACTUALS_SCHEMA.field("received_at").type)
    out = pa.Table.from_arrays([ids, actual, now], schema=ACTUALS_SCHEMA)
    return write_actuals(store, spec.name, out)
