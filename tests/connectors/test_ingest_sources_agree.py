"""The same data from a file, from S3 and from Snowflake lands on the same snapshot.

Real servers only: moto's S3 server and fakesnow's Snowflake server on loopback. The
snapshot's content hash is what governance keys dataset versions on, so equal hashes
mean one dataset version whichever source a team reads from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from connector_factories import load_table, make_rows, snowflake_uri, write_csv
from connector_servers import s3_admin

from connectors.errors import MalformedSource
from connectors.store import LocalArtifactStore, open_store
from core.spec import DataContract
from flows.ingest import snapshot_source


def test_file_s3_and_snowflake_give_the_same_snapshot_hash(
    tmp_path: Path,
    contract: DataContract,
    store: LocalArtifactStore,
    s3_endpoint: str,
    bucket: str,
    s3_creds: str,
    snowflake_server: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = make_rows(1_000)
    write_csv(tmp_path / "apps.csv", rows, extra=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "apps.parquet")
    admin = s3_admin(s3_endpoint)
    admin.upload_file(str(tmp_path / "apps.csv"), bucket, "raw/apps.csv")
    admin.upload_file(str(tmp_path / "apps.parquet"), bucket, "parquet/apps.parquet")
    monkeypatch.setenv("MLGATE_TEST_SF_PASSWORD", snowflake_server["password"])
    db, schema, table = load_table(snowflake_server, rows)

    opts = f"?endpoint={s3_endpoint}&{s3_creds}"
    sources = {
        "file": f"file://{tmp_path}/apps.csv",
        "s3 csv": f"s3://{bucket}/raw/apps.csv{opts}",
        "s3 parquet": f"s3://{bucket}/parquet/{opts}",
        "snowflake": snowflake_uri(snowflake_server, db, schema, table=table),
    }
    snaps = {
        name: snapshot_source(uri, contract, store, batch_rows=777) for name, uri in sources.items()
    }
    on_s3 = snapshot_source(sources["s3 csv"], contract, open_store(f"s3://{bucket}/store{opts}"))

    hashes = {name: s.content_hash for name, s in snaps.items()}
    assert len(set(hashes.values())) == 1, hashes
    assert on_s3.content_hash == snaps["file"].content_hash
    assert {s.rows for s in snaps.values()} == {1_000}
    assert {s.columns for s in snaps.values()} == {len(contract.columns)}
    assert store.read_snapshot(snaps["snowflake"].uri, sha256=hashes["file"]).num_rows == 1_000


def test_a_failed_ingest_stores_nothing(
    tmp_path: Path,
    contract: DataContract,
    store: LocalArtifactStore,
    s3_endpoint: str,
    bucket: str,
    s3_creds: str,
) -> None:
    write_csv(tmp_path / "big.csv", make_rows(20_000))
    with (tmp_path / "big.csv").open("a") as f:
        f.write("a-broken,30,car\n")  # a ragged last row: found only at the end of the stream
    s3_admin(s3_endpoint).upload_file(str(tmp_path / "big.csv"), bucket, "big.csv")
    for uri in (
        f"file://{tmp_path}/big.csv",
        f"s3://{bucket}/big.csv?endpoint={s3_endpoint}&{s3_creds}",
    ):
        with pytest.raises(MalformedSource, match=r"big\.csv line 20002: expected 7 columns"):
            snapshot_source(uri, contract, store, batch_rows=1_000)
    assert not (store.root / "snapshots").exists()
    assert not list(store.root.glob(".tmp/*"))


def test_only_retryable_errors_are_retried_by_the_ingest_task() -> None:
    from prefect.states import Failed

    from connectors.errors import SchemaMismatch, SourceUnavailable
    from flows.ingest import retry_if_retryable

    def decide(exc: Exception) -> bool:
        return retry_if_retryable(None, None, Failed(data=exc))

    assert decide(SourceUnavailable("S3 at http://x cannot be reached")) is True
    assert decide(MalformedSource("x.csv line 3: expected 7 columns, got 3")) is False
    assert decide(SchemaMismatch("x.csv: missing column(s)")) is False
    assert decide(RuntimeError("worker crashed")) is True
