"""The background sweeper: expires overdue promotion requests without anyone reading them.

Runs in a daemon thread of the governance server, every ``expiry_sweep_seconds``; each
expiry is audited (actor ``system``) and resumes the waiting flow run, if any, like a
decision does. It also forgets stored idempotent answers older than the retention (a
key repeated after that runs again, as a new request).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import Engine

from governance.models import utcnow
from governance.services import approvals
from governance.services.resume import ResumeNotifier
from governance.store import idempotency
from governance.store.uow import Database

__all__ = ["ExpirySweeper"]

log = logging.getLogger("governance")


class ExpirySweeper:
    """Expire overdue pending requests every ``interval`` seconds until stopped."""

    def __init__(
        self,
        engine: Engine,
        notifier: ResumeNotifier,
        interval: float,
        idempotency_retention: timedelta = timedelta(days=7),
    ) -> None:
        self._engine = engine
        self._notifier = notifier
        self._interval = interval
        self._retention = idempotency_retention
        self._last_purge = 0.0
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
        db = Database.open(self._engine, self._notifier)
        try:
            return len(approvals.expire_overdue(db))
        finally:
            db.close()

    def purge_idempotency(self) -> int:
        """Forget idempotent answers older than the retention; returns how many."""
        db = Database.open(self._engine)
        try:
            with db.unit_of_work() as uow:
                purged = idempotency.purge_before(uow.session, utcnow() - self._retention)
                uow.commit()
            return purged
        finally:
            db.close()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            now = time.monotonic()
            if now - self._last_purge >= 3600:
                self._last_purge = now
                try:
                    self.purge_idempotency()
                except Exception:
                    log.exception("purging old idempotency records failed")
            try:
                count = self.sweep_once()
            except Exception:  # the next sweep tries again
                log.exception("expiry sweep failed")
                continue
            if count:
                log.info("expired %d overdue promotion request(s)", count)
