"""The audit chain's rules, with no database: how an event is hashed and how a chain is checked.

Each event's ``hash`` is the sha256 of the canonical JSON (sorted keys, compact
separators) of ``{seq, ts, actor, action, entity_type, entity_id, payload, prev_hash}``;
the first event's ``prev_hash`` is 64 zeros (:data:`GENESIS_HASH`).

What a walk catches, naming the first broken event:

* an edited event (payload, actor, action, timestamp…): its hash no longer matches;
* a deleted event in the middle: a gap in ``seq``;
* reordered events (seqs or rows swapped): an event's hash matches another position;
* an event replaced or forged in the middle: the next event's ``prev_hash`` breaks;
* against the database's head record: a truncated tail, or a forged event after it;
* against a head pinned outside the database (``--expect-head SEQ:HASH``): a rewrite
  of history before it.

The service walks its own table (:mod:`governance.services.audit`); an exported trail
verifies offline with :func:`verify_records`, which needs nothing but this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from governance.errors import InvalidInput
from governance.schemas import BrokenLink, VerifyResult

__all__ = [
    "GENESIS_HASH",
    "ChainEvent",
    "Checker",
    "Head",
    "event_hash",
    "jsonable",
    "parse_head",
    "result",
    "verify_records",
    "walk",
]

GENESIS_HASH = "0" * 64
# How far from its stored position verify looks for the seq an event was written with.
_REORDER_WINDOW = 64


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
    seq, _, hash_ = text.strip().partition(":")
    hash_ = hash_.lower()
    if not seq.isdigit() or len(hash_) != 64 or any(c not in "0123456789abcdef" for c in hash_):
        raise InvalidInput(f"expected head as SEQ:HASH (hash: 64 hex characters), got {text!r}")
    return Head(int(seq), hash_)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def jsonable(payload: dict[str, Any]) -> dict[str, Any]:
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


@dataclass(frozen=True)
class ChainEvent:
    """One event as the chain sees it: its fields, whatever held them (a row, a JSON line)."""

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
    def of(cls, values: Mapping[str, Any]) -> ChainEvent:
        """The event in ``values`` (a row mapping or an exported record)."""
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
        """The hash this event would have at position ``seq``."""
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


class Checker:
    """Walks events in stored order and remembers where the chain first breaks."""

    def __init__(self) -> None:
        self.checked = 0
        self.last = Head(0, GENESIS_HASH)
        self.broken: BrokenLink | None = None
        # The hash of the pinned event once the walk reaches it.
        self.pinned_hash: str | None = None

    def feed(self, event: ChainEvent) -> bool:
        """Check the next event; False once the chain is broken."""
        self.checked += 1
        reason = self._reason(event)
        if reason is not None:
            self.broken = BrokenLink(seq=event.seq, reason=reason)
            return False
        self.last = Head(event.seq, event.hash)
        return True

    def _reason(self, event: ChainEvent) -> str | None:
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


def walk(checker: Checker, events: Iterable[ChainEvent], expect: Head | None) -> bool:
    for event in events:
        if not checker.feed(event):
            return False
        if expect is not None and event.seq == expect.seq:
            checker.pinned_hash = event.hash
    return True


def result(checker: Checker, broken: BrokenLink | None) -> VerifyResult:
    return VerifyResult(ok=broken is None, events_checked=checker.checked, first_broken=broken)


def verify_records(
    records: Iterable[Mapping[str, Any]], *, expect_head: Head | None = None
) -> VerifyResult:
    """Verify exported events (``mlgate audit export`` JSON lines, parsed) offline.

    Without a database head, a cut-off export looks whole: pass ``expect_head`` (a head
    pinned earlier) to catch that.
    """
    checker = Checker()
    if expect_head is not None and expect_head.seq == 0:
        checker.pinned_hash = GENESIS_HASH
    if not walk(checker, (ChainEvent.of(r) for r in records), expect_head):
        return result(checker, checker.broken)
    return result(checker, checker.finish(None, expect_head))
