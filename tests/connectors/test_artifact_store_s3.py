"""The S3 artifact store against moto's server: same contract as the local store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pytest
from connector_factories import HOSTILE_KEYS
from connector_servers import new_bucket, s3_admin

from connectors.errors import IntegrityError, InvalidLocation, SourceNotFound, UnsafePath
from connectors.s3store import S3ArtifactStore
from connectors.store import LocalArtifactStore, StoredArtifact, open_store

OUTSIDE_SHA = "cd" * 32


@pytest.fixture
def s3_store(s3_endpoint: str, bucket: str, s3_creds: str) -> S3ArtifactStore:
    store = open_store(f"s3://{bucket}/team/artifacts?endpoint={s3_endpoint}&{s3_creds}")
    assert isinstance(store, S3ArtifactStore)
    return store


def _keys(endpoint: str, bucket: str) -> list[str]:
    listing = s3_admin(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_put_is_content_addressed_idempotent_and_verified(
    s3_store: S3ArtifactStore, s3_endpoint: str, bucket: str
) -> None:
    data = b"model bytes"
    sha = hashlib.sha256(data).hexdigest()
    first = s3_store.put_bytes(data, kind="models", suffix=".skops")
    again = s3_store.put_bytes(data, kind="models", suffix=".skops")

    uri = f"s3://{bucket}/team/artifacts/models/{sha[:2]}/{sha}.skops"
    assert first == again == StoredArtifact(uri=uri, sha256=sha, size=len(data))
    assert s3_store.get_bytes(uri, sha256=sha) == data
    assert s3_store.exists(uri)
    assert s3_store.local_path(uri).read_bytes() == data
    assert _keys(s3_endpoint, bucket) == [f"team/artifacts/models/{sha[:2]}/{sha}.skops"]


def test_put_file_matches_put_bytes(s3_store: S3ArtifactStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 9_000
    (tmp_path / "blob.bin").write_bytes(data)
    assert s3_store.put_file(tmp_path / "blob.bin", kind="reports", suffix=".bin") == (
        s3_store.put_bytes(data, kind="reports", suffix=".bin")
    )
    with pytest.raises(SourceNotFound, match=r"file .*gone\.bin does not exist$"):
        s3_store.put_file(tmp_path / "gone.bin", kind="reports", suffix=".bin")


def test_snapshots_hash_the_same_on_s3_and_locally(
    s3_store: S3ArtifactStore, store: LocalArtifactStore, sample_table: pa.Table
) -> None:
    on_s3 = s3_store.write_snapshot(sample_table)
    local = store.write_snapshot(sample_table)
    assert on_s3.sha256 == local.sha256
    assert s3_store.read_snapshot(on_s3.uri, sha256=on_s3.sha256).equals(sample_table)


def test_tampered_object_fails_every_read_and_is_never_overwritten(
    s3_store: S3ArtifactStore, s3_endpoint: str, bucket: str, sample_table: pa.Table
) -> None:
    stored = s3_store.write_snapshot(sample_table)
    key = stored.uri.removeprefix(f"s3://{bucket}/")
    s3_admin(s3_endpoint).put_object(Bucket=bucket, Key=key, Body=b"tampered!")

    expected = rf"expected sha256 {stored.sha256[:12]}\.\.\., found [0-9a-f]{{12}}\.\.\.$"
    for read in (
        lambda: s3_store.read_snapshot(stored.uri, sha256=stored.sha256),
        lambda: s3_store.get_bytes(stored.uri),
        lambda: s3_store.local_path(stored.uri),
    ):
        with pytest.raises(IntegrityError, match=expected) as info:
            read()
        assert stored.uri in str(info.value)
    with pytest.raises(IntegrityError):
        s3_store.write_snapshot(sample_table)
    body = s3_admin(s3_endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == b"tampered!"  # refused, not silently replaced


def test_missing_object_and_wrong_hash(s3_store: S3ArtifactStore) -> None:
    uri = f"{s3_store.root_uri}models/ab/{'ab' * 32}.skops"
    assert not s3_store.exists(uri)
    with pytest.raises(SourceNotFound, match=r"artifact s3://.* does not exist$"):
        s3_store.get_bytes(uri)
    stored = s3_store.put_bytes(b"abc", kind="models", suffix=".skops")
    wrong = hashlib.sha256(b"abd").hexdigest()
    with pytest.raises(IntegrityError, match=rf"expected sha256 {wrong[:12]}"):
        s3_store.get_bytes(stored.uri, sha256=wrong)


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_refused(
    s3_store: S3ArtifactStore, s3_endpoint: str, bucket: str, key: str
) -> None:
    s3_admin(s3_endpoint).put_object(Bucket=bucket, Key="x", Body=b"outside the prefix")
    uri = f"{s3_store.root_uri}{key}"
    for use in (s3_store.get_bytes, s3_store.local_path, s3_store.exists):
        with pytest.raises(UnsafePath) as info:
            use(uri)
        assert info.value.code == "unsafe_path"
    assert _keys(s3_endpoint, bucket) == ["x"]


@pytest.mark.parametrize(
    "tail",
    [
        f"s3://other-bucket/team/artifacts/models/cd/{OUTSIDE_SHA}.skops",
        f"s3://BUCKET/team/artifacts-evil/models/cd/{OUTSIDE_SHA}.skops",
        f"s3://BUCKET/team/models/cd/{OUTSIDE_SHA}.skops",
        f"file:///team/artifacts/models/cd/{OUTSIDE_SHA}.skops",
        f"S3://BUCKET/team/artifacts/models/cd/{OUTSIDE_SHA}.skops",
        "s3://BUCKET/team/artifacts/notes/x.txt",
    ],
)
def test_uris_outside_the_store_are_refused(
    s3_store: S3ArtifactStore, bucket: str, tail: str
) -> None:
    with pytest.raises(UnsafePath, match=r"outside the store root|not an s3://|not name an art"):
        s3_store.get_bytes(tail.replace("BUCKET", bucket))


@pytest.mark.parametrize(
    ("kind", "suffix"), [("../models", ".skops"), ("models/x", ".skops"), ("models", "/../x")]
)
def test_kind_and_suffix_are_validated(
    s3_store: S3ArtifactStore, s3_endpoint: str, bucket: str, kind: str, suffix: str
) -> None:
    with pytest.raises(UnsafePath, match=r"^artifact (kind|suffix) .* must match"):
        s3_store.put_bytes(b"x", kind=kind, suffix=suffix)
    assert _keys(s3_endpoint, bucket) == []


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("s3://BUCKET/../x", UnsafePath, r"contains an empty, '\.' or '\.\.' segment"),
        ("s3://BUCKET/a%2f..", UnsafePath, r"percent-encoding"),
        ("s3://BUCKET/a\\b", UnsafePath, r"backslash"),
        ("s3://BUCKET/p?format=csv", InvalidLocation, r"format option applies to sources only"),
        ("s3://BUCKET/p?secret_key=plain&access_key=x", InvalidLocation, r"secret reference"),
    ],
)
def test_unsafe_store_locations_are_refused(
    bucket: str, url: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        open_store(url.replace("BUCKET", bucket))


def test_a_store_at_the_bucket_root(s3_endpoint: str, s3_creds: str) -> None:
    bucket = new_bucket(s3_endpoint)
    store = open_store(f"s3://{bucket}?endpoint={s3_endpoint}&{s3_creds}")
    stored = store.put_bytes(b"x", kind="models", suffix=".bin")
    assert stored.uri.startswith(f"s3://{bucket}/models/")
    assert store.get_bytes(stored.uri) == b"x"


def test_an_unreachable_store_is_unavailable(s3_creds: str) -> None:
    from connector_servers import free_port

    from connectors.errors import SourceUnavailable

    endpoint = f"http://127.0.0.1:{free_port()}"
    store = open_store(f"s3://some-bucket/p?endpoint={endpoint}&{s3_creds}")
    with pytest.raises(SourceUnavailable, match=rf"S3 at {endpoint} cannot be reached"):
        store.put_bytes(b"x", kind="models", suffix=".bin")
