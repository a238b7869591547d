"""The errors every connector raises; a library's own errors never leave connectors/.

``ConnectorError`` is the connectors' subtree of the project's one error tree
(:mod:`core.errors`)::

    MlgateError (core.errors)
     └── ConnectorError          connector_error     500  base of the subtree
          ├── UnsupportedScheme  unsupported_scheme  422  URI scheme unknown or not built yet
          ├── InvalidLocation    invalid_location    422  a URI, option or setting refused
          ├── SourceNotFound     source_not_found    404  the object the URI names is missing
          ├── SourceUnavailable  source_unavailable  503  its system cannot be reached
          ├── MalformedSource    malformed_source    422  unparseable bytes (ragged, bad UTF-8)
          ├── SchemaMismatch     schema_mismatch     422  columns missing or of the wrong type
          ├── CredentialsError   credentials_error   403  a secret is missing or refused
          ├── IntegrityError     integrity_error     500  bytes do not match their sha256
          └── UnsafePath         unsafe_path         422  a key or URI would leave the store

Each class has a stable ``code`` (for problem details and logs), the HTTP ``status`` a
server answers it with, a ``title``, and says whether a retry can help (``retryable``:
only ``SourceUnavailable``; connectors have already retried such errors a bounded number
of times with backoff). ``CredentialsError`` is 403 rather than 401: the credentials at
fault are mlgate's own, held for a backing system, so the caller cannot fix them by
authenticating again. Messages name the object and what is wrong; they never contain a
secret value.

Each library's errors become these in one place, always ``raise … from exc``:
``connectors.s3client.s3_errors`` (botocore), ``connectors.vault.vault_errors`` (hvac
and requests) and ``connectors.snowflake.snowflake_errors`` (the Snowflake connector).
tests/connectors/test_error_translation.py walks every exception class each of them
exports through its translator.
"""

from __future__ import annotations

from typing import ClassVar

from core.errors import MlgateError

__all__ = [
    "ConnectorError",
    "CredentialsError",
    "IntegrityError",
    "InvalidLocation",
    "MalformedSource",
    "SchemaMismatch",
    "SourceNotFound",
    "SourceUnavailable",
    "UnsafePath",
    "UnsupportedScheme",
]


class ConnectorError(MlgateError):
    """Base of every error raised by connectors/."""

    code: ClassVar[str] = "connector_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Connector error"
    retryable: ClassVar[bool] = False


class UnsupportedScheme(ConnectorError):
    """A URI or reference whose scheme is unknown or not supported yet."""

    code: ClassVar[str] = "unsupported_scheme"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Unsupported scheme"


class InvalidLocation(ConnectorError):
    """A URI, option, setting or store location that cannot be used (unknown option, bad name)."""

    code: ClassVar[str] = "invalid_location"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Invalid location"


class SourceNotFound(ConnectorError):
    """The object a URI names does not exist."""

    code: ClassVar[str] = "source_not_found"
    status: ClassVar[int] = 404
    title: ClassVar[str] = "Source not found"


class SourceUnavailable(ConnectorError):
    """The system holding the object cannot be reached or refused to serve it."""

    code: ClassVar[str] = "source_unavailable"
    status: ClassVar[int] = 503
    title: ClassVar[str] = "Source unavailable"
    retryable: ClassVar[bool] = True


class MalformedSource(ConnectorError):
    """The object exists but cannot be parsed (ragged rows, undecodable bytes, bad format)."""

    code: ClassVar[str] = "malformed_source"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Malformed source"


class SchemaMismatch(ConnectorError):
    """Columns are missing, or a value cannot be read as its contract type."""

    code: ClassVar[str] = "schema_mismatch"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Schema mismatch"


class CredentialsError(ConnectorError):
    """A secret is missing or was refused; the message names it, never its value."""

    code: ClassVar[str] = "credentials_error"
    status: ClassVar[int] = 403
    title: ClassVar[str] = "Credentials error"


class IntegrityError(ConnectorError):
    """Stored bytes do not hash to the sha256 recorded for them."""

    code: ClassVar[str] = "integrity_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Integrity error"


class UnsafePath(ConnectorError):
    """A key or URI that would read or write outside the artifact store's root."""

    code: ClassVar[str] = "unsafe_path"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "Unsafe path"
