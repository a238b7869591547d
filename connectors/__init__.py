"""connectors package: data sources, the artifact store and secret resolution.

Everything mlgate reads from or writes to outside systems goes through here; nothing in
this package imports governance or flows.
"""

from connectors.errors import (
    ConnectorError,
    CredentialsError,
    IntegrityError,
    InvalidLocation,
    MalformedSource,
    SchemaMismatch,
    SourceNotFound,
    SourceUnavailable,
    UnsafePath,
    UnsupportedScheme,
)
from connectors.schema import arrow_schema, conform, extra_columns
from connectors.secrets import resolve_secret
from connectors.sources import iter_batches, open_source, read_table, register_source

# isort: split

from connectors import s3 as _s3  # noqa: F401  (registers s3://)
from connectors import snowflake as _snowflake  # noqa: F401  (registers snowflake://)
from connectors.store import (
    ArtifactStore,
    LocalArtifactStore,
    S3ArtifactStore,
    StoredArtifact,
    open_store,
)

__all__ = [
    "ArtifactStore",
    "ConnectorError",
    "CredentialsError",
    "IntegrityError",
    "InvalidLocation",
    "LocalArtifactStore",
    "MalformedSource",
    "S3ArtifactStore",
    "SchemaMismatch",
    "SourceNotFound",
    "SourceUnavailable",
    "StoredArtifact",
    "UnsafePath",
    "UnsupportedScheme",
    "arrow_schema",
    "conform",
    "extra_columns",
    "iter_batches",
    "open_source",
    "open_store",
    "read_table",
    "register_source",
    "resolve_secret",
]
