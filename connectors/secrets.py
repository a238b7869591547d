"""Secret references: turning ``env://``, ``vault://`` and ``file://`` references into values.

Specs and settings hold references, never secrets:

- ``env://NAME`` reads the environment variable ``NAME``;
- ``vault://mount/path#key`` reads ``key`` of a KV v2 secret, through
  ``connectors.vault`` (hvac; settings from ``MLGATE_VAULT_*``);
- ``file:///abs/path`` (or ``file://relative/path``, from the working directory) reads
  a file: a Kubernetes-mounted secret, say. The value is the file's text with one
  trailing newline removed. The file must be a regular file of at most 64 KiB that
  neither its group nor others may access (mode 0600 or 0400, as ``defaultMode: 0400``
  gives a secret volume); anything else is refused.

``resolve_secret`` returns a ``pydantic.SecretStr``, whose str and repr hide the value;
errors name the reference, variable or file, never a value. A string that is not a
reference at all is not echoed back either, in case it is a secret pasted in the wrong
place.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from pydantic import SecretStr

from connectors.errors import CredentialsError, UnsupportedScheme

__all__ = ["MAX_SECRET_FILE_BYTES", "resolve_secret"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://")
SUPPORTED = "env://NAME, vault://mount/path#key, file:///path"
MAX_SECRET_FILE_BYTES = 64 << 10


def resolve_secret(ref: str) -> SecretStr:
    """The secret a reference names.

    Args:
        ref: ``env://NAME``, ``vault://mount/path#key`` or ``file:///path`` (see the
            module docstring).

    Raises:
        CredentialsError: the variable is unset or empty, or its name is invalid; the
            Vault secret or key is missing, or Vault refused the credentials; the file
            is missing, not a regular file, too large, empty, not UTF-8 text, or open to
            its group or others.
        SourceUnavailable: Vault cannot be reached (after a bounded number of attempts).
        UnsupportedScheme: another scheme, or not a reference at all.
    """
    m = _SCHEME.match(ref)
    if m is None:
        raise UnsupportedScheme(f"not a secret reference (value not shown); supported: {SUPPORTED}")
    scheme, rest = m.group(1), ref[m.end() :]
    if scheme == "env":
        return _from_env(rest)
    if scheme == "file":
        return _from_file(rest)
    if scheme == "vault":
        # Imported on first use: hvac and requests take about 0.3 s to load, which only
        # vault:// references should pay.
        from connectors.vault import resolve_vault

        return resolve_vault(ref)
    raise UnsupportedScheme(
        f"secret reference scheme {scheme}:// is unknown; supported: {SUPPORTED}"
    )


def _from_env(name: str) -> SecretStr:
    if not _ENV_NAME.fullmatch(name):
        raise CredentialsError(
            f"secret reference env://{name!r} does not name a valid environment variable"
        )
    value = os.environ.get(name)
    if value is None:
        raise CredentialsError(f"environment variable {name} (from env://{name}) is not set")
    if value == "":
        raise CredentialsError(f"environment variable {name} (from env://{name}) is empty")
    return SecretStr(value)


def _from_file(rest: str) -> SecretStr:
    if not rest or "\x00" in rest:
        raise CredentialsError("secret reference file:// names no file")
    path = Path(rest) if Path(rest).is_absolute() else Path.cwd() / rest
    what = f"secret file {path}"
    if path.is_dir():
        raise CredentialsError(f"{what} is a directory, not a file")
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the open (it is refused
        # below, as is anything but a regular file). Symlinks are followed: Kubernetes
        # mounts each secret as one.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise CredentialsError(f"{what} does not exist") from exc
    except OSError as exc:
        raise CredentialsError(f"{what} cannot be opened ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as f:
        # Checked on the open file, so the file read is the file checked.
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CredentialsError(f"{what} is not a regular file")
        if os.name == "posix" and info.st_mode & 0o077:
            raise CredentialsError(
                f"{what} is open to its group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                "make it 0600 or 0400"
            )
        data = f.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise CredentialsError(f"{what} is larger than {MAX_SECRET_FILE_BYTES >> 10} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Not chained: the decoder's message quotes bytes of the secret.
        raise CredentialsError(f"{what} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
    if text == "":
        raise CredentialsError(f"{what} is empty")
    return SecretStr(text)
