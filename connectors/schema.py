"""The Arrow schema derived from a project's data contract, and conforming tables to it.

The contract (core.spec.DataContract) is the single source of truth for types.
``arrow_schema`` maps it to Arrow; ``conform`` selects the contract's columns in
contract order and casts them, so every snapshot of a project has the same schema
whatever the source format was.

Every field is nullable in Arrow: whether nulls are *allowed* is a data-quality rule
that the validation step checks (and quarantines rows for), not a reason to refuse the
whole file at ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from connectors.errors import SchemaMismatch
from core.spec import ColumnType, DataContract

__all__ = [
    "ARROW_TYPES",
    "arrow_schema",
    "arrow_type",
    "check_columns",
    "conform",
    "conform_batch",
    "extra_columns",
    "first_bad_value",
]

log = logging.getLogger(__name__)

# category stays a plain string (not dictionary): bytes of a snapshot must not depend
# on the order in which categories happened to appear.
ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "category": pa.string(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us"),
}


def arrow_type(column_type: ColumnType) -> pa.DataType:
    """The Arrow type of one contract column type."""
    return ARROW_TYPES[column_type]


def arrow_schema(contract: DataContract) -> pa.Schema:
    """The Arrow schema of a dataset that follows ``contract``, in contract order."""
    return pa.schema(
        [pa.field(c.name, arrow_type(c.type), nullable=True) for c in contract.columns]
    )


def extra_columns(names: Sequence[str], contract: DataContract) -> list[str]:
    """Columns present in ``names`` but not in the contract, in their original order."""
    wanted = set(contract.names)
    return [n for n in names if n not in wanted]


def conform(table: pa.Table, contract: DataContract, *, origin: str = "table") -> pa.Table:
    """Select the contract's columns in contract order and cast them to its types.

    Extra columns are dropped (and logged); use ``extra_columns`` to list them.

    Args:
        table: the data as read from a source.
        contract: the project's data contract.
        origin: how to name the data in error messages (a redacted URI or file name).

    Returns:
        A table whose schema equals ``arrow_schema(contract)``.

    Raises:
        SchemaMismatch: columns are missing (all are named), a contract column appears
            twice, or a value cannot be read as its column's type (the column, the row
            and the value are named).
    """
    arrays, schema = _conformed(table, contract, origin=origin, row_offset=0)
    return pa.Table.from_arrays(arrays, schema=schema)


def conform_batch(
    batch: pa.RecordBatch, contract: DataContract, *, origin: str = "batch", row_offset: int = 0
) -> pa.RecordBatch:
    """``conform`` for one record batch of a stream; rows in errors count from ``row_offset``."""
    arrays, schema = _conformed(batch, contract, origin=origin, row_offset=row_offset)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def check_columns(names: Sequence[str], contract: DataContract, *, origin: str) -> None:
    """Refuse a column list that lacks a contract column or repeats one.

    Raises:
        SchemaMismatch: naming every missing column, or the repeated ones.
    """
    missing = [n for n in contract.names if n not in names]
    if missing:
        raise SchemaMismatch(
            f"{origin}: missing column(s) required by the data contract: {', '.join(missing)}"
        )
    dupes = sorted({n for n in contract.names if list(names).count(n) > 1})
    if dupes:
        raise SchemaMismatch(f"{origin}: column(s) appear more than once: {', '.join(dupes)}")


def _conformed(
    data: pa.Table | pa.RecordBatch, contract: DataContract, *, origin: str, row_offset: int
) -> tuple[list[Any], pa.Schema]:
    names = list(data.schema.names)
    check_columns(names, contract, origin=origin)
    extras = extra_columns(names, contract)
    if extras:
        log.info("%s: dropping column(s) not in the data contract: %s", origin, ", ".join(extras))
    schema = arrow_schema(contract)
    arrays = [
        _cast(
            data.column(names.index(f.name)),
            f.type,
            name=f.name,
            origin=origin,
            row_offset=row_offset,
        )
        for f in schema
    ]
    return arrays, schema


def _cast(column: Any, target: pa.DataType, *, name: str, origin: str, row_offset: int) -> Any:
    if column.type == target:
        return column
    try:
        return column.cast(target)  # safe cast: no truncation, no overflow
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        row, value = first_bad_value(column, target)
        where = f" row {row + row_offset}" if row is not None else ""
        raise SchemaMismatch(
            f"{origin}: column {name!r}{where}: value {value!r} cannot be read as "
            f"{target} ({column.type} in the source)"
        ) from exc


def first_bad_value(column: pa.Array, target: pa.DataType) -> tuple[int | None, object]:
    """The first row (0-based) of ``column`` that does not cast to ``target``, and its value.

    Bisects with whole-slice casts, so it costs about two casts of the column; it is
    only called once a cast has already failed.
    """
    try:
        column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    else:
        return None, None
    lo, hi = 0, len(column)
    if hi == 0:
        return None, None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            column.slice(lo, mid - lo).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            hi = mid
        else:
            lo = mid
    value = column[lo].as_py()
    if isinstance(value, str) and len(value) > 80:
        value = value[:77] + "..."
    return lo, value
