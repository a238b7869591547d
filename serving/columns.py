"""One feature of a prediction request checked across all its records, by contract type.

:func:`check_column` takes the values of one feature (one per record, as parsed from
JSON) and returns them as a typed array, or records what is wrong with the first bad
value in :class:`Problems` and returns None. A column is checked with set and array
operations over all its values at once; values are only walked one by one to name the
first bad one. Nothing is coerced: see :mod:`serving.validation` for the rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from core.spec import ColumnSpec
from serving.errors import Problem, RequestInvalid

__all__ = ["MAX_PROBLEMS", "Problems", "check_column", "type_name"]

MAX_PROBLEMS = 20
NONE = type(None)
NUMBER = frozenset({int, float})
_TYPE_NAMES: dict[type, str] = {
    int: "integer",
    float: "number",
    str: "string",
    bool: "boolean",
    NONE: "null",
    dict: "object",
    list: "array",
}


def type_name(value: object) -> str:
    """The JSON name of a parsed value's type (``integer``, ``string``, ``null``...)."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Problems:
    """The problems of one request, first ones first, at most ``MAX_PROBLEMS``."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, record: int | None, field: str | None, problem: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(record, field, problem))

    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def raise_if_any(self) -> None:
        """Raises RequestInvalid with the problems found so far, if any."""
        if self.items:
            raise RequestInvalid(self.items)


def check_column(
    name: str,
    spec: ColumnSpec,
    values: list[object],
    allowed: frozenset[object] | None,
    problems: Problems,
) -> np.ndarray | None:
    """The values of feature ``name`` as a typed array, or None after adding a problem.

    Args:
        allowed: the contract's allowed values of the feature, as a set (None: any).
    """
    types = set(map(type, values))
    if NONE in types and not spec.nullable:
        _first(
            values, lambda v: v is None, name, "is null but the feature is not nullable", problems
        )
        return None
    kind = spec.type
    if kind in ("int", "float"):
        return _numeric(name, spec, values, types, allowed, problems)
    if kind in ("string", "category"):
        return _strings(name, values, types, allowed, problems)
    if kind == "bool":
        return _bools(name, values, types, problems)
    return _datetimes(name, values, types, problems)


def _numeric(
    name: str,
    spec: ColumnSpec,
    values: list[object],
    types: set[type],
    allowed: frozenset[object] | None,
    problems: Problems,
) -> np.ndarray | None:
    bad_types = types - NUMBER - {NONE}
    if bad_types:
        _first(
            values,
            lambda v: type(v) not in NUMBER and v is not None,
            name,
            "expected a number, got {type}",
            problems,
        )
        return None
    has_null = NONE in types
    if has_null:
        array = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    else:
        array = np.array(values, dtype=np.float64)
    if not np.isfinite(array[~np.isnan(array)] if has_null else array).all():
        _first_index(
            ~np.isfinite(array) & ~np.isnan(array) if has_null else ~np.isfinite(array),
            name,
            "is not a finite number",
            problems,
        )
        return None
    if spec.type == "int" and float in types:
        fractional = (array != np.floor(array)) & ~np.isnan(array)
        if fractional.any():
            _first_index(fractional, name, "expected an integer, got a fraction", problems)
            return None
    if spec.min is not None:
        low = array < spec.min
        if low.any():
            _first_index(low, name, f"is below the minimum {spec.min:g}", problems, array)
            return None
    if spec.max is not None:
        high = array > spec.max
        if high.any():
            _first_index(high, name, f"is above the maximum {spec.max:g}", problems, array)
            return None
    if allowed is not None:
        outside = [v not in allowed and v is not None for v in values]
        if any(outside):
            _first_index(
                np.array(outside),
                name,
                f"is not one of the allowed values {sorted(allowed, key=str)}",
                problems,
                array,
            )
            return None
    if spec.type == "int" and not has_null:
        return array.astype(np.int64)
    return array


def _strings(
    name: str,
    values: list[object],
    types: set[type],
    allowed: frozenset[object] | None,
    problems: Problems,
) -> np.ndarray | None:
    if types - {str, NONE}:
        _first(
            values,
            lambda v: type(v) is not str and v is not None,
            name,
            "expected a string, got {type}",
            problems,
        )
        return None
    if allowed is not None and not allowed.issuperset(values):
        _first(
            values,
            lambda v: v is not None and v not in allowed,
            name,
            f"{{value!r}} is not one of the allowed values {sorted(map(str, allowed))}",
            problems,
        )
        return None
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _bools(
    name: str, values: list[object], types: set[type], problems: Problems
) -> np.ndarray | None:
    if types - {bool, NONE}:
        _first(
            values,
            lambda v: type(v) is not bool and v is not None,
            name,
            "expected true or false, got {type}",
            problems,
        )
        return None
    if NONE in types:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    return np.array(values, dtype=bool)


def _datetimes(
    name: str, values: list[object], types: set[type], problems: Problems
) -> np.ndarray | None:
    if types - {str, NONE}:
        _first(
            values,
            lambda v: type(v) is not str and v is not None,
            name,
            "expected an ISO-8601 date-time string, got {type}",
            problems,
        )
        return None
    try:
        parsed = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", utc=True)
    except (ValueError, TypeError):
        for i, v in enumerate(values):
            try:
                pd.to_datetime(v, format="ISO8601")
            except (ValueError, TypeError):
                problems.add(i, name, f"{v!r} is not an ISO-8601 date-time")
                break
        return None
    array: np.ndarray = parsed.dt.tz_localize(None).to_numpy()
    return array


def _first(
    values: list[object],
    test: Callable[[object], bool],
    name: str,
    message: str,
    problems: Problems,
) -> None:
    """Add a problem for the first value that passes ``test`` (``message`` may name
    its ``{type}`` and ``{value}``)."""
    for i, v in enumerate(values):
        if test(v):
            problems.add(i, name, message.format(type=type_name(v), value=v))
            return


def _first_index(
    mask: np.ndarray,
    name: str,
    message: str,
    problems: Problems,
    values: np.ndarray | None = None,
) -> None:
    """Add a problem for the first record ``mask`` marks (showing its value, if given)."""
    i = int(np.flatnonzero(mask)[0])
    shown = f" ({values[i]:g})" if values is not None else ""
    problems.add(i, name, f"{message}{shown}" if not shown else f"value{shown} {message}")
