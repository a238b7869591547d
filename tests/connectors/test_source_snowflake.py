"""snowflake:// sources: the real snowflake connector against fakesnow's server on loopback.

fakesnow's server speaks Snowflake's HTTP protocol (login, query, Arrow result chunks)
and runs the SQL on DuckDB; it accepts any password, so refused logins are not tested
here. Tables are created by the tests under unique names.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from connector_factories import load_table, make_rows, snowflake_uri

from connectors.errors import InvalidLocation, SchemaMismatch, SourceNotFound
from connectors.schema import arrow_schema
from connectors.sources import iter_batches, read_table
from core.spec import DataContract


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch, snowflake_server: dict[str, Any]) -> None:
    monkeypatch.setenv("MLGATE_TEST_SF_PASSWORD", snowflake_server["password"])


def test_a_table_reads_conformed_to_the_contract(
    snowflake_server: dict[str, Any], contract: DataContract
) -> None:
    rows = make_rows(500)
    db, schema, table = load_table(snowflake_server, rows)
    got = read_table(snowflake_uri(snowflake_server, db, schema, table=table), contract=contract)
    assert got.schema == arrow_schema(contract)  # upper-case names matched, types cast
    assert got.num_rows == 500
    assert got.column("application_id").to_pylist() == [r["application_id"] for r in rows]
    assert got.column("applied_at").to_pylist() == [r["applied_at"] for r in rows]
    assert got.column("income").null_count == sum(r["income"] is None for r in rows)


def test_a_query_reads_its_result(snowflake_server: dict[str, Any], contract: DataContract) -> None:
    db, schema, table = load_table(snowflake_server, make_rows(200))
    sql = quote(f"SELECT * FROM {db}.{schema}.{table} WHERE age >= 50 ORDER BY application_id")
    batches = list(
        iter_batches(
            snowflake_uri(snowflake_server, db, schema, query=sql), contract=contract, batch_rows=16
        )
    )
    ages = [a for b in batches for a in b.column("age").to_pylist()]
    assert ages and min(ages) >= 50
    assert all(b.num_rows <= 16 for b in batches)


def test_missing_table_is_named(snowflake_server: dict[str, Any], contract: DataContract) -> None:
    db, schema, _ = load_table(snowflake_server, make_rows(3))
    with pytest.raises(
        SourceNotFound, match=rf"Snowflake table {db}\.{schema}\.NOPE does not exist"
    ):
        iter_batches(snowflake_uri(snowflake_server, db, schema, table="NOPE"), contract=contract)


def test_missing_contract_columns_are_named(
    snowflake_server: dict[str, Any], contract: DataContract
) -> None:
    db, schema, table = load_table(snowflake_server, make_rows(3))
    sql = quote(f"SELECT application_id, age FROM {db}.{schema}.{table}")
    with pytest.raises(
        SchemaMismatch, match=r"missing column\(s\) required by the data contract: income, purpose"
    ):
        iter_batches(snowflake_uri(snowflake_server, db, schema, query=sql), contract=contract)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("snowflake://acct/db/sc?table=t&password=hunter2", r"option 'password' must be a secret"),
        ("snowflake://acct/db/sc?table=t&query=select%201", r"exactly one of table=… or query=…"),
        ("snowflake://acct/db/sc", r"exactly one of table=… or query=…"),
        ("snowflake://acct/db?table=t", r"expected snowflake://account/database/schema"),
        ("snowflake://acct/db/sc?table=t;drop", r"table 't;drop' is not a plain identifier"),
        ("snowflake://acct/db/sc?table=t&port=http", r"port must be a number"),
    ],
)
def test_bad_uris_are_refused_without_echoing_secrets(uri: str, message: str) -> None:
    with pytest.raises(InvalidLocation, match=message) as info:
        iter_batches(uri)
    assert "hunter2" not in str(info.value)
