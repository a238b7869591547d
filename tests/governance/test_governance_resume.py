"""Deciding a promotion request resumes the Prefect flow run waiting on it.

Prefect's ``POST /flow_runs/{id}/resume`` is stood in for by a tiny real HTTP server on
loopback (``http.server``) that records what it receives and answers like Prefect does
(200 with a JSON body) — or 500, to see failures recorded. The Prefect-side test, with a
real paused flow run, lives with the flows.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from govtest import Gov, make_project, rand

from governance.admin import bootstrap_admin
from governance.client import GovernanceClient
from governance.server import serve_in_thread


@dataclass
class FakePrefect:
    """Records each POST (path, JSON body) and answers with ``status``."""

    url: str = ""
    status: int = 200
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def prefect() -> Iterator[FakePrefect]:
    fake = FakePrefect()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            fake.calls.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
            body = json.dumps({"status": "ACCEPT"}).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gov(database_url: str, prefect: FakePrefect) -> Iterator[Gov]:
    with serve_in_thread(
        database_url, prefect_api_url=prefect.url, expiry_sweep_seconds=0.2, resume_attempts=2
    ) as server:
        token = bootstrap_admin(database_url, name=rand("admin"))
        admin = GovernanceClient(server.url, token)
        g = Gov(server=server, database_url=database_url, admin=admin)
        try:
            yield g
        finally:
            for client in [admin, *g.clients]:
                client.close()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _outcome(gov: Gov, request_id: uuid.UUID) -> list[Any]:
    return [
        e
        for e in gov.admin.audit_events(entity_id=str(request_id))
        if e.action.startswith("promotion_request.resume_")
    ]


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decided_request_resumes_its_flow_run(
    gov: Gov, prefect: FakePrefect, decision: str
) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    run = str(uuid.uuid4())
    request = dev.request_promotion(s.project, s.model_version, flow_run_id=run)
    assert str(request.flow_run_id) == run
    gov.client("approver").decide(request.id, decision)
    _wait(lambda: bool(_outcome(gov, request.id)), "the resume outcome")
    assert prefect.calls == [
        (f"/api/flow_runs/{run}/resume", {"run_input": {"request_id": str(request.id)}})
    ]
    (event,) = _outcome(gov, request.id)
    assert event.action == "promotion_request.resume_sent"
    assert event.actor == "system"
    status = "approved" if decision == "approve" else "rejected"
    assert event.payload == {
        "flow_run_id": run,
        "request_status": status,
        "http_status": 200,
        "attempts": 1,
    }
    assert gov.admin.verify_audit().ok


def test_an_overdue_request_expires_unread_and_resumes_its_flow_run(
    gov: Gov, prefect: FakePrefect
) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, policy={"request_ttl_hours": 0.0002})  # 0.72 s
    run = str(uuid.uuid4())
    request = dev.request_promotion(s.project, s.model_version, flow_run_id=run)
    # Nobody reads or decides the request: the server's sweeper expires it.
    _wait(lambda: bool(_outcome(gov, request.id)), "the sweeper's expiry and resume")
    expired = gov.admin.audit_events(action="promotion_request.expired", entity_id=str(request.id))
    assert [e.actor for e in expired] == ["system"]
    assert dev.get_promotion_request(request.id).status == "expired"
    assert prefect.calls == [
        (f"/api/flow_runs/{run}/resume", {"run_input": {"request_id": str(request.id)}})
    ]
    assert _outcome(gov, request.id)[0].payload["request_status"] == "expired"


def test_a_failing_resume_is_retried_then_recorded(gov: Gov, prefect: FakePrefect) -> None:
    prefect.status = 500
    dev = gov.client("developer")
    s = make_project(gov, dev)
    run = str(uuid.uuid4())
    request = dev.request_promotion(s.project, s.model_version, flow_run_id=run)
    decided = gov.client("approver").decide(request.id, "approve")
    assert decided.status == "approved"  # the decision never waits on, nor fails with, Prefect
    _wait(lambda: bool(_outcome(gov, request.id)), "the failed resume")
    (event,) = _outcome(gov, request.id)
    assert event.action == "promotion_request.resume_failed"
    assert event.payload["http_status"] == 500 and event.payload["attempts"] == 2
    assert len(prefect.calls) == 2
    assert prefect.url not in json.dumps(event.payload)


def test_a_request_without_flow_run_resumes_nothing(gov: Gov, prefect: FakePrefect) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    request = dev.request_promotion(s.project, s.model_version)
    gov.client("approver").decide(request.id, "approve")
    gov.server.stop()  # waits for queued resume calls
    assert prefect.calls == []
