"""Data sources addressed by URI: which schemes exist, and reading them as Arrow batches.

A small registry maps a URI scheme to a reader. ``file://`` is built in (CSV and
parquet, chosen by suffix); ``s3://`` and ``snowflake://`` are planned and refused with
``UnsupportedScheme`` until their readers land. Reading streams: a CSV is parsed block by
block with the contract's column types, a parquet file row group by row group, so memory
stays bounded by ``batch_rows`` whatever the size of the file.

Relative ``file://`` URIs (``file://data/x.csv``) resolve against ``base_dir`` (else the
working directory); ``file:///abs/x.csv`` is absolute. A plain path without a scheme is
read as a local file too.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from connectors.errors import (
    ConnectorError,
    MalformedSource,
    SchemaMismatch,
    SourceNotFound,
    SourceUnavailable,
    UnsupportedScheme,
)
from connectors.schema import arrow_schema, check_columns, conform_batch, first_bad_value
from mlgate.spec import DataContract

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
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_CSV_BLOCK_BYTES = 1 << 20  # Arrow's default; bounds memory per parsed block
# Arrow adds "Row #N: " to these messages in some reading modes; the line is found by
# rescanning either way, since Arrow's row count does not match file lines.
_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to ([^:]+): invalid value '(.*)'",
    re.DOTALL,
)
_UTF8 = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to \w+: invalid UTF8 data"
)
_RAGGED = re.compile(r"Expected (\d+) columns, got (\d+)")


@dataclass(frozen=True)
class BatchStream:
    """An opened source: its Arrow schema and the record batches still to read."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]


SourceReader = Callable[[str, DataContract | None, Path | None, int], BatchStream]
"""A scheme's reader: ``(uri, contract, base_dir, batch_rows) -> BatchStream``.

It must raise only ``ConnectorError`` subclasses, eagerly for a missing or unreachable
source (when opened), lazily for bad data (while iterating)."""

_READERS: dict[str, SourceReader] = {}
# Schemes the design promises; named in errors so users know they are coming, not typos.
_PLANNED = ("s3", "snowflake")


def register_source(scheme: str, reader: SourceReader) -> None:
    """Make ``scheme://`` URIs readable through ``reader`` (replaces an earlier one)."""
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise ValueError(f"invalid URI scheme {scheme!r}")
    _READERS[scheme] = reader


def supported_schemes() -> list[str]:
    """The schemes that can be read now, sorted."""
    return sorted(_READERS)


def split_scheme(uri: str) -> tuple[str | None, str]:
    """``("file", "data/x.csv")`` for ``file://data/x.csv``; ``(None, uri)`` without a scheme."""
    m = _SCHEME.match(uri)
    if m is None:
        return None, uri
    return m.group(1).lower(), uri[m.end() :]


def redact(uri: str) -> str:
    """The URI fit for a message: user info and query string (where tokens hide) masked."""
    scheme, rest = split_scheme(uri)
    if scheme is None:
        return uri
    authority, sep, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    rest = authority + sep + path
    if "?" in rest:
        rest = rest.partition("?")[0] + "?***"
    return f"{scheme}://{rest}"


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
        UnsupportedScheme: the scheme is unknown or not supported yet.
        SourceNotFound, SourceUnavailable, MalformedSource, SchemaMismatch: see the readers.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    scheme, _ = split_scheme(uri)
    scheme = scheme or "file"
    reader = _READERS.get(scheme)
    if reader is None:
        supported = ", ".join(f"{s}://" for s in supported_schemes())
        state = "not supported yet" if scheme in _PLANNED else "unknown"
        raise UnsupportedScheme(
            f"source {redact(uri)}: scheme {scheme}:// is {state}; supported: {supported}"
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


def _read_file(
    uri: str, contract: DataContract | None, base_dir: Path | None, batch_rows: int
) -> BatchStream:
    path = resolve_file_uri(uri, base_dir)
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        kind = "csv"
    elif name.endswith(PARQUET_SUFFIXES):
        kind = "parquet"
    else:
        supported = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
        raise MalformedSource(
            f"source {path}: unsupported file type {path.suffix or '(none)'!r}; "
            f"supported: {supported}"
        )
    if not path.exists():
        raise SourceNotFound(f"source file {path} does not exist")
    if not path.is_file():
        raise MalformedSource(f"source {path} is not a regular file")
    if kind == "csv":
        return _open_csv(path, contract, batch_rows)
    return _open_parquet(path, contract, batch_rows)


register_source("file", _read_file)


def _open_parquet(path: Path, contract: DataContract | None, batch_rows: int) -> BatchStream:
    origin = str(path)
    try:
        pf = pq.ParquetFile(path)
    except OSError as exc:
        raise SourceUnavailable(f"source file {path} cannot be opened: {exc}") from exc
    except (pa.ArrowInvalid, pa.ArrowException) as exc:
        raise MalformedSource(f"source file {path} is not a valid parquet file: {exc}") from exc
    if contract is None:
        return BatchStream(pf.schema_arrow, _parquet_batches(pf, None, None, batch_rows, origin))
    check_columns(pf.schema_arrow.names, contract, origin=origin)
    return BatchStream(
        arrow_schema(contract),
        _parquet_batches(pf, contract, contract.names, batch_rows, origin),
    )


def _parquet_batches(
    pf: pq.ParquetFile,
    contract: DataContract | None,
    columns: list[str] | None,
    batch_rows: int,
    origin: str,
) -> Iterator[pa.RecordBatch]:
    offset = 0
    with pf:
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
                if contract is not None:
                    batch = conform_batch(batch, contract, origin=origin, row_offset=offset)
                offset += batch.num_rows
                yield batch
        except ConnectorError:
            raise
        except OSError as exc:
            raise SourceUnavailable(f"source file {origin} cannot be read: {exc}") from exc
        except pa.ArrowException as exc:
            raise MalformedSource(f"source file {origin} is a damaged parquet file: {exc}") from exc


def _csv_header(path: Path) -> list[str]:
    """The header row, read with Python's csv module (quotes respected).

    Lines are decoded one at a time, so bad bytes further down are left to the reader,
    which reports them with their line.
    """

    def lines(f: BinaryIO) -> Iterator[str]:
        for number, raw in enumerate(f, start=1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise MalformedSource(
                    f"source file {path} line {number} (header) is not valid UTF-8"
                ) from None

    try:
        with path.open("rb") as f:
            header = next(csv.reader(lines(f)), None)
    except OSError as exc:
        raise SourceUnavailable(f"source file {path} cannot be opened: {exc}") from exc
    except csv.Error as exc:
        raise MalformedSource(f"source file {path} line 1 (header): {exc}") from exc
    if not header:
        raise MalformedSource(f"source file {path} is empty (no header row)")
    return header


def _open_csv(path: Path, contract: DataContract | None, batch_rows: int) -> BatchStream:
    header = _csv_header(path)
    origin = str(path)
    convert = pacsv.ConvertOptions(strings_can_be_null=True)
    if contract is not None:
        check_columns(header, contract, origin=origin)
        schema = arrow_schema(contract)
        convert = pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema},
            include_columns=contract.names,
            strings_can_be_null=True,
        )
    read = pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
    try:
        reader = pacsv.open_csv(path, read_options=read, convert_options=convert)
    except OSError as exc:
        raise SourceUnavailable(f"source file {path} cannot be opened: {exc}") from exc
    except pa.ArrowException as exc:  # the first block is parsed on open
        raise _csv_error(exc, path, header, contract) from exc
    # Without declared types Arrow infers binary for text that is not UTF-8: refuse it here
    # as it would be refused with a contract.
    binary = [f.name for f in reader.schema if pa.types.is_binary(f.type)]
    if binary:
        line = _undecodable_line(path)
        where = f" line {line}" if line else ""
        raise MalformedSource(
            f"source file {path}{where}, column {binary[0]!r}: invalid UTF-8 bytes"
        )
    return BatchStream(reader.schema, _csv_batches(reader, path, header, contract, batch_rows))


def _csv_batches(
    reader: pacsv.CSVStreamingReader,
    path: Path,
    header: list[str],
    contract: DataContract | None,
    batch_rows: int,
) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except OSError as exc:
            raise SourceUnavailable(f"source file {path} cannot be read: {exc}") from exc
        except pa.ArrowException as exc:
            raise _csv_error(exc, path, header, contract) from exc
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


def _csv_error(
    exc: pa.ArrowException, path: Path, header: list[str], contract: DataContract | None
) -> ConnectorError:
    """Translate an Arrow CSV error into ours, naming the line and column where possible.

    Arrow reports neither line nor (for ragged rows) column, so this rescans the file;
    it runs only once reading has already failed.
    """
    text = str(exc)
    if m := _RAGGED.search(text):
        line = _ragged_line(path, len(header))
        where = f" line {line}" if line else ""
        return MalformedSource(
            f"source file {path}{where}: expected {m.group(1)} columns, got {m.group(2)}"
        )
    if m := _UTF8.search(text):
        column = _column_name(header, int(m.group(1)))
        line = _undecodable_line(path)
        where = f" line {line}" if line else ""
        return MalformedSource(f"source file {path}{where}, column {column!r}: invalid UTF-8 bytes")
    if m := _CONVERSION.search(text):
        column = _column_name(header, int(m.group(1)))
        target, value = m.group(2), m.group(3)
        line = _bad_value_line(path, column, contract)
        where = f" line {line}" if line else ""
        return SchemaMismatch(
            f"source file {path}{where}, column {column!r}: value {value!r} "
            f"cannot be read as {target}"
        )
    return MalformedSource(f"source file {path} is not a readable CSV file: {text}")


def _column_name(header: list[str], index: int) -> str:
    return header[index] if 0 <= index < len(header) else f"#{index}"


def _ragged_line(path: Path, width: int) -> int | None:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f)
        for record in reader:
            if record and len(record) != width:
                return reader.line_num
    return None


def _undecodable_line(path: Path) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return number
    return None


def _data_row_lines(path: Path) -> Iterator[int]:
    """The physical line on which each data record ends (quoted newlines respected)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        for record in reader:
            if record:  # Arrow skips empty lines too
                yield reader.line_num


def _bad_value_line(path: Path, column: str, contract: DataContract | None) -> int | None:
    """Rescan one column as text to find the first row that does not convert."""
    if contract is None or column not in contract.names:
        return None
    arrow_target = arrow_schema(contract).field(column).type
    convert = pacsv.ConvertOptions(
        column_types={column: pa.string()}, include_columns=[column], strings_can_be_null=True
    )
    offset = 0
    row: int | None = None
    try:
        for batch in pacsv.open_csv(path, convert_options=convert):
            bad, _ = first_bad_value(batch.column(0), arrow_target)
            if bad is not None:
                row = offset + bad
                break
            offset += batch.num_rows
    except (pa.ArrowException, OSError):
        return None
    if row is None:
        return None
    for index, line in enumerate(_data_row_lines(path)):
        if index == row:
            return line
    return None
