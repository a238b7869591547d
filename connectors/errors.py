"""The errors every connector raises; a library's own errors never leave connectors/.

::

    ConnectorError                 connector_error
     ├── UnsupportedScheme         unsupported_scheme   URI scheme unknown or not built yet
     ├── InvalidLocation           invalid_location     a URI or option that cannot be used
     ├── SourceNotFound            source_not_found     the object the URI names does not exist
     ├── SourceUnavailable         source_unavailable   the system holding it cannot be reached
     ├── MalformedSource           malformed_source     unparseable bytes (ragged rows, bad UTF-8)
     ├── SchemaMismatch            schema_mismatch      columns missing or values of the wrong type
     ├── CredentialsError          credentials_error    a secret is missing or refused
     ├── IntegrityError            integrity_error      stored bytes do not match their sha256
     └── UnsafePath                unsafe_path          a key or URI would leave the store root

Each class has a stable ``code`` (for problem details and logs) and says whether a
retry can help (``retryable``: only ``SourceUnavailable``; connectors have already
retried such errors a bounded number of times with backoff). Messages name the object
and what is wrong; they never contain a secret value.
"""

from __future__ import annotations

from typing import ClassVar

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


class ConnectorError(Exception):
    """Base of every error raised by connectors/."""

    code: ClassVar[str] = "connector_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedScheme(ConnectorError):
    """A URI or reference whose scheme is unknown or not supported yet."""

    code: ClassVar[str] = "unsupported_scheme"


class InvalidLocation(ConnectorError):
    """A URI, option or store location that cannot be used (unknown option, bad name)."""

    code: ClassVar[str] = "invalid_location"


class SourceNotFound(ConnectorError):
    """The object a URI names does not exist."""

    code: ClassVar[str] = "source_not_found"


class SourceUnavailable(ConnectorError):
    """The system holding the object cannot be reached or refused to serve it."""

    code: ClassVar[str] = "source_unavailable"
    retryable: ClassVar[bool] = True


class MalformedSource(ConnectorError):
    """The object exists but cannot be parsed (ragged rows, undecodable bytes, bad format)."""

    code: ClassVar[str] = "malformed_source"


class SchemaMismatch(ConnectorError):
    """Columns are missing, or a value cannot be read as its contract type."""

    code: ClassVar[str] = "schema_mismatch"


class CredentialsError(ConnectorError):
    """A secret is missing or was refused; the message names it, never its value."""

    code: ClassVar[str] = "credentials_error"


class IntegrityError(ConnectorError):
    """Stored bytes do not hash to the sha256 recorded for them."""

    code: ClassVar[str] = "integrity_error"


class UnsafePath(ConnectorError):
    """A key or URI that would read or write outside the artifact store's root."""

    code: ClassVar[str] = "unsafe_path"
