"""The audit chain: append events inside the caller's transaction, and verify the chain.

Each event's ``hash`` is the sha256 of the canonical JSON (sorted keys, compact
separators) of ``{seq, ts, actor, action, entity_type, entity_id, payload, prev_hash}``;
the first event's ``prev_hash`` is 64 zeros. Appends serialize on the chain lock
(:func:`governance.db.lock_audit_chain`), so concurrent writers never fork the chain.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from governance.db import lock_audit_chain, utcnow
from governance.models import AuditEvent, BrokenLink, VerifyResult

__all__ = ["GENESIS_HASH", "append", "event_hash", "list_events", "verify"]

GENESIS_HASH = "0" * 64
_BATCH = 1000


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
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction (the caller commits).

    Args:
        actor: the principal's name (or ``system``).
        action: ``<entity>.<verb>``, e.g. ``model_version.registered``.
        payload: JSON-serializable facts of the event; never a secret.
    """
    lock_audit_chain(session)
    last = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    seq = 1 if last is None else last.seq + 1
    prev_hash = GENESIS_HASH if last is None else last.hash
    # Microsecond precision survives both backends, so the hash can be recomputed.
    ts = utcnow()
    fields: dict[str, Any] = {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "payload": _jsonable(payload or {}),
        "prev_hash": prev_hash,
    }
    event = AuditEvent(**fields, hash=event_hash(**fields))
    session.add(event)
    session.flush()
    return event


def list_events(session: Session, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEvent]:
    """Events with ``seq > after_seq`` in chain order."""
    statement = (
        select(AuditEvent)
        .where(AuditEvent.seq > after_seq)
        .order_by(col(AuditEvent.seq))
        .limit(limit)
    )
    return list(session.exec(statement).all())


def verify(session: Session) -> VerifyResult:
    """Walk the whole chain and report the first event that breaks it.

    Detects an edited row (its hash no longer matches its content), a deleted row (a gap
    in ``seq`` or a ``prev_hash`` that does not match the previous event) and reordered
    rows (``seq`` is part of the hash). Truncating the newest events cannot be detected
    from the chain alone.
    """
    expected_seq = 1
    expected_prev = GENESIS_HASH
    checked = 0
    after = 0
    while True:
        batch = list_events(session, after_seq=after, limit=_BATCH)
        if not batch:
            return VerifyResult(ok=True, events_checked=checked)
        for event in batch:
            checked += 1
            reason = _broken(event, expected_seq, expected_prev)
            if reason is not None:
                return VerifyResult(
                    ok=False,
                    events_checked=checked,
                    first_broken=BrokenLink(seq=event.seq, reason=reason),
                )
            expected_seq = event.seq + 1
            expected_prev = event.hash
        after = batch[-1].seq


def _broken(event: AuditEvent, expected_seq: int, expected_prev: str) -> str | None:
    if event.seq != expected_seq:
        return f"sequence gap: expected event {expected_seq}, found {event.seq} (event deleted)"
    if event.prev_hash != expected_prev:
        return f"prev_hash of event {event.seq} does not match the previous event's hash"
    recomputed = event_hash(
        seq=event.seq,
        ts=event.ts,
        actor=event.actor,
        action=event.action,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )
    if recomputed != event.hash:
        return f"hash of event {event.seq} does not match its content (event edited)"
    return None
