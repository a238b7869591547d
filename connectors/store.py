"""The artifact store: ``open_store`` picks a backend from a location.

A local path or ``file:///dir`` gives a ``LocalArtifactStore`` (``connectors.localstore``),
``s3://bucket/prefix?options`` an ``S3ArtifactStore`` (``connectors.s3store``). Both keep
the contract of ``connectors.artifacts.ArtifactStore``: content-addressed (sha256),
immutable objects whose URI says what they hash to, verified on every read, with keys
and URIs treated as untrusted input. Snapshots are deterministic parquet
(``connectors.snapshots``), written streaming.

The store's types are importable from here as well, so callers need only this module.
"""

from __future__ import annotations

import re
from pathlib import Path

from connectors.artifacts import (
    KIND_PATTERN,
    SUFFIX_PATTERN,
    ArtifactStore,
    StoredArtifact,
    WrittenSnapshot,
    check_key,
    check_text,
    file_sha256,
    integrity_error,
)
from connectors.errors import SourceNotFound, UnsafePath, UnsupportedScheme
from connectors.localstore import LocalArtifactStore
from connectors.s3store import S3ArtifactStore
from connectors.snapshots import SNAPSHOT_KIND, SnapshotWriter, snapshot_bytes

__all__ = [
    "KIND_PATTERN",
    "SNAPSHOT_KIND",
    "SUFFIX_PATTERN",
    "ArtifactStore",
    "LocalArtifactStore",
    "S3ArtifactStore",
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
        return S3ArtifactStore.from_url(url_or_path)
    raise UnsupportedScheme(
        f"artifact store scheme {scheme}:// is unknown; supported: file://, s3:// or a local path"
    )
