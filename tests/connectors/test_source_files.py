"""connectors.sources: file:// CSV and parquet sources, streaming, and refusing bad files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from connector_factories import make_rows, write_csv

from connectors.errors import (
    MalformedSource,
    SchemaMismatch,
    SourceNotFound,
    UnsupportedScheme,
)
from connectors.schema import arrow_schema
from connectors.sources import iter_batches, read_table, redact, supported_schemes
from core.spec import DataContract


def test_csv_and_parquet_read_the_same_table(tmp_path: Path, contract: DataContract) -> None:
    rows = make_rows(200)
    write_csv(tmp_path / "apps.csv", rows, extra=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "apps.parquet")

    from_csv = read_table("file://apps.csv", contract=contract, base_dir=tmp_path)
    from_parquet = read_table(f"file://{tmp_path}/apps.parquet", contract=contract)

    assert from_csv.schema == arrow_schema(contract)
    assert from_csv.equals(from_parquet)
    assert from_csv.num_rows == 200
    assert from_csv.column("income").null_count == sum(r["income"] is None for r in rows)


def test_relative_uri_resolves_against_cwd_without_base_dir(
    tmp_path: Path, contract: DataContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "apps.csv", make_rows(3))
    monkeypatch.chdir(tmp_path)
    assert read_table("file://data/apps.csv", contract=contract).num_rows == 3


def test_without_contract_types_are_inferred(tmp_path: Path) -> None:
    write_csv(tmp_path / "apps.csv", make_rows(5))
    table = read_table("file://apps.csv", base_dir=tmp_path)
    assert table.column("age").type == pa.int64()
    assert table.num_columns == 7


def test_large_csv_streams_in_bounded_batches(tmp_path: Path, contract: DataContract) -> None:
    write_csv(tmp_path / "big.csv", make_rows(30_000))
    batches = list(
        iter_batches("file://big.csv", contract=contract, base_dir=tmp_path, batch_rows=4_000)
    )
    assert len(batches) >= 8
    assert all(0 < b.num_rows <= 4_000 for b in batches)
    assert sum(b.num_rows for b in batches) == 30_000
    assert all(b.schema == arrow_schema(contract) for b in batches)


def test_large_parquet_streams_in_bounded_batches(tmp_path: Path, contract: DataContract) -> None:
    pq.write_table(pa.Table.from_pylist(make_rows(30_000)), tmp_path / "big.parquet")
    batches = list(
        iter_batches("file://big.parquet", contract=contract, base_dir=tmp_path, batch_rows=4_000)
    )
    assert [b.num_rows for b in batches] == [4_000] * 7 + [2_000]


def test_missing_file_is_refused_when_opened(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match=r"source file .*nope\.csv does not exist") as info:
        iter_batches("file://nope.csv", base_dir=tmp_path)
    assert info.value.code == "source_not_found"


def test_unknown_file_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "apps.xlsx").write_bytes(b"PK")
    with pytest.raises(MalformedSource, match=r"unsupported file type '\.xlsx'; supported: \.csv"):
        read_table("file://apps.xlsx", base_dir=tmp_path)


def test_unknown_schemes_are_refused() -> None:
    with pytest.raises(
        UnsupportedScheme,
        match=r"scheme ftp:// is unknown; supported: file://, s3://, snowflake://$",
    ) as info:
        read_table("ftp://host/apps.csv")
    assert info.value.code == "unsupported_scheme"
    assert supported_schemes() == ["file", "s3", "snowflake"]


def test_credentials_in_a_uri_never_reach_the_message() -> None:
    with pytest.raises(UnsupportedScheme) as info:
        read_table("sftp://svc:hunter2@acct/db?token=abc")
    assert "hunter2" not in str(info.value)
    assert "abc" not in str(info.value)
    assert redact("s3://key:secret@bucket/x?sig=1") == "s3://***@bucket/x?***"


def test_csv_missing_contract_columns_are_all_named(tmp_path: Path, contract: DataContract) -> None:
    (tmp_path / "apps.csv").write_text("application_id,age,defaulted\na,30,0\n")
    with pytest.raises(
        SchemaMismatch,
        match=r"apps\.csv: missing column\(s\) required by the data contract: "
        r"income, purpose, verified, applied_at$",
    ):
        read_table("file://apps.csv", contract=contract, base_dir=tmp_path)


def _csv(tmp_path: Path, body: bytes) -> Path:
    header = b"application_id,age,income,purpose,verified,applied_at,defaulted\n"
    path = tmp_path / "apps.csv"
    path.write_bytes(header + body)
    return path


GOOD = b"a1,30,100.5,car,true,2024-01-01 10:00:00,0\n"


def test_ragged_row_is_refused_with_its_line(tmp_path: Path, contract: DataContract) -> None:
    _csv(tmp_path, GOOD * 3 + b"a9,30,car\n" + GOOD)
    with pytest.raises(MalformedSource, match=r"apps\.csv line 5: expected 7 columns, got 3$"):
        read_table("file://apps.csv", contract=contract, base_dir=tmp_path)


def test_undecodable_bytes_are_refused_with_line_and_column(
    tmp_path: Path, contract: DataContract
) -> None:
    _csv(tmp_path, GOOD * 2 + b"a3,30,1.0,c\xffr,true,2024-01-01,0\n")
    with pytest.raises(
        MalformedSource, match=r"apps\.csv line 4, column 'purpose': invalid UTF-8 bytes$"
    ) as info:
        read_table("file://apps.csv", contract=contract, base_dir=tmp_path)
    assert info.value.code == "malformed_source"


def test_undecodable_bytes_without_contract_are_refused(tmp_path: Path) -> None:
    _csv(tmp_path, GOOD + b"a3,30,1.0,c\xffr,true,2024-01-01,0\n")
    with pytest.raises(MalformedSource, match=r"line 3, column 'purpose': invalid UTF-8"):
        read_table("file://apps.csv", base_dir=tmp_path)


def test_undecodable_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "apps.csv").write_bytes(b"id,\xff\xfe\n1,2\n")
    with pytest.raises(MalformedSource, match=r"line 1 \(header\) is not valid UTF-8$"):
        read_table("file://apps.csv", base_dir=tmp_path)


def test_empty_csv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "apps.csv").write_bytes(b"")
    with pytest.raises(MalformedSource, match=r"apps\.csv is empty \(no header row\)$"):
        read_table("file://apps.csv", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("bad_row", "column", "value", "arrow_type"),
    [
        (b"a3,thirty,1.0,car,true,2024-01-01,0\n", "age", "thirty", "int64"),
        (b"a3,30,lots,car,true,2024-01-01,0\n", "income", "lots", "double"),
        (b"a3,30,1.0,car,maybe,2024-01-01,0\n", "verified", "maybe", "bool"),
        (b"a3,30,1.0,car,true,yesterday,0\n", "applied_at", "yesterday", "timestamp[us]"),
    ],
)
def test_unparseable_value_is_refused_with_line_column_and_value(
    tmp_path: Path,
    contract: DataContract,
    bad_row: bytes,
    column: str,
    value: str,
    arrow_type: str,
) -> None:
    _csv(tmp_path, GOOD * 5 + bad_row + GOOD)
    with pytest.raises(SchemaMismatch) as info:
        read_table("file://apps.csv", contract=contract, base_dir=tmp_path)
    assert str(info.value).endswith(
        f"apps.csv line 7, column {column!r}: value {value!r} cannot be read as {arrow_type}"
    )


def test_bad_value_deep_in_a_streamed_csv_names_its_line(
    tmp_path: Path, contract: DataContract
) -> None:
    write_csv(tmp_path / "big.csv", make_rows(60_000))
    header, *body = (tmp_path / "big.csv").read_text().splitlines()
    lines = [header, *body * 4]  # 240,000 rows: several parse blocks
    cells = lines[200_000].split(",")
    cells[1] = "old"
    lines[200_000] = ",".join(cells)
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    batches = iter_batches("file://big.csv", contract=contract, base_dir=tmp_path)
    first = next(batches)  # the early blocks are fine: the error comes while streaming
    assert first.num_rows > 0
    with pytest.raises(SchemaMismatch, match=r"big\.csv line 200001, column 'age': value 'old'"):
        list(batches)


def test_not_a_parquet_file_is_refused(tmp_path: Path, contract: DataContract) -> None:
    (tmp_path / "apps.parquet").write_bytes(b"this is not parquet at all")
    with pytest.raises(MalformedSource, match=r"apps\.parquet is not a valid parquet file"):
        read_table("file://apps.parquet", contract=contract, base_dir=tmp_path)


def test_parquet_with_a_badly_typed_column_is_refused(
    tmp_path: Path, contract: DataContract
) -> None:
    rows = make_rows(10)
    rows[6]["age"] = "old"  # a column of strings in the file
    for r in rows:
        r["age"] = str(r["age"])
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "apps.parquet")
    with pytest.raises(SchemaMismatch, match=r"column 'age' row 6: value 'old' cannot be read"):
        read_table("file://apps.parquet", contract=contract, base_dir=tmp_path)
