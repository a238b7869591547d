"""connectors.schema: the contract's Arrow schema and conform()."""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest

from connectors.errors import SchemaMismatch
from connectors.schema import arrow_schema, conform, extra_columns
from core.spec import DataContract


def test_arrow_schema_maps_every_contract_type(contract: DataContract) -> None:
    schema = arrow_schema(contract)
    assert schema.names == contract.names
    assert [str(f.type) for f in schema] == [
        "string",
        "int64",
        "double",
        "string",
        "bool",
        "timestamp[us]",
        "int64",
    ]
    assert all(f.nullable for f in schema)
    assert schema.metadata is None


def test_conform_orders_casts_and_drops_extras(
    contract: DataContract, caplog: pytest.LogCaptureFixture
) -> None:
    raw = pa.table(
        {
            "note": ["x", "y"],
            "defaulted": ["0", "1"],
            "applied_at": ["2024-01-01 10:00:00", "2024-02-01"],
            "verified": ["true", "false"],
            "purpose": pa.array(["car", "home"]).dictionary_encode(),
            "income": [1, None],
            "age": pa.array([30, 41], pa.int32()),
            "application_id": ["a", "b"],
        }
    )
    assert extra_columns(raw.schema.names, contract) == ["note"]
    with caplog.at_level(logging.INFO, logger="connectors.schema"):
        out = conform(raw, contract, origin="upload.csv")
    assert out.schema == arrow_schema(contract)
    assert out.column("age").to_pylist() == [30, 41]
    assert out.column("income").to_pylist() == [1.0, None]
    assert out.column("purpose").to_pylist() == ["car", "home"]
    assert out.column("verified").to_pylist() == [True, False]
    assert "upload.csv: dropping column(s) not in the data contract: note" in caplog.text


def test_conform_names_every_missing_column(contract: DataContract) -> None:
    raw = pa.table({"application_id": ["a"], "age": [30], "defaulted": [0]})
    with pytest.raises(SchemaMismatch) as info:
        conform(raw, contract, origin="upload.csv")
    assert info.value.code == "schema_mismatch"
    assert str(info.value) == (
        "upload.csv: missing column(s) required by the data contract: "
        "income, purpose, verified, applied_at"
    )


def test_conform_names_column_row_and_value_of_a_bad_value(
    contract: DataContract, sample_table: pa.Table
) -> None:
    ages = [str(v) for v in sample_table.column("age").to_pylist()]
    ages[37] = "forty"
    raw = sample_table.set_column(1, "age", pa.array(ages))
    with pytest.raises(
        SchemaMismatch,
        match=r"^upload.csv: column 'age' row 37: value 'forty' cannot be read as int64 \(string",
    ):
        conform(raw, contract, origin="upload.csv")


def test_conform_refuses_truncating_floats_into_int(
    contract: DataContract, sample_table: pa.Table
) -> None:
    raw = sample_table.set_column(1, "age", pa.array([30.0] * 49 + [30.5]))
    with pytest.raises(SchemaMismatch, match=r"column 'age' row 49: value 30.5 cannot be read"):
        conform(raw, contract)


def test_conform_refuses_a_repeated_contract_column(contract: DataContract) -> None:
    arrays = [pa.array([1])] * (len(contract.names) + 1)
    raw = pa.Table.from_arrays(arrays, names=[*contract.names, "age"])
    with pytest.raises(SchemaMismatch, match=r"column\(s\) appear more than once: age"):
        conform(raw, contract)


def test_conform_keeps_nulls_in_int_columns(contract: DataContract, sample_table: pa.Table) -> None:
    raw = sample_table.set_column(1, "age", pa.array([None] * 50, pa.float64()))
    out = conform(raw, contract)
    assert out.column("age").type == pa.int64()
    assert out.column("age").null_count == 50
