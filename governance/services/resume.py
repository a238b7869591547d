"""Resuming the Prefect flow run that waits on a promotion request, once it is decided.

A request opened with a ``flow_run_id`` belongs to a flow paused on it. When the request
is decided (approved and promoted, rejected, or expired), governance POSTs
``{prefect_api_url}/flow_runs/{flow_run_id}/resume`` with
``{"run_input": {"request_id": "<uuid>"}}``: after the decision has committed, never
inside its transaction, from a small thread pool so no API call waits on Prefect, a few
times with backoff. The outcome is appended to the audit trail as
``promotion_request.resume_sent`` or ``promotion_request.resume_failed`` (actor
``system``), so an operator can see it. Logs and events carry the HTTP status or the
exception's type, never the URL (it may hold credentials).
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine

from governance.models import PromotionRequest
from governance.store.uow import Database, UnitOfWork

__all__ = ["ResumeNotifier", "resume_after_commit"]

log = logging.getLogger("governance")
_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
_TIMEOUT = 10.0


class ResumeNotifier:
    """Sends resume calls in the background and records each outcome in the audit trail.

    Args:
        engine: the governance database, for the outcome's audit event.
        prefect_api_url: Prefect's API root (``…/api``); None records every resume as
            failed with the reason.
        attempts: tries per call; connection errors, 5xx, 408 and 429 are retried.
    """

    def __init__(self, engine: Engine, prefect_api_url: str | None, attempts: int = 4) -> None:
        self._engine = engine
        self._url = prefect_api_url
        self._attempts = attempts
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="governance-resume")
        self._http = httpx.Client(timeout=_TIMEOUT)

    def submit(self, request_id: uuid.UUID, flow_run_id: uuid.UUID, status: str) -> Future[None]:
        """Queue the resume call of ``flow_run_id`` for decided request ``request_id``."""
        return self._pool.submit(self._send, request_id, flow_run_id, status)

    def close(self) -> None:
        """Finish the queued calls, then release the pool and connections."""
        self._pool.shutdown(wait=True)
        self._http.close()

    def _send(self, request_id: uuid.UUID, flow_run_id: uuid.UUID, status: str) -> None:
        facts: dict[str, Any] = {"flow_run_id": str(flow_run_id), "request_status": status}
        ok = False
        if self._url is None:
            facts["error"] = "prefect_api_url is not configured"
        else:
            ok = self._post(request_id, flow_run_id, facts)
        action = "promotion_request.resume_sent" if ok else "promotion_request.resume_failed"
        if not ok:
            log.warning("resume of flow run %s for request %s failed", flow_run_id, request_id)
        db = Database.open(self._engine)
        try:
            with db.unit_of_work() as uow:
                uow.audit("system", action, "promotion_request", str(request_id), facts)
                uow.commit()
        except Exception:
            log.exception("could not record the resume outcome of request %s", request_id)
        finally:
            db.close()

    def _post(self, request_id: uuid.UUID, flow_run_id: uuid.UUID, facts: dict[str, Any]) -> bool:
        url = f"{self._url}/flow_runs/{flow_run_id}/resume"
        body = {"run_input": {"request_id": str(request_id)}}
        for attempt in range(1, self._attempts + 1):
            facts["attempts"] = attempt
            try:
                response = self._http.post(url, json=body)
            except httpx.HTTPError as exc:
                facts["error"] = type(exc).__name__
                facts.pop("http_status", None)
            else:
                facts["http_status"] = response.status_code
                if response.is_success:
                    facts.pop("error", None)
                    return True
                facts["error"] = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in (408, 429):
                    return False
            if attempt < self._attempts:
                time.sleep(_BACKOFF[min(attempt - 1, len(_BACKOFF) - 1)])
        return False


def resume_after_commit(uow: UnitOfWork, request: PromotionRequest) -> None:
    """Once ``uow`` commits, resume the flow run waiting on ``request`` (if any)."""
    if request.flow_run_id is None:
        return
    notifier = uow.notifier
    if notifier is None:
        log.warning("no resume notifier: flow run of request %s is not resumed", request.id)
        return
    request_id, flow_run_id, status = request.id, request.flow_run_id, request.status.value
    uow.after_commit(lambda: notifier.submit(request_id, flow_run_id, status))
