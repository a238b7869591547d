"""Governance's settings: a bad value is refused at start-up naming the variable, never
clamped and never echoed; the service's commands say so without a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from governance.cli import app as governance_app
from governance.config import get_settings
from governance.errors import InvalidInput


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MLGATE_EXPIRY_SWEEP_SECONDS", "0.001"),
        ("MLGATE_EXPIRY_SWEEP_SECONDS", "soon"),
        ("MLGATE_REQUEST_TTL_HOURS", "-1"),
        ("MLGATE_TOKEN_TTL_DAYS", "100000"),
        ("MLGATE_RESUME_ATTEMPTS", "11"),
        ("MLGATE_IDEMPOTENCY_RETENTION_HOURS", "-7.5"),
        ("MLGATE_PREFECT_API_URL", "ftp://user:hunter2@prefect/api"),
        ("MLGATE_DATABASE_URL", "mysql://root:hunter2@db/governance"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    with pytest.raises(InvalidInput, match=variable) as caught:
        get_settings()
    assert value not in str(caught.value)
    assert caught.value.__cause__ is None  # pydantic's error would carry the value
    result = CliRunner().invoke(governance_app, ["init"])
    assert result.exit_code == 2
    assert variable in result.output and value not in result.output
    assert "Traceback" not in result.output


def test_good_values_are_taken_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_EXPIRY_SWEEP_SECONDS", "0.5")
    monkeypatch.setenv("MLGATE_PREFECT_API_URL", "http://127.0.0.1:4200/api/")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.expiry_sweep_seconds == 0.5
    assert settings.prefect_api_url == "http://127.0.0.1:4200/api"
