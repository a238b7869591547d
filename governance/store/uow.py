"""One unit of work: a transaction, the audit events it appends, and what runs after it.

A service opens a unit of work, writes through the store's statements, appends its audit
events with :meth:`UnitOfWork.audit`, registers work that must wait for the commit with
:meth:`UnitOfWork.after_commit`, and commits exactly once with :meth:`UnitOfWork.commit`::

    with database.unit_of_work() as uow:
        row = datasets.insert(uow.session, ...)
        uow.audit(actor.name, "dataset_version.registered", "dataset_version", ref, facts)
        answer = DatasetVersionPublic.model_validate(row)
        uow.commit(answer)

The commit writes, in this order and in the one transaction: the stored answer of an
idempotent request (when the request carried an ``Idempotency-Key``, see
:mod:`governance.store.idempotency`), then the audit events — the chain head is the lock
every writer shares, so it is taken last and held only for the event inserts and the
commit — then commits; only then do the after-commit callbacks run. Leaving the ``with``
block without a commit rolls everything back and drops the callbacks: both land or
neither does.

Idempotency wraps the unit of work from outside: the request's :class:`Database` carries
its idempotency context, a unit of work opened on it first replays a stored answer
(:class:`~governance.store.idempotency.Replay`) and stores the new answer at commit. The
service never sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from governance.store import audit as audit_store
from governance.store.idempotency import IdempotencyContext

__all__ = ["Database", "Notifier", "UnitOfWork"]

log = logging.getLogger("governance")


class Notifier(Protocol):
    """What resumes the Prefect flow run waiting on a decided promotion request."""

    def submit(self, request_id: Any, flow_run_id: Any, status: str) -> Any: ...


@dataclass
class Database:
    """The database as one caller sees it: its session, and units of work opened on it.

    A request gets one (:func:`governance.api.deps.get_database`): authentication reads
    and the writes of the service it calls share the request's session and connection.
    Background work builds its own with :meth:`open`.

    Args:
        session: the session every statement of this caller runs in.
        notifier: resumes waiting flow runs after a decision commits (None: none are).
        idempotency: the request's ``Idempotency-Key`` context (None: no key sent).
    """

    session: Session
    notifier: Notifier | None = None
    idempotency: IdempotencyContext | None = None

    @classmethod
    def open(cls, engine: Engine, notifier: Notifier | None = None) -> Database:
        """A database of its own for background work; close its session when done."""
        return cls(Session(engine, expire_on_commit=False), notifier)

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work on this database's session."""
        return UnitOfWork(self.session, notifier=self.notifier, idempotency=self.idempotency)

    def close(self) -> None:
        """Close the session (rolling back whatever was not committed)."""
        self.session.close()


@dataclass
class _Event:
    actor: str
    action: str
    entity_type: str
    entity_id: str
    payload: dict[str, Any]


@dataclass
class UnitOfWork:
    """One transaction of one operation: see the module's docstring."""

    session: Session
    notifier: Notifier | None = None
    idempotency: IdempotencyContext | None = None
    _events: list[_Event] = field(default_factory=list)
    _callbacks: list[Callable[[], None]] = field(default_factory=list)
    _committed: bool = False

    def __enter__(self) -> UnitOfWork:
        if self.idempotency is not None:
            self.idempotency.replay_if_known(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.session.rollback()
            self._events.clear()
            self._callbacks.clear()

    def audit(
        self,
        actor: str,
        action: str,
        entity_type: str,
        entity_id: str,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Append an event to the trail when this unit of work commits.

        Args:
            actor: the principal's name (or ``system``).
            action: ``<entity>.<verb>``, e.g. ``model_version.registered``.
            payload: JSON-serializable facts of the event; never a secret.
        """
        self._events.append(
            _Event(actor, action, entity_type, entity_id, audit_store.jsonable(payload or {}))
        )

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this unit of work has committed (never if it does not)."""
        self._callbacks.append(callback)

    def commit(self, answer: BaseModel | None = None, *, created: bool = True) -> None:
        """Write the answer (idempotent requests) and the audit events, commit, then run
        the after-commit callbacks. A unit of work commits once.

        Args:
            answer: what the caller will be answered; stored for replay when the request
                carried an ``Idempotency-Key``.
            created: whether the operation created something (201) or found it (200).

        Raises:
            Replay: a concurrent request with the same idempotency key committed first;
                nothing of this one was written.
            AuditChainError: the chain head record is missing or moved.
        """
        if self._committed:
            raise RuntimeError("a unit of work commits once")
        self.session.flush()
        if self.idempotency is not None and answer is not None:
            self.idempotency.store(self.session, answer, created=created)
        if self._events:
            audit_store.append(
                self.session,
                [(e.actor, e.action, e.entity_type, e.entity_id, e.payload) for e in self._events],
            )
        self.session.commit()
        self._committed = True
        self._events.clear()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a callback never undoes a committed transaction
                log.exception("after-commit callback failed")
