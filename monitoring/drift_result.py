"""What a drift run found: per-column verdicts, the run's result, and their renderings.

``DriftResult`` is small and JSON-safe (``to_dict``) so it can be stored and compared
across runs; ``summary_markdown`` is what a Prefect artifact shows. ``DriftRun`` keeps
Evidently's snapshot next to it for the full HTML and JSON reports; when the fast path
ran (no snapshot) or nothing could be compared, ``html`` renders a plain page instead.
"""

from __future__ import annotations

import html as html_lib
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from monitoring.schema import SchemaFinding

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

__all__ = ["ColumnDrift", "ColumnKind", "DriftResult", "DriftRun"]

ColumnKind = Literal["numerical", "categorical"]


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one feature."""

    column: str
    kind: ColumnKind
    stattest: str
    """Evidently's name for the test, e.g. ``Wasserstein distance (normed)``."""
    score: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "stattest": self.stattest,
            "score": _finite_or_none(self.score),
            "threshold": _finite_or_none(self.threshold),
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class DriftResult:
    """What a drift run found, small enough to store and compare across runs."""

    drift_share: float
    """Share of the compared features that drifted (0.0 when none were compared)."""
    dataset_drift: bool
    """``drift_share >= drift_share_threshold``."""
    drift_share_threshold: float
    drifted_columns: list[str]
    columns: list[ColumnDrift]
    schema_findings: list[SchemaFinding]
    n_reference: int
    """Rows of the reference compared (after sampling)."""
    n_current: int
    """Rows of the current data compared (after sampling)."""
    duration_s: float
    sampled: bool = False
    """The fast path ran: verdicts come from samples of ``sample_rows`` rows per side."""
    rechecked_columns: list[str] = field(default_factory=list)
    """Columns the fast path recomputed on all rows (their verdict was close to the line)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping (non-finite scores become ``None``)."""
        return {
            "sampled": self.sampled,
            "rechecked_columns": list(self.rechecked_columns),
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "drift_share_threshold": self.drift_share_threshold,
            "drifted_columns": list(self.drifted_columns),
            "columns": [c.to_dict() for c in self.columns],
            "schema_findings": [f.to_dict() for f in self.schema_findings],
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "duration_s": self.duration_s,
        }

    def summary_markdown(self) -> str:
        """A short Markdown report: verdict, one row per compared column, findings."""
        verdict = "**Dataset drift detected**" if self.dataset_drift else "No dataset drift"
        lines = [
            f"{verdict}: {len(self.drifted_columns)} of {len(self.columns)} compared features "
            f"drifted (share {self.drift_share:.1%}, threshold {self.drift_share_threshold:.1%}); "
            f"{self.n_reference} reference rows vs {self.n_current} current rows.",
            "",
        ]
        if self.columns:
            lines += [
                "| column | kind | test | score | threshold | drifted |",
                "| --- | --- | --- | ---: | ---: | --- |",
            ]
            lines += [
                f"| {_md(c.column)} | {c.kind} | {_md(c.stattest)} | {c.score:.4g} "
                f"| {c.threshold:.4g} | {'**yes**' if c.drifted else 'no'} |"
                for c in self.columns
            ]
        else:
            lines.append("No feature could be compared.")
        if self.schema_findings:
            lines += [
                "",
                "Schema findings (columns not compared):",
                "",
                "| column | side | finding | detail |",
                "| --- | --- | --- | --- |",
            ]
            lines += [
                f"| {_md(f.column)} | {f.side} | {f.kind} | {_md(f.detail)} |"
                for f in self.schema_findings
            ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class DriftRun:
    """A drift result together with the Evidently snapshot it was read from."""

    result: DriftResult
    _snapshot: Snapshot | None = field(default=None, repr=False, compare=False)

    def html(self) -> str:
        """Evidently's standalone HTML report (scripts and fonts inlined, ~4 MB).

        When no feature could be compared Evidently has nothing to render; a short
        page with the schema findings is returned instead.
        """
        if self._snapshot is None:
            return _empty_html(self.result)
        return str(self._snapshot.get_html_str(as_iframe=False))

    def json(self) -> str:
        """Evidently's JSON snapshot: ``{"metrics": [...], "tests": [...]}``."""
        if self._snapshot is None:
            return json.dumps({"metrics": [], "tests": []})
        return str(self._snapshot.json())


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _empty_html(result: DriftResult) -> str:
    items = "".join(
        f"<li>{html_lib.escape(f.column)} ({f.side}): {f.kind}, {html_lib.escape(f.detail)}</li>"
        for f in result.schema_findings
    )
    if result.columns:
        # The direct-test engine (fast path) builds no Evidently report: a plain table.
        rows = "".join(
            f"<tr><td>{html_lib.escape(c.column)}</td><td>{c.kind}</td>"
            f"<td>{html_lib.escape(c.stattest)}</td><td>{c.score:.4g}</td>"
            f"<td>{c.threshold:.4g}</td><td>{'yes' if c.drifted else 'no'}</td></tr>"
            for c in result.columns
        )
        body = (
            f"<p>{len(result.drifted_columns)} of {len(result.columns)} features drifted "
            f"(share {result.drift_share:.1%}; {result.n_reference} reference rows, "
            f"{result.n_current} current rows{', sampled' if result.sampled else ''}).</p>"
            "<table><tr><th>column</th><th>kind</th><th>test</th><th>score</th>"
            f"<th>threshold</th><th>drifted</th></tr>{rows}</table>"
        )
    else:
        body = "<p>No feature could be compared.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">'
        "<title>Data drift</title></head><body><h1>Data drift</h1>"
        f"{body}<ul>{items}</ul></body></html>"
    )
