"""``Idempotency-Key`` on every POST: a repeat gets the first answer, never a second write.

The key is scoped to the calling principal. The first request with a key runs normally,
except that the service's commit is deferred (:class:`~governance.services.uow.GovSession`)
until its answer (status and JSON body) is stored in ``idempotency_record``: the write,
its audit event and the stored answer commit as one transaction. A later request with
the same key and the same method, path and body gets that answer replayed (header
``Idempotent-Replayed: true``), without touching anything else; with a different request
it gets 422 ``idempotency_key_reused``. Two concurrent first requests race on the
record's unique constraint: the loser's whole transaction rolls back and it replays the
winner's answer.

Only successful answers are stored: a request that failed wrote nothing (or only what
its service committed before failing, e.g. expiring a request), so repeating it is safe.
Answers that carry a freshly issued token are stored without it (tokens are shown once,
never stored): repeating such a request gets 409 ``secret_not_replayable``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from governance.errors import Conflict, IdempotencyKeyReused, MlgateError, SecretNotReplayable
from governance.models import IdempotencyRecord, Principal, utcnow
from governance.services.uow import GovSession

__all__ = ["Idempotency", "IdempotencyDep", "Replay"]

M = TypeVar("M", bound=BaseModel)
_SECRET_FIELDS = ("token",)
# Core statements (every POST runs them; the ORM's unit of work is not needed here).
_RECORDS: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_FIND = sa.select(
    _RECORDS.c.request_hash,
    _RECORDS.c.method,
    _RECORDS.c.path,
    _RECORDS.c.status_code,
    _RECORDS.c.response_body,
    _RECORDS.c.secret_withheld,
).where(_RECORDS.c.principal == sa.bindparam("principal"), _RECORDS.c.key == sa.bindparam("key"))
_STORE = sa.insert(_RECORDS)


class Replay(Exception):
    """Raised to answer with a stored response; rendered by the app's handler."""

    def __init__(self, status_code: int, body: str) -> None:
        super().__init__(f"replay of a stored {status_code} answer")
        self.status_code = status_code
        self.body = body


def _request_hash(method: str, path: str, raw: bytes) -> str:
    try:
        body: Any = json.loads(raw) if raw else None
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = raw.hex()
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass
class Idempotency:
    """The idempotency context of one POST: its key (if any) and what identifies it."""

    key: str | None
    method: str
    path: str
    request_hash: str
    default_status: int

    def run(
        self, session: Session, principal: Principal, response: Response, work: Callable[[], M]
    ) -> M:
        """Run ``work`` (one service call and its answer) under this request's key.

        Raises:
            Replay: the key was used before for this same request.
            IdempotencyKeyReused: the key was used before for another request.
            SecretNotReplayable: the first answer held a token.
        """
        if self.key is None:
            return work()
        assert isinstance(session, GovSession)
        self._replay_if_known(session, principal)
        session.defer_commit = True
        try:
            result = work()
        except MlgateError:
            # What the service committed before failing stays committed.
            session.defer_commit = False
            if session.commit_pending:
                session.commit()
            raise
        finally:
            session.defer_commit = False
        body = result.model_dump(mode="json")
        withheld = any(body.pop(name, None) is not None for name in _SECRET_FIELDS)
        record = {
            "principal": principal.name,
            "key": self.key,
            "method": self.method,
            "path": self.path,
            "request_hash": self.request_hash,
            "status_code": response.status_code or self.default_status,
            "response_body": json.dumps(body, separators=(",", ":")),
            "secret_withheld": withheld,
            "created_at": utcnow(),
        }
        try:
            session.connection().execute(_STORE, record)
            session.commit()
        except IntegrityError:
            # A concurrent request with the same key won: answer what it answered.
            session.rollback()
            self._replay_if_known(session, principal)
            raise Conflict(
                f"idempotency key {self.key} is being used concurrently; retry"
            ) from None
        return result

    async def respond(
        self, session: Session, principal: Principal, response: Response, work: Callable[[], M]
    ) -> M:
        """:meth:`run` in a worker thread, for ``async`` routes.

        A write route is ``async`` and hands its whole transaction to one worker thread:
        FastAPI then checks and serializes the answer on the event loop instead of
        handing that to a thread as well.
        """
        return await run_in_threadpool(self.run, session, principal, response, work)

    def _replay_if_known(self, session: Session, principal: Principal) -> None:
        record = (
            session.connection()
            .execute(_FIND, {"principal": principal.name, "key": self.key})
            .first()
        )
        if record is None:
            return
        if record.request_hash != self.request_hash:
            raise IdempotencyKeyReused(
                f"idempotency key {self.key} was already used by {principal.name} for a "
                f"different request ({record.method} {record.path})"
            )
        if record.secret_withheld:
            raise SecretNotReplayable(
                f"idempotency key {self.key}: the first request succeeded, but its answer held "
                "a token, which is shown only once; issue a new token instead"
            )
        raise Replay(record.status_code, record.response_body)


async def idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="repeat a POST safely: the same key and body replay the first answer",
        ),
    ] = None,
) -> Idempotency:
    """The idempotency context of the current request."""
    route = request.scope.get("route")
    raw = await request.body()
    return Idempotency(
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        request_hash=_request_hash(request.method, request.url.path, raw),
        default_status=getattr(route, "status_code", None) or 200,
    )


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
