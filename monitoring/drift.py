"""Data drift between a reference and a current dataset, computed by Evidently.

Only the data contract's features are compared, each typed from the contract
(numerical or categorical) so Evidently never infers a type. Columns that cannot be
compared are reported as schema findings (see :mod:`monitoring.schema`) instead of
failing the run. Per column, Evidently picks the statistical test and threshold (or
uses ``column_threshold``) and decides whether the column drifted; this module reads
that decision back from the snapshot's tests rather than re-deriving it, so the
numbers here and in Evidently's HTML report always agree.

Example::

    run = run_drift(reference, current, spec.contract, drift_share_threshold=0.3)
    run.result.dataset_drift        # True when >= 30 % of compared features drifted
    run.result.summary_markdown()   # for a Prefect artifact
    run.html()                      # Evidently's report

The result types and their Markdown, JSON and HTML renderings live in
:mod:`monitoring.drift_result`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from core.spec import DataContract
from monitoring.drift_result import ColumnDrift, ColumnKind, DriftResult, DriftRun
from monitoring.schema import (
    FindingKind,
    PreparedFrames,
    SchemaFinding,
    Side,
    prepare_frames,
)

if TYPE_CHECKING:
    from evidently.core.report import Snapshot
    from evidently.legacy.calculations.stattests.registry import StatTest
    from evidently.legacy.core import ColumnType

__all__ = [
    "ColumnDrift",
    "DriftResult",
    "DriftRun",
    "FindingKind",
    "SchemaFinding",
    "Side",
    "run_drift",
]

Engine = Literal["value_drift", "preset", "stattest"]
_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


class _ChosenTest(NamedTuple):
    """The statistical test Evidently picks for one column, and the kind it was picked for."""

    test: StatTest
    kind: ColumnType


def run_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    contract: DataContract,
    *,
    drift_share_threshold: float = 0.3,
    column_threshold: float | None = None,
    sample_rows: int | None = None,
    seed: int = 0,
    engine: Engine = "value_drift",
    guard_band: float | None = None,
) -> DriftRun:
    """Compare the contract's features between reference and current data.

    Args:
        reference: the data the model was trained on (or a baseline window).
        current: the data to check.
        contract: decides which columns are features and whether each is numerical.
        drift_share_threshold: dataset drift when at least this share of the compared
            features drifted.
        column_threshold: one stattest threshold for every column; ``None`` keeps
            Evidently's default per test (0.05 for p-values, 0.1 for distances).
        sample_rows: sample each side down to at most this many rows first.
        seed: seed of that sample.
        engine: ``value_drift`` (default) runs one Evidently ``ValueDrift`` metric per
            column; ``preset`` runs Evidently's ``DataDriftPreset``, which computes the
            same per-column verdicts plus a dataset-level pass over every column again
            (about three times the work). Verdicts, scores and tests are identical.
        guard_band: the fast path for large data (needs ``sample_rows``): a column whose
            sampled score lies within ``guard_band`` times its threshold of that threshold, or
            whose test is a p-value, is recomputed on all rows, so a verdict never
            rests on a sample when the sample could tip it. ``None``: plain sampling.

    Returns:
        The result and Evidently's snapshot. Schema problems never raise; they become
        ``result.schema_findings`` and the affected columns are skipped.

    Raises:
        ValueError: an argument is out of range.
    """
    if not 0.0 < drift_share_threshold <= 1.0:
        raise ValueError(f"drift_share_threshold must be in (0, 1], got {drift_share_threshold}")
    if column_threshold is not None and not column_threshold > 0.0:
        raise ValueError(f"column_threshold must be positive, got {column_threshold}")
    if sample_rows is not None and sample_rows < 1:
        raise ValueError(f"sample_rows must be at least 1, got {sample_rows}")

    if guard_band is not None and not 0.0 <= guard_band <= 1.0:
        raise ValueError(f"guard_band must be in [0, 1], got {guard_band}")

    started = time.perf_counter()
    full_reference, full_current = reference, current
    sampled = sample_rows is not None and (
        len(reference) > sample_rows or len(current) > sample_rows
    )
    if sample_rows is not None:
        reference = _sample(reference, sample_rows, seed)
        current = _sample(current, sample_rows, seed)
    prepared = prepare_frames(reference, current, contract)

    columns: list[ColumnDrift] = []
    snapshot = None
    if engine == "stattest" and (prepared.numerical or prepared.categorical):
        full = (full_reference, full_current, contract) if sampled else None
        tests = _default_tests(prepared, full)
        columns = _direct_columns(prepared, tests, column_threshold)
    elif prepared.numerical or prepared.categorical:
        snapshot = _evidently_snapshot(
            prepared.reference,
            prepared.current,
            numerical=prepared.numerical,
            categorical=prepared.categorical,
            drift_share=drift_share_threshold,
            column_threshold=column_threshold,
            engine=engine,
        )
        kinds: dict[str, ColumnKind] = {
            c: "numerical" if c in prepared.numerical else "categorical"
            for c in prepared.reference.columns
        }
        columns = _read_columns(snapshot, kinds)
    rechecked: list[str] = []
    if sampled and guard_band is not None and columns:
        columns, rechecked = _recheck(
            columns,
            full_reference,
            full_current,
            contract,
            guard_band,
            column_threshold,
            direct=engine == "stattest",
        )

    drifted = [c.column for c in columns if c.drifted]
    share = len(drifted) / len(columns) if columns else 0.0
    result = DriftResult(
        drift_share=share,
        dataset_drift=bool(columns) and share >= drift_share_threshold,
        drift_share_threshold=drift_share_threshold,
        drifted_columns=drifted,
        columns=columns,
        schema_findings=prepared.findings,
        n_reference=len(reference),
        n_current=len(current),
        duration_s=time.perf_counter() - started,
        sampled=sampled,
        rechecked_columns=rechecked,
    )
    return DriftRun(result=result, _snapshot=snapshot)


def _close_call(column: ColumnDrift, guard_band: float) -> bool:
    if "p_value" in column.stattest:
        return True  # p-values move a lot with sample size: never trust a sampled one
    return abs(column.score - column.threshold) <= guard_band * column.threshold


def _recheck(
    columns: list[ColumnDrift],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    contract: DataContract,
    guard_band: float,
    column_threshold: float | None,
    *,
    direct: bool = False,
) -> tuple[list[ColumnDrift], list[str]]:
    """Recompute on all rows the columns whose sampled verdict was a close call."""
    close = [c.column for c in columns if _close_call(c, guard_band)]
    if not close:
        return columns, []
    prepared = prepare_frames(reference, current, _only(contract, close))
    if direct:
        exact_direct = _direct_columns(prepared, _default_tests(prepared), column_threshold)
        by_name = {c.column: c for c in exact_direct}
        return [by_name.get(c.column, c) for c in columns], close
    snapshot = _evidently_snapshot(
        prepared.reference,
        prepared.current,
        numerical=prepared.numerical,
        categorical=prepared.categorical,
        drift_share=0.5,
        column_threshold=column_threshold,
        engine="value_drift",
    )
    kinds = {c.column: c.kind for c in columns if c.column in close}
    exact = {c.column: c for c in _read_columns(snapshot, kinds)}
    return [exact.get(c.column, c) for c in columns], close


def _clean(series: pd.Series) -> pd.Series:
    """What Evidently compares: infinities and nulls dropped (as ``get_one_column_drift``).

    Strings hold no infinities, so text columns only lose their nulls (the same result,
    without a slow ``replace`` over Python objects).
    """
    if series.dtype == object:
        return series.dropna()
    return series.replace([-np.inf, np.inf], np.nan).dropna()


def _default_tests(
    prepared: PreparedFrames,
    full: tuple[pd.DataFrame, pd.DataFrame, DataContract] | None = None,
) -> dict[str, _ChosenTest]:
    """Evidently's automatic choice of test per column, as it would choose on the full data.

    Evidently picks by the reference's size (over 1,000 rows or not) and, for numeric
    columns, by whether both sides hold more than 5 distinct values. When ``prepared``
    is a sample, a sample that already lands in the same branch as the full data (over
    1,000 rows, and for numbers more than 5 distinct values: the full data has at least
    as many) decides; any other column is decided on its full data.
    """
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    tests: dict[str, _ChosenTest] = {}
    for name in prepared.reference.columns:
        numeric = name in prepared.numerical
        kind = ColumnType.Numerical if numeric else ColumnType.Categorical
        ref, cur = _clean(prepared.reference[name]), _clean(prepared.current[name])
        settled = full is None or (
            len(ref) > 1000 and (not numeric or pd.concat([ref, cur]).nunique() > 5)
        )
        if not settled:
            assert full is not None
            whole = prepare_frames(full[0], full[1], _only(full[2], [name]))
            ref, cur = _clean(whole.reference[name]), _clean(whole.current[name])
        tests[name] = _ChosenTest(get_stattest(ref, cur, kind, None), kind)
    return tests


def _direct_columns(
    prepared: PreparedFrames, tests: dict[str, _ChosenTest], column_threshold: float | None
) -> list[ColumnDrift]:
    """Evidently's statistical tests called directly: the scores and verdicts its
    ``ValueDrift`` computes, without building a report (no histograms, no plots)."""
    columns = []
    for name in prepared.reference.columns:
        test, kind = tests[name]
        ref, cur = _clean(prepared.reference[name]), _clean(prepared.current[name])
        result = test(ref, cur, kind, column_threshold)
        columns.append(
            ColumnDrift(
                column=name,
                kind="numerical" if name in prepared.numerical else "categorical",
                stattest=str(test.display_name),
                score=float(result.drift_score),
                threshold=float(result.actual_threshold),
                drifted=bool(result.drifted),
            )
        )
    return columns


def _only(contract: DataContract, features: list[str]) -> DataContract:
    """The contract with only ``features`` as features (other columns keep their roles)."""
    cols = [c for c in contract.columns if c.role != "feature" or c.name in features]
    return contract.model_copy(update={"columns": cols})


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(frame) <= n:
        return frame
    return frame.sample(n=n, random_state=seed).reset_index(drop=True)


def _evidently_snapshot(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numerical: list[str],
    categorical: list[str],
    drift_share: float,
    column_threshold: float | None,
    engine: Engine = "value_drift",
) -> Snapshot:
    # Imported here: evidently takes seconds to import, and callers that only read
    # results (CLI, flows loading an artifact) should not pay for it.
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    # Contract order, not "numerical first", so the report reads like the contract.
    order = [c for c in reference.columns if c in set(numerical) | set(categorical)]
    if engine == "preset":
        metrics: list[Any] = [
            DataDriftPreset(columns=order, drift_share=drift_share, threshold=column_threshold)
        ]
    else:
        # The preset's per-column metrics alone: the same ValueDrift calculations and
        # tests, without DriftedColumnsCount, which runs every column's test again.
        metrics = [ValueDrift(column=c, threshold=column_threshold) for c in order]
    # The per-column tests carry Evidently's own drifted/not-drifted decision.
    report = Report(metrics, include_tests=True)
    return report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )


def _read_columns(snapshot: Snapshot, kinds: dict[str, ColumnKind]) -> list[ColumnDrift]:
    """One ColumnDrift per ValueDrift metric, with the drift decision from its test."""
    columns: list[ColumnDrift] = []
    for result in snapshot.metric_results.values():
        verdicts = [t for t in result.tests if t.metric_config.params.get("type") == _VALUE_DRIFT]
        if not verdicts:
            continue
        params = verdicts[0].metric_config.params
        name = str(params["column"])
        if name not in kinds:
            continue
        columns.append(
            ColumnDrift(
                column=name,
                kind=kinds[name],
                stattest=str(params["method"]),
                score=float(result.value),
                threshold=float(params["threshold"]),
                drifted=verdicts[0].status.value == "FAIL",
            )
        )
    missing = sorted(set(kinds) - {c.column for c in columns})
    if missing:
        # Would mean Evidently changed how it reports drift; fail loudly, not silently.
        raise RuntimeError(f"Evidently returned no drift verdict for: {', '.join(missing)}")
    order = {name: i for i, name in enumerate(kinds)}
    return sorted(columns, key=lambda c: order[c.column])
