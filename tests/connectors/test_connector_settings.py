"""connectors.settings: one bounded, described object, read when used, refusing bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import annotated_types
import pytest
from connector_factories import make_rows, write_csv
from connector_servers import s3_admin

from connectors.errors import InvalidLocation
from connectors.s3 import parse_s3_uri
from connectors.s3client import credentials_ttl_s
from connectors.secrets import resolve_secret
from connectors.settings import Settings, current_settings
from connectors.snowflake import parse_snowflake_uri
from connectors.sources import read_table
from core.spec import DataContract

SECRET = "AKIAPLANTEDREALKEY9"


def _bounds(metadata: list[Any]) -> set[str]:
    kinds = set()
    for m in metadata:
        if isinstance(m, annotated_types.Ge | annotated_types.Gt):
            kinds.add("low")
        if isinstance(m, annotated_types.Le | annotated_types.Lt):
            kinds.add("high")
        if getattr(m, "pattern", None) or isinstance(m, annotated_types.MaxLen):
            kinds.add("form")
    return kinds


def test_every_setting_is_described_and_bounded() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
        annotation = str(field.annotation)
        if "float" in annotation or "int" in annotation:
            assert {"low", "high"} <= _bounds(field.metadata), name
        elif "SecretStr" in annotation or "Literal" in annotation or "Path" in annotation:
            continue  # a secret is opaque; a choice or an existing file bounds itself
        else:
            assert "form" in _bounds(field.metadata), name


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MLGATE_S3_CREDENTIALS_TTL_S", "0.5", r"greater than or equal to 1"),
        ("MLGATE_S3_CREDENTIALS_TTL_S", "86400", r"less than or equal to 3600"),
        ("MLGATE_S3_CREDENTIALS_TTL_S", "soon", r"a valid number"),
        ("MLGATE_S3_ENDPOINT_URL", "http://minio:9000/bucket", r"should match pattern"),
        ("MLGATE_S3_ACCESS_KEY_REF", SECRET, r"should match pattern"),
        ("MLGATE_SNOWFLAKE_PORT", "70000", r"less than or equal to 65535"),
        ("MLGATE_SNOWFLAKE_PROTOCOL", "ftp", r"'http' or 'https'"),
        ("MLGATE_SNOWFLAKE_PASSWORD_REF", "hunter2", r"should match pattern"),
        ("MLGATE_VAULT_ADDR", "vault.internal:8200", r"should match pattern"),
        ("MLGATE_VAULT_TIMEOUT_S", "0.05", r"greater than or equal to 0\.1"),
        ("MLGATE_VAULT_CACHE_TTL_S", "-1", r"greater than or equal to 0"),
        ("MLGATE_VAULT_APPROLE_MOUNT", "../sys", r"should match pattern"),
        ("MLGATE_VAULT_CACERT", "/nonexistent/ca.pem", r"does not point to a file"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidLocation, match=rf"{variable}: .*{message}") as info:
        current_settings()
    assert value not in str(info.value)
    assert info.value.__cause__ is None  # pydantic's text would show the value
    assert info.value.code == "invalid_location"


def test_every_refused_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_VAULT_TIMEOUT_S", "999")
    monkeypatch.setenv("MLGATE_SNOWFLAKE_PORT", "0")
    with pytest.raises(InvalidLocation) as info:
        current_settings()
    assert "MLGATE_VAULT_TIMEOUT_S" in str(info.value)
    assert "MLGATE_SNOWFLAKE_PORT" in str(info.value)


def test_connectors_refuse_a_bad_setting_where_they_read_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLGATE_S3_CREDENTIALS_TTL_S", "0")  # was silently raised to 1
    with pytest.raises(InvalidLocation, match=r"MLGATE_S3_CREDENTIALS_TTL_S: "):
        credentials_ttl_s()
    monkeypatch.delenv("MLGATE_S3_CREDENTIALS_TTL_S")

    monkeypatch.setenv("MLGATE_S3_ACCESS_KEY_REF", SECRET)
    with pytest.raises(InvalidLocation, match=r"MLGATE_S3_ACCESS_KEY_REF: ") as info:
        parse_s3_uri("s3://raw-data/apps.csv")
    assert SECRET not in str(info.value)
    monkeypatch.delenv("MLGATE_S3_ACCESS_KEY_REF")

    monkeypatch.setenv("MLGATE_SNOWFLAKE_PORT", "http")
    with pytest.raises(InvalidLocation, match=r"MLGATE_SNOWFLAKE_PORT: "):
        parse_snowflake_uri("snowflake://acct/db/sc?table=t")
    monkeypatch.delenv("MLGATE_SNOWFLAKE_PORT")

    monkeypatch.setenv("MLGATE_VAULT_ADDR", "http://127.0.0.1:8200")
    monkeypatch.setenv("MLGATE_VAULT_TOKEN", SECRET)
    monkeypatch.setenv("MLGATE_VAULT_TIMEOUT_S", "soon")
    with pytest.raises(InvalidLocation, match=r"MLGATE_VAULT_TIMEOUT_S: ") as info:
        resolve_secret("vault://secret/mlgate/app#password")
    assert SECRET not in str(info.value)


def test_settings_are_read_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_settings().s3_credentials_ttl_s == 300.0
    monkeypatch.setenv("MLGATE_S3_CREDENTIALS_TTL_S", "42")
    assert credentials_ttl_s() == 42.0
    monkeypatch.setenv("MLGATE_S3_CREDENTIALS_TTL_S", "")  # empty: unset
    assert credentials_ttl_s() == 300.0
    monkeypatch.setenv("MLGATE_VAULT_TOKEN", SECRET)
    settings = current_settings()
    assert settings.vault_token is not None
    assert SECRET not in f"{settings!r} {settings}"


def test_uri_options_win_over_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("MLGATE_S3_REGION", "eu-west-1")
    from_settings = parse_s3_uri("s3://raw-data/apps.csv").config
    assert (from_settings.endpoint_url, from_settings.region) == (
        "http://127.0.0.1:9000",
        "eu-west-1",
    )
    from_options = parse_s3_uri("s3://raw-data/apps.csv?endpoint=http://10.0.0.1:9000").config
    assert from_options.endpoint_url == "http://10.0.0.1:9000"
    monkeypatch.setenv("MLGATE_SNOWFLAKE_PROTOCOL", "http")
    monkeypatch.setenv("MLGATE_SNOWFLAKE_PORT", "8080")
    kwargs, _, _ = parse_snowflake_uri("snowflake://acct/db/sc?table=t&protocol=https&port=443")
    assert (kwargs["protocol"], kwargs["port"]) == ("https", 443)
    kwargs, _, _ = parse_snowflake_uri("snowflake://acct/db/sc?table=t")
    assert (kwargs["protocol"], kwargs["port"]) == ("http", 8080)


def test_an_s3_source_reached_through_settings_alone(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    contract: DataContract,
    s3_endpoint: str,
    bucket: str,
) -> None:
    s3_admin(s3_endpoint).upload_file(
        str(write_csv(tmp_path / "a.csv", make_rows(20))), bucket, "a.csv"
    )
    monkeypatch.setenv("MLGATE_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("MLGATE_TEST_AK", "test-access-key")
    monkeypatch.setenv("MLGATE_TEST_SK", "test-secret-key")
    monkeypatch.setenv("MLGATE_S3_ACCESS_KEY_REF", "env://MLGATE_TEST_AK")
    monkeypatch.setenv("MLGATE_S3_SECRET_KEY_REF", "env://MLGATE_TEST_SK")
    assert read_table(f"s3://{bucket}/a.csv", contract=contract).num_rows == 20
