"""The artifact store: content-addressed (sha256), immutable objects behind ``file://`` URIs.

(``s3://bucket/prefix`` stores live in ``connectors.s3store``, with the same contract;
``open_store`` picks the backend from the location.)

Every object lives at ``{kind}/{sha[:2]}/{sha}{suffix}`` under the store root, so its URI
says what it should hash to: reads always verify, and a tampered object raises
``IntegrityError``. Objects are written once (temporary file, then a hard link that
never replaces an existing object) and made read-only.

Keys and URIs are untrusted input (they come back from governance records and HTTP
requests): anything that could reach outside the root — ``..``, absolute keys,
backslashes, NUL, percent-encoding, symlinks leading out — raises ``UnsafePath``.

Snapshots are deterministic parquet: the same rows give the same bytes, hence the same
hash, whatever source format they were read from and however they were batched. They are
written streaming (``write_snapshot_stream``): row groups of a fixed row count, each
cut from the incoming batches, so memory holds about one row group at a time.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import re
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.errors import (
    IntegrityError,
    MalformedSource,
    SourceNotFound,
    SourceUnavailable,
    UnsafePath,
    UnsupportedScheme,
)

__all__ = [
    "KIND_PATTERN",
    "SNAPSHOT_KIND",
    "SUFFIX_PATTERN",
    "ArtifactStore",
    "LocalArtifactStore",
    "SnapshotWriter",
    "StoredArtifact",
    "WrittenSnapshot",
    "check_key",
    "check_text",
    "file_sha256",
    "integrity_error",
    "open_store",
    "snapshot_bytes",
]

KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
SUFFIX_PATTERN = re.compile(r"(\.[a-z0-9]{1,16}){0,3}")
SNAPSHOT_KIND = "snapshots"
SNAPSHOT_SUFFIX = ".parquet"
SNAPSHOT_ROW_GROUP_ROWS = 131_072
SNAPSHOT_COMPRESSION = "zstd"
SNAPSHOT_COMPRESSION_LEVEL = 1  # level 3 doubles the write time for ~0% smaller files here
PREFETCH_BATCHES = 4
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
KEY = _KEY = re.compile(
    r"(?P<kind>[a-z][a-z0-9_-]{0,62})/(?P<p>[0-9a-f]{2})/(?P<sha>[0-9a-f]{64})(?P<suffix>(\.[a-z0-9]{1,16}){0,3})"
)
_CHUNK = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class StoredArtifact:
    """An object in the store: where it is, what it hashes to, how many bytes."""

    uri: str
    sha256: str
    size: int


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


_DONE = object()


def prefetched(items: Iterable[T], depth: int) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` ahead of the consumer.

    Reading a source (parsing, network) and encoding parquet both release the GIL, so
    the two overlap on two cores. An error in the producer is raised in the consumer;
    a consumer that stops early stops the producer.
    """
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(_Failure(exc))

    worker = threading.Thread(target=produce, name="snapshot-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


@dataclass(frozen=True)
class _Failure:
    exc: BaseException


@dataclass(frozen=True)
class WrittenSnapshot:
    """A snapshot just stored, with its shape."""

    stored: StoredArtifact
    rows: int
    columns: int


class SnapshotWriter:
    """Deterministic parquet, written batch by batch.

    Row groups always hold ``SNAPSHOT_ROW_GROUP_ROWS`` rows (the last one fewer), each
    written from one contiguous chunk, so the bytes depend only on the schema and the
    rows, never on how the input was batched. Memory: about one row group.
    """

    def __init__(self, sink: Any, schema: pa.Schema) -> None:
        self.schema = pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        # Dictionary encoding pays off for text; on numbers of high cardinality Arrow builds
        # a dictionary only to throw it away, which more than doubles the write time.
        text = [f.name for f in self.schema if pa.types.is_string(f.type)]
        self._writer = pq.ParquetWriter(
            sink,
            self.schema,
            compression=SNAPSHOT_COMPRESSION,
            compression_level=SNAPSHOT_COMPRESSION_LEVEL,
            use_dictionary=text,
            write_statistics=True,
            version="2.6",
            data_page_version="1.0",
        )

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._writer.close()

    def write(self, batch: pa.RecordBatch) -> None:
        """Add rows; full row groups are written as soon as they are complete."""
        if batch.num_rows == 0:
            return
        self._pending.append(pa.RecordBatch.from_arrays(batch.columns, schema=self.schema))
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        while self._pending_rows >= SNAPSHOT_ROW_GROUP_ROWS:
            self._flush(SNAPSHOT_ROW_GROUP_ROWS)

    def close(self) -> None:
        """Write the last, partial row group and the footer."""
        if self._pending_rows:
            self._flush(self._pending_rows)
        self._writer.close()

    def _flush(self, rows: int) -> None:
        table = pa.Table.from_batches(self._pending, schema=self.schema).combine_chunks()
        self._writer.write_table(table.slice(0, rows), row_group_size=rows)
        rest = table.slice(rows)
        self._pending = rest.to_batches()
        self._pending_rows = rest.num_rows


def snapshot_bytes(table: pa.Table) -> bytes:
    """The deterministic parquet encoding of ``table`` used for snapshots."""
    buf = io.BytesIO()
    with SnapshotWriter(buf, table.schema) as writer:
        for batch in table.to_batches():
            writer.write(batch)
    return buf.getvalue()


class LocalArtifactStore(ArtifactStore):
    """The artifact store in a local directory (the embedded default)."""

    def __init__(self, root: str | Path) -> None:
        root_path = Path(root)
        try:
            root_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SourceUnavailable(f"artifact store root {root_path} cannot be created") from exc
        # Resolved once: URIs name the real location, and containment checks compare
        # against it.
        self.root = root_path.resolve(strict=True)
        self._tmp = self.root / ".tmp"  # keys never start with "." so this cannot collide

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    # --- writing ----------------------------------------------------------------------

    def put_bytes(self, data: bytes, *, kind: str, suffix: str) -> StoredArtifact:
        check_kind_suffix(kind, suffix)
        tmp = self._tmp_path()
        try:
            with tmp.open("xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            return self._commit(tmp, hashlib.sha256(data).hexdigest(), len(data), kind, suffix)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, path: str | Path, *, kind: str, suffix: str) -> StoredArtifact:
        check_kind_suffix(kind, suffix)
        source = Path(path)
        tmp = self._tmp_path()
        digest = hashlib.sha256()
        size = 0
        try:
            try:
                src = source.open("rb")
            except FileNotFoundError:
                raise SourceNotFound(f"file {source} does not exist") from None
            except OSError as exc:
                raise SourceUnavailable(f"file {source} cannot be opened: {exc}") from exc
            with src, tmp.open("xb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            return self._commit(tmp, digest.hexdigest(), size, kind, suffix)
        finally:
            tmp.unlink(missing_ok=True)

    def _tmp_path(self) -> Path:
        self._tmp.mkdir(exist_ok=True)
        return self._tmp / f"{uuid.uuid4().hex}.part"

    def _tmp_dir(self) -> str | None:
        self._tmp.mkdir(exist_ok=True)
        return str(self._tmp)

    def _put_temp_file(self, path: Path, *, kind: str, suffix: str) -> StoredArtifact:
        check_kind_suffix(kind, suffix)
        with path.open("rb") as f:
            os.fsync(f.fileno())
        return self._commit(path, file_sha256(path), path.stat().st_size, kind, suffix)

    def _commit(self, tmp: Path, sha: str, size: int, kind: str, suffix: str) -> StoredArtifact:
        key = f"{kind}/{sha[:2]}/{sha}{suffix}"
        target = self._path_for_key(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Re-check after mkdir: a symlink planted meanwhile must not carry the write out.
        target = self._path_for_key(key)
        tmp.chmod(0o444)
        try:
            # A hard link never replaces an existing object, unlike rename.
            os.link(tmp, target)
        except FileExistsError:
            actual = file_sha256(target)
            if actual != sha:
                raise integrity_error(self._uri(key), sha, actual) from None
        except OSError:
            # Filesystems without hard links: fall back to a rename if still absent.
            if not target.exists():
                os.replace(tmp, target)
        return StoredArtifact(uri=self._uri(key), sha256=sha, size=size)

    # --- reading ----------------------------------------------------------------------

    def get_bytes(self, uri: str, *, sha256: str | None = None) -> bytes:
        path, expected = self._locate(uri, sha256)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceUnavailable(f"artifact {uri} cannot be read: {exc}") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise integrity_error(uri, expected, actual)
        return data

    def local_path(self, uri: str, *, sha256: str | None = None) -> Path:
        path, expected = self._locate(uri, sha256)
        actual = file_sha256(path)
        if actual != expected:
            raise integrity_error(uri, expected, actual)
        return path

    def exists(self, uri: str) -> bool:
        return self._path_for_key(self._key_of(uri)).is_file()

    def _locate(self, uri: str, sha256: str | None) -> tuple[Path, str]:
        key = self._key_of(uri)
        expected = _KEY.fullmatch(key)
        assert expected is not None  # _key_of only returns artifact keys
        sha = expected.group("sha")
        if sha256 is not None and sha256.lower() != sha:
            raise integrity_error(uri, sha256.lower(), sha)
        path = self._path_for_key(key)
        if not path.is_file():
            raise SourceNotFound(f"artifact {uri} does not exist")
        return path, sha

    # --- keys, URIs and containment -----------------------------------------------------

    def _uri(self, key: str) -> str:
        return f"file://{self.root.as_posix()}/{key}"

    def _key_of(self, uri: str) -> str:
        """The artifact key a URI names, refusing anything not inside this store."""
        check_text(uri, what="artifact URI")
        if not uri.startswith("file://"):
            raise UnsafePath(f"artifact URI {uri!r} is not a file:// URI inside this store")
        prefix = f"{self.root.as_posix()}/"
        path = uri[len("file://") :]
        if not path.startswith(prefix):
            raise UnsafePath(f"artifact URI {uri!r} points outside the store root {self.root}")
        key = path[len(prefix) :]
        check_key(key)
        if _KEY.fullmatch(key) is None:
            raise UnsafePath(f"artifact URI {uri!r} does not name an artifact (kind/xx/sha256)")
        return key

    def _path_for_key(self, key: str) -> Path:
        """The path of ``key``, refusing keys (or symlinks on the way) leading out."""
        check_key(key)
        path = self.root / key
        if not path.resolve().is_relative_to(self.root):
            raise UnsafePath(f"artifact key {key!r} resolves outside the store root")
        return path


def check_text(value: str, *, what: str) -> None:
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
    if not KIND_PATTERN.fullmatch(kind):
        raise UnsafePath(f"artifact kind {kind!r} must match {KIND_PATTERN.pattern}")
    if not SUFFIX_PATTERN.fullmatch(suffix):
        raise UnsafePath(f"artifact suffix {suffix!r} must match {SUFFIX_PATTERN.pattern}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def integrity_error(uri: str, expected: str, actual: str) -> IntegrityError:
    return IntegrityError(
        f"artifact {uri} failed its integrity check: expected sha256 {expected[:12]}..., "
        f"found {actual[:12]}..."
    )


def open_store(url_or_path: str) -> ArtifactStore:
    """The artifact store a URL or path names, creating a local root if needed.

    ``/var/mlgate/artifacts``, ``./artifacts`` and ``file:///var/mlgate/artifacts`` give a
    ``LocalArtifactStore``; ``s3://bucket/prefix?options`` an ``S3ArtifactStore`` (options
    as for s3:// sources, see ``connectors.s3``).

    Raises:
        UnsupportedScheme: any other scheme.
        UnsafePath: the path contains a NUL byte, or the S3 prefix is unsafe.
        InvalidLocation, CredentialsError: see ``connectors.s3store.S3ArtifactStore``.
    """
    if "\x00" in url_or_path:
        raise UnsafePath(f"artifact store location {url_or_path!r} contains a NUL byte")
    m = re.match(r"^([a-z][a-z0-9+.-]*)://", url_or_path, re.IGNORECASE)
    if m is None:
        return LocalArtifactStore(Path(url_or_path))
    scheme = m.group(1).lower()
    if scheme == "file":
        rest = url_or_path[m.end() :]
        if not rest:
            raise SourceNotFound("artifact store URL file:// names no directory")
        return LocalArtifactStore(Path(rest))
    if scheme == "s3":
        from connectors.s3store import S3ArtifactStore

        return S3ArtifactStore.from_url(url_or_path)
    raise UnsupportedScheme(
        f"artifact store scheme {scheme}:// is unknown; supported: file://, s3:// or a local path"
    )
