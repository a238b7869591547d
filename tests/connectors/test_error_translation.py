"""Every exception class of botocore, hvac and the Snowflake connector becomes one of ours.

Each dependency's errors are translated in one place (``s3_errors``, ``vault_errors``,
``snowflake_errors``). These tests walk every exception class the dependency exports
through that translator (tests/exception_walk.py), then pin the mapping of the errors
that matter (not found, refused credentials, unreachable) to their classes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import botocore.exceptions
import hvac.exceptions
import pytest
import requests.exceptions
import snowflake.connector.errors as sf
from botocore.exceptions import ClientError
from exception_walk import PLANTED, walk

from connectors.errors import (
    ConnectorError,
    CredentialsError,
    IntegrityError,
    InvalidLocation,
    SourceNotFound,
    SourceUnavailable,
)
from connectors.s3client import S3Config, s3_errors
from connectors.snowflake import snowflake_errors
from connectors.vault import ATTEMPTS, RETRYABLE, vault_errors, with_retries

WARNING = "a warning category, issued with warnings.warn and never raised"

# --- botocore -----------------------------------------------------------------------------

S3 = S3Config(endpoint_url="http://127.0.0.1:9")
S3_WHAT = "S3 object s3://raw-data/apps.csv"


def _s3() -> AbstractContextManager[object]:
    return s3_errors(S3_WHAT, bucket="raw-data", config=S3)


def _client_error(code: str, status: int = 400) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": PLANTED},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetObject")


BOTOCORE_SAMPLES = {
    "error_response": {"Error": {"Code": "SlowDown", "Message": PLANTED}},
    "operation_name": "GetObject",
    "name": "ObjectExists",
    "reason": PLANTED,
    "last_response": {},
}
BOTOCORE_SKIPS = {
    "ImminentRemovalWarning": WARNING,
    "UnsupportedTLSVersionWarning": WARNING,
}


def test_every_botocore_exception_becomes_a_connector_error() -> None:
    walked = walk(
        botocore.exceptions,
        _s3,
        ConnectorError,
        samples=BOTOCORE_SAMPLES,
        skip=BOTOCORE_SKIPS,
    )
    assert len(walked) > 90  # the walk is not vacuous: botocore 1.4x exports ~100


def test_the_walk_fails_on_a_class_left_untranslated() -> None:
    with pytest.raises(AssertionError, match="ClientError came out untranslated"):
        walk(botocore.exceptions, nullcontext, ConnectorError, samples=BOTOCORE_SAMPLES)


@pytest.mark.parametrize(
    ("raw", "ours", "message"),
    [
        (_client_error("NoSuchBucket", 404), SourceNotFound, r"^S3 bucket raw-data does not exist"),
        (_client_error("NoSuchKey", 404), SourceNotFound, r"apps\.csv does not exist$"),
        (_client_error("404", 404), SourceNotFound, r"apps\.csv does not exist$"),
        (_client_error("AccessDenied", 403), CredentialsError, r"refused the credentials"),
        (_client_error("403", 403), CredentialsError, r"refused the credentials \(403\)"),
        (_client_error("ExpiredToken"), CredentialsError, r"refused the credentials"),
        (_client_error("BadDigest"), IntegrityError, r"do not match their sha256 \(BadDigest\)"),
        (_client_error("PreconditionFailed", 412), SourceUnavailable, r"changed while it was"),
        (_client_error("SlowDown", 503), SourceUnavailable, r"answered SlowDown$"),
        (_client_error("", 500), SourceUnavailable, r"answered HTTP 500$"),
        (botocore.exceptions.NoCredentialsError(), CredentialsError, r"no S3 credentials"),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
            SourceUnavailable,
            r"cannot be reached after 3 attempts \(EndpointConnectionError\)$",
        ),
        (
            botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
            SourceUnavailable,
            r"cannot be reached",
        ),
        (
            botocore.exceptions.ParamValidationError(report=PLANTED),
            SourceUnavailable,
            r"the S3 client failed for http://127\.0\.0\.1:9 \(ParamValidationError\)$",
        ),
    ],
)
def test_botocore_errors_that_matter_map_to_their_class(
    raw: Exception, ours: type[ConnectorError], message: str
) -> None:
    with pytest.raises(ours, match=message) as info, _s3():
        raise raw
    assert type(info.value) is ours
    assert info.value.__cause__ is raw
    assert S3_WHAT in str(info.value) or "raw-data" in str(info.value)
    assert PLANTED not in str(info.value)
    assert info.value.retryable is (ours is SourceUnavailable)


def test_our_own_errors_and_bugs_pass_through_the_s3_translator() -> None:
    mine = CredentialsError("environment variable X (from env://X) is not set")
    with pytest.raises(CredentialsError) as info, _s3():
        raise mine
    assert info.value is mine
    with pytest.raises(KeyError), _s3():
        raise KeyError("a bug is not an unavailable S3")


# --- hvac (and requests, its transport) ---------------------------------------------------

VAULT = "http://127.0.0.1:8200"
VAULT_WHAT = "vault://secret/mlgate/app"


def _vault() -> AbstractContextManager[object]:
    return vault_errors(
        VAULT,
        VAULT_WHAT,
        refused=f"Vault at {VAULT} refused the token for {VAULT_WHAT}",
        missing=f"secret {VAULT_WHAT} does not exist in Vault",
    )


HVAC_SAMPLES = {"message": PLANTED, "method": "get", "url": f"{VAULT}/v1/secret/data/app"}


def test_every_hvac_exception_becomes_a_connector_error() -> None:
    walked = walk(hvac.exceptions, _vault, ConnectorError, samples=HVAC_SAMPLES)
    assert len(walked) >= 14


def test_every_requests_exception_becomes_a_connector_error() -> None:
    walked = walk(
        requests.exceptions,
        _vault,
        ConnectorError,
        samples={},
        build={
            requests.exceptions.JSONDecodeError: lambda: requests.exceptions.JSONDecodeError(
                PLANTED, "{", 0
            )
        },
        skip={
            "RequestsWarning": WARNING,
            "FileModeWarning": WARNING,
            "RequestsDependencyWarning": WARNING,
        },
    )
    assert len(walked) >= 20


def test_the_hvac_walk_fails_on_a_class_left_untranslated() -> None:
    with pytest.raises(AssertionError, match="VaultDown came out untranslated"):
        walk(hvac.exceptions, nullcontext, ConnectorError, samples=HVAC_SAMPLES)


@pytest.mark.parametrize(
    ("raw", "ours", "message"),
    [
        (hvac.exceptions.Unauthorized(PLANTED), CredentialsError, r"refused the credentials \("),
        (hvac.exceptions.Forbidden(PLANTED), CredentialsError, r"refused the token for vault://"),
        (hvac.exceptions.InvalidPath(PLANTED), CredentialsError, r"^secret vault://.* not exist"),
        (hvac.exceptions.InvalidRequest(PLANTED), SourceUnavailable, r"refused the request \("),
        (hvac.exceptions.VaultDown(PLANTED), SourceUnavailable, r"is sealed or down .*VaultDown"),
        (
            hvac.exceptions.InternalServerError(PLANTED),
            SourceUnavailable,
            rf"^Vault at {VAULT} cannot be reached \({VAULT_WHAT}; 3 attempts",
        ),
        (requests.exceptions.ConnectTimeout(PLANTED), SourceUnavailable, r"cannot be reached"),
        (hvac.exceptions.UnexpectedError(PLANTED), SourceUnavailable, r"could not serve"),
    ],
)
def test_hvac_errors_that_matter_map_to_their_class(
    raw: Exception, ours: type[ConnectorError], message: str
) -> None:
    with pytest.raises(ours, match=message) as info, _vault():
        raise raw
    assert type(info.value) is ours
    assert info.value.__cause__ is raw
    assert PLANTED not in str(info.value)


def test_what_a_refusal_means_is_said_by_the_request() -> None:
    login = "Vault at X refused the AppRole login"
    for raw in (hvac.exceptions.InvalidRequest(), hvac.exceptions.InvalidPath()):
        with (
            pytest.raises(CredentialsError, match=f"^{login}$"),
            vault_errors(VAULT, "AppRole login", refused=login, missing=login, invalid=login),
        ):
            raise raw
    with (
        pytest.raises(SourceUnavailable, match=r"found no path for token lookup"),
        vault_errors(VAULT, "token lookup"),
    ):
        raise hvac.exceptions.InvalidPath()


@pytest.mark.parametrize(
    "raw",
    [
        *(cls(PLANTED) for cls in RETRYABLE),
        hvac.exceptions.Unauthorized(),
        hvac.exceptions.Forbidden(),
        hvac.exceptions.InvalidPath(),
        hvac.exceptions.InvalidRequest(),
        hvac.exceptions.UnexpectedError(),
        requests.exceptions.InvalidURL(),
    ],
    ids=lambda raw: type(raw).__name__,
)
def test_only_what_a_retry_can_help_is_tried_again(raw: Exception) -> None:
    calls = 0

    def fails() -> None:
        nonlocal calls
        calls += 1
        raise raw

    with pytest.raises(type(raw)):
        with_retries(fails)
    retryable = type(raw).__name__ in {
        "ConnectionError",
        "Timeout",
        "VaultDown",
        "InternalServerError",
        "BadGateway",
        "RateLimitExceeded",
    }
    assert calls == (ATTEMPTS if retryable else 1)


# --- the Snowflake connector --------------------------------------------------------------

SF_WHAT = "Snowflake table DB.PUBLIC.APPS"
SF_WHERE = "acct.snowflakecomputing.com"


def _sf() -> AbstractContextManager[object]:
    return snowflake_errors(SF_WHAT, SF_WHERE)


# Built without a connection and without telemetry: nothing leaves the process.
SF_SAMPLES = {"msg": PLANTED, "send_telemetry": False, "dependency": "pandas"}
SF_KEYWORDS = {"msg": PLANTED, "send_telemetry": False}


def test_every_snowflake_connector_exception_becomes_a_connector_error() -> None:
    walked = walk(
        sf,
        _sf,
        ConnectorError,
        samples=SF_SAMPLES,
        keywords=SF_KEYWORDS,
        skip={"_Warning": "PEP 249's Warning: defined and exported, never raised"},
    )
    assert len(walked) >= 30


def test_the_snowflake_walk_fails_on_a_class_left_untranslated() -> None:
    with pytest.raises(AssertionError, match="ProgrammingError came out untranslated"):
        walk(sf, nullcontext, ConnectorError, samples=SF_SAMPLES, keywords=SF_KEYWORDS)


@pytest.mark.parametrize(
    ("raw", "ours", "message"),
    [
        (sf.ProgrammingError(PLANTED, errno=2003), SourceNotFound, r"APPS does not exist or"),
        (sf.ProgrammingError(PLANTED, errno=1003), InvalidLocation, r"refused the statement"),
        (sf.DatabaseError(PLANTED, errno=390100), CredentialsError, r"refused the credentials"),
        (sf.ForbiddenError(msg=PLANTED), CredentialsError, r"refused the credentials"),
        (sf.OperationalError(PLANTED, errno=250001), SourceUnavailable, r"cannot be reached"),
        (sf.ServiceUnavailableError(), SourceUnavailable, r"ServiceUnavailableError, error"),
    ],
)
def test_snowflake_errors_that_matter_map_to_their_class(
    raw: Exception, ours: type[ConnectorError], message: str
) -> None:
    with pytest.raises(ours, match=message) as info, _sf():
        raise raw
    assert type(info.value) is ours
    assert info.value.__cause__ is raw
    assert PLANTED not in str(info.value)
