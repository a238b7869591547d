"""The session every request and background job of governance works in.

:class:`GovSession` adds two things to SQLModel's session:

* **deferred commit**: while ``defer_commit`` is set, a service's ``commit()`` only
  flushes, so the caller can add rows of its own (the stored answer of an idempotent
  request) and commit everything as one transaction;
* **after-commit callbacks** (:func:`after_commit`): work that must happen only once the
  transaction is durable and never inside it, such as resuming a waiting Prefect flow
  run. A rollback drops them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

__all__ = ["GovSession", "after_commit"]

log = logging.getLogger("governance")
_CALLBACKS = "after_commit"


class GovSession(Session):
    """A session whose commits can be deferred and that runs callbacks after commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.defer_commit = False
        self.commit_pending = False

    def commit(self) -> None:
        """Commit, or only flush while ``defer_commit`` is set (the caller commits later)."""
        if self.defer_commit:
            self.flush()
            self.commit_pending = True
            return
        super().commit()
        self.commit_pending = False


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's current transaction has committed."""
    session.info.setdefault(_CALLBACKS, []).append(callback)


@event.listens_for(GovSession, "after_commit")
def _run_callbacks(session: Session) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(_CALLBACKS, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a callback never undoes a committed transaction
            log.exception("after-commit callback failed")


@event.listens_for(GovSession, "after_rollback")
def _drop_callbacks(session: Session) -> None:
    session.info.pop(_CALLBACKS, None)
    if isinstance(session, GovSession):
        session.commit_pending = False
