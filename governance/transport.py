"""The HTTP session under governance's client: requests, retries, and errors made ours.

Problem details come back as the exceptions of :mod:`governance.errors`, matched by
``code``. Connection errors are retried, a few times with backoff, only for calls that
are safe to repeat (reads, ``PUT``, ``DELETE``, and every ``POST`` given an idempotency
key); when the service stays unreachable they raise :class:`GovernanceUnavailable`.
httpx's errors become ours in one place, :func:`http_errors`. Lists come back as
:class:`Page`, a plain ``list`` that also carries ``total``, the number of rows the
filters match across all pages (the ``X-Total-Count`` header).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from governance.errors import (
    ERRORS_BY_CODE,
    Conflict,
    GovernanceUnavailable,
    InvalidInput,
    MlgateError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

__all__ = ["API_PREFIX", "Page", "Session", "error_from_response", "http_errors", "query"]

API_PREFIX = "/api/v1"
M = TypeVar("M", bound=BaseModel)

_BY_STATUS: dict[int, type[MlgateError]] = {
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}
_BACKOFF = (0.2, 0.5, 1.0)


class Page(list[M], Generic[M]):
    """One page of a list endpoint: the items, and ``total`` across all pages."""

    def __init__(self, items: list[M], total: int | None) -> None:
        super().__init__(items)
        self.total = len(items) if total is None else total


def _key(idempotency_key: str | None) -> dict[str, str] | None:
    return {"Idempotency-Key": idempotency_key} if idempotency_key else None


def query(**values: Any) -> dict[str, Any]:
    """Query parameters: the values given, without the ``None`` ones."""
    return {k: v for k, v in values.items() if v is not None}


def error_from_response(response: httpx.Response) -> MlgateError:
    """Turn an error response (problem details, ideally) into a governance exception."""
    detail = f"governance answered HTTP {response.status_code}"
    code = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or detail)
        code = body.get("code")
    cls = ERRORS_BY_CODE.get(str(code)) or _BY_STATUS.get(response.status_code, MlgateError)
    return cls(detail)


@contextmanager
def http_errors(base_url: str, what: str) -> Iterator[None]:
    """The one place httpx's errors become ours, naming the service and ``what`` was sent.

    =================================================  ===================================
    httpx                                              governance.errors
    =================================================  ===================================
    ``TransportError`` (connect, read, write, pool     ``GovernanceUnavailable``: cannot
    timeouts, network and protocol errors, proxy,      be reached
    unsupported protocol)
    ``DecodingError``, ``TooManyRedirects`` (any       ``GovernanceUnavailable``: no
    other ``HTTPError``)                               usable answer
    ``HTTPStatusError``                                the class of the answer's problem
                                                       details (``error_from_response``)
    ``InvalidURL``                                     ``InvalidInput``
    ``StreamError``, ``CookieConflict``                ``MlgateError`` (a client bug)
    =================================================  ===================================

    Which of them are retried first is ``GovernanceClient._send``'s business. Messages
    carry the error's kind, never httpx's text (it may quote a URL with its query).
    """
    try:
        yield
    except httpx.HTTPStatusError as exc:
        raise error_from_response(exc.response) from exc
    except httpx.TransportError as exc:
        raise GovernanceUnavailable(
            f"governance at {base_url} cannot be reached ({type(exc).__name__}) on {what}"
        ) from exc
    except httpx.HTTPError as exc:
        raise GovernanceUnavailable(
            f"governance at {base_url} gave no usable answer ({type(exc).__name__}) on {what}"
        ) from exc
    except httpx.InvalidURL as exc:
        raise InvalidInput(f"{what} is not a valid URL for governance at {base_url}") from exc
    except (httpx.StreamError, httpx.CookieConflict) as exc:
        raise MlgateError(
            f"the governance client misused its HTTP session ({type(exc).__name__}) on {what}"
        ) from exc


class Session:
    """A session with the governance API, authenticated by one API token.

    Args:
        base_url: where governance listens, e.g. ``http://127.0.0.1:8000``.
        token: an API token (``mlg_…``); never logged.
        timeout: seconds per request.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        with http_errors(self.base_url, "client set-up"):
            self._http = httpx.Client(
                base_url=self.base_url + API_PREFIX,
                # No token, no header: the server answers 401 rather than the client failing.
                headers={"Accept": "application/json"}
                | ({"Authorization": f"Bearer {token}"} if token else {}),
                timeout=timeout,
            )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        if idempotent is None:
            idempotent = method in ("GET", "PUT", "DELETE")
        with http_errors(self.base_url, f"{method} {API_PREFIX}{path}"):
            response = self._send(
                method, path, json=json, params=params, headers=headers, idempotent=idempotent
            )
        if response.is_error:
            raise error_from_response(response)
        return response

    def _send(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        """Send, again with backoff after a connection or timeout error when that is safe.

        Any other error, or the last attempt's, is raised as it is, for ``http_errors``.
        """
        attempts = len(_BACKOFF) + 1
        for attempt in range(attempts):
            try:
                return self._http.request(method, path, **kwargs)
            except (httpx.NetworkError, httpx.TimeoutException) as exc:
                # A refused connection never reached the server: safe to retry for any call.
                retry = idempotent or isinstance(exc, httpx.ConnectError)
                if not retry or attempt == attempts - 1:
                    raise
                time.sleep(_BACKOFF[attempt])
        raise AssertionError("unreachable")  # pragma: no cover

    def _one(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self._request(method, path, **kwargs).json())

    def _post(
        self, model: type[M], path: str, body: Any, idempotency_key: str | None, **kwargs: Any
    ) -> M:
        # With a key, the server replays the first answer: safe to retry.
        headers = _key(idempotency_key) or {}
        headers |= kwargs.pop("headers", None) or {}
        return self._one(
            model,
            "POST",
            path,
            json=body,
            headers=headers or None,
            idempotent=kwargs.pop("idempotent", None) or idempotency_key is not None,
            **kwargs,
        )

    def _many(self, model: type[M], path: str, params: dict[str, Any] | None = None) -> Page[M]:
        response = self._request("GET", path, params=params)
        items = TypeAdapter(list[model]).validate_python(response.json())  # type: ignore[valid-type]
        total = response.headers.get("X-Total-Count")
        return Page(items, int(total) if total and total.isdigit() else None)
