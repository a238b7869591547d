"""The errors of the flows, a subtree of :class:`core.errors.MlgateError`.

::

    PipelineError              pipeline_error        500  a flow step ended the run
     ├── ContractViolation     contract_violation    422  the data does not satisfy its contract
     ├── TrainingDataError     invalid_training_data 422  the training frame cannot be used
     ├── GateError             gate_closed           409  the approval gate stayed closed
     └── NoProductionModel     no_production_model   409  scoring or monitoring needs one
    SettingsError              invalid_settings      422  an MLGATE_* variable is out of bounds
                               (an InvalidInput, outside the pipeline subtree)

A step that raises one of these ends the run, and Prefect shows its message. Messages
name the object and what is wrong, never a secret or the content of the data:
``promotion of credit-risk@7 was rejected: bob: holdout too small``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import InvalidInput, MlgateError

if TYPE_CHECKING:
    from flows.validation_report import ValidationReport

__all__ = [
    "ContractViolation",
    "GateError",
    "NoProductionModel",
    "PipelineError",
    "SettingsError",
    "TrainingDataError",
]


class PipelineError(MlgateError):
    """A pipeline stage ended the run; the message says which and why."""

    code: ClassVar[str] = "pipeline_error"
    title: ClassVar[str] = "Pipeline step failed"


class ContractViolation(PipelineError):
    """The data does not satisfy its contract; ``.report`` holds every failure."""

    code: ClassVar[str] = "contract_violation"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Data contract violated"

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(
            f"data does not satisfy the contract ({len(report.failures)} failed checks "
            f"on {report.rows} rows):\n{report.message()}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its report, not its message, when a run's state is unpickled.
        return (type(self), (self.report,))

    def problem_extra(self) -> dict[str, Any]:
        return {"columns": self.report.failing_columns}


class TrainingDataError(PipelineError):
    """The training frame cannot be used; the message names the columns or classes at fault."""

    code: ClassVar[str] = "invalid_training_data"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Training data unusable"


class GateError(PipelineError):
    """The gate stayed closed: rejected, expired, blocked or not in effect in governance."""

    code: ClassVar[str] = "gate_closed"
    status: ClassVar[int] = 409
    title: ClassVar[str] = "Approval gate closed"


class NoProductionModel(PipelineError):
    """The project has no model in production, and the step needs one."""

    code: ClassVar[str] = "no_production_model"
    status: ClassVar[int] = 409
    title: ClassVar[str] = "No production model"


class SettingsError(InvalidInput):
    """An ``MLGATE_*`` variable of the flows or the CLI is out of bounds; the message
    names the variable and what is wrong, never its value."""

    code: ClassVar[str] = "invalid_settings"
    title: ClassVar[str] = "Invalid settings"
