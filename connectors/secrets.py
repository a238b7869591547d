"""Secret references: turning ``env://NAME`` and ``vault://mount/path#key`` into values.

Specs and settings hold references, never secrets. ``vault://`` is resolved by
``connectors.vault`` (hvac, KV v2; settings from ``MLGATE_VAULT_*``). ``resolve_secret`` returns a
``pydantic.SecretStr``, whose str and repr hide the value; errors name the reference
or variable, never a value. A string that is not a reference at all is not echoed
back either, in case it is a secret pasted in the wrong place.
"""

from __future__ import annotations

import os
import re

from pydantic import SecretStr

from connectors.errors import CredentialsError, UnsupportedScheme

__all__ = ["resolve_secret"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://")
SUPPORTED = "env://NAME, vault://mount/path#key"


def resolve_secret(ref: str) -> SecretStr:
    """The secret a reference names.

    Args:
        ref: ``env://NAME`` reads environment variable ``NAME``;
            ``vault://mount/path#key`` reads ``key`` of the KV v2 secret ``path`` under
            the secrets engine mounted at ``mount``.

    Raises:
        CredentialsError: the variable is unset or empty, or its name is invalid; the
            Vault secret or key is missing, or Vault refused the credentials.
        SourceUnavailable: Vault cannot be reached (after a bounded number of attempts).
        UnsupportedScheme: another scheme, or not a reference at all.
    """
    m = _SCHEME.match(ref)
    if m is None:
        raise UnsupportedScheme(f"not a secret reference (value not shown); supported: {SUPPORTED}")
    scheme, rest = m.group(1), ref[m.end() :]
    if scheme == "env":
        if not _ENV_NAME.fullmatch(rest):
            raise CredentialsError(
                f"secret reference env://{rest!r} does not name a valid environment variable"
            )
        value = os.environ.get(rest)
        if value is None:
            raise CredentialsError(f"environment variable {rest} (from env://{rest}) is not set")
        if value == "":
            raise CredentialsError(f"environment variable {rest} (from env://{rest}) is empty")
        return SecretStr(value)
    if scheme == "vault":
        # Imported on first use: hvac and requests take about 0.3 s to load, which only
        # vault:// references should pay.
        from connectors.vault import resolve_vault

        return resolve_vault(ref)
    raise UnsupportedScheme(
        f"secret reference scheme {scheme}:// is unknown; supported: {SUPPORTED}"
    )
