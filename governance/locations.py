"""What governance accepts as a location: inside the configured stores, in canonical form.

Governance records where datasets, models and reports live; a prediction server, a flow
or an auditor later reads what those records say. So a location is checked when it is
stored, not when it is read: an artifact, snapshot or report URI must lie inside one of
the configured artifact stores (``MLGATE_STORES``: ``file:///abs/root/`` or
``s3://bucket/prefix/``; default the local store ``.mlgate/artifacts`` of the working
directory), in the canonical form the stores themselves write — no ``.`` or ``..``
segment, no empty segment, no percent-escape, backslash, query, fragment, control or NUL
character, at most 1000 characters (a local store writes plain paths, so a space is
allowed). A data source (provenance, never read by governance)
must use a configured scheme (``MLGATE_SOURCE_SCHEMES``) and carry no user information
(a password in a URI) and no traversal. Hashes are 64 lowercase hex digits.

A refusal is :class:`~governance.errors.InvalidInput` naming the field and what is wrong.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from governance.errors import InvalidInput

__all__ = ["MAX_URI", "Locations", "check_sha256", "normalize_root"]

MAX_URI = 1000
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f%\\?#]")


def check_sha256(field: str, value: str) -> None:
    """Refuse anything but a sha256 in lowercase hex.

    Raises:
        InvalidInput: naming ``field``.
    """
    if not _SHA256.fullmatch(value):
        raise InvalidInput(f"{field}: expected a sha256 as 64 lowercase hex digits")


def _canonical_path(field: str, path: str) -> None:
    segments = path.split("/")
    if any(s in (".", "..") for s in segments):
        raise InvalidInput(f"{field}: '.' and '..' segments are not allowed")
    if "" in segments[1:-1] or path.endswith("/"):
        raise InvalidInput(f"{field}: empty path segments are not allowed")
    if posixpath.normpath(path) != path:
        raise InvalidInput(f"{field}: the path is not in canonical form")


def _common(field: str, uri: str) -> str:
    """The scheme of ``uri`` after the checks every location shares."""
    if len(uri) > MAX_URI:
        raise InvalidInput(f"{field}: longer than {MAX_URI} characters")
    if _FORBIDDEN.search(uri):
        raise InvalidInput(f"{field}: control characters, '%', '\\', '?' and '#' are not allowed")
    match = _SCHEME.match(uri)
    if match is None:
        raise InvalidInput(f"{field}: expected a URI such as file:///path or s3://bucket/key")
    return match.group(1)


def normalize_root(root: str) -> str:
    """A configured store root as URIs inside it start: ``file:///abs/`` or ``s3://b/p/``.

    Raises:
        InvalidInput: the root is not an absolute ``file://`` path or an ``s3://`` bucket
            (with an optional prefix), in canonical form.
    """
    uri = root.strip().rstrip("/")
    scheme = _common("store root", uri + "/x")
    if scheme == "file":
        path = uri.removeprefix("file://")
        if not path.startswith("/"):
            raise InvalidInput("store root: a file:// root must be an absolute path")
        _canonical_path("store root", path + "/x")
    elif scheme == "s3":
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise InvalidInput("store root: an s3:// root must name a valid bucket")
        if prefix:
            _canonical_path("store root", "/" + prefix + "/x")
    else:
        raise InvalidInput("store root: only file:// and s3:// stores exist")
    return uri + "/"


@dataclass(frozen=True)
class Locations:
    """The stores and source schemes this governance accepts (see the module docstring).

    Args:
        stores: store roots, each as :func:`normalize_root` returns it.
        source_schemes: schemes a data source may use.
    """

    stores: Sequence[str]
    source_schemes: Sequence[str]

    def check_store_uri(self, field: str, uri: str) -> None:
        """Refuse an artifact, snapshot or report location outside the stores.

        Raises:
            InvalidInput: naming ``field`` and what is wrong.
        """
        scheme = _common(field, uri)
        if scheme not in ("file", "s3"):
            raise InvalidInput(f"{field}: {scheme}:// is not an artifact store")
        path = uri.removeprefix(f"{scheme}://")
        if scheme == "file":
            if not path.startswith("/"):
                raise InvalidInput(f"{field}: a file:// location must be an absolute path")
            _canonical_path(field, path)
        else:
            bucket, _, key = path.partition("/")
            if not _BUCKET.fullmatch(bucket) or not key:
                raise InvalidInput(f"{field}: expected s3://bucket/key")
            _canonical_path(field, "/" + key)
        if not any(uri.startswith(root) and len(uri) > len(root) for root in self.stores):
            raise InvalidInput(
                f"{field}: the location is in none of the configured artifact stores"
            )

    def check_source_uri(self, field: str, uri: str) -> None:
        """Refuse a data source of an unknown scheme, with user information or traversal.

        Raises:
            InvalidInput: naming ``field`` and what is wrong.
        """
        if len(uri) > MAX_URI or re.search(r"[\x00-\x1f\x7f]", uri):
            raise InvalidInput(
                f"{field}: control characters are not allowed, nor more than {MAX_URI}"
            )
        match = _SCHEME.match(uri)
        if match is None or match.group(1) not in self.source_schemes:
            allowed = ", ".join(f"{s}://" for s in self.source_schemes)
            raise InvalidInput(f"{field}: expected a source URI of {allowed}")
        rest = uri[match.end() :]
        authority = rest.split("/", 1)[0].split("?", 1)[0]
        if "@" in authority:
            raise InvalidInput(f"{field}: user information (a credential) is not allowed")
        if any(s in (".", "..") for s in rest.split("?", 1)[0].split("/")):
            raise InvalidInput(f"{field}: '.' and '..' segments are not allowed")
