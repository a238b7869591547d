"""The artifact store in a local directory (the embedded default), behind ``file://`` URIs.

Same contract as every store (``connectors.artifacts``). Objects are written once (a
temporary file under ``.tmp/``, then a hard link that never replaces an existing object)
and made read-only. Besides the lexical checks on keys, every path is resolved and must
stay under the root, so a symlink planted in the tree cannot lead a read or a write out.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from connectors.artifacts import (
    KEY,
    ArtifactStore,
    StoredArtifact,
    check_key,
    check_kind_suffix,
    check_text,
    file_sha256,
    integrity_error,
)
from connectors.errors import SourceNotFound, SourceUnavailable, UnsafePath

__all__ = ["LocalArtifactStore"]

_CHUNK = 1 << 20


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
        expected = KEY.fullmatch(key)
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
        if KEY.fullmatch(key) is None:
            raise UnsafePath(f"artifact URI {uri!r} does not name an artifact (kind/xx/sha256)")
        return key

    def _path_for_key(self, key: str) -> Path:
        """The path of ``key``, refusing keys (or symlinks on the way) leading out."""
        check_key(key)
        path = self.root / key
        if not path.resolve().is_relative_to(self.root):
            raise UnsafePath(f"artifact key {key!r} resolves outside the store root")
        return path
