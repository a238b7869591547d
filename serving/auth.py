"""The prediction server's credentials: the serving token it checks, the governance token it sends.

Both settings take a token or a secret reference (``env://NAME``, ``vault://…``),
resolved once at start. With ``MLGATE_SERVE_TOKEN`` set, the project routes (predict,
actuals, model) answer only requests that carry it as a bearer token, compared in
constant time; health, readiness and metrics stay open for probes and scrapers.
"""

from __future__ import annotations

import hmac
import logging
import re

from pydantic import SecretStr
from starlette.requests import Request

from connectors.secrets import resolve_secret
from serving.errors import Unauthenticated
from serving.settings import ServeSettings

__all__ = ["ServingToken", "governance_token", "secret_value"]

log = logging.getLogger("mlgate.serving")
_REFERENCE = re.compile(r"^[a-z][a-z0-9+.-]*://")


def secret_value(value: SecretStr | None) -> str:
    """A setting's value, or the secret it refers to (``env://…``, ``vault://…``)."""
    if value is None:
        return ""
    raw = value.get_secret_value()
    if _REFERENCE.match(raw):
        return resolve_secret(raw).get_secret_value()
    return raw


def governance_token(settings: ServeSettings) -> str:
    """The governance token: the value of ``MLGATE_TOKEN`` or the secret it refers to."""
    return secret_value(settings.token)


class ServingToken:
    """The bearer token callers of the project routes must send (none: anyone may call).

    Args:
        setting: ``MLGATE_SERVE_TOKEN``, a token or a reference to one.
    """

    def __init__(self, setting: SecretStr | None) -> None:
        expected = secret_value(setting)
        self._token = expected.encode("utf-8") if expected else None
        if self._token is None:
            log.warning(
                "MLGATE_SERVE_TOKEN is not set: anyone who can reach this server can score "
                "records and send actuals"
            )

    def authorized(self, request: Request) -> bool:
        """Whether the request carries the serving token (always, when none is set)."""
        if self._token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8"), self._token
        )

    def check(self, request: Request) -> None:
        """Refuse a request without the serving token.

        Raises:
            Unauthenticated: the token is missing or another one.
        """
        if not self.authorized(request):
            raise Unauthenticated()
