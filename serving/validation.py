"""Prediction requests checked against the data contract, column by column.

The request model is compiled once from the contract (``RequestValidator``): the
feature names, the optional id column, each feature's type, nullability, range and
allowed values. A request is checked in columns, not records: the values of one
feature across all records are type-checked with one ``set(map(type, ...))`` and
range-checked with one NumPy comparison, which keeps a 100-record request at about
the cost of a 1-record one. Nothing is coerced or guessed:

* every feature must be present in every record (nullable ones may be ``null``);
* a field that is not a feature (nor the id column) is refused, the target included;
* ``int`` features take JSON integers (``35.0`` is accepted, ``35.5`` is not), ``float``
  features take any JSON number, ``bool`` features only ``true``/``false``, ``string``
  and ``category`` features only strings, ``datetime`` features ISO-8601 strings;
* ``min``/``max`` and ``allowed`` of the contract hold for every non-null value.

Problems come back as ``RequestInvalid`` (:mod:`serving.errors`) with one entry per
problem (record index, field, what is wrong), first problems first, at most
``MAX_PROBLEMS``. This module checks the envelope, the keys of every record, the numeric
features as one block and the ids; :mod:`serving.columns` checks a feature's values by
its type when the block check cannot vouch for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from core.spec import ColumnSpec, DataContract
from serving.columns import MAX_PROBLEMS, Problems, check_column, type_name
from serving.errors import Problem, RequestInvalid

__all__ = ["MAX_PROBLEMS", "RequestValidator", "ValidatedBatch", "stack"]

_NUMBER_OR_NONE = frozenset({int, float, type(None)})


@dataclass(frozen=True)
class ValidatedBatch:
    """The records of a request as typed columns, ready to be stacked and scored."""

    columns: dict[str, np.ndarray]
    """One array per feature, in contract order."""
    ids: list[str | int | None] | None
    """The id column's values as sent (``None`` where a record had none), or None when
    the contract has no id column."""
    rows: int


class RequestValidator:
    """The contract compiled into checks for prediction requests.

    Args:
        contract: the project's data contract.
        max_records: the most records one request may carry.
    """

    def __init__(self, contract: DataContract, *, max_records: int = 10_000) -> None:
        self.contract = contract
        self.max_records = max_records
        self.features: list[str] = list(contract.features)
        self.specs: dict[str, ColumnSpec] = {n: contract.column(n) for n in self.features}
        self.id_column = contract.id_column
        self.target = contract.target
        self._required = frozenset(self.features)
        self._allowed_keys = self._required | ({self.id_column} if self.id_column else set())
        self._allowed_values = {
            n: frozenset(s.allowed) for n, s in self.specs.items() if s.allowed is not None
        }
        # The numeric features as one block: checked together in a few array operations.
        numeric = [n for n in self.features if self.specs[n].is_numeric]
        self._numeric_names = numeric
        self._numeric_getter = itemgetter(*numeric) if numeric else None
        self._lo = np.array([_bound(self.specs[n].min, -math.inf) for n in numeric])
        self._hi = np.array([_bound(self.specs[n].max, math.inf) for n in numeric])
        self._is_int = np.array([self.specs[n].type == "int" for n in numeric], dtype=bool)
        self._nullable = np.array([self.specs[n].nullable for n in numeric], dtype=bool)
        self._numeric_allowed = [
            (j, np.array(sorted(float(a) for a in self.specs[n].allowed or [])))
            for j, n in enumerate(numeric)
            if self.specs[n].allowed is not None
        ]

    # -- envelope -----------------------------------------------------------------------

    def records_of(self, body: Any) -> list[Any]:
        """The records of a parsed body: ``{"records": [...]}`` or one record as an object.

        Raises:
            RequestInvalid: the body is neither, is empty, or has too many records.
        """
        if isinstance(body, dict) and "records" in body and "records" not in self.specs:
            extra = sorted(k for k in body if k != "records")
            if extra:
                raise RequestInvalid(
                    [Problem(None, extra[0], "unexpected top-level field next to 'records'")]
                )
            records = body["records"]
            if not isinstance(records, list):
                raise RequestInvalid([Problem(None, "records", "must be an array of objects")])
            if not records:
                raise RequestInvalid([Problem(None, "records", "must hold at least one record")])
            if len(records) > self.max_records:
                raise RequestInvalid(
                    [
                        Problem(
                            None,
                            "records",
                            f"{len(records)} records is more than the limit of "
                            f"{self.max_records} per request",
                        )
                    ]
                )
            return records
        if isinstance(body, dict):
            if not body:
                raise RequestInvalid([Problem(None, None, "the request body is an empty object")])
            return [body]
        raise RequestInvalid(
            [
                Problem(
                    None,
                    None,
                    f"the body must be a JSON object (one record or {{'records': [...]}}), "
                    f"got {type_name(body)}",
                )
            ]
        )

    # -- records ------------------------------------------------------------------------

    def validate(self, body: Any) -> ValidatedBatch:
        """Check a parsed body and return its features as typed columns.

        Raises:
            RequestInvalid: anything in the body does not fit the contract.
        """
        records = self.records_of(body)
        problems = Problems()
        if not self._keys_exact(records):
            self._check_keys(records, problems)
            problems.raise_if_any()
        columns: dict[str, np.ndarray] = {}
        block = self._numeric_block(records)
        for name in self.features:
            if block is not None and name in block:
                columns[name] = block[name]
                continue
            values = [r[name] for r in records]
            array = check_column(
                name, self.specs[name], values, self._allowed_values.get(name), problems
            )
            if array is not None:
                columns[name] = array
            if problems.full():
                break
        problems.raise_if_any()
        ids = None
        if self.id_column:
            ids = [r.get(self.id_column) for r in records]
            self._check_ids(ids, problems)
            problems.raise_if_any()
        return ValidatedBatch(columns=columns, ids=ids, rows=len(records))

    def _numeric_block(self, records: list[Any]) -> dict[str, np.ndarray] | None:
        """All numeric features at once, or None when any value needs a closer look.

        None sends the numeric features through the per-column checks, which find and
        name the problem; a clean block (the usual case) costs a few array operations.
        """
        names = self._numeric_names
        getter = self._numeric_getter
        if getter is None:  # no numeric feature
            return {}
        rows = list(map(getter, records))
        if len(names) == 1:
            rows = [(v,) for v in rows]
        types = set(map(type, chain.from_iterable(rows)))
        if not types <= _NUMBER_OR_NONE:
            return None
        block = np.array(rows, dtype=np.float64)  # None becomes NaN
        nulls = np.isnan(block)
        if (nulls & ~self._nullable).any() or np.isinf(block).any():
            return None
        if (block < self._lo).any() or (block > self._hi).any():
            return None
        if float in types:
            ints = block[:, self._is_int]
            if (ints != np.floor(ints))[~np.isnan(ints)].any():
                return None
        for j, allowed in self._numeric_allowed:
            col = block[:, j]
            if not np.isin(col[~np.isnan(col)], allowed).all():
                return None
        has_null = np.any(nulls, axis=0)
        out: dict[str, np.ndarray] = {}
        for j, name in enumerate(names):
            col = block[:, j]
            out[name] = col.astype(np.int64) if self._is_int[j] and not has_null[j] else col
        return out

    def _keys_exact(self, records: list[Any]) -> bool:
        """Every record is an object with every feature and nothing else but the id."""
        if set(map(type, records)) != {dict}:
            return False
        k = len(self._required)
        lengths = set(map(len, records))
        if not lengths <= {k, k + 1}:
            return False
        required = self._required
        if not all(required.issubset(r) for r in records):  # issubset: C loop over keys
            return False
        if k + 1 in lengths:
            return self.id_column is not None and all(
                self.id_column in r for r in records if len(r) != k
            )
        return True

    def _check_keys(self, records: list[Any], problems: Problems) -> None:
        required, allowed = self._required, self._allowed_keys
        for i, record in enumerate(records):
            if type(record) is not dict:
                problems.add(i, None, f"must be an object, got {type_name(record)}")
                continue
            keys = record.keys()
            if keys in (required, allowed):
                continue
            for name in self.features:
                if name not in record:
                    problems.add(i, name, "required feature is missing")
            for name in keys - allowed:
                if name == self.target:
                    problems.add(i, name, "the target is not accepted in a prediction request")
                else:
                    problems.add(i, name, "not a feature of the data contract")
            if problems.full():
                return

    def _check_ids(self, ids: list[Any], problems: Problems) -> None:
        assert self.id_column is not None
        spec = self.contract.column(self.id_column)
        wanted: tuple[type, ...] = (int,) if spec.type == "int" else (str, int)
        for i, value in enumerate(ids):
            if value is not None and (type(value) not in wanted):
                problems.add(i, self.id_column, f"id must be a string, got {type_name(value)}")
                return


def _bound(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def stack(batches: list[ValidatedBatch], features: list[str]) -> pd.DataFrame:
    """One frame of the features of several requests, in request order (for one predict)."""
    if len(batches) == 1:
        return pd.DataFrame(batches[0].columns, columns=features, copy=False)
    columns = {}
    for name in features:
        parts = [b.columns[name] for b in batches]
        if any(p.dtype == object for p in parts):
            parts = [p.astype(object) for p in parts]
        columns[name] = np.concatenate(parts)
    return pd.DataFrame(columns, columns=features, copy=False)
