"""What a contract validation found, read from Great Expectations' results.

`ColumnFailure` is one failed check, `ValidationReport` the outcome of one validation
with its messages (one line per failing column) and its markdown (one row per
failure, for a Prefect artifact). `read_failures` turns GX's results into failures
whose details name the column and what is wrong, in a fixed order: table first, then
columns in contract order, checks in a fixed order within a column.

Plain logic: `flows.validate` runs the suite and builds the report with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.spec import DataContract

if TYPE_CHECKING:
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

__all__ = ["ColumnFailure", "ValidationReport", "read_failures"]

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


def read_failures(
    results: Iterable[ExpectationValidationResult], frame: pd.DataFrame, contract: DataContract
) -> list[ColumnFailure]:
    """Our failures for GX's expectation results, in report order.

    Args:
        results: GX's ``ExpectationValidationResult`` objects of one validation.
        frame: the frame as the caller passed it, for its dtypes.
        contract: the data contract the suite was built from.
    """
    order = {n: i for i, n in enumerate(contract.names)}
    failures: list[ColumnFailure] = []
    for r in results:
        if r.success:
            continue
        if r.expectation_config is None:  # GX always sets it; a failure is never dropped
            failures.append(ColumnFailure(None, "unknown", "a check failed (GX gave no details)"))
            continue
        failures.extend(
            _failures(r.expectation_config, r.result, r.exception_info, frame, contract)
        )
    # Table first, then columns in contract order, checks in a fixed order within one.
    failures.sort(
        key=lambda f: (
            f.column is not None,
            order.get(f.column or "", len(order)),
            _CHECK_ORDER.get(f.expectation, len(_CHECK_ORDER)),
        )
    )
    return failures


def _failures(
    config: ExpectationConfiguration,
    result: Mapping[str, Any],
    exception_info: Mapping[str, Any] | None,
    frame: pd.DataFrame,
    contract: DataContract,
) -> list[ColumnFailure]:
    """Our failures for one failed GX result; `frame` is the caller's, for its dtypes."""
    kind = config.type
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


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
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
