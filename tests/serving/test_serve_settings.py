"""The prediction server's settings: a bad value is refused at start-up naming the
variable, never clamped and never echoed; ``mlgate serve`` says so without a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.errors import InvalidInput
from core.settings import read_settings
from mlgate.cli import app as cli_app
from mlgate.demo.run import SPEC_FILE
from serving.settings import ServeSettings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MLGATE_GOVERNANCE_URL", "ftp://governance.example"),
        ("MLGATE_GOVERNANCE_URL", "governance.example:8000"),
        ("MLGATE_SERVE_BATCH_WAIT_MS", "250.5"),
        ("MLGATE_SERVE_MAX_BODY_BYTES", "12"),
        ("MLGATE_SERVE_POLL_INTERVAL_S", "never"),
        ("MLGATE_SERVE_LOG_CAPACITY_ROWS", "-3"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInput, match=variable) as caught:
        read_settings(ServeSettings)
    assert value not in str(caught.value)
    result = CliRunner().invoke(cli_app, ["serve", "--spec", str(SPEC_FILE)])
    assert result.exit_code == 2
    assert variable in result.output and value not in result.output
    assert "Traceback" not in result.output


def test_the_legacy_url_variable_still_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_URL", "http://127.0.0.1:8100")
    assert read_settings(ServeSettings).governance_url == "http://127.0.0.1:8100"
