"""connectors.secrets: resolving secret references without ever showing a value."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.errors import CredentialsError, UnsupportedScheme
from connectors.secrets import resolve_secret

VALUE = "s3cr3t-Value-9d1f"


def test_env_reference_resolves_to_a_hidden_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_TEST_TOKEN", VALUE)
    secret = resolve_secret("env://MLGATE_TEST_TOKEN")
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == VALUE
    assert VALUE not in str(secret)
    assert VALUE not in repr(secret)
    assert VALUE not in f"{secret}"


def test_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLGATE_TEST_ABSENT", raising=False)
    with pytest.raises(
        CredentialsError,
        match=r"^environment variable MLGATE_TEST_ABSENT \(from env://MLGATE_TEST_ABSENT\) "
        r"is not set$",
    ) as info:
        resolve_secret("env://MLGATE_TEST_ABSENT")
    assert info.value.code == "credentials_error"


def test_empty_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_TEST_EMPTY", "")
    with pytest.raises(CredentialsError, match=r"MLGATE_TEST_EMPTY .* is empty$"):
        resolve_secret("env://MLGATE_TEST_EMPTY")


def test_invalid_variable_name_is_refused() -> None:
    with pytest.raises(CredentialsError, match=r"does not name a valid environment variable"):
        resolve_secret("env://NOT-A-NAME")


def test_vault_without_settings_says_which_are_needed() -> None:
    with pytest.raises(CredentialsError, match=r"^vault:// references need MLGATE_VAULT_ADDR"):
        resolve_secret("vault://kv/mlgate/snowflake#password")


def test_other_scheme_is_refused() -> None:
    with pytest.raises(
        UnsupportedScheme,
        match=r"scheme aws-sm:// is unknown; supported: env://NAME, vault://mount/path#key",
    ):
        resolve_secret("aws-sm://prod/db")


def test_a_raw_value_in_place_of_a_reference_is_not_echoed() -> None:
    with pytest.raises(
        UnsupportedScheme, match=r"not a secret reference \(value not shown\)"
    ) as info:
        resolve_secret(VALUE)
    assert VALUE not in str(info.value)
    assert VALUE not in repr(info.value)
