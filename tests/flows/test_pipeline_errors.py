"""The flows' errors and the CLI's are subtrees of the one error tree."""

from __future__ import annotations

import pickle

import pytest

from core.errors import InvalidInput, MlgateError, error_problem
from flows import errors
from flows.errors import ContractViolation, PipelineError
from flows.validation_report import ColumnFailure, ValidationReport
from mlgate.errors import StackError

PIPELINE = [getattr(errors, name) for name in errors.__all__ if name != "SettingsError"]


@pytest.mark.parametrize("cls", PIPELINE, ids=lambda c: c.__name__)
def test_every_flow_error_is_a_pipeline_error_with_its_own_code(cls: type[MlgateError]) -> None:
    assert issubclass(cls, PipelineError) and issubclass(cls, MlgateError)
    assert cls.code and cls.title and 400 <= cls.status < 600
    others = [c for c in PIPELINE if c is not cls]
    assert cls.code not in {c.code for c in others}


def test_invalid_input_is_422_and_the_gate_409() -> None:
    assert (errors.ContractViolation.status, errors.TrainingDataError.status) == (422, 422)
    assert errors.GateError.status == 409 and errors.GateError.code == "gate_closed"


def test_a_contract_violation_names_the_columns_and_survives_pickling() -> None:
    failure = ColumnFailure("age", "expect_column_values_to_be_between", "2 values outside")
    report = ValidationReport(
        success=False, evaluated=3, failures=[failure], rows=10, duration_s=0.1
    )
    exc = ContractViolation(report)
    assert "column 'age': 2 values outside" in str(exc)
    assert error_problem(exc, "/runs/1")["columns"] == ["age"]
    again = pickle.loads(pickle.dumps(exc))
    assert isinstance(again, ContractViolation) and str(again) == str(exc)
    assert again.report == report


def test_settings_errors_are_invalid_input_outside_the_pipeline_subtree() -> None:
    assert issubclass(errors.SettingsError, InvalidInput)
    assert not issubclass(errors.SettingsError, PipelineError)
    assert errors.SettingsError.code not in {c.code for c in PIPELINE}


def test_stack_error_is_an_mlgate_error() -> None:
    exc = StackError("prefect exited during start-up")
    assert isinstance(exc, MlgateError) and not isinstance(exc, RuntimeError)
    assert (exc.code, exc.status) == ("stack_unavailable", 503)
