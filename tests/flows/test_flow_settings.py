"""The flows' and the CLI's settings: read when used, bounded, refused by variable name."""

from __future__ import annotations

import pytest

from flows import scale
from flows.errors import SettingsError
from flows.settings import Settings, get_settings


def test_defaults_when_nothing_is_set() -> None:
    settings = get_settings()
    assert settings.dask_address is None and settings.token is None
    assert settings.serve_token is None and settings.stack_dir == ".mlgate/stack"


def test_settings_are_read_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_STACK_DIR", "/srv/mlgate/stack")
    monkeypatch.setenv("MLGATE_TOKEN", "env://FLOWS_TOKEN")
    assert get_settings().stack_dir == "/srv/mlgate/stack"
    token = get_settings().token
    assert token is not None and token.get_secret_value() == "env://FLOWS_TOKEN"
    monkeypatch.setenv("MLGATE_STACK_DIR", "/elsewhere")
    assert get_settings().stack_dir == "/elsewhere"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLGATE_DASK_ADDRESS", "MLGATE_TOKEN", "MLGATE_SERVE_TOKEN", "MLGATE_STACK_DIR"):
        monkeypatch.setenv(name, "")
    assert get_settings() == Settings()
    assert get_settings().stack_dir == ".mlgate/stack"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("MLGATE_DASK_ADDRESS", "tcp ://scheduler 8786", "should match pattern"),
        ("MLGATE_DASK_ADDRESS", "/var/run/dask.sock", "should match pattern"),
        ("MLGATE_DASK_ADDRESS", "tcp://" + "h" * 2_100, "at most 2048 characters"),
        ("MLGATE_STACK_DIR", "s" * 4_100, "at most 4096 characters"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"{variable}: .*{problem}") as caught:
        get_settings()
    assert caught.value.code == "invalid_settings" and caught.value.status == 422


def test_a_bad_token_is_refused_without_repeating_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_SERVE_TOKEN", "mls_secret with a space")
    with pytest.raises(SettingsError, match="MLGATE_SERVE_TOKEN: ") as caught:
        get_settings()
    assert "mls_secret" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_dask_address_comes_from_the_run_then_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLGATE_DASK_ADDRESS", "local")
    assert scale.dask_address(None) == "local"
    assert scale.dask_address("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    monkeypatch.setenv("MLGATE_DASK_ADDRESS", "no address")
    with pytest.raises(SettingsError, match="MLGATE_DASK_ADDRESS"):
        scale.dask_address(None)
