"""S3 for connectors: ``s3://bucket/key-or-prefix`` sources, and the client the S3 store uses.

A URI names a bucket and a key; options after ``?`` say how to reach it::

    s3://raw-data/applications/2026-11.csv
    s3://raw-data/applications/?endpoint=http://127.0.0.1:9000&region=eu-west-1
        &access_key=vault://secret/mlgate/s3#access_key
        &secret_key=vault://secret/mlgate/s3#secret_key

Options (each falls back to an environment variable, then to boto3's own chain):

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

Credential options hold references (``env://``, ``vault://``), never values. They are
resolved again every ``MLGATE_S3_CREDENTIALS_TTL_S`` seconds (default 300), so rotated
keys and renewed Vault tokens are picked up by long runs.

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

import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from connectors.errors import (
    ConnectorError,
    CredentialsError,
    InvalidLocation,
    MalformedSource,
    SchemaMismatch,
    SourceNotFound,
    SourceUnavailable,
)
from connectors.formats import BatchStream, Blob, format_of, open_csv, open_parquet
from connectors.secrets import resolve_secret
from connectors.sources import register_source
from connectors.uri import parse_options, redact, require_ref, split_query, split_scheme
from core.spec import DataContract

__all__ = [
    "S3Config",
    "S3Location",
    "S3ObjectReader",
    "client_for",
    "parse_s3_uri",
    "translate_errors",
]

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
OPTIONS = ("endpoint", "region", "access_key", "secret_key", "session_token", "format")
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 3  # botocore's standard retry mode: 1 call + 2 retries with backoff
RESUME_ATTEMPTS = 3  # re-opening a body that dropped mid-object
WINDOW_MIN = 256 << 10  # bounded ranges (headers, footers, random access) start here
WINDOW_MAX = 16 << 20
_CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidClientTokenId",
    "403",  # HEAD answers carry no error body
    "Forbidden",
}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Config:
    """How to reach S3: endpoint, region and credential references (never values)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_ref: str | None = None
    secret_key_ref: str | None = None
    session_token_ref: str | None = None

    @classmethod
    def from_options(cls, options: dict[str, str], *, origin: str) -> S3Config:
        """The config from URI options, each defaulting to its ``MLGATE_S3_*`` variable.

        Raises:
            InvalidLocation: a credential option is not a secret reference, the endpoint
                is not an http(s) URL, or only one of access_key / secret_key is given.
        """
        env = os.environ

        def pick(option: str, variable: str) -> str | None:
            value = options.get(option) or env.get(variable) or None
            return value

        def ref(option: str, variable: str) -> str | None:
            value = pick(option, variable)
            return None if value is None else require_ref(option, value, origin=origin)

        endpoint = pick("endpoint", "MLGATE_S3_ENDPOINT_URL")
        if endpoint is not None and not re.match(r"^https?://[^/?#@\s]+/?$", endpoint):
            raise InvalidLocation(
                f"{origin}: endpoint must be an http(s)://host[:port] URL without a path"
            )
        config = cls(
            endpoint_url=endpoint.rstrip("/") if endpoint else None,
            region=pick("region", "MLGATE_S3_REGION"),
            access_key_ref=ref("access_key", "MLGATE_S3_ACCESS_KEY_REF"),
            secret_key_ref=ref("secret_key", "MLGATE_S3_SECRET_KEY_REF"),
            session_token_ref=ref("session_token", "MLGATE_S3_SESSION_TOKEN_REF"),
        )
        if (config.access_key_ref is None) != (config.secret_key_ref is None):
            raise InvalidLocation(f"{origin}: give both access_key and secret_key, or neither")
        return config

    @property
    def where(self) -> str:
        """The endpoint for messages."""
        return self.endpoint_url or "AWS S3"


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


# --- clients ----------------------------------------------------------------------------


def credentials_ttl_s() -> float:
    """Seconds between two resolutions of the credential references."""
    raw = os.environ.get("MLGATE_S3_CREDENTIALS_TTL_S", "300")
    try:
        return min(max(float(raw), 1.0), 3600.0)
    except ValueError:
        raise InvalidLocation(
            f"MLGATE_S3_CREDENTIALS_TTL_S must be a number, not {raw!r}"
        ) from None


def _refreshable_credentials(config: S3Config) -> Any:
    """botocore credentials that re-resolve the references every ``credentials_ttl_s``.

    botocore refreshes credentials once fewer than 15 minutes remain (and insists at 10),
    so each resolution is stamped to expire 15 minutes after the refresh is wanted.
    """
    from botocore.credentials import RefreshableCredentials

    assert config.access_key_ref is not None and config.secret_key_ref is not None
    access_ref, secret_ref, token_ref = (
        config.access_key_ref,
        config.secret_key_ref,
        config.session_token_ref,
    )

    def resolve() -> dict[str, Any]:
        token = resolve_secret(token_ref).get_secret_value() if token_ref else None
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=900 + credentials_ttl_s())
        return {
            "access_key": resolve_secret(access_ref).get_secret_value(),
            "secret_key": resolve_secret(secret_ref).get_secret_value(),
            "token": token,
            "expiry_time": expiry.isoformat(),
        }

    return RefreshableCredentials.create_from_metadata(
        metadata=resolve(), refresh_using=resolve, method="mlgate-secret-references"
    )


_LOADER: Any = None


def _botocore_session() -> Any:
    """A new botocore session sharing one loader, so service models are parsed once."""
    import botocore.session

    global _LOADER
    session = botocore.session.get_session()
    if _LOADER is None:
        _LOADER = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _LOADER)
    return session


def client_for(config: S3Config) -> Any:
    """A new boto3 S3 client for ``config`` (clients are thread-safe; share one per use).

    The credential references are resolved here, so a missing secret fails at once.

    Raises:
        CredentialsError: a credential reference cannot be resolved.
        SourceUnavailable: the secret store cannot be reached.
    """
    import boto3
    from botocore.config import Config

    session = _botocore_session()
    if config.access_key_ref is not None:
        # botocore's documented hook for custom credentials is this session attribute.
        session._credentials = _refreshable_credentials(config)
    return boto3.Session(botocore_session=session).client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region or "us-east-1",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            s3={"addressing_style": "path"} if config.endpoint_url else None,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError (``""`` for other errors)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def translate_errors(what: str, *, bucket: str, config: S3Config) -> Iterator[None]:
    """Turn botocore's errors into connector errors naming ``what`` (never a secret).

    Raises:
        SourceNotFound: no such bucket or key.
        CredentialsError: credentials missing, wrong, expired or not allowed.
        SourceUnavailable: the endpoint cannot be reached or keeps failing.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    try:
        yield
    except ConnectorError:
        raise
    except ClientError as exc:
        code = error_code(exc)
        if code == "NoSuchBucket":
            raise SourceNotFound(f"S3 bucket {bucket} does not exist ({what})") from exc
        if code in _NOT_FOUND:
            raise SourceNotFound(f"{what} does not exist") from exc
        if code in _CREDENTIAL_ERRORS:
            raise CredentialsError(
                f"{what}: S3 at {config.where} refused the credentials ({code}); "
                "check the access_key / secret_key references"
            ) from exc
        raise SourceUnavailable(f"{what}: S3 at {config.where} answered {code or exc}") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CredentialsError(
            f"{what}: no S3 credentials; set access_key and secret_key references "
            "(or MLGATE_S3_ACCESS_KEY_REF / MLGATE_S3_SECRET_KEY_REF)"
        ) from exc
    except BotoCoreError as exc:
        raise SourceUnavailable(
            f"{what}: S3 at {config.where} cannot be reached after {MAX_ATTEMPTS} attempts "
            f"({type(exc).__name__})"
        ) from exc


# --- streaming one object ---------------------------------------------------------------


class S3ObjectReader(io.RawIOBase):
    """A seekable, read-only view of one S3 object over HTTP range requests.

    In streaming mode (``to_end``) the first read opens one range to the end of the
    object and later reads continue that response. After a seek, or in windowed mode,
    ranges are bounded (``WINDOW_MIN`` doubling up to ``WINDOW_MAX`` while reads stay
    sequential), so a header or a parquet footer does not ask for the whole object.
    A body that drops mid-range is re-opened at the current position
    (``RESUME_ATTEMPTS`` times); every range is pinned to the ETag seen first, so an
    object replaced meanwhile fails instead of mixing two versions.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        size: int,
        etag: str,
        config: S3Config,
        to_end: bool = True,
    ) -> None:
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._size, self._etag, self._config = size, etag, config
        self._to_end = to_end
        self._window = WINDOW_MIN
        self._pos = 0
        self._body: Any = None
        self._body_end = 0
        self.what = f"S3 object s3://{bucket}/{key}"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(base + offset, 0)
        if target != self._pos:
            self._drop_body()
            self._pos = target
            self._to_end = False  # random access from now on: bounded ranges
            self._window = WINDOW_MIN
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or len(view) == 0:
            return 0
        failures = 0
        while True:
            if self._body is None or self._pos >= self._body_end:
                self._drop_body()
                self._open(len(view))
            cause: Exception | None = None
            try:
                data = self._body.read(min(len(view), self._body_end - self._pos))
            except Exception as exc:  # any dropped stream: resume below
                data, cause = b"", exc
            if data:
                n = len(data)
                view[:n] = data
                self._pos += n
                return n
            self._drop_body()  # dropped or ended early: resume from where it stopped
            failures += 1
            if failures > RESUME_ATTEMPTS:
                raise SourceUnavailable(
                    f"{self.what}: the connection dropped {failures} times while reading "
                    f"at byte {self._pos} ({type(cause).__name__ if cause else 'early end'})"
                ) from cause

    def close(self) -> None:
        self._drop_body()
        super().close()

    def _open(self, wanted: int) -> None:
        from botocore.exceptions import ClientError

        if self._to_end:
            end = self._size
        else:
            end = min(self._size, self._pos + max(wanted, self._window))
            self._window = min(self._window * 2, WINDOW_MAX)
        try:
            with translate_errors(self.what, bucket=self._bucket, config=self._config):
                response = self._client.get_object(
                    Bucket=self._bucket,
                    Key=self._key,
                    Range=f"bytes={self._pos}-{end - 1}",
                    IfMatch=self._etag,
                )
        except SourceUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and error_code(cause) == "PreconditionFailed":
                raise SourceUnavailable(f"{self.what} changed while it was being read") from cause
            raise
        self._body = response["Body"]
        self._body_end = end

    def _drop_body(self) -> None:
        if self._body is not None:
            try:
                self._body.close()
            finally:
                self._body = None


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
            with translate_errors(f"S3 object {location.uri}", bucket=bucket, config=config):
                head = client.head_object(Bucket=bucket, Key=key)
            return [ObjectInfo(key, int(head["ContentLength"]), str(head["ETag"]))]
        except SourceNotFound:
            pass  # not an object: a prefix, or nothing (said below)
    found: list[ObjectInfo] = []
    with translate_errors(f"S3 prefix {location.uri}", bucket=bucket, config=config):
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
