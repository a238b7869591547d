"""Verifying the audit chain the database holds, against its head and a pinned head.

How events are hashed and what a walk catches is the chain's own business
(:mod:`governance.chain`); appending is the unit of work's (:mod:`governance.store.uow`).
Here the service walks its table in batches and compares the tail with the head record.

What a walk cannot catch: someone who can write the database freely (a PostgreSQL
superuser, who may bypass the append-only triggers) can rewrite the events *and* the
head consistently. Against that, pin the head outside the database — ``mlgate audit
verify`` prints it, ``--expect-head SEQ:HASH`` checks that the chain still contains that
event unchanged — and keep exports: an exported trail verifies offline
(:func:`governance.chain.verify_records`), and its last line is the head at export time.
"""

from __future__ import annotations

from sqlmodel import Session

from governance.chain import GENESIS_HASH, ChainEvent, Checker, Head, result, walk
from governance.schemas import AuditEventPublic, BrokenLink, VerifyResult
from governance.store import audit as audit_rows
from governance.store.pages import Page

__all__ = ["search_events", "verify"]

_BATCH = 1000


def verify(session: Session, *, expect_head: Head | None = None) -> VerifyResult:
    """Walk the whole chain, compare its tail with the head, report the first break.

    Args:
        expect_head: a head pinned earlier outside the database; the chain must still
            contain that event with that hash (the genesis head ``0:000…`` always holds).
    """
    checker = Checker()
    if expect_head is not None and expect_head.seq == 0:
        checker.pinned_hash = GENESIS_HASH
    head: Head | None = None
    while True:
        batch = audit_rows.list_events(session, after_seq=checker.last.seq, limit=_BATCH)
        events = (ChainEvent.of(e.model_dump()) for e in batch)
        if not walk(checker, events, expect_head):
            return result(checker, checker.broken)
        if batch:
            continue
        # Read the head after the walk: appends committed meanwhile moved it, and are
        # visible now, so walk on until the chain catches up or is found short.
        head = audit_rows.read_head(session)
        if head is None:
            return result(checker, BrokenLink(seq=0, reason="the chain head record is missing"))
        if head.seq <= checker.last.seq or not audit_rows.list_events(
            session, after_seq=checker.last.seq, limit=1
        ):
            break
    return result(checker, checker.finish(head, expect_head))


def search_events(
    session: Session,
    *,
    after_seq: int = 0,
    action: str | None = None,
    actor: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    limit: int,
    offset: int = 0,
) -> Page[AuditEventPublic]:
    """Events with ``seq > after_seq`` matching every filter given, in chain order."""
    rows, total = audit_rows.search_events(
        session,
        after_seq=after_seq,
        action=action,
        actor=actor,
        entity_type=entity_type,
        entity_id=entity_id,
        limit=limit,
        offset=offset,
    )
    return [AuditEventPublic.model_validate(row) for row in rows], total
