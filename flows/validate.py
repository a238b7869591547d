"""Validate a dataset against the project's data contract with Great Expectations.

The expectation suite is derived only from `core.spec.DataContract`: the exact
set of columns, a non-empty table, and per column its type, nullability, range,
allowed values and (for the id column) uniqueness. `validate_frame` runs that suite
on a pandas frame in an ephemeral, in-memory GX context (no files, no analytics)
and turns GX's results into a small `ValidationReport` whose messages name each
failing column and what is wrong with it. `ensure_valid` raises
`flows.errors.ContractViolation` instead of returning a failed report, and
`bad_row_mask` marks the rows that break a row-level rule so they can be quarantined.

This module is plain logic; a Prefect task wraps it in `flows.steps`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.expectation import Expectation

from core.spec import ColumnSpec, DataContract
from flows.errors import ContractViolation

__all__ = [
    "ColumnFailure",
    "ValidationReport",
    "bad_row_mask",
    "build_suite",
    "ensure_valid",
    "validate_frame",
]

# GX expectation types, as they appear in results.
COLUMNS_MATCH = "expect_table_columns_to_match_set"
ROW_COUNT = "expect_table_row_count_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
IN_TYPES = "expect_column_values_to_be_in_type_list"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
UNIQUE = "expect_column_values_to_be_unique"

_CHECK_ORDER = {k: i for i, k in enumerate((NOT_NULL, IN_TYPES, BETWEEN, IN_SET, UNIQUE))}

MAX_EXAMPLES = 5
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
        gxe.ExpectTableColumnsToMatchSet(column_set=contract.names, exact_match=True),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
    ]
    for col in contract.columns:
        if present is not None and col.name not in present:
            continue
        out.extend(_column_expectations(col, contract.id_column == col.name))
    return out


def _column_expectations(col: ColumnSpec, is_id: bool) -> list[Expectation]:
    out: list[Expectation] = []
    if not col.nullable:
        out.append(gxe.ExpectColumnValuesToNotBeNull(column=col.name))
    out.append(gxe.ExpectColumnValuesToBeInTypeList(column=col.name, type_list=type_list(col)))
    if col.min is not None or col.max is not None:
        out.append(
            gxe.ExpectColumnValuesToBeBetween(column=col.name, min_value=col.min, max_value=col.max)
        )
    if col.allowed is not None:
        out.append(gxe.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(col.allowed)))
    if is_id:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=col.name))
    return out


# --------------------------------------------------------------------------- report
@dataclass(frozen=True)
class ColumnFailure:
    """One failed expectation; `column` is None for table-level checks."""

    column: str | None
    expectation: str
    detail: str
    unexpected_count: int | None = None
    unexpected_examples: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one dataset against its data contract."""

    success: bool
    evaluated: int
    failures: list[ColumnFailure]
    rows: int
    duration_s: float

    @property
    def failing_columns(self) -> list[str]:
        """Columns with at least one failure, in report order."""
        return list(dict.fromkeys(f.column for f in self.failures if f.column is not None))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping, for governance records and artifacts."""
        return {
            "success": self.success,
            "evaluated": self.evaluated,
            "rows": self.rows,
            "duration_s": round(self.duration_s, 4),
            "failing_columns": self.failing_columns,
            "failures": [asdict(f) for f in self.failures],
        }

    def message(self) -> str:
        """One readable line per failing column (and per table-level problem)."""
        if self.success:
            return f"all {self.evaluated} checks passed on {self.rows} rows"
        lines: list[str] = []
        missing = [f.column for f in self.failures if f.expectation == "missing_column"]
        extra = [f.column for f in self.failures if f.expectation == "unexpected_column"]
        if missing:
            lines.append(f"missing columns: {', '.join(str(c) for c in missing)}")
        if extra:
            lines.append(f"unexpected columns: {', '.join(str(c) for c in extra)}")
        by_column: dict[str | None, list[str]] = {}
        for f in self.failures:
            if f.expectation in ("missing_column", "unexpected_column"):
                continue
            by_column.setdefault(f.column, []).append(f.detail)
        for column, details in by_column.items():
            prefix = "table" if column is None else f"column {column!r}"
            lines.append(f"{prefix}: {'; '.join(details)}")
        return "\n".join(lines)

    def summary_markdown(self) -> str:
        """A markdown summary with one row per failure, for a Prefect artifact."""
        verdict = "passed" if self.success else "failed"
        head = (
            f"**Data contract validation {verdict}**: {self.rows:,} rows, "
            f"{self.evaluated} checks, {len(self.failures)} failures, {self.duration_s:.2f} s"
        )
        if not self.failures:
            return head + "\n"
        rows = [
            "| column | check | problem | unexpected | examples |",
            "| --- | --- | --- | ---: | --- |",
        ]
        for f in self.failures:
            examples = ", ".join(_show(v) for v in f.unexpected_examples)
            cells = [
                f.column or "(table)",
                f.expectation,
                f.detail,
                "" if f.unexpected_count is None else str(f.unexpected_count),
                examples,
            ]
            rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return head + "\n\n" + "\n".join(rows) + "\n"


# --------------------------------------------------------------------------- validation
def _context() -> Any:
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
            isinstance(e, gxe.ExpectColumnValuesToBeBetween)
            and not _range_checkable(frame[e.column])
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

    order = {n: i for i, n in enumerate(contract.names)}
    failures: list[ColumnFailure] = []
    for r in result.results:
        if not r.success:
            failures.extend(
                _failures(r.expectation_config, r.result, r.exception_info, original, contract)
            )
    # Table first, then columns in contract order, checks in a fixed order within one.
    failures.sort(
        key=lambda f: (
            f.column is not None,
            order.get(f.column or "", len(order)),
            _CHECK_ORDER.get(f.expectation, len(_CHECK_ORDER)),
        )
    )
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


# --------------------------------------------------------------------------- results → failures
def _failures(
    config: Any,
    result: Mapping[str, Any],
    exception_info: Any,
    frame: pd.DataFrame,
    contract: DataContract,
) -> list[ColumnFailure]:
    """Our failures for one failed GX result; `frame` is the caller's, for its dtypes."""
    kind: str = config.type
    kwargs: Mapping[str, Any] = config.kwargs
    column: str | None = kwargs.get("column")

    error = _exception_message(exception_info)
    if error is not None:
        return [ColumnFailure(column, kind, f"could not be checked ({kind}): {error}")]

    if kind == COLUMNS_MATCH:
        mismatched = (result.get("details") or {}).get("mismatched") or {}
        out = [
            ColumnFailure(str(c), "missing_column", "column is missing from the data")
            for c in mismatched.get("missing") or []
        ]
        out += [
            ColumnFailure(str(c), "unexpected_column", "column is not in the contract")
            for c in mismatched.get("unexpected") or []
        ]
        return out or [ColumnFailure(None, kind, "the columns do not match the contract")]
    if kind == ROW_COUNT:
        return [ColumnFailure(None, kind, "the data has no rows", 0)]

    count = _int_or_none(result.get("unexpected_count"))
    examples = _examples(result.get("partial_unexpected_list") or [])
    shown = f" (e.g. {', '.join(_show(v) for v in examples)})" if examples else ""
    values = _values(count)

    if kind == NOT_NULL:
        detail = f"{_values(count, 'missing value')} but the contract says not nullable"
        return [ColumnFailure(column, kind, detail, count)]
    if kind == BETWEEN:
        lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
        if lo is not None and hi is not None:
            where = f"outside [{_show(lo)}, {_show(hi)}]"
        elif lo is not None:
            where = f"below the minimum {_show(lo)}"
        else:
            where = f"above the maximum {_show(hi)}"
        return [ColumnFailure(column, kind, f"{values} {where}{shown}", count, examples)]
    if kind == IN_SET:
        detail = f"{values} not in allowed set{shown}"
        return [ColumnFailure(column, kind, detail, count, examples)]
    if kind == UNIQUE:
        detail = f"{values} {'is' if count == 1 else 'are'} not unique{shown}"
        return [ColumnFailure(column, kind, detail, count, examples)]
    if kind == IN_TYPES:
        expected = contract.column(column).type if column in contract.names else "?"
        dtype = str(frame[column].dtype) if column in frame.columns else "unknown"
        if count is not None:  # an object column, checked value by value
            detail = f"{values} {'is' if count == 1 else 'are'} not of type {expected}{shown}"
            return [ColumnFailure(column, kind, detail, count, examples)]
        detail = f"dtype {dtype} does not match the contract type {expected}"
        return [ColumnFailure(column, kind, detail)]
    detail = f"{_values(count, 'unexpected value')}{shown}"
    return [ColumnFailure(column, kind, detail, count, examples)]


def _exception_message(info: Any) -> str | None:
    """GX's exception info is flat for one metric, or keyed by metric when several failed."""
    if not isinstance(info, Mapping):
        return None
    entries: Iterable[Any] = [info] if "raised_exception" in info else info.values()
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "an error").splitlines()[0][:300]
    return None


def _values(count: int | None, noun: str = "value") -> str:
    """'1 value', '3 values', or 'some values' when GX gave no count."""
    if count is None:
        return f"some {noun}s"
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _examples(values: Iterable[Any]) -> list[Any]:
    """Up to MAX_EXAMPLES distinct values, as JSON-safe Python objects."""
    out: list[Any] = []
    for v in values:
        j = _jsonable(v)
        if j not in out:
            out.append(j)
        if len(out) == MAX_EXAMPLES:
            break
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    return str(value)


def _show(value: Any) -> str:
    """A value as the messages print it: strings quoted, whole floats without '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
