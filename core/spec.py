"""The project spec: one YAML file per use case, the single source of truth.

A spec names the project, its source, its data contract (every column with type,
role, nullability and range or allowed values), how to train, the promotion policy
and the monitoring thresholds. Everything else is derived from it: the Great
Expectations suite (flows.validate), the Arrow schema of snapshots
(connectors), Evidently's data definition (monitoring) and the policy that
governance enforces.

Example::

    name: credit-risk
    source: file://data/applications.csv
    contract:
      version: 1
      columns:
        - {name: application_id, type: string, role: id}
        - {name: age, type: int, min: 18, max: 100}
        - {name: purpose, type: category, allowed: [car, home, education]}
        - {name: default, type: int, role: target, allowed: [0, 1]}
    policy:
      required_approvals: 1
      metric_floors: {roc_auc: 0.7}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import SpecError

ColumnType = Literal["int", "float", "string", "category", "bool", "datetime"]
ColumnRole = Literal["feature", "target", "id", "timestamp"]
NAME_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"
COLUMN_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"

CANDIDATES = ("logistic_regression", "random_forest", "hist_gradient_boosting")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One column of the data contract."""

    name: Annotated[str, Field(pattern=COLUMN_PATTERN, description="column name")]
    type: ColumnType = Field(description="logical type")
    role: ColumnRole = Field("feature", description="what the column is for")
    nullable: bool = Field(False, description="whether missing values are allowed")
    min: float | None = Field(None, description="smallest allowed value (numeric columns)")
    max: float | None = Field(None, description="largest allowed value (numeric columns)")
    allowed: list[str | int | bool] | None = Field(
        None, description="the only allowed values (categorical, string, int, bool columns)"
    )
    description: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        numeric = self.type in ("int", "float")
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(f"column {self.name!r}: min/max only apply to int or float columns")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"column {self.name!r}: min {self.min} is greater than max {self.max}")
        if self.allowed is not None and len(self.allowed) == 0:
            raise ValueError(f"column {self.name!r}: allowed must list at least one value")
        if self.role == "target" and self.nullable:
            raise ValueError(f"column {self.name!r}: a target column cannot be nullable")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type in ("int", "float")


class DataContract(_Strict):
    """The columns a dataset of this project must have, and what each may hold."""

    version: int = Field(1, ge=1, description="bumped on every change to the columns")
    columns: list[ColumnSpec] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self) -> DataContract:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names: {', '.join(dupes)}")
        targets = [c.name for c in self.columns if c.role == "target"]
        if len(targets) != 1:
            raise ValueError(f"exactly one column must have role 'target', found {len(targets)}")
        if not self.features:
            raise ValueError("at least one column must have role 'feature'")
        return self

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"column {name!r} is not in the data contract")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def target(self) -> str:
        return next(c.name for c in self.columns if c.role == "target")

    @property
    def id_column(self) -> str | None:
        return next((c.name for c in self.columns if c.role == "id"), None)

    @property
    def features(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "feature"]

    @property
    def numeric_features(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "feature" and c.is_numeric]

    @property
    def categorical_features(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "feature" and not c.is_numeric]


class TrainingSpec(_Strict):
    """How candidates are trained and ranked."""

    candidates: list[Literal[CANDIDATES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(CANDIDATES), min_length=1, description="algorithms to try"
    )
    primary_metric: Literal["roc_auc", "average_precision", "accuracy", "f1", "log_loss"] = (
        "roc_auc"
    )
    cv_folds: int = Field(3, ge=2, le=10)
    holdout_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    seed: int = Field(42, ge=0)
    max_train_rows: int | None = Field(
        None, ge=1000, description="subsample larger datasets for training (None: all rows)"
    )


class PolicySpec(_Strict):
    """The promotion policy: what must hold before a model reaches production."""

    required_approvals: int = Field(1, ge=1, le=10, description="distinct approvers needed")
    metric_floors: dict[str, float] = Field(
        default_factory=dict, description="holdout metric -> smallest acceptable value"
    )
    require_validation: bool = Field(True, description="the training data must have passed")
    max_drift_share: float | None = Field(
        None, ge=0.0, le=1.0, description="refuse promotion if the latest drift share exceeds this"
    )
    request_ttl_hours: float = Field(72, gt=0, le=24 * 90, description="requests expire after")


class MonitoringSpec(_Strict):
    """Drift thresholds."""

    drift_share_threshold: float = Field(
        0.3, gt=0.0, le=1.0, description="dataset drift when this share of features drifts"
    )
    column_threshold: float | None = Field(
        None, gt=0.0, le=1.0, description="per-column stattest threshold (None: Evidently default)"
    )
    sample_rows: int | None = Field(
        None, ge=1000, description="sample this many rows of each side for drift (None: all)"
    )
    schedule: str | None = Field(
        None,
        description="cron expression (UTC) of the monitor deployment, e.g. '0 * * * *' "
        "(None: run on demand)",
    )


class ProjectSpec(_Strict):
    """One use case: source, contract, training, policy, monitoring."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, description="project slug")]
    description: str = Field("", max_length=2000)
    source: str = Field(description="where training data comes from (file://, s3://, snowflake://)")
    contract: DataContract
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)

    @model_validator(mode="after")
    def _check(self) -> ProjectSpec:
        if not re.match(r"^[a-z][a-z0-9+.-]*://", self.source):
            raise ValueError(f"source {self.source!r} must be a URI such as file://path/to.csv")
        return self


def parse_spec(data: dict[str, object], *, origin: str = "<spec>") -> ProjectSpec:
    """Validate a spec given as a mapping; errors name the origin and every bad field."""
    try:
        return ProjectSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SpecError(f"invalid project spec {origin}: {problems}") from None


def load_spec(path: str | Path) -> ProjectSpec:
    """Read and validate a project spec from a YAML file.

    Raises:
        SpecError: the file is missing, is not YAML, or breaks the spec's rules.
    """
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"project spec {p} does not exist") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"project spec {p} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"project spec {p} must be a mapping at the top level")
    return parse_spec(raw, origin=str(p))


def dump_spec(spec: ProjectSpec) -> str:
    """The spec as YAML, the form users keep in their repository."""
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=False), sort_keys=False)
