"""s3:// sources against moto's S3 server over HTTP: objects, prefixes, errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from connector_factories import make_rows, write_csv
from connector_servers import free_port, s3_admin, s3_auth_enforced

from connectors.errors import (
    CredentialsError,
    InvalidLocation,
    MalformedSource,
    SchemaMismatch,
    SourceNotFound,
    SourceUnavailable,
)
from connectors.s3 import parse_s3_uri
from connectors.s3client import client_for
from connectors.s3objects import S3ObjectReader
from connectors.schema import arrow_schema
from connectors.sources import iter_batches, read_table, supported_schemes
from core.spec import DataContract


def _uri(bucket: str, key: str, endpoint: str, creds: str) -> str:
    return f"s3://{bucket}/{key}?endpoint={endpoint}&{creds}"


def test_csv_and_parquet_objects_read_like_local_files(
    tmp_path: Path, contract: DataContract, s3_endpoint: str, bucket: str, s3_creds: str
) -> None:
    rows = make_rows(2_000)
    write_csv(tmp_path / "apps.csv", rows, extra=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "apps.parquet")
    admin = s3_admin(s3_endpoint)
    admin.upload_file(str(tmp_path / "apps.csv"), bucket, "raw/apps.csv")
    admin.upload_file(str(tmp_path / "apps.parquet"), bucket, "raw/apps.parquet")

    local = read_table(str(tmp_path / "apps.csv"), contract=contract)
    from_csv = read_table(_uri(bucket, "raw/apps.csv", s3_endpoint, s3_creds), contract=contract)
    from_pq = read_table(_uri(bucket, "raw/apps.parquet", s3_endpoint, s3_creds), contract=contract)

    assert "s3" in supported_schemes()
    assert from_csv.schema == arrow_schema(contract)
    assert from_csv.equals(local)
    assert from_pq.equals(local)


def test_a_prefix_reads_every_object_in_key_order(
    tmp_path: Path, contract: DataContract, s3_endpoint: str, bucket: str, s3_creds: str
) -> None:
    rows = make_rows(300)
    admin = s3_admin(s3_endpoint)
    # Uploaded out of order, with a marker and a non-data file that must be skipped.
    for name, part in (("part-2.csv", rows[200:]), ("part-0.csv", rows[:100])):
        admin.upload_file(str(write_csv(tmp_path / name, part)), bucket, f"daily/{name}")
    admin.upload_file(
        str(write_csv(tmp_path / "p1.csv", rows[100:200])), bucket, "daily/part-1.csv"
    )
    admin.put_object(Bucket=bucket, Key="daily/_SUCCESS", Body=b"")
    admin.put_object(Bucket=bucket, Key="daily/README.txt", Body=b"not data")

    write_csv(tmp_path / "all.csv", rows)
    expected = read_table(str(tmp_path / "all.csv"), contract=contract)
    for key in ("daily/", "daily/part-"):
        got = read_table(_uri(bucket, key, s3_endpoint, s3_creds), contract=contract)
        assert got.equals(expected), key


def test_objects_stream_in_bounded_batches(
    tmp_path: Path, contract: DataContract, s3_endpoint: str, bucket: str, s3_creds: str
) -> None:
    s3_admin(s3_endpoint).upload_file(
        str(write_csv(tmp_path / "big.csv", make_rows(30_000))), bucket, "big.csv"
    )
    batches = list(
        iter_batches(
            _uri(bucket, "big.csv", s3_endpoint, s3_creds), contract=contract, batch_rows=4_000
        )
    )
    assert len(batches) >= 8
    assert all(0 < b.num_rows <= 4_000 for b in batches)
    assert sum(b.num_rows for b in batches) == 30_000


def test_missing_object_and_bucket_are_named(s3_endpoint: str, bucket: str, s3_creds: str) -> None:
    with pytest.raises(SourceNotFound, match=rf"s3://{bucket}/nope/apps\.csv") as info:
        iter_batches(_uri(bucket, "nope/apps.csv", s3_endpoint, s3_creds))
    assert info.value.code == "source_not_found"
    with pytest.raises(SourceNotFound, match=r"S3 bucket no-such-bucket-x1 does not exist"):
        iter_batches(_uri("no-such-bucket-x1", "apps.csv", s3_endpoint, s3_creds))


def test_refused_credentials_are_a_credentials_error(
    tmp_path: Path, s3_endpoint: str, bucket: str, s3_creds: str
) -> None:
    s3_admin(s3_endpoint).upload_file(
        str(write_csv(tmp_path / "a.csv", make_rows(5))), bucket, "a.csv"
    )
    with s3_auth_enforced(s3_endpoint), pytest.raises(CredentialsError) as info:
        read_table(_uri(bucket, "a.csv", s3_endpoint, s3_creds))
    assert f"s3://{bucket}/a.csv: S3 at {s3_endpoint} refused the credentials" in str(info.value)
    assert "test-secret-key" not in str(info.value)
    assert "test-access-key" not in str(info.value)


def test_unreachable_endpoint_is_unavailable_after_bounded_retries(s3_creds: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(SourceUnavailable, match=rf"S3 at {endpoint} cannot be reached after 3"):
        iter_batches(_uri("some-bucket", "apps.csv", endpoint, s3_creds))


def test_missing_secret_reference_is_named(s3_endpoint: str, bucket: str) -> None:
    with pytest.raises(CredentialsError, match=r"environment variable MLGATE_TEST_NONE .* not set"):
        iter_batches(
            _uri(
                bucket, "a.csv", s3_endpoint, "access_key=env://MLGATE_TEST_NONE&secret_key=env://X"
            )
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("access_key=AKIAREALKEY&secret_key=env://X", r"option 'access_key' must be a secret ref"),
        ("access_key=env://A", r"give both access_key and secret_key, or neither"),
        ("colour=blue", r"unknown option 'colour'"),
        ("endpoint=ftp://x", r"endpoint must be an http\(s\)://host\[:port\] URL"),
        ("format=xlsx", r"format must be csv or parquet"),
    ],
)
def test_bad_options_are_refused_without_echoing_values(options: str, message: str) -> None:
    with pytest.raises(InvalidLocation, match=message) as info:
        iter_batches(f"s3://some-bucket/a.csv?{options}")
    assert "AKIAREALKEY" not in str(info.value)
    assert info.value.code == "invalid_location"


def test_bad_bucket_name_is_refused() -> None:
    with pytest.raises(InvalidLocation, match=r"'Bad_Bucket' is not a valid S3 bucket name"):
        iter_batches("s3://Bad_Bucket/a.csv")


def test_malformed_csv_object_names_object_and_line(
    contract: DataContract, s3_endpoint: str, bucket: str, s3_creds: str
) -> None:
    header = b"application_id,age,income,purpose,verified,applied_at,defaulted\n"
    good = b"a1,30,100.5,car,true,2024-01-01 10:00:00,0\n"
    s3_admin(s3_endpoint).put_object(
        Bucket=bucket, Key="bad.csv", Body=header + good * 3 + b"a9,30,car\n" + good
    )
    with pytest.raises(
        MalformedSource, match=rf"^source s3://{bucket}/bad\.csv line 5: expected 7 columns, got 3$"
    ):
        read_table(_uri(bucket, "bad.csv", s3_endpoint, s3_creds), contract=contract)

    s3_admin(s3_endpoint).put_object(
        Bucket=bucket,
        Key="typed.csv",
        Body=header + good + b"a3,thirty,1.0,car,true,2024-01-01,0\n",
    )
    with pytest.raises(SchemaMismatch, match=r"typed\.csv line 3, column 'age': value 'thirty'"):
        read_table(_uri(bucket, "typed.csv", s3_endpoint, s3_creds), contract=contract)


def test_objects_of_a_prefix_must_share_columns(
    tmp_path: Path, s3_endpoint: str, bucket: str, s3_creds: str
) -> None:
    admin = s3_admin(s3_endpoint)
    admin.put_object(Bucket=bucket, Key="mixed/a.csv", Body=b"x,y\n1,2\n")
    admin.put_object(Bucket=bucket, Key="mixed/b.csv", Body=b"x,z\n1,2\n")
    with pytest.raises(SchemaMismatch, match=rf"s3://{bucket}/mixed/b\.csv: its columns differ"):
        read_table(_uri(bucket, "mixed/", s3_endpoint, s3_creds))


def test_large_parquet_object_streams_with_bounded_ranges(
    tmp_path: Path, contract: DataContract, s3_endpoint: str, bucket: str, s3_creds: str
) -> None:
    table = pa.Table.from_pylist(make_rows(30_000))
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=5_000)
    s3_admin(s3_endpoint).upload_file(str(tmp_path / "big.parquet"), bucket, "big.parquet")
    uri = _uri(bucket, "big.parquet", s3_endpoint, s3_creds)
    batches = list(iter_batches(uri, contract=contract, batch_rows=4_000))
    assert sum(b.num_rows for b in batches) == 30_000
    expected = read_table(str(tmp_path / "big.parquet"), contract=contract)
    assert pa.Table.from_batches(batches).equals(expected)


def test_an_object_replaced_while_being_read_is_refused(
    s3_endpoint: str, bucket: str, s3_creds: str
) -> None:
    admin = s3_admin(s3_endpoint)
    admin.put_object(Bucket=bucket, Key="blob.bin", Body=b"a" * (1 << 20))
    location = parse_s3_uri(_uri(bucket, "blob.bin", s3_endpoint, s3_creds))
    head = admin.head_object(Bucket=bucket, Key="blob.bin")
    reader = S3ObjectReader(
        client_for(location.config),
        bucket,
        "blob.bin",
        size=head["ContentLength"],
        etag=head["ETag"],
        config=location.config,
        to_end=False,
    )
    assert reader.read(100_000) == b"a" * 100_000  # within the first bounded range
    admin.put_object(Bucket=bucket, Key="blob.bin", Body=b"b" * (1 << 20))
    with pytest.raises(SourceUnavailable, match=r"blob\.bin changed while it was being read"):
        while reader.read(100_000):
            pass
