"""``Idempotency-Key`` records: a repeated POST gets the first answer, never a second write.

The key is scoped to the calling principal. A unit of work opened for a request with a
key (:class:`IdempotencyContext`, built by :mod:`governance.api.idempotency`) first
looks the key up: the same method, path and body get the stored answer replayed
(:class:`Replay`, rendered with ``Idempotent-Replayed: true``) without touching anything
else; another request with that key gets 422 ``idempotency_key_reused``. Otherwise the
service runs, and its unit of work stores the answer (status and JSON body) at commit:
the write, its audit events and the stored answer commit as one transaction. Two
concurrent first requests race on the record's unique constraint: the loser's whole
transaction rolls back and it replays the winner's answer.

Only successful answers are stored: a request that failed wrote nothing (or only what an
earlier unit of work of its service committed, e.g. expiring a request before refusing
to decide it), so repeating it is safe. Answers that carry a freshly issued token are
stored without it (tokens are shown once, never stored): repeating such a request gets
409 ``secret_not_replayable``.

This is the only idempotency mechanism of the service: model registration, which the
client always sends with a key, uses it like every other POST.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from governance.errors import Conflict, IdempotencyKeyReused, SecretNotReplayable
from governance.models import IdempotencyRecord, utcnow

__all__ = ["IdempotencyContext", "Replay", "purge_before", "request_hash"]

_SECRET_FIELDS = ("token",)
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


def request_hash(method: str, path: str, raw: bytes) -> str:
    """What identifies a request under its key: method, path and the canonical body."""
    try:
        body: Any = json.loads(raw) if raw else None
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = raw.hex()
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyContext:
    """One POST sent with an ``Idempotency-Key``: who sent it, and what identifies it.

    Args:
        principal: the caller's name (keys are per principal).
        default_status: the route's status for a created answer (a found one is 200).
    """

    principal: str
    key: str
    method: str
    path: str
    request_hash: str
    default_status: int

    def replay_if_known(self, session: Session) -> None:
        """Raise what a stored answer for this key calls for; return if there is none.

        Raises:
            Replay: the key was used before for this same request.
            IdempotencyKeyReused: the key was used before for another request.
            SecretNotReplayable: the first answer held a token.
        """
        record = (
            session.connection()
            .execute(_FIND, {"principal": self.principal, "key": self.key})
            .first()
        )
        if record is None:
            return
        if record.request_hash != self.request_hash:
            raise IdempotencyKeyReused(
                f"idempotency key {self.key} was already used by {self.principal} for a "
                f"different request ({record.method} {record.path})"
            )
        if record.secret_withheld:
            raise SecretNotReplayable(
                f"idempotency key {self.key}: the first request succeeded, but its answer held "
                "a token, which is shown only once; issue a new token instead"
            )
        raise Replay(record.status_code, record.response_body)

    def store(self, session: Session, answer: BaseModel, *, created: bool) -> None:
        """Store ``answer`` in the caller's transaction (tokens withheld).

        Raises:
            Replay, IdempotencyKeyReused, SecretNotReplayable: a concurrent request with
                this key committed first; this transaction was rolled back.
            Conflict: that request's answer is not visible yet; retry.
        """
        body = answer.model_dump(mode="json")
        withheld = any(body.pop(name, None) is not None for name in _SECRET_FIELDS)
        record: dict[str, Any] = {
            "principal": self.principal,
            "key": self.key,
            "method": self.method,
            "path": self.path,
            "request_hash": self.request_hash,
            "status_code": self.default_status if created else 200,
            "response_body": json.dumps(body, separators=(",", ":")),
            "secret_withheld": withheld,
            "created_at": utcnow(),
        }
        try:
            session.connection().execute(_STORE, record)
        except IntegrityError:
            # A concurrent request with the same key won: answer what it answered.
            session.rollback()
            self.replay_if_known(session)
            raise Conflict(
                f"idempotency key {self.key} is being used concurrently; retry"
            ) from None


def purge_before(session: Session, cutoff: datetime) -> int:
    """Delete stored answers older than ``cutoff`` (the caller commits); how many."""
    result = session.execute(sa.delete(_RECORDS).where(_RECORDS.c.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
