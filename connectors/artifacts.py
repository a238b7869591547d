"""What every artifact store shares: the contract, the artifact key, the checks on keys.

The artifact store is content-addressed (sha256) and immutable. Every object lives at
``{kind}/{sha[:2]}/{sha}{suffix}`` under the store root (``KEY``), so its URI says what
it should hash to: reads always verify, and a tampered object raises ``IntegrityError``.

Keys and URIs are untrusted input (they come back from governance records and HTTP
requests): anything that could reach outside the root — ``..``, absolute keys,
backslashes, NUL, percent-encoding — raises ``UnsafePath`` (``check_key``,
``check_text``). The backends are ``connectors.localstore`` and ``connectors.s3store``;
``connectors.store.open_store`` picks one from a location.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.errors import IntegrityError, MalformedSource, UnsafePath
from connectors.snapshots import (
    PREFETCH_BATCHES,
    SNAPSHOT_KIND,
    SNAPSHOT_SUFFIX,
    SnapshotWriter,
    prefetched,
)

__all__ = [
    "KEY",
    "KIND_PATTERN",
    "SUFFIX_PATTERN",
    "ArtifactStore",
    "StoredArtifact",
    "WrittenSnapshot",
    "check_key",
    "check_kind_suffix",
    "check_text",
    "file_sha256",
    "integrity_error",
]

KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
SUFFIX_PATTERN = re.compile(r"(\.[a-z0-9]{1,16}){0,3}")
KEY = re.compile(
    r"(?P<kind>[a-z][a-z0-9_-]{0,62})/(?P<p>[0-9a-f]{2})/(?P<sha>[0-9a-f]{64})(?P<suffix>(\.[a-z0-9]{1,16}){0,3})"
)
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredArtifact:
    """An object in the store: where it is, what it hashes to, how many bytes."""

    uri: str
    sha256: str
    size: int


@dataclass(frozen=True)
class WrittenSnapshot:
    """A snapshot just stored, with its shape."""

    stored: StoredArtifact
    rows: int
    columns: int


class ArtifactStore(ABC):
    """Content-addressed, immutable storage of bytes; subclasses hold one backend each."""

    @abstractmethod
    def put_bytes(self, data: bytes, *, kind: str, suffix: str) -> StoredArtifact:
        """Store ``data`` under ``kind`` (idempotent: the same bytes give the same artifact).

        Raises:
            UnsafePath: ``kind`` or ``suffix`` does not match its pattern.
            IntegrityError: an object with this hash exists but its bytes differ.
        """

    @abstractmethod
    def put_file(self, path: str | Path, *, kind: str, suffix: str) -> StoredArtifact:
        """Store a file's bytes, streamed and hashed in one pass (see ``put_bytes``).

        Raises:
            SourceNotFound: ``path`` does not exist.
        """

    @abstractmethod
    def get_bytes(self, uri: str, *, sha256: str | None = None) -> bytes:
        """The verified bytes of an object.

        Raises:
            UnsafePath: the URI is not an artifact key inside this store.
            SourceNotFound: no object at this URI.
            IntegrityError: the bytes do not hash to the URI's hash (or to ``sha256``).
        """

    @abstractmethod
    def local_path(self, uri: str, *, sha256: str | None = None) -> Path:
        """A local file holding the object's verified bytes (same errors as ``get_bytes``)."""

    @abstractmethod
    def exists(self, uri: str) -> bool:
        """Whether the object exists (the URI is still checked: unsafe ones raise)."""

    def write_snapshot(self, table: pa.Table) -> StoredArtifact:
        """Store ``table`` as deterministic parquet under kind ``snapshots``.

        Same schema and rows give the same bytes: schema metadata dropped, row groups
        of a fixed row count, compression fixed (see ``SnapshotWriter``).
        """
        return self.write_snapshot_stream(table.schema, table.to_batches()).stored

    def write_snapshot_stream(
        self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> WrittenSnapshot:
        """Stream ``batches`` into a deterministic parquet snapshot, then store it.

        The parquet is written to a temporary file first and stored only once every
        batch was read, so a source that fails midway stores nothing.

        Raises:
            ConnectorError: whatever reading the batches raises (nothing is stored).
        """
        fd, name = tempfile.mkstemp(prefix="snapshot-", suffix=".parquet.part", dir=self._tmp_dir())
        os.close(fd)
        tmp = Path(name)
        try:
            with SnapshotWriter(str(tmp), schema) as writer:
                for batch in prefetched(batches, PREFETCH_BATCHES):
                    writer.write(batch)
            stored = self._put_temp_file(tmp, kind=SNAPSHOT_KIND, suffix=SNAPSHOT_SUFFIX)
            return WrittenSnapshot(stored=stored, rows=writer.rows, columns=len(schema))
        finally:
            tmp.unlink(missing_ok=True)

    def _tmp_dir(self) -> str | None:
        """Where temporary files go (None: the system's temporary directory)."""
        return None

    def _put_temp_file(self, path: Path, *, kind: str, suffix: str) -> StoredArtifact:
        """Store a temporary file this store wrote itself (may consume it)."""
        return self.put_file(path, kind=kind, suffix=suffix)

    def read_snapshot(self, uri: str, *, sha256: str) -> pa.Table:
        """A snapshot as a table, after checking its bytes against ``sha256``.

        Raises:
            IntegrityError, SourceNotFound, UnsafePath: see ``get_bytes``.
            MalformedSource: the verified bytes are not parquet.
        """
        data = self.get_bytes(uri, sha256=sha256)
        try:
            return pq.read_table(pa.BufferReader(data))
        except pa.ArrowException as exc:
            raise MalformedSource(f"snapshot {uri} is not a readable parquet file") from exc


def check_text(value: str, *, what: str) -> None:
    """Refuse NUL bytes, backslashes and percent-encoding in a key, URI or prefix."""
    if "\x00" in value:
        raise UnsafePath(f"{what} {value!r} contains a NUL byte")
    if "\\" in value:
        raise UnsafePath(f"{what} {value!r} contains a backslash")
    if "%" in value:
        raise UnsafePath(f"{what} {value!r} contains percent-encoding")


def check_key(key: str) -> None:
    """Lexical checks: relative, forward slashes, plain segments, no dot segments."""
    check_text(key, what="artifact key")
    if not key or key.startswith("/"):
        raise UnsafePath(f"artifact key {key!r} must be a non-empty relative path")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise UnsafePath(f"artifact key {key!r} contains an empty, '.' or '..' segment")
        if not _SEGMENT.fullmatch(segment):
            raise UnsafePath(f"artifact key {key!r} has a segment with disallowed characters")


def check_kind_suffix(kind: str, suffix: str) -> None:
    """Refuse an artifact kind or suffix outside ``KIND_PATTERN`` / ``SUFFIX_PATTERN``."""
    if not KIND_PATTERN.fullmatch(kind):
        raise UnsafePath(f"artifact kind {kind!r} must match {KIND_PATTERN.pattern}")
    if not SUFFIX_PATTERN.fullmatch(suffix):
        raise UnsafePath(f"artifact suffix {suffix!r} must match {SUFFIX_PATTERN.pattern}")


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def integrity_error(uri: str, expected: str, actual: str) -> IntegrityError:
    """The error for bytes at ``uri`` that hash to ``actual`` instead of ``expected``."""
    return IntegrityError(
        f"artifact {uri} failed its integrity check: expected sha256 {expected[:12]}..., "
        f"found {actual[:12]}..."
    )
