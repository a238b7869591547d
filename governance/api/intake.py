"""What a request must show before a byte of its body is read.

An ASGI middleware in front of the routes. For every HTTP request it opens the request's
database session (the routes' :func:`~governance.api.deps.get_session` hands out this
one) and closes it when the answer is sent. Before the body is touched:

* a declared ``Content-Length`` above the limit is refused at once (413);
* a write (``POST``, ``PUT``, ``PATCH``, ``DELETE``) must carry a valid API token, or it
  is refused (401) — so an anonymous caller can make the service neither read a large
  body nor parse a malformed one, and learns nothing from a 422;
* the body is then read here, counted as it arrives, and reading stops with 413 as soon
  as it passes the limit (a chunked body declares no length); the routes get the bytes
  read, so a request never holds more than the limit in memory.

Every answer under the API carries ``Cache-Control: no-store``: answers hold tokens (shown
once) and governance records that no cache between caller and service should keep.

The caller authenticated here is kept for the role check
(:func:`~governance.api.deps.authorize`), which does not ask the database again.
Refusals are problem details like every other answer.
"""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.responses import JSONResponse

from core.errors import PROBLEM_JSON, MlgateError, error_problem
from governance.errors import BodyTooLarge, Unauthenticated
from governance.services.principals import authenticate

__all__ = ["PRINCIPAL_KEY", "SESSION_KEY", "Intake"]

SESSION_KEY = "session"
PRINCIPAL_KEY = "principal"
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class Intake:
    """ASGI middleware: the request's session, its size limit, and a token before a body.

    Args:
        app: the application behind it.
        engine: the governance database.
        max_body_bytes: the largest body accepted.
        api_prefix: requests under it are the API's (the rest, e.g. the docs, pass).
    """

    def __init__(self, app: Any, engine: Engine, max_body_bytes: int, api_prefix: str) -> None:
        self.app = app
        self.engine = engine
        self.limit = max_body_bytes
        self.prefix = api_prefix

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(self.prefix):
            send = _no_store(send)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, send, self._too_large())
            return
        session = Session(self.engine, expire_on_commit=False)
        state = scope.setdefault("state", {})
        state[SESSION_KEY] = session
        try:
            if scope["method"] in _WRITES and scope["path"].startswith(self.prefix):
                try:
                    state[PRINCIPAL_KEY] = await run_in_threadpool(
                        authenticate, session, _bearer(_header(scope, b"authorization"))
                    )
                except Unauthenticated as exc:
                    await self._refuse(scope, send, exc)
                    return
            body = await self._read(receive)
            if body is None:
                await self._refuse(scope, send, self._too_large())
                return
            await self.app(scope, _replay(body, receive), send)
        finally:
            if session.in_transaction():
                await run_in_threadpool(session.close)
            else:
                session.close()

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(f"request body exceeds {self.limit} bytes")

    async def _read(self, receive: Any) -> bytes | None:
        """The whole body, or None once it passes the limit (the rest is left unread)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the routes will see an empty body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _refuse(self, scope: Any, send: Any, exc: MlgateError) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        response = JSONResponse(
            error_problem(exc, scope["path"]),
            status_code=exc.status,
            media_type=PROBLEM_JSON,
            headers=headers,
        )
        # Ask the client to close: the unread body is not worth draining.
        response.headers["Connection"] = "close"
        await response(scope, _no_receive, send)


def _no_store(send: Any) -> Any:
    """A ``send`` that marks the answer as not to be stored by any cache."""

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
            ]
            headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands over the body already read, then the connection's news."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _no_receive() -> Any:
    return {"type": "http.disconnect"}


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
