"""The artifact store on S3: ``s3://bucket/prefix``, with the local store's contract.

Objects live at ``{prefix}/{kind}/{sha[:2]}/{sha}{suffix}``; the key says what the bytes
must hash to, and every read verifies it (``IntegrityError`` otherwise). Writes never
replace an object: a conditional PUT (``If-None-Match: *``) lets S3 itself refuse an
overwrite, and an object already there is verified instead of written again. The PUT
carries the sha256 as its checksum, so S3 refuses bytes damaged on the way.

URIs coming back (from governance records, HTTP requests) are untrusted: only keys of
the artifact form, inside this bucket and prefix, are accepted: no ``..``, no absolute
or empty segments, no backslashes, no percent-encoding, ASCII only, no other bucket.

Beside the artifacts, an *index area* under ``{prefix}/.mlgate-index/`` holds small
objects that say where things are (the prediction log's partition index). Artifact keys
never start with ".", so the two cannot collide. Index objects are immutable too:
created with a conditional PUT, listed by key prefix (paginated), never rewritten.

Options and credentials are those of ``s3://`` sources (``connectors.s3``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from connectors.errors import (
    IntegrityError,
    InvalidLocation,
    SourceNotFound,
    SourceUnavailable,
    UnsafePath,
)
from connectors.s3 import parse_s3_uri
from connectors.s3client import S3Config, client_for, put_if_absent, s3_errors

__all__ = ["INDEX_AREA", "S3ArtifactStore"]

INDEX_AREA = ".mlgate-index"  # the local store keeps its index files under the same name
_CHUNK = 1 << 20
MAX_SINGLE_PUT = 5 * (1 << 30)  # S3's limit for one PUT


class S3ArtifactStore(ArtifactStore):
    """Content-addressed, immutable artifacts under one S3 bucket and prefix."""

    def __init__(self, bucket: str, prefix: str, config: S3Config, *, client: Any = None) -> None:
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.config = config
        self.client = client if client is not None else client_for(config)
        self._root = f"s3://{bucket}/{prefix + '/' if prefix else ''}"
        self._cache: Path | None = None

    @classmethod
    def from_url(cls, url: str) -> S3ArtifactStore:
        """The store ``s3://bucket/prefix?options`` names.

        Raises:
            InvalidLocation: a bad bucket name or option.
            UnsafePath: the prefix has unsafe segments.
            CredentialsError: a credential reference cannot be resolved.
        """
        location = parse_s3_uri(url)
        if location.format is not None:
            raise InvalidLocation("artifact store URL: the format option applies to sources only")
        check_text(location.key, what="artifact store prefix")
        return cls(location.bucket, location.key, location.config)

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self._root!r})"

    @property
    def root_uri(self) -> str:
        """``s3://bucket/prefix/``: every artifact URI of this store starts with it."""
        return self._root

    # --- writing ----------------------------------------------------------------------

    def put_bytes(self, data: bytes, *, kind: str, suffix: str) -> StoredArtifact:
        check_kind_suffix(kind, suffix)
        sha = hashlib.sha256(data).hexdigest()
        return self._put(sha, len(data), data, kind, suffix)

    def put_file(self, path: str | Path, *, kind: str, suffix: str) -> StoredArtifact:
        check_kind_suffix(kind, suffix)
        source = Path(path)
        if not source.is_file():
            raise SourceNotFound(f"file {source} does not exist")
        size = source.stat().st_size
        if size > MAX_SINGLE_PUT:
            raise SourceUnavailable(
                f"file {source} is {size} bytes; the S3 store takes objects up to 5 GiB"
            )
        sha = file_sha256(source)
        with source.open("rb") as body:
            return self._put(sha, size, body, kind, suffix)

    def _put(self, sha: str, size: int, body: Any, kind: str, suffix: str) -> StoredArtifact:
        key = self._full_key(f"{kind}/{sha[:2]}/{sha}{suffix}")
        uri = f"s3://{self.bucket}/{key}"
        stored = StoredArtifact(uri=uri, sha256=sha, size=size)
        if self._head(key, uri) is not None or not put_if_absent(
            self.client,
            bucket=self.bucket,
            key=key,
            body=body,
            size=size,
            sha256=sha,
            what=f"artifact {uri}",
            config=self.config,
        ):
            # There already, or written meanwhile by someone else: same key, so it must
            # hold the same bytes.
            self._verify_existing(key, uri, sha)
        return stored

    def _verify_existing(self, key: str, uri: str, sha: str) -> None:
        actual = self._stream_sha256(key, uri)
        if actual != sha:
            raise integrity_error(uri, sha, actual)

    # --- reading ----------------------------------------------------------------------

    def get_bytes(self, uri: str, *, sha256: str | None = None) -> bytes:
        key, expected = self._locate(uri, sha256)
        with s3_errors(f"artifact {uri}", bucket=self.bucket, config=self.config):
            data: bytes = self._get(key)["Body"].read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise integrity_error(uri, expected, actual)
        return data

    def local_path(self, uri: str, *, sha256: str | None = None) -> Path:
        """A verified local copy of the object, in a cache directory of this store."""
        key, expected = self._locate(uri, sha256)
        target = self._cache_dir() / key.rsplit("/", 1)[-1]
        if target.is_file() and file_sha256(target) == expected:
            return target
        fd, name = tempfile.mkstemp(dir=self._cache_dir(), suffix=".part")
        tmp = Path(name)
        digest = hashlib.sha256()
        try:
            with (
                os.fdopen(fd, "wb") as out,
                s3_errors(f"artifact {uri}", bucket=self.bucket, config=self.config),
            ):
                body = self._get(key)["Body"]
                while chunk := body.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected:
                raise integrity_error(uri, expected, digest.hexdigest())
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def exists(self, uri: str) -> bool:
        key = self._key_of(uri)
        return self._head(key, uri) is not None

    def _locate(self, uri: str, sha256: str | None) -> tuple[str, str]:
        key = self._key_of(uri)
        match = KEY.fullmatch(key[len(self.prefix) + 1 :] if self.prefix else key)
        assert match is not None  # _key_of only returns artifact keys
        sha = match.group("sha")
        if sha256 is not None and sha256.lower() != sha:
            raise integrity_error(uri, sha256.lower(), sha)
        return key, sha

    def _get(self, key: str) -> Any:
        """GET an object; callers wrap it (and reading its body) in ``s3_errors``."""
        return self.client.get_object(Bucket=self.bucket, Key=key)

    def _head(self, key: str, uri: str) -> dict[str, Any] | None:
        try:
            with s3_errors(f"artifact {uri}", bucket=self.bucket, config=self.config):
                head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        except SourceNotFound:
            return None
        return head

    def _stream_sha256(self, key: str, uri: str) -> str:
        digest = hashlib.sha256()
        with s3_errors(f"artifact {uri}", bucket=self.bucket, config=self.config):
            body = self._get(key)["Body"]
            while chunk := body.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def _cache_dir(self) -> Path:
        if self._cache is None:
            self._cache = Path(tempfile.mkdtemp(prefix="mlgate-s3-artifacts-"))
        return self._cache

    # --- the index area ------------------------------------------------------------------

    def artifact_uri(self, *, kind: str, sha256: str, suffix: str) -> str:
        """The URI an object of ``kind`` with this hash and suffix has in this store."""
        key = f"{kind}/{sha256[:2]}/{sha256}{suffix}"
        if KEY.fullmatch(key) is None:
            raise UnsafePath(f"artifact key {key!r} is not of the form kind/xx/sha256suffix")
        return f"{self._root}{key}"

    def put_index_object(self, key: str, data: bytes) -> None:
        """Create the index object ``key`` (relative to the index area); never replace one.

        A retry that finds the object already there with the same bytes succeeds (the
        first attempt landed); different bytes are refused.

        Raises:
            UnsafePath: ``key`` has unsafe segments.
            IntegrityError: an object with this key and other bytes exists.
            SourceUnavailable, CredentialsError, SourceNotFound: see ``s3_errors``.
        """
        full = self._index_key(key)
        uri = f"s3://{self.bucket}/{full}"
        what = f"index object {uri}"
        sha = hashlib.sha256(data).hexdigest()
        if put_if_absent(
            self.client,
            bucket=self.bucket,
            key=full,
            body=data,
            size=len(data),
            sha256=sha,
            what=what,
            config=self.config,
        ):
            return
        with s3_errors(what, bucket=self.bucket, config=self.config):
            existing: bytes = self._get(full)["Body"].read()
        if existing != data:
            raise IntegrityError(f"{what} already exists with other content")

    def list_index_keys(self, prefix: str) -> Iterator[str]:
        """Keys (relative to the index area) of the index objects under ``prefix/``.

        Pages through the whole listing, a page (up to 1,000 keys) at a time.

        Raises:
            UnsafePath: ``prefix`` has unsafe segments.
            SourceUnavailable, CredentialsError, SourceNotFound: see ``s3_errors``.
        """
        return self._list_index(f"{self._index_key(prefix)}/")  # prefix checked now, not lazily

    def _list_index(self, full: str) -> Iterator[str]:
        area = self._index_area()
        what = f"index s3://{self.bucket}/{full}"
        with s3_errors(what, bucket=self.bucket, config=self.config):
            pages = iter(
                self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=full
                )
            )
        while True:
            with s3_errors(what, bucket=self.bucket, config=self.config):
                page = next(pages, None)
            if page is None:
                return
            for item in page.get("Contents", []):
                yield str(item["Key"])[len(area) :]

    def _index_area(self) -> str:
        return f"{self.prefix}/{INDEX_AREA}/" if self.prefix else f"{INDEX_AREA}/"

    def _index_key(self, key: str) -> str:
        check_key(key)
        return f"{self._index_area()}{key}"

    # --- keys, URIs and containment -----------------------------------------------------

    def _full_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key_of(self, uri: str) -> str:
        """The S3 key a URI names, refusing anything not an artifact inside this store."""
        check_text(uri, what="artifact URI")
        if not uri.startswith("s3://"):
            raise UnsafePath(f"artifact URI {uri!r} is not an s3:// URI inside this store")
        if not uri.startswith(self._root):
            raise UnsafePath(f"artifact URI {uri!r} points outside the store root {self._root}")
        relative = uri[len(self._root) :]
        check_key(relative)
        if KEY.fullmatch(relative) is None:
            raise UnsafePath(f"artifact URI {uri!r} does not name an artifact (kind/xx/sha256)")
        return self._full_key(relative)
