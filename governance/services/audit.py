"""The audit chain: append events inside the caller's transaction, and verify the chain.

Each event's ``hash`` is the sha256 of the canonical JSON (sorted keys, compact
separators) of ``{seq, ts, actor, action, entity_type, entity_id, payload, prev_hash}``;
the first event's ``prev_hash`` is 64 zeros.

The chain head — one ``audit_head`` row holding the newest event's seq and hash — moves
in the same transaction as every append. Locking that row (``SELECT … FOR UPDATE``) is
what serializes appends on PostgreSQL (SQLite: ``BEGIN IMMEDIATE`` already holds the
write lock), so concurrent writers never fork the chain, and it hands over the previous
seq and hash in the same round trip.

What verify catches, naming the first broken event:

* an edited event (payload, actor, action, timestamp…): its hash no longer matches;
* a deleted event in the middle: a gap in ``seq``;
* reordered events (seqs or rows swapped): an event's hash matches another position;
* an event replaced or forged in the middle: the next event's ``prev_hash`` breaks;
* a truncated tail (the newest events deleted): the chain ends before the head;
* a forged event appended after the tail: the chain runs past the head.

What it cannot catch: someone who can write the database freely (a PostgreSQL superuser,
who may bypass the append-only triggers) can rewrite the events *and* the head
consistently. Against that, pin the head outside the database — ``mlgate audit verify``
prints it, ``--expect-head SEQ:HASH`` checks that the chain still contains that event
unchanged — and keep exports: an exported trail verifies offline
(:func:`verify_records`), and its last line is the head at export time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from governance.errors import MlgateError
from governance.models import AuditEvent, audit_head, utcnow
from governance.schemas import BrokenLink, VerifyResult

__all__ = [
    "GENESIS_HASH",
    "Head",
    "append",
    "audit_head",
    "event_hash",
    "list_events",
    "parse_head",
    "read_head",
    "verify",
    "verify_records",
]

GENESIS_HASH = "0" * 64
_BATCH = 1000
# How far from its stored position verify looks for the seq an event was written with.
_REORDER_WINDOW = 64
# session.info key: the events appended in the current transaction, not yet written.
_PENDING = "audit_pending"

_EVENTS: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]


_LOCK_HEAD = (
    sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)
_INSERT_EVENT = sa.insert(_EVENTS)
_MOVE_HEAD = (
    audit_head.update()
    .where(audit_head.c.id == 1, audit_head.c.seq == sa.bindparam("prev_seq"))
    .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
)
# PostgreSQL: the event's insert and the head's move in one statement (a data-modifying
# CTE); the head's trigger sees the event the same statement inserted.
_APPENDED = (
    sa.insert(_EVENTS)
    .values({c.name: sa.bindparam(f"e_{c.name}", type_=c.type) for c in _EVENTS.columns})
    .returning(_EVENTS.c.seq, _EVENTS.c.hash)
    .cte("appended")
)
_APPEND_AND_MOVE = (
    audit_head.update()
    .where(
        audit_head.c.id == 1,
        audit_head.c.seq == sa.bindparam("prev_seq"),
        _APPENDED.c.seq == audit_head.c.seq + 1,
    )
    .values(seq=_APPENDED.c.seq, hash=_APPENDED.c.hash)
    .add_cte(_APPENDED)
)


class AuditChainError(MlgateError):
    """The audit chain cannot take a new event (its head record is missing or moved)."""

    code = "audit_chain_broken"
    status = 500
    title = "Audit chain broken"


@dataclass(frozen=True)
class Head:
    """A position in the chain: an event's seq and hash (``0`` and zeros: empty chain)."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


def parse_head(text: str) -> Head:
    """Parse ``SEQ:HASH`` (as ``mlgate audit verify`` prints it).

    Raises:
        InvalidInput: not ``SEQ:HASH`` with a positive integer and 64 hex characters.
    """
    from governance.errors import InvalidInput

    seq, _, hash_ = text.strip().partition(":")
    hash_ = hash_.lower()
    if not seq.isdigit() or len(hash_) != 64 or any(c not in "0123456789abcdef" for c in hash_):
        raise InvalidInput(f"expected head as SEQ:HASH (hash: 64 hex characters), got {text!r}")
    return Head(int(seq), hash_)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    # Hash exactly what the database will hand back: plain JSON types only.
    result: dict[str, Any] = json.loads(json.dumps(payload, default=str))
    return result


def event_hash(
    *,
    seq: int,
    ts: datetime,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    """The sha256 (hex) of an event's canonical JSON."""
    body = {
        "seq": seq,
        "ts": ts.isoformat(),
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def append(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    payload: dict[str, Any] | None = None,
) -> None:
    """Add one event to the caller's transaction; it joins the chain when that commits.

    The event is queued on the session and written by the commit itself, after the
    transaction's other statements: the chain head (the lock every writer shares) is
    taken last and held only for the event inserts, the head update and the commit.
    A rollback drops the queued events with everything else.

    Args:
        actor: the principal's name (or ``system``).
        action: ``<entity>.<verb>``, e.g. ``model_version.registered``.
        payload: JSON-serializable facts of the event; never a secret.
    """
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    pending.append(
        {
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "payload": _jsonable(payload or {}),
        }
    )


def _write_pending(session: OrmSession, pending: list[dict[str, Any]]) -> None:
    session.flush()  # the transaction's own rows first: its locks precede the head's
    connection = session.connection()
    # Locks the head row until commit: appends queue here, in lock order after the
    # project and request rows the caller may hold. Core statements, kept lean.
    row = connection.execute(_LOCK_HEAD).first()
    if row is None:
        raise AuditChainError("the audit chain head record is missing; run audit verify")
    prev = Head(int(row[0]), str(row[1]))
    ts = utcnow()  # microsecond precision survives both backends
    one_statement = connection.dialect.name == "postgresql"
    for facts in pending:  # the head moves one event at a time (a trigger insists)
        fields: dict[str, Any] = {
            "seq": prev.seq + 1,
            "ts": ts,
            **facts,
            "prev_hash": prev.hash,
        }
        digest = event_hash(**fields)
        fields["hash"] = digest
        if one_statement:
            params = {f"e_{name}": value for name, value in fields.items()}
            moved = connection.execute(_APPEND_AND_MOVE, {**params, "prev_seq": prev.seq})
        else:
            connection.execute(_INSERT_EVENT, fields)
            moved = connection.execute(
                _MOVE_HEAD, {"prev_seq": prev.seq, "new_seq": prev.seq + 1, "new_hash": digest}
            )
        if moved.rowcount != 1:
            raise AuditChainError(f"the audit chain head moved away from event {prev.seq}")
        prev = Head(prev.seq + 1, digest)


@sa.event.listens_for(OrmSession, "before_commit")
def _on_commit(session: OrmSession) -> None:
    pending: list[dict[str, Any]] | None = session.info.pop(_PENDING, None)
    if pending:
        _write_pending(session, pending)


@sa.event.listens_for(OrmSession, "after_transaction_end")
def _on_end(session: OrmSession, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction: committed or rolled back
        session.info.pop(_PENDING, None)


def read_head(session: Session) -> Head | None:
    """The recorded chain head (None: the head record is missing)."""
    statement = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    row = session.execute(statement).first()
    return None if row is None else Head(int(row[0]), str(row[1]))


def list_events(session: Session, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEvent]:
    """Events with ``seq > after_seq`` in chain order."""
    statement = (
        select(AuditEvent)
        .where(AuditEvent.seq > after_seq)
        .order_by(col(AuditEvent.seq))
        .limit(limit)
    )
    return list(session.exec(statement).all())


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class _Event:
    seq: int
    ts: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, event: AuditEvent | Mapping[str, Any]) -> _Event:
        if isinstance(event, AuditEvent):
            values: Mapping[str, Any] = event.model_dump()
        else:
            values = event
        ts = values["ts"]
        return cls(
            seq=int(values["seq"]),
            ts=ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts)),
            actor=str(values["actor"]),
            action=str(values["action"]),
            entity_type=str(values["entity_type"]),
            entity_id=str(values["entity_id"]),
            payload=dict(values["payload"]),
            prev_hash=str(values["prev_hash"]),
            hash=str(values["hash"]),
        )

    def hash_as(self, seq: int) -> str:
        return event_hash(
            seq=seq,
            ts=self.ts,
            actor=self.actor,
            action=self.action,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            payload=self.payload,
            prev_hash=self.prev_hash,
        )


class _Checker:
    """Walks events in stored order and remembers where the chain first breaks."""

    def __init__(self) -> None:
        self.checked = 0
        self.last = Head(0, GENESIS_HASH)
        self.broken: BrokenLink | None = None
        # The hash of the pinned event once the walk reaches it.
        self.pinned_hash: str | None = None

    def feed(self, event: _Event) -> bool:
        """Check the next event; False once the chain is broken."""
        self.checked += 1
        reason = self._reason(event)
        if reason is not None:
            self.broken = BrokenLink(seq=event.seq, reason=reason)
            return False
        self.last = Head(event.seq, event.hash)
        return True

    def _reason(self, event: _Event) -> str | None:
        expected = self.last.seq + 1
        if event.seq != expected:
            return (
                f"sequence gap: expected event {expected}, found {event.seq} "
                f"(event {expected}{'' if event.seq == expected + 1 else ' onwards'} deleted)"
            )
        if event.hash_as(event.seq) != event.hash:
            written_as = next(
                (
                    s
                    for d in range(1, _REORDER_WINDOW + 1)
                    for s in (event.seq - d, event.seq + d)
                    if s >= 1 and event.hash_as(s) == event.hash
                ),
                None,
            )
            if written_as is not None:
                return (
                    f"event {event.seq} was written as event {written_as} "
                    "(events reordered, or one inserted or deleted before it)"
                )
            return f"hash of event {event.seq} does not match its content (event edited)"
        if event.prev_hash != self.last.hash:
            return (
                f"prev_hash of event {event.seq} does not match the hash of event "
                f"{self.last.seq} (event {self.last.seq} replaced or forged)"
            )
        return None

    def finish(self, head: Head | None, expect: Head | None) -> BrokenLink | None:
        """Compare the tail with the recorded head and the pinned one, after the walk."""
        if self.broken is not None:
            return self.broken
        last = self.last
        if head is not None:
            if head.seq > last.seq:
                return BrokenLink(
                    seq=last.seq + 1,
                    reason=f"the chain ends at event {last.seq} but its head records event "
                    f"{head.seq}: events {last.seq + 1}..{head.seq} deleted (truncated)",
                )
            if head.seq < last.seq:
                return BrokenLink(
                    seq=head.seq + 1,
                    reason=f"event {head.seq + 1} lies beyond the chain head (event "
                    f"{head.seq}): inserted outside the service",
                )
            if head.hash != last.hash:
                return BrokenLink(
                    seq=last.seq,
                    reason=f"event {last.seq} differs from the chain head's record of it "
                    "(last event replaced)",
                )
        if expect is not None:
            return self._pinned(expect)
        return None

    def _pinned(self, expect: Head) -> BrokenLink | None:
        found = self.pinned_hash
        if found is None:
            return BrokenLink(
                seq=expect.seq,
                reason=f"the chain ends at event {self.last.seq}, before the pinned head "
                f"{expect.seq} (truncated)",
            )
        if found != expect.hash:
            return BrokenLink(
                seq=expect.seq,
                reason=f"event {expect.seq} differs from the pinned head (history rewritten)",
            )
        return None


def _walk(checker: _Checker, events: Iterable[_Event], expect: Head | None) -> bool:
    for event in events:
        if not checker.feed(event):
            return False
        if expect is not None and event.seq == expect.seq:
            checker.pinned_hash = event.hash
    return True


def _result(checker: _Checker, broken: BrokenLink | None) -> VerifyResult:
    return VerifyResult(ok=broken is None, events_checked=checker.checked, first_broken=broken)


def verify(session: Session, *, expect_head: Head | None = None) -> VerifyResult:
    """Walk the whole chain, compare its tail with the head, report the first break.

    Args:
        expect_head: a head pinned earlier outside the database; the chain must still
            contain that event with that hash (the genesis head ``0:000…`` always holds).
    """
    checker = _Checker()
    if expect_head is not None and expect_head.seq == 0:
        checker.pinned_hash = GENESIS_HASH
    head: Head | None = None
    while True:
        batch = list_events(session, after_seq=checker.last.seq, limit=_BATCH)
        if not _walk(checker, (_Event.of(e) for e in batch), expect_head):
            return _result(checker, checker.broken)
        if batch:
            continue
        # Read the head after the walk: appends committed meanwhile moved it, and are
        # visible now, so walk on until the chain catches up or is found short.
        head = read_head(session)
        if head is None:
            return _result(checker, BrokenLink(seq=0, reason="the chain head record is missing"))
        if head.seq <= checker.last.seq or not list_events(
            session, after_seq=checker.last.seq, limit=1
        ):
            break
    return _result(checker, checker.finish(head, expect_head))


def verify_records(
    records: Iterable[Mapping[str, Any]], *, expect_head: Head | None = None
) -> VerifyResult:
    """Verify exported events (``mlgate audit export`` JSON lines, parsed) offline.

    Without a database head, a cut-off export looks whole: pass ``expect_head`` (a head
    pinned earlier) to catch that.
    """
    checker = _Checker()
    if expect_head is not None and expect_head.seq == 0:
        checker.pinned_hash = GENESIS_HASH
    if not _walk(checker, (_Event.of(r) for r in records), expect_head):
        return _result(checker, checker.broken)
    return _result(checker, checker.finish(None, expect_head))
