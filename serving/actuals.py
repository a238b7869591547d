"""Actuals sent to the prediction server: checked against the contract's target, then stored.

``POST /api/v1/projects/{project}/actuals`` takes ``{"actuals": [{"prediction_id": ...,
"actual": ...}]}`` or one such object. Every prediction id must be 32 lowercase hex
digits and every actual a number (one of the target's ``allowed`` values when the
contract has them); nothing is stored unless all of them are. They are written to the
actuals log (:func:`scoring.predlog.write_actuals`) before the server answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from connectors.store import ArtifactStore
from core.spec import DataContract
from scoring.predlog import ACTUALS_SCHEMA, write_actuals
from serving.errors import ActualsInvalid

__all__ = ["MAX_ACTUALS", "Actuals", "parse_actuals", "store_actuals"]

MAX_ACTUALS = 100_000
_PREDICTION_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Actuals:
    """Checked actuals: one outcome per prediction id, in the order they were sent."""

    prediction_ids: list[str]
    values: list[float]


def parse_actuals(parsed: object, contract: DataContract) -> Actuals:
    """The actuals of a parsed request body.

    Raises:
        ActualsInvalid: the body holds no actuals, too many, or one that is not an
            object with a prediction id and an allowed value (the message names it).
    """
    items = parsed.get("actuals") if isinstance(parsed, dict) and "actuals" in parsed else [parsed]
    if not isinstance(items, list) or not items:
        raise ActualsInvalid("'actuals' must be a non-empty array")
    if len(items) > MAX_ACTUALS:
        raise ActualsInvalid(f"at most {MAX_ACTUALS} actuals per request")
    target = contract.column(contract.target)
    allowed = set(target.allowed) if target.allowed is not None else None
    ids: list[str] = []
    values: list[float] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"prediction_id", "actual"}:
            raise ActualsInvalid(f"actual {i}: must be an object with prediction_id and actual")
        pid, value = item["prediction_id"], item["actual"]
        if not isinstance(pid, str) or not _PREDICTION_ID.fullmatch(pid):
            raise ActualsInvalid(f"actual {i}: prediction_id must be 32 lowercase hex digits")
        if type(value) not in (int, float, bool) or (allowed is not None and value not in allowed):
            shown = f"one of {sorted(allowed, key=str)}" if allowed is not None else "a number"
            raise ActualsInvalid(f"actual {i}: actual must be {shown}, got {value!r}")
        ids.append(pid)
        values.append(float(value))
    return Actuals(prediction_ids=ids, values=values)


def store_actuals(store: ArtifactStore, project: str, actuals: Actuals) -> int:
    """Append actuals to the project's actuals log, received now; returns rows written."""
    now = datetime.now(UTC)
    table = pa.table(
        {
            "prediction_id": actuals.prediction_ids,
            "actual": actuals.values,
            "received_at": [now] * len(actuals.prediction_ids),
        },
        schema=ACTUALS_SCHEMA,
    )
    return write_actuals(store, project, table)
