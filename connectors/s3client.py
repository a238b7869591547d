"""How connectors reach S3: where (``S3Config``), with which client, and what its errors mean.

``S3Config`` holds the endpoint, the region and credential *references* (``env://``,
``vault://``, ``file://``), never values; the options and their variables are listed in
``connectors.s3``. ``client_for`` builds a boto3 client whose credentials re-resolve
those references every ``MLGATE_S3_CREDENTIALS_TTL_S`` seconds, so rotated keys and
renewed Vault tokens are picked up by long runs. ``s3_errors`` is the one place where
botocore's errors become connector errors.

boto3 and botocore's session, config and credentials are imported inside the functions
that use them: they take about half a second to load, which importing connectors (every
CLI command, every flow) should not pay when no ``s3://`` location is used. botocore's
exceptions module is cheap and imported as usual.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    UndefinedModelAttributeError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from connectors.errors import (
    CredentialsError,
    IntegrityError,
    InvalidLocation,
    SourceNotFound,
    SourceUnavailable,
)
from connectors.secrets import resolve_secret
from connectors.settings import current_settings
from connectors.uri import require_ref

__all__ = [
    "MAX_ATTEMPTS",
    "S3Config",
    "client_for",
    "credentials_ttl_s",
    "error_code",
    "put_if_absent",
    "s3_errors",
]

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 3  # botocore's standard retry mode: 1 call + 2 retries with backoff
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
_BAD_DIGEST = {"BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"}
_PRECONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict"}


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
        """The config from URI options, each defaulting to its ``MLGATE_S3_*`` setting.

        Raises:
            InvalidLocation: a credential option is not a secret reference, the endpoint
                is not an http(s) URL, only one of access_key / secret_key is given, or
                a setting is refused (see ``connectors.settings``).
        """
        settings = current_settings()

        def ref(option: str, default: str | None) -> str | None:
            value = options.get(option) or None
            if value is None:
                return default  # a setting, checked to be a reference already
            return require_ref(option, value, origin=origin)

        endpoint = options.get("endpoint") or None
        if endpoint is not None and not re.match(r"^https?://[^/?#@\s]+/?$", endpoint):
            raise InvalidLocation(
                f"{origin}: endpoint must be an http(s)://host[:port] URL without a path"
            )
        endpoint = endpoint or settings.s3_endpoint_url
        config = cls(
            endpoint_url=endpoint.rstrip("/") if endpoint else None,
            region=options.get("region") or settings.s3_region,
            access_key_ref=ref("access_key", settings.s3_access_key_ref),
            secret_key_ref=ref("secret_key", settings.s3_secret_key_ref),
            session_token_ref=ref("session_token", settings.s3_session_token_ref),
        )
        if (config.access_key_ref is None) != (config.secret_key_ref is None):
            raise InvalidLocation(f"{origin}: give both access_key and secret_key, or neither")
        return config

    @property
    def where(self) -> str:
        """The endpoint for messages."""
        return self.endpoint_url or "AWS S3"


def credentials_ttl_s() -> float:
    """Seconds between two resolutions of the credential references.

    Raises:
        InvalidLocation: ``MLGATE_S3_CREDENTIALS_TTL_S`` (or another setting) is refused.
    """
    return current_settings().s3_credentials_ttl_s


def _refreshable_credentials(config: S3Config) -> Any:
    """botocore credentials that re-resolve the references every ``credentials_ttl_s``.

    botocore refreshes credentials once fewer than 15 minutes remain (and insists at 10),
    so each resolution is stamped to expire 15 minutes after the refresh is wanted.
    """
    from botocore.credentials import RefreshableCredentials  # lazily: see the module docstring

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
    import botocore.session  # lazily: see the module docstring

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
    # Imported here rather than at the top: see the module docstring.
    import boto3
    from botocore.config import Config

    with s3_errors(f"S3 client for {config.where}", config=config):
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
def s3_errors(what: str, *, config: S3Config, bucket: str | None = None) -> Iterator[None]:
    """The one place botocore's errors become connector errors, each naming ``what``.

    =============================================  =====================================
    botocore                                       connectors
    =============================================  =====================================
    ``ClientError`` NoSuchBucket                   ``SourceNotFound`` (the bucket)
    ``ClientError`` NoSuchKey, NotFound, 404       ``SourceNotFound``
    ``ClientError`` credentials refused, 403       ``CredentialsError``
    ``ClientError`` BadDigest and kin              ``IntegrityError`` (bytes damaged)
    ``ClientError`` PreconditionFailed             ``SourceUnavailable`` (object changed)
    any other ``ClientError``                      ``SourceUnavailable``
    ``NoCredentialsError``, ``PartialCred…``       ``CredentialsError``
    ``ConnectionError``, ``HTTPClientError`` kin   ``SourceUnavailable`` (cannot be reached)
    any other ``BotoCoreError``, ``Undefined…``    ``SourceUnavailable``
    =============================================  =====================================

    Only ``SourceUnavailable`` is retryable; botocore has already retried what its
    standard mode retries (``MAX_ATTEMPTS``). The only conditional GET is a range pinned
    to an ETag, so a failed precondition means the object changed while it was read;
    conditional PUTs go through ``put_if_absent``, which expects that outcome. Messages
    carry S3's error code, never the text of its answer.
    """
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code == "NoSuchBucket":
            name = f"S3 bucket {bucket}" if bucket else "the S3 bucket"
            raise SourceNotFound(f"{name} does not exist ({what})") from exc
        if code in _NOT_FOUND:
            raise SourceNotFound(f"{what} does not exist") from exc
        if code in _CREDENTIAL_ERRORS:
            raise CredentialsError(
                f"{what}: S3 at {config.where} refused the credentials ({code}); "
                "check the access_key / secret_key references"
            ) from exc
        if code in _BAD_DIGEST:
            raise IntegrityError(
                f"{what}: S3 refused the bytes, they do not match their sha256 ({code})"
            ) from exc
        if code in _PRECONDITION_FAILED:
            raise SourceUnavailable(f"{what} changed while it was being read") from exc
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        raise SourceUnavailable(
            f"{what}: S3 at {config.where} answered {code or f'HTTP {status}'}"
        ) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CredentialsError(
            f"{what}: no S3 credentials; set access_key and secret_key references "
            "(or MLGATE_S3_ACCESS_KEY_REF / MLGATE_S3_SECRET_KEY_REF)"
        ) from exc
    except (BotoConnectionError, HTTPClientError) as exc:
        raise SourceUnavailable(
            f"{what}: S3 at {config.where} cannot be reached after {MAX_ATTEMPTS} attempts "
            f"({type(exc).__name__})"
        ) from exc
    except (BotoCoreError, UndefinedModelAttributeError) as exc:
        raise SourceUnavailable(
            f"{what}: the S3 client failed for {config.where} ({type(exc).__name__})"
        ) from exc


def put_if_absent(
    client: Any,
    *,
    bucket: str,
    key: str,
    body: Any,
    size: int,
    sha256: str,
    what: str,
    config: S3Config,
) -> bool:
    """Create the object ``key`` unless one exists; S3 itself refuses the overwrite.

    The PUT is conditional (``If-None-Match: *``) and carries the sha256 as its checksum,
    so S3 also refuses bytes damaged on the way.

    Returns:
        True when this call created the object, False when one was there already (the
        caller decides whether its bytes are the right ones).

    Raises:
        IntegrityError: S3 refused the bytes (their checksum does not match).
        SourceNotFound, CredentialsError, SourceUnavailable: see ``s3_errors``.
    """
    checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
    with s3_errors(what, bucket=bucket, config=config):
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentLength=size,
                ChecksumSHA256=checksum,
                IfNoneMatch="*",
            )
        except ClientError as exc:
            # The expected answer to a conditional create, not a failure.
            if error_code(exc) not in _PRECONDITION_FAILED:
                raise
            return False
    return True
