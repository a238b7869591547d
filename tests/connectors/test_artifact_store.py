"""connectors.store: content addressing, determinism, integrity, and refusing unsafe paths."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from connector_factories import HOSTILE_KEYS, make_rows, write_csv

from connectors.errors import (
    IntegrityError,
    SourceNotFound,
    UnsafePath,
    UnsupportedScheme,
)
from connectors.sources import read_table
from connectors.store import LocalArtifactStore, StoredArtifact, open_store
from core.spec import DataContract


def test_put_bytes_is_content_addressed_read_only_and_idempotent(
    store: LocalArtifactStore,
) -> None:
    data = b"model bytes"
    sha = hashlib.sha256(data).hexdigest()
    first = store.put_bytes(data, kind="models", suffix=".skops")
    again = store.put_bytes(data, kind="models", suffix=".skops")

    assert (
        first
        == again
        == StoredArtifact(
            uri=f"file://{store.root}/models/{sha[:2]}/{sha}.skops", sha256=sha, size=len(data)
        )
    )
    path = store.local_path(first.uri, sha256=sha)
    assert path == store.root / "models" / sha[:2] / f"{sha}.skops"
    assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0
    assert store.get_bytes(first.uri) == data
    assert store.exists(first.uri)
    assert not list((store.root / ".tmp").iterdir())


def test_put_file_streams_the_same_artifact_as_put_bytes(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "blob.bin").write_bytes(data)
    from_file = store.put_file(tmp_path / "blob.bin", kind="reports", suffix=".bin")
    assert from_file == store.put_bytes(data, kind="reports", suffix=".bin")
    assert from_file.size == len(data)


def test_put_file_of_a_missing_file(store: LocalArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match=r"file .*gone\.bin does not exist$"):
        store.put_file(tmp_path / "gone.bin", kind="reports", suffix=".bin")


def test_missing_object_is_not_found(store: LocalArtifactStore) -> None:
    uri = f"file://{store.root}/models/ab/{'ab' * 32}.skops"
    assert not store.exists(uri)
    with pytest.raises(SourceNotFound, match=r"artifact file://.* does not exist$"):
        store.get_bytes(uri)


def test_snapshot_is_deterministic_across_source_formats(
    store: LocalArtifactStore, tmp_path: Path, contract: DataContract
) -> None:
    rows = make_rows(1_000)
    write_csv(tmp_path / "apps.csv", rows, extra=True)
    pq.write_table(pa.Table.from_pandas(pa.Table.from_pylist(rows).to_pandas()), tmp_path / "a.pq")

    from_csv = read_table("file://apps.csv", contract=contract, base_dir=tmp_path)
    from_parquet = read_table("file://a.pq", contract=contract, base_dir=tmp_path)
    chunked = pa.Table.from_batches(from_csv.to_batches(max_chunksize=97))

    a = store.write_snapshot(from_csv)
    b = store.write_snapshot(from_parquet)
    c = store.write_snapshot(chunked.replace_schema_metadata({"written": "now"}))
    other = LocalArtifactStore(tmp_path / "other-store").write_snapshot(from_csv)

    assert a == b == c
    assert other.sha256 == a.sha256
    assert a.uri.endswith(f"/snapshots/{a.sha256[:2]}/{a.sha256}.parquet")
    assert store.read_snapshot(a.uri, sha256=a.sha256).equals(from_csv)


def test_tampered_object_fails_its_integrity_check(
    store: LocalArtifactStore, sample_table: pa.Table
) -> None:
    stored = store.write_snapshot(sample_table)
    path = store.local_path(stored.uri)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-9] + b"tampered!")

    expected = rf"expected sha256 {stored.sha256[:12]}\.\.\., found [0-9a-f]{{12}}\.\.\.$"
    for read in (
        lambda: store.read_snapshot(stored.uri, sha256=stored.sha256),
        lambda: store.get_bytes(stored.uri),
        lambda: store.local_path(stored.uri),
    ):
        with pytest.raises(IntegrityError, match=expected) as info:
            read()
        assert info.value.code == "integrity_error"
        assert stored.uri in str(info.value)
    # Writing the same bytes again does not paper over the damage.
    with pytest.raises(IntegrityError):
        store.write_snapshot(sample_table)


def test_a_hash_other_than_the_uris_is_refused(store: LocalArtifactStore) -> None:
    stored = store.put_bytes(b"abc", kind="models", suffix=".skops")
    wrong = hashlib.sha256(b"abd").hexdigest()
    with pytest.raises(IntegrityError, match=rf"expected sha256 {wrong[:12]}"):
        store.get_bytes(stored.uri, sha256=wrong)


OUTSIDE_SHA = "cd" * 32


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_refused(store: LocalArtifactStore, tmp_path: Path, key: str) -> None:
    uri = f"file://{store.root}/{key}"
    for use in (store.get_bytes, store.local_path, store.exists):
        with pytest.raises(UnsafePath) as info:
            use(uri)
        assert info.value.code == "unsafe_path"
        assert repr(key)[1:-1] in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [store.root.name]


@pytest.mark.parametrize(
    "uri",
    [
        "file:///somewhere/else/models/cd/" + OUTSIDE_SHA + ".skops",
        "file://relative/models/cd/" + OUTSIDE_SHA,
        "s3://bucket/models/cd/" + OUTSIDE_SHA,
        "/plain/path",
    ],
)
def test_uris_outside_the_root_are_refused(store: LocalArtifactStore, uri: str) -> None:
    with pytest.raises(UnsafePath, match=r"outside the store root|not a file:// URI"):
        store.exists(uri)


def test_a_sibling_directory_sharing_the_root_prefix_is_outside(
    tmp_path: Path,
) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    sibling = tmp_path / "store-evil" / "models" / "cd"
    sibling.mkdir(parents=True)
    (sibling / f"{OUTSIDE_SHA}.skops").write_bytes(b"x")
    with pytest.raises(UnsafePath, match="outside the store root"):
        store.get_bytes(f"file://{tmp_path}/store-evil/models/cd/{OUTSIDE_SHA}.skops")


def test_uri_that_is_not_an_artifact_key_is_refused(store: LocalArtifactStore) -> None:
    (store.root / "notes.txt").write_text("x")
    with pytest.raises(UnsafePath, match=r"does not name an artifact"):
        store.get_bytes(f"file://{store.root}/notes.txt")


@pytest.mark.parametrize(
    ("kind", "suffix"),
    [
        ("../models", ".skops"),
        ("models/x", ".skops"),
        ("Models", ".skops"),
        ("", ".skops"),
        ("models", "/../x"),
        ("models", "skops"),
        ("models", ".sk\x00ops"),
        ("models", ".a/b"),
    ],
)
def test_kind_and_suffix_are_validated(
    store: LocalArtifactStore, tmp_path: Path, kind: str, suffix: str
) -> None:
    with pytest.raises(UnsafePath, match=r"^artifact (kind|suffix) .* must match"):
        store.put_bytes(b"x", kind=kind, suffix=suffix)
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [store.root.name]


def test_symlink_leading_out_of_the_root_is_refused_for_writes_and_reads(
    tmp_path: Path,
) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "models").symlink_to(outside, target_is_directory=True)

    with pytest.raises(UnsafePath, match=r"artifact key 'models/.*' resolves outside the store"):
        store.put_bytes(b"payload", kind="models", suffix=".skops")
    assert list(outside.iterdir()) == []

    sha = hashlib.sha256(b"payload").hexdigest()
    (outside / sha[:2]).mkdir()
    (outside / sha[:2] / f"{sha}.skops").write_bytes(b"payload")
    with pytest.raises(UnsafePath, match="resolves outside the store"):
        store.get_bytes(f"file://{store.root}/models/{sha[:2]}/{sha}.skops")


def test_symlinked_object_leading_out_is_refused(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    sha = hashlib.sha256(b"secret").hexdigest()
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (store.root / "models" / sha[:2]).mkdir(parents=True)
    (store.root / "models" / sha[:2] / f"{sha}.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UnsafePath, match="resolves outside the store"):
        store.local_path(f"file://{store.root}/models/{sha[:2]}/{sha}.txt")


def test_open_store_accepts_paths_and_file_urls(tmp_path: Path) -> None:
    by_path = open_store(str(tmp_path / "a"))
    by_url = open_store(f"file://{tmp_path}/a")
    assert isinstance(by_path, LocalArtifactStore)
    assert isinstance(by_url, LocalArtifactStore)
    assert by_path.root == by_url.root == (tmp_path / "a").resolve()
    assert by_path.root.is_dir()


def test_open_store_refuses_unknown_schemes() -> None:
    with pytest.raises(UnsupportedScheme, match=r"gs:// is unknown; supported: file://, s3://"):
        open_store("gs://bucket")
