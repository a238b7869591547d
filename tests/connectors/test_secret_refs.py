"""connectors.secrets: resolving secret references without ever showing a value."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.errors import CredentialsError, UnsupportedScheme
from connectors.s3 import parse_s3_uri
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


# --- file:// references -------------------------------------------------------------------


def _secret_file(path: Path, content: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(content)
    path.chmod(mode)
    return path


def test_file_reference_reads_the_file_minus_one_trailing_newline(tmp_path: Path) -> None:
    path = _secret_file(tmp_path / "token", f"{VALUE}\n".encode())
    secret = resolve_secret(f"file://{path}")
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == VALUE
    assert VALUE not in f"{secret} {secret!r}"
    _secret_file(path, f"{VALUE}\r\n".encode(), mode=0o400)
    assert resolve_secret(f"file://{path}").get_secret_value() == VALUE
    path.chmod(0o600)
    _secret_file(path, f"{VALUE}\n\n".encode())
    assert resolve_secret(f"file://{path}").get_secret_value() == f"{VALUE}\n"
    _secret_file(path, VALUE.encode())
    assert resolve_secret(f"file://{path}").get_secret_value() == VALUE


def test_a_relative_file_reference_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    _secret_file(tmp_path / "secrets" / "db", VALUE.encode())
    monkeypatch.chdir(tmp_path)
    assert resolve_secret("file://secrets/db").get_secret_value() == VALUE


def test_a_mounted_secret_behind_symlinks_is_read(tmp_path: Path) -> None:
    """The layout of a Kubernetes secret volume: name -> ..data/name -> a timestamped dir."""
    stamped = tmp_path / "..2026_01_01_00_00_00.1"
    stamped.mkdir()
    _secret_file(stamped / "password", VALUE.encode(), mode=0o400)
    (tmp_path / "..data").symlink_to(stamped.name)
    (tmp_path / "password").symlink_to("..data/password")
    assert resolve_secret(f"file://{tmp_path / 'password'}").get_secret_value() == VALUE


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_a_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _secret_file(tmp_path / "token", VALUE.encode(), mode=mode)
    with pytest.raises(
        CredentialsError,
        match=rf"^secret file {re.escape(str(path))} is open to its group or others "
        rf"\(mode 0{mode:o}\)",
    ) as info:
        resolve_secret(f"file://{path}")
    assert VALUE not in str(info.value)


def test_missing_directory_large_empty_and_binary_files_are_refused(tmp_path: Path) -> None:
    cases = {
        tmp_path / "absent": r"does not exist$",
        tmp_path: r"is a directory, not a file$",
        _secret_file(tmp_path / "big", b"x" * (64 * 1024 + 1)): r"is larger than 64 KiB$",
        _secret_file(tmp_path / "empty", b"\n"): r"is empty$",
        _secret_file(tmp_path / "binary", b"\xff\xfe" + VALUE.encode()): r"is not UTF-8 text$",
    }
    for path, message in cases.items():
        with pytest.raises(
            CredentialsError, match=rf"^secret file {re.escape(str(path))} {message}"
        ) as info:
            resolve_secret(f"file://{path}")
        assert VALUE not in str(info.value)
    exactly_64k = _secret_file(tmp_path / "edge", b"y" * (64 * 1024))
    assert len(resolve_secret(f"file://{exactly_64k}").get_secret_value()) == 64 * 1024


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(CredentialsError, match=r"is not a regular file$"):
        resolve_secret(f"file://{fifo}")


def test_file_references_are_secret_options_of_a_uri(tmp_path: Path) -> None:
    path = _secret_file(tmp_path / "ak", b"AKID")
    location = parse_s3_uri(f"s3://raw-data/a.csv?access_key=file://{path}&secret_key=env://X")
    assert location.config.access_key_ref == f"file://{path}"


def test_an_empty_file_reference_is_refused() -> None:
    with pytest.raises(CredentialsError, match=r"^secret reference file:// names no file$"):
        resolve_secret("file://")
