"""Data sources addressed by URI: which schemes exist, and reading them as Arrow batches.

A small registry maps a URI scheme to a reader: ``file://`` here (CSV and parquet,
chosen by suffix), ``s3://`` in ``connectors.s3`` and ``snowflake://`` in
``connectors.snowflake`` (both registered when the ``connectors`` package is imported).
Reading streams, so memory stays bounded by ``batch_rows`` and the parser's block
whatever the size of the source (see ``connectors.formats``).

Relative ``file://`` URIs (``file://data/x.csv``) resolve against ``base_dir`` (else the
working directory); ``file:///abs/x.csv`` is absolute. A plain path without a scheme is
read as a local file too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from connectors.errors import (
    MalformedSource,
    SourceNotFound,
    UnsupportedScheme,
)
from connectors.formats import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    BatchStream,
    Blob,
    format_of,
    open_csv,
    open_parquet,
)
from connectors.uri import redact, split_scheme
from core.spec import DataContract

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "BatchStream",
    "SourceReader",
    "iter_batches",
    "open_source",
    "read_table",
    "redact",
    "register_source",
    "resolve_file_uri",
    "split_scheme",
    "supported_schemes",
]

DEFAULT_BATCH_ROWS = 65_536

SourceReader = Callable[[str, DataContract | None, Path | None, int], BatchStream]
"""A scheme's reader: ``(uri, contract, base_dir, batch_rows) -> BatchStream``.

It must raise only ``ConnectorError`` subclasses, eagerly for a missing or unreachable
source (when opened), lazily for bad data (while iterating)."""

_READERS: dict[str, SourceReader] = {}


def register_source(scheme: str, reader: SourceReader) -> None:
    """Make ``scheme://`` URIs readable through ``reader`` (replaces an earlier one)."""
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise ValueError(f"invalid URI scheme {scheme!r}")
    _READERS[scheme] = reader


def supported_schemes() -> list[str]:
    """The schemes that can be read now, sorted."""
    return sorted(_READERS)


def resolve_file_uri(uri: str, base_dir: str | Path | None = None) -> Path:
    """The local path a ``file://`` URI (or plain path) names.

    Raises:
        UnsupportedScheme: the URI has another scheme.
        SourceNotFound: the URI names no path at all.
    """
    scheme, rest = split_scheme(uri)
    if scheme not in (None, "file"):
        raise UnsupportedScheme(f"{redact(uri)} is not a file:// URI")
    if not rest or "\x00" in rest:
        raise SourceNotFound(f"source {uri!r} names no file")
    path = Path(rest)
    if not path.is_absolute():
        path = Path(base_dir if base_dir is not None else Path.cwd()) / path
    return path


def open_source(
    uri: str,
    *,
    contract: DataContract | None = None,
    base_dir: str | Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> BatchStream:
    """Open the source ``uri`` names; missing or unreachable sources fail here, at once.

    With a contract, batches carry exactly the contract's columns, in its order and types
    (``connectors.schema.arrow_schema``); extra columns are dropped.

    Raises:
        UnsupportedScheme: the scheme is unknown.
        InvalidLocation: the URI or one of its options cannot be used.
        SourceNotFound, SourceUnavailable, CredentialsError, MalformedSource,
        SchemaMismatch: see the readers.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    scheme, _ = split_scheme(uri)
    scheme = scheme or "file"
    reader = _READERS.get(scheme)
    if reader is None:
        supported = ", ".join(f"{s}://" for s in supported_schemes())
        raise UnsupportedScheme(
            f"source {redact(uri)}: scheme {scheme}:// is unknown; supported: {supported}"
        )
    return reader(uri, contract, Path(base_dir) if base_dir is not None else None, batch_rows)


def iter_batches(
    uri: str,
    *,
    contract: DataContract | None = None,
    base_dir: str | Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Stream the source as record batches of at most ``batch_rows`` rows.

    The source is opened before this returns (a missing file fails at the call); errors
    in the data surface while iterating. See ``open_source``.
    """
    return open_source(uri, contract=contract, base_dir=base_dir, batch_rows=batch_rows).batches


def read_table(
    uri: str, *, contract: DataContract | None = None, base_dir: str | Path | None = None
) -> pa.Table:
    """The whole source as one table (conformed to ``contract`` when given)."""
    stream = open_source(uri, contract=contract, base_dir=base_dir)
    return pa.Table.from_batches(list(stream.batches), schema=stream.schema)


# --- file:// ----------------------------------------------------------------------------


def file_blob(path: Path) -> Blob:
    """A local file as a ``Blob`` (pyarrow reads it natively, by path)."""

    def open_binary() -> BinaryIO:
        return path.open("rb")

    return Blob(
        label=f"source file {path}",
        origin=str(path),
        open=open_binary,
        arrow_input=lambda: str(path),
    )


def _read_file(
    uri: str, contract: DataContract | None, base_dir: Path | None, batch_rows: int
) -> BatchStream:
    path = resolve_file_uri(uri, base_dir)
    kind = format_of(path.name)
    if kind is None:
        supported = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
        raise MalformedSource(
            f"source {path}: unsupported file type {path.suffix or '(none)'!r}; "
            f"supported: {supported}"
        )
    if not path.exists():
        raise SourceNotFound(f"source file {path} does not exist")
    if not path.is_file():
        raise MalformedSource(f"source {path} is not a regular file")
    blob = file_blob(path)
    if kind == "csv":
        return open_csv(blob, contract, batch_rows)
    return open_parquet(blob, contract, batch_rows)


register_source("file", _read_file)
