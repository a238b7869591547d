"""S3 for connectors: ``s3://bucket/key-or-prefix`` sources, and the client the S3 store uses.

A URI names a bucket and a key; options after ``?`` say how to reach it::

    s3://raw-data/applications/2026-11.csv
    s3://raw-data/applications/?endpoint=http://127.0.0.1:9000&region=eu-west-1
        &access_key=vault://secret/mlgate/s3#access_key
        &secret_key=vault://secret/mlgate/s3#secret_key

Options (each falls back to a setting of ``connectors.settings``, then to boto3's own chain):

=================  ==============================  ==========================================
option             environment                     meaning
=================  ==============================  ==========================================
``endpoint``       ``MLGATE_S3_ENDPOINT_URL``      S3-compatible endpoint (MinIO, a proxy)
``region``         ``MLGATE_S3_REGION``            region name
``access_key``     ``MLGATE_S3_ACCESS_KEY_REF``    secret reference of the access key id
``secret_key``     ``MLGATE_S3_SECRET_KEY_REF``    secret reference of the secret access key
``session_token``  ``MLGATE_S3_SESSION_TOKEN_REF`` secret reference of a session token
``format``         —                               ``csv`` or ``parquet`` (else by suffix)
=================  ==============================  ==========================================

Credential options hold references (``env://``, ``vault://``, ``file://``), never
values. They are resolved again every ``MLGATE_S3_CREDENTIALS_TTL_S`` seconds (default
300, 1 to 3600), so rotated keys and renewed Vault tokens are picked up by long runs.

A key naming an object reads that object; otherwise the key is a prefix and every CSV
(or parquet) object under it is read, in key order, as one stream. Objects are streamed
with HTTP range requests: memory stays bounded whatever their size, and a connection
that drops mid-object is resumed where it stopped (pinned to the object's ETag).

Errors: a missing bucket or object is ``SourceNotFound``, refused credentials
``CredentialsError``, an endpoint that does not answer ``SourceUnavailable`` after a
bounded number of retries with backoff (botocore's standard mode retries only errors
that a retry can help: throttling, 5xx, dropped connections).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from connectors.errors import (
    InvalidLocation,
    MalformedSource,
    SchemaMismatch,
    SourceNotFound,
)
from connectors.formats import BatchStream, Blob, format_of, open_csv, open_parquet
from connectors.s3client import S3Config, client_for, s3_errors
from connectors.s3objects import S3ObjectReader
from connectors.sources import register_source
from connectors.uri import parse_options, redact, split_query, split_scheme
from core.spec import DataContract

__all__ = ["ObjectInfo", "S3Location", "object_blob", "parse_s3_uri"]

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
OPTIONS = ("endpoint", "region", "access_key", "secret_key", "session_token", "format")


@dataclass(frozen=True)
class S3Location:
    """A parsed ``s3://`` URI: bucket, key (may be a prefix or empty), options."""

    bucket: str
    key: str
    config: S3Config
    format: str | None

    @property
    def uri(self) -> str:
        """The URI without its options (safe for messages)."""
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Location:
    """Split ``s3://bucket/key?options`` and check each part.

    Raises:
        InvalidLocation: not an s3:// URI, a bad bucket name, an unknown option.
    """
    scheme, rest = split_scheme(uri)
    if scheme != "s3":
        raise InvalidLocation(f"{redact(uri)} is not an s3:// URI")
    location, query = split_query(rest)
    bucket, _, key = location.partition("/")
    origin = f"s3://{location}"
    if not BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidLocation(f"{redact(uri)}: {bucket!r} is not a valid S3 bucket name")
    options = parse_options(query, allowed=OPTIONS, origin=origin)
    fmt = options.pop("format", None)
    if fmt is not None and fmt not in ("csv", "parquet"):
        raise InvalidLocation(f"{origin}: format must be csv or parquet, not {fmt!r}")
    return S3Location(bucket, key, S3Config.from_options(options, origin=origin), fmt)


# --- streaming one object ---------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    """One object to read: key, size and ETag (from HEAD or the listing)."""

    key: str
    size: int
    etag: str


def object_blob(client: Any, location: S3Location, info: ObjectInfo) -> Blob:
    """An S3 object as a ``Blob`` that streams over range requests."""

    def reader(to_end: bool) -> BinaryIO:
        raw = S3ObjectReader(
            client,
            location.bucket,
            info.key,
            size=info.size,
            etag=info.etag,
            config=location.config,
            to_end=to_end,
        )
        return io.BufferedReader(raw, buffer_size=1 << 20)

    uri = f"s3://{location.bucket}/{info.key}"
    return Blob(
        label=f"source {uri}",
        origin=uri,
        open=lambda: reader(False),  # headers and rescans: growing bounded ranges
        arrow_input=lambda: reader(True),  # the main read: one stream to the end
    )


# --- the s3:// source -------------------------------------------------------------------


def _objects(client: Any, location: S3Location) -> list[ObjectInfo]:
    """The object the key names, else every readable object under it as a prefix."""
    config, bucket, key = location.config, location.bucket, location.key
    if key and not key.endswith("/"):
        try:
            with s3_errors(f"S3 object {location.uri}", bucket=bucket, config=config):
                head = client.head_object(Bucket=bucket, Key=key)
            return [ObjectInfo(key, int(head["ContentLength"]), str(head["ETag"]))]
        except SourceNotFound:
            pass  # not an object: a prefix, or nothing (said below)
    found: list[ObjectInfo] = []
    with s3_errors(f"S3 prefix {location.uri}", bucket=bucket, config=config):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        for page in pages:
            for item in page.get("Contents", []):
                name = str(item["Key"])
                base = name.rsplit("/", 1)[-1]
                if not base or base.startswith(("_", ".")):
                    continue  # folder markers, _SUCCESS, hidden files
                if location.format is None and format_of(name) is None:
                    continue
                found.append(ObjectInfo(name, int(item["Size"]), str(item["ETag"])))
    if not found:
        raise SourceNotFound(f"no S3 object or prefix {location.uri} (no CSV or parquet under it)")
    return sorted(found, key=lambda o: o.key)


def _open_object(
    client: Any, location: S3Location, info: ObjectInfo, contract: DataContract | None, rows: int
) -> BatchStream:
    fmt = location.format or format_of(info.key)
    if fmt is None:
        raise MalformedSource(
            f"source s3://{location.bucket}/{info.key}: unsupported file type; "
            "supported: .csv, .parquet, .pq (or the format=csv|parquet option)"
        )
    blob = object_blob(client, location, info)
    if fmt == "csv":
        return open_csv(blob, contract, rows)
    return open_parquet(blob, contract, rows)


def _chained(
    first: BatchStream,
    client: Any,
    location: S3Location,
    rest: list[ObjectInfo],
    contract: DataContract | None,
    rows: int,
) -> Iterator[Any]:
    yield from first.batches
    for info in rest:
        # Opened lazily: credentials are resolved (and refreshed) when each object starts.
        stream = _open_object(client, location, info, contract, rows)
        if stream.schema != first.schema:
            raise SchemaMismatch(
                f"source s3://{location.bucket}/{info.key}: its columns differ from the first "
                f"object under the prefix {location.uri}"
            )
        yield from stream.batches


def _read_s3(
    uri: str, contract: DataContract | None, base_dir: Path | None, batch_rows: int
) -> BatchStream:
    del base_dir  # S3 keys are absolute within their bucket
    location = parse_s3_uri(uri)
    client = client_for(location.config)
    objects = _objects(client, location)
    first = _open_object(client, location, objects[0], contract, batch_rows)
    if len(objects) == 1:
        return first
    return BatchStream(
        first.schema, _chained(first, client, location, objects[1:], contract, batch_rows)
    )


register_source("s3", _read_s3)
