"""The background sweeper: expires overdue promotion requests without anyone reading them.

Runs in a daemon thread of the governance server, every ``expiry_sweep_seconds``; each
expiry is audited (actor ``system``) and resumes the waiting flow run, if any, like a
decision does.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from governance.services import approvals
from governance.services.resume import NOTIFIER_KEY, ResumeNotifier
from governance.services.uow import GovSession

__all__ = ["ExpirySweeper"]

log = logging.getLogger("governance")


class ExpirySweeper:
    """Expire overdue pending requests every ``interval`` seconds until stopped."""

    def __init__(self, engine: Engine, notifier: ResumeNotifier, interval: float) -> None:
        self._engine = engine
        self._notifier = notifier
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="governance-sweeper", daemon=True)

    def start(self) -> None:
        """Start sweeping in the background."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current sweep."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def sweep_once(self) -> int:
        """Expire what is overdue now; returns how many requests were expired."""
        with GovSession(self._engine, expire_on_commit=False) as session:
            session.info[NOTIFIER_KEY] = self._notifier
            try:
                return len(approvals.expire_overdue(session))
            except Exception:
                session.rollback()
                raise

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                count = self.sweep_once()
            except Exception:  # the next sweep tries again
                log.exception("expiry sweep failed")
                continue
            if count:
                log.info("expired %d overdue promotion request(s)", count)
