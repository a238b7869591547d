"""Reading CSV and parquet bytes as Arrow record batches, wherever the bytes live.

A ``Blob`` says how to open an object (a local file, an S3 object) and how to name it
in messages; the readers here stream it: a CSV is parsed block by block with the
contract's column types, a parquet file row group by row group, so memory stays
bounded whatever the size of the object. Arrow's errors are translated here, naming
the line and column where it can: Arrow reports neither, so the object is rescanned,
only once reading has already failed.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from connectors.errors import (
    ConnectorError,
    MalformedSource,
    SchemaMismatch,
    SourceUnavailable,
)
from connectors.schema import arrow_schema, check_columns, conform_batch, first_bad_value
from core.spec import DataContract

__all__ = [
    "CSV_BLOCK_BYTES",
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "BatchStream",
    "Blob",
    "format_of",
    "open_csv",
    "open_parquet",
]

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
# Bytes parsed per CSV block: bounds the memory of one block (and of the batches cut
# from it) while keeping Arrow's parser busy on both cores.
CSV_BLOCK_BYTES = 4 << 20
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


@dataclass(frozen=True)
class Blob:
    """One object to read: how to open it and how to name it in messages.

    Attributes:
        label: the object for messages, e.g. ``source file /data/x.csv``.
        origin: the object for schema messages, e.g. ``/data/x.csv``.
        open: a fresh binary stream from the first byte (used for rescans too).
        arrow_input: what pyarrow reads: a local path, or a fresh file object.
    """

    label: str
    origin: str
    open: Callable[[], BinaryIO]
    arrow_input: Callable[[], Any]


def format_of(name: str) -> str | None:
    """``"csv"`` or ``"parquet"`` from a file or key name's suffix; None if neither."""
    lower = name.lower()
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


# --- parquet ----------------------------------------------------------------------------


def open_parquet(blob: Blob, contract: DataContract | None, batch_rows: int) -> BatchStream:
    """Open a parquet object; batches are read row group by row group.

    Raises:
        SourceUnavailable: the object cannot be opened.
        MalformedSource: it is not parquet.
        SchemaMismatch: a contract column is missing.
    """
    try:
        pf = pq.ParquetFile(blob.arrow_input())
    except ConnectorError:
        raise
    except OSError as exc:
        raise SourceUnavailable(f"{blob.label} cannot be opened: {exc}") from exc
    except (pa.ArrowInvalid, pa.ArrowException) as exc:
        raise MalformedSource(f"{blob.label} is not a valid parquet file: {exc}") from exc
    if contract is None:
        return BatchStream(pf.schema_arrow, _parquet_batches(pf, None, None, batch_rows, blob))
    check_columns(pf.schema_arrow.names, contract, origin=blob.origin)
    return BatchStream(
        arrow_schema(contract),
        _parquet_batches(pf, contract, contract.names, batch_rows, blob),
    )


def _parquet_batches(
    pf: pq.ParquetFile,
    contract: DataContract | None,
    columns: list[str] | None,
    batch_rows: int,
    blob: Blob,
) -> Iterator[pa.RecordBatch]:
    offset = 0
    with pf:
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
                if contract is not None:
                    batch = conform_batch(batch, contract, origin=blob.origin, row_offset=offset)
                offset += batch.num_rows
                yield batch
        except ConnectorError:
            raise
        except OSError as exc:
            raise SourceUnavailable(f"{blob.label} cannot be read: {exc}") from exc
        except pa.ArrowException as exc:
            raise MalformedSource(f"{blob.label} is a damaged parquet file: {exc}") from exc


# --- CSV --------------------------------------------------------------------------------


def _csv_header(blob: Blob) -> list[str]:
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
                    f"{blob.label} line {number} (header) is not valid UTF-8"
                ) from None

    try:
        with blob.open() as f:
            header = next(csv.reader(lines(f)), None)
    except ConnectorError:
        raise
    except OSError as exc:
        raise SourceUnavailable(f"{blob.label} cannot be opened: {exc}") from exc
    except csv.Error as exc:
        raise MalformedSource(f"{blob.label} line 1 (header): {exc}") from exc
    if not header:
        raise MalformedSource(f"{blob.label} is empty (no header row)")
    return header


def open_csv(blob: Blob, contract: DataContract | None, batch_rows: int) -> BatchStream:
    """Open a CSV object; with a contract its columns are typed as the contract says.

    Raises:
        SourceUnavailable: the object cannot be opened.
        MalformedSource: no header, bad UTF-8, ragged rows (found while streaming too).
        SchemaMismatch: a contract column is missing, or a value does not convert.
    """
    header = _csv_header(blob)
    convert = pacsv.ConvertOptions(strings_can_be_null=True)
    if contract is not None:
        check_columns(header, contract, origin=blob.origin)
        schema = arrow_schema(contract)
        convert = pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema},
            include_columns=contract.names,
            strings_can_be_null=True,
        )
    read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=True)
    try:
        reader = pacsv.open_csv(blob.arrow_input(), read_options=read, convert_options=convert)
    except ConnectorError:
        raise
    except pa.ArrowException as exc:  # the first block is parsed on open
        raise _csv_error(exc, blob, header, contract) from exc
    except OSError as exc:
        raise SourceUnavailable(f"{blob.label} cannot be opened: {exc}") from exc
    # Without declared types Arrow infers binary for text that is not UTF-8: refuse it here
    # as it would be refused with a contract.
    binary = [f.name for f in reader.schema if pa.types.is_binary(f.type)]
    if binary:
        line = _undecodable_line(blob)
        where = f" line {line}" if line else ""
        raise MalformedSource(f"{blob.label}{where}, column {binary[0]!r}: invalid UTF-8 bytes")
    return BatchStream(reader.schema, _csv_batches(reader, blob, header, contract, batch_rows))


def _csv_batches(
    reader: pacsv.CSVStreamingReader,
    blob: Blob,
    header: list[str],
    contract: DataContract | None,
    batch_rows: int,
) -> Iterator[pa.RecordBatch]:
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except ConnectorError:
                raise
            except pa.ArrowException as exc:
                raise _csv_error(exc, blob, header, contract) from exc
            except OSError as exc:
                raise SourceUnavailable(f"{blob.label} cannot be read: {exc}") from exc
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows)
    finally:
        reader.close()


def _csv_error(
    exc: pa.ArrowException, blob: Blob, header: list[str], contract: DataContract | None
) -> ConnectorError:
    """Translate an Arrow CSV error into ours, naming the line and column where possible."""
    text = str(exc)
    if m := _RAGGED.search(text):
        line = _ragged_line(blob, len(header))
        where = f" line {line}" if line else ""
        return MalformedSource(
            f"{blob.label}{where}: expected {m.group(1)} columns, got {m.group(2)}"
        )
    if m := _UTF8.search(text):
        column = _column_name(header, int(m.group(1)))
        line = _undecodable_line(blob)
        where = f" line {line}" if line else ""
        return MalformedSource(f"{blob.label}{where}, column {column!r}: invalid UTF-8 bytes")
    if m := _CONVERSION.search(text):
        column = _column_name(header, int(m.group(1)))
        target, value = m.group(2), m.group(3)
        line = _bad_value_line(blob, column, contract)
        where = f" line {line}" if line else ""
        return SchemaMismatch(
            f"{blob.label}{where}, column {column!r}: value {value!r} cannot be read as {target}"
        )
    return MalformedSource(f"{blob.label} is not a readable CSV file: {text}")


def _column_name(header: list[str], index: int) -> str:
    return header[index] if 0 <= index < len(header) else f"#{index}"


def _text(f: BinaryIO) -> io.TextIOWrapper:
    return io.TextIOWrapper(f, encoding="utf-8-sig", errors="replace", newline="")


def _ragged_line(blob: Blob, width: int) -> int | None:
    with _text(blob.open()) as f:
        reader = csv.reader(f)
        for record in reader:
            if record and len(record) != width:
                return reader.line_num
    return None


def _undecodable_line(blob: Blob) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with blob.open() as f:
        for number, raw in enumerate(f, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return number
    return None


def _data_row_lines(blob: Blob) -> Iterator[int]:
    """The physical line on which each data record ends (quoted newlines respected)."""
    with _text(blob.open()) as f:
        reader = csv.reader(f)
        next(reader, None)
        for record in reader:
            if record:  # Arrow skips empty lines too
                yield reader.line_num


def _bad_value_line(blob: Blob, column: str, contract: DataContract | None) -> int | None:
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
        for batch in pacsv.open_csv(blob.arrow_input(), convert_options=convert):
            bad, _ = first_bad_value(batch.column(0), arrow_target)
            if bad is not None:
                row = offset + bad
                break
            offset += batch.num_rows
    except (pa.ArrowException, OSError, ConnectorError):
        return None
    if row is None:
        return None
    for index, line in enumerate(_data_row_lines(blob)):
        if index == row:
            return line
    return None
