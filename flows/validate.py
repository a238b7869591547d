"""Validate a dataset against the project's data contract with Great Expectations.

The expectation suite is derived only from `core.spec.DataContract`: the exact
set of columns, a non-empty table, and per column its type, nullability, range,
allowed values and (for the id column) uniqueness. `validate_frame` runs that suite
on a pandas frame in an ephemeral, in-memory GX context (no files, no analytics)
and turns GX's results into a small `ValidationReport` (`flows.validation_report`)
whose messages name each failing column and what is wrong with it. `ensure_valid` raises
`flows.errors.ContractViolation` instead of returning a failed report, and
`bad_row_mask` marks the rows that break a row-level rule so they can be quarantined.

This module is plain logic; a Prefect task wraps it in `flows.steps`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

# GX's public expectation classes: its expectations package imports them without an
# __all__, so mypy's strict mode (no implicit re-export) does not see them exported.
from great_expectations.expectations import (  # type: ignore[attr-defined]
    ExpectColumnValuesToBeBetween,
    ExpectColumnValuesToBeInSet,
    ExpectColumnValuesToBeInTypeList,
    ExpectColumnValuesToBeUnique,
    ExpectColumnValuesToNotBeNull,
    ExpectTableColumnsToMatchSet,
    ExpectTableRowCountToBeBetween,
)
from great_expectations.expectations.expectation import Expectation

from core.spec import ColumnSpec, DataContract
from flows.errors import ContractViolation
from flows.validation_report import ValidationReport, read_failures

if TYPE_CHECKING:
    from great_expectations.data_context.data_context.ephemeral_data_context import (
        EphemeralDataContext,
    )

__all__ = [
    "bad_row_mask",
    "build_suite",
    "ensure_valid",
    "validate_frame",
]

# BASIC keeps counts and a short list of unexpected values; SUMMARY adds value counts
# that we do not use.
_RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 20}

_INTS = [f"{p}int{b}" for p in ("", "u") for b in (8, 16, 32, 64)]
_INTS += [f"{p}Int{b}Dtype" for p in ("", "U") for b in (8, 16, 32, 64)]
_FLOATS = ["float16", "float32", "float64", "Float32Dtype", "Float64Dtype"]
_STRINGS = ["object", "str", "StringDtype"]
_CATEGORIES = ["CategoricalDtype"]
_DATETIMES = [f"datetime64[{u}]" for u in ("s", "ms", "us", "ns")]
# Names GX resolves to pandas dtypes (numpy names, or pandas extension dtype classes
# such as Int64Dtype) and, for object columns, to Python types checked per value.
# Lenient on purpose: nullable extension dtypes, every integer width, and ints in
# float columns all pass.
_TYPE_LISTS: dict[str, list[str]] = {
    "int": [*_INTS, "int"],
    "float": [*_FLOATS, *_INTS, "float", "int"],
    "string": [*_STRINGS, *_CATEGORIES],
    "category": [*_STRINGS, *_CATEGORIES],
    "bool": ["bool", "BooleanDtype"],
    "datetime": _DATETIMES,
}


def type_list(column: ColumnSpec) -> list[str]:
    """The pandas dtypes (and per-value Python types) that satisfy a contract column."""
    types = list(_TYPE_LISTS[column.type])
    if column.type == "int" and column.nullable:
        # pandas turns an int column with missing values into float64.
        types += [*_FLOATS, "float"]
    if column.type == "category" and any(
        isinstance(v, int) and not isinstance(v, bool) for v in column.allowed or []
    ):
        # integer codes such as a term in months.
        types += [*_INTS, "int"]
    return types


def build_suite(contract: DataContract, *, name: str) -> gx.ExpectationSuite:
    """The expectation suite the data contract implies.

    Args:
        contract: the project's data contract.
        name: the suite's name.

    Returns:
        A suite not yet attached to a context.
    """
    return gx.ExpectationSuite(name=name, expectations=_expectations(contract))


def _expectations(contract: DataContract, present: set[str] | None = None) -> list[Expectation]:
    """The contract's expectations; with `present`, only those for columns that exist."""
    out: list[Expectation] = [
        ExpectTableColumnsToMatchSet(column_set=contract.names, exact_match=True),
        ExpectTableRowCountToBeBetween(min_value=1),
    ]
    for col in contract.columns:
        if present is not None and col.name not in present:
            continue
        out.extend(_column_expectations(col, contract.id_column == col.name))
    return out


def _column_expectations(col: ColumnSpec, is_id: bool) -> list[Expectation]:
    out: list[Expectation] = []
    if not col.nullable:
        out.append(ExpectColumnValuesToNotBeNull(column=col.name))
    out.append(ExpectColumnValuesToBeInTypeList(column=col.name, type_list=type_list(col)))
    if col.min is not None or col.max is not None:
        out.append(
            ExpectColumnValuesToBeBetween(column=col.name, min_value=col.min, max_value=col.max)
        )
    if col.allowed is not None:
        out.append(ExpectColumnValuesToBeInSet(column=col.name, value_set=list(col.allowed)))
    if is_id:
        out.append(ExpectColumnValuesToBeUnique(column=col.name))
    return out


# --------------------------------------------------------------------------- validation
def _context() -> EphemeralDataContext:
    """A fresh in-memory GX context: no files, no analytics, no progress bars."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _prepare(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """The frame as GX's type check can judge it; the frame itself when nothing changes.

    GX compares a column's dtype with the types it resolves from names, and cannot
    match a categorical with categories, a pyarrow-backed string or a tz-aware
    timestamp: those become object columns (checked value by value) and naive UTC.
    """
    converted: dict[str, pd.Series] = {}
    for c in contract.columns:
        if c.name not in frame.columns:
            continue
        s = frame[c.name]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            converted[c.name] = s.dt.tz_convert(None)
        elif isinstance(s.dtype, pd.CategoricalDtype | pd.StringDtype):
            converted[c.name] = s.astype(object).where(s.notna(), None)
    return frame.assign(**converted) if converted else frame


def _range_checkable(series: pd.Series) -> bool:
    """Whether GX can compare this column with numbers (else the type check reports it)."""
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def validate_frame(
    frame: pd.DataFrame, contract: DataContract, *, name: str = "contract"
) -> ValidationReport:
    """Validate a frame against the data contract.

    Columns missing from the frame are reported as failures (their own checks are
    skipped, not crashed on); range checks are skipped on a column whose dtype is not
    numeric, since its type check already fails.

    Args:
        frame: the dataset.
        contract: the data contract it must satisfy.
        name: names the GX suite and validation definition.

    Returns:
        The report; `success` is False when any check failed.
    """
    started = time.perf_counter()
    original, frame = frame, _prepare(frame, contract)
    present = {str(c) for c in frame.columns}
    expectations = [
        e
        for e in _expectations(contract, present)
        if not (
            isinstance(e, ExpectColumnValuesToBeBetween) and not _range_checkable(frame[e.column])
        )
    ]

    context = _context()
    batch_definition = (
        context.data_sources.add_pandas("mlgate")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe(name)
    )
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": frame}, result_format=_RESULT_FORMAT)

    failures = read_failures(result.results, original, contract)
    return ValidationReport(
        success=not failures,
        evaluated=len(result.results),
        failures=failures,
        rows=len(frame),
        duration_s=time.perf_counter() - started,
    )


def ensure_valid(
    frame: pd.DataFrame, contract: DataContract, *, name: str = "contract"
) -> ValidationReport:
    """Validate and return the report, or raise when any check failed.

    Raises:
        ContractViolation: its message names each failing column and what is wrong.
    """
    report = validate_frame(frame, contract, name=name)
    if not report.success:
        raise ContractViolation(report)
    return report


def bad_row_mask(frame: pd.DataFrame, contract: DataContract) -> pd.Series:
    """Rows that break a row-level rule: a null where not nullable, a value of the wrong
    type in a numeric column, out of range, or not in the allowed set.

    Table-level problems (missing columns, duplicate ids) mark no row.
    """
    bad = pd.Series(False, index=frame.index)
    for col in contract.columns:
        if col.name not in frame.columns:
            continue
        s = frame[col.name]
        null = s.isna()
        if not col.nullable:
            bad |= null
        values = s
        if col.is_numeric:
            values = pd.to_numeric(s, errors="coerce")
            bad |= values.isna() & ~null  # present but not a number
        if col.min is not None:
            bad |= (values < col.min).fillna(False).astype(bool)
        if col.max is not None:
            bad |= (values > col.max).fillna(False).astype(bool)
        if col.allowed is not None:
            bad |= ~s.isin(col.allowed) & ~null
    return bad
