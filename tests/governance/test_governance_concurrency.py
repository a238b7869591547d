"""50 approvals, promotion requests and rollbacks racing on one project, on PostgreSQL.

A real governance server (uvicorn, in a thread) on the real PostgreSQL; every call goes
over HTTP from its own thread, all released at once. Afterwards: exactly one production
model, a verifying audit chain, and exactly one audit event per successful write (no lost
event, no extra one), counted by action against the successful answers.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from govtest import Gov, make_project, rand, register_model

from governance.admin import bootstrap_admin
from governance.client import GovernanceClient
from governance.errors import Conflict
from governance.server import serve_in_thread

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_gov(postgres_url: str) -> Iterator[Gov]:
    with serve_in_thread(postgres_url) as server:
        token = bootstrap_admin(postgres_url, name=rand("admin"))
        admin = GovernanceClient(server.url, token)
        g = Gov(server=server, database_url=postgres_url, admin=admin)
        try:
            yield g
        finally:
            for client in [admin, *g.clients]:
                client.close()


def test_racing_approvals_promotions_and_rollbacks_lose_nothing(pg_gov: Gov) -> None:
    gov = pg_gov
    dev = gov.client("developer")
    s = make_project(gov, dev, policy={"required_approvals": 2})
    models = [s.model_version] + [
        register_model(dev, s.project, s.dataset_version, algorithm=f"algo{i}").version
        for i in range(4)
    ]
    # Something in production already, so rollbacks have a past to return to.
    first = dev.request_promotion(s.project, models[0])
    gov.client("approver").decide(first.id, "approve")
    gov.client("approver").decide(first.id, "approve")
    requests = [dev.request_promotion(s.project, v) for v in models[1:]]
    approvers = [gov.client("approver") for _ in range(10)]
    operators = [gov.client("approver") for _ in range(2)]
    total = gov.admin.audit_events(limit=1).total
    start_seq = gov.admin.audit_events(limit=1, offset=total - 1)[0].seq

    calls: list[tuple[str, Callable[[], object]]] = []
    for request in requests:  # 4 requests x 9 approvers = 36 decisions
        for approver in approvers[:9]:
            calls.append(("decide", partial(approver.decide, request.id, "approve")))
    for i in range(8):  # 8 rollbacks
        calls.append(("rollback", partial(operators[i % 2].rollback, s.project, comment="race")))
    for version in models[:3] * 2:  # and 6 new promotion requests
        calls.append(("request", partial(dev.request_promotion, s.project, version)))
    assert len(calls) == 50

    results: list[tuple[str, object]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(calls))

    def run(kind: str, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            outcome: object = call()
        except Conflict as exc:  # a lost race or a request no longer pending: expected
            outcome = exc
        except Exception as exc:  # anything else fails the test below
            outcome = exc
        with lock:
            results.append((kind, outcome))

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 50
    unexpected = [
        r for r in results if isinstance(r[1], Exception) and not isinstance(r[1], Conflict)
    ]
    assert unexpected == []

    expected: Counter[str] = Counter()
    for kind, outcome in results:
        if isinstance(outcome, Exception):
            continue
        if kind == "rollback":
            expected["stage.rolled_back"] += 1
        elif kind == "request":
            expected["promotion_request.created"] += 1
        else:
            expected["promotion_request.decided"] += 1
            if getattr(outcome, "status", None) == "approved":
                expected["stage.assigned"] += 1
    # Every request got its two approvals, and every further approval was refused.
    assert expected["promotion_request.decided"] == 2 * len(requests)
    assert expected["stage.assigned"] == len(requests)

    events = gov.admin.audit_events(after_seq=start_seq, limit=1000)
    assert Counter(e.action for e in events) == expected
    assert [e.seq for e in events] == list(range(start_seq + 1, start_seq + 1 + len(events)))

    history = dev.stage_history(s.project, "production", limit=1000)
    assert len(history) == 1 + expected["stage.assigned"] + expected["stage.rolled_back"]
    current = [h for h in history if h.ended_at is None]
    assert len(current) == 1
    assert dev.list_models(s.project, stage="production").total == 1
    statuses = {r.id: r.status for r in dev.list_promotion_requests(s.project)}
    assert all(statuses[r.id] == "approved" for r in requests)
    assert len(statuses) == 1 + len(requests) + expected["promotion_request.created"]
    result = gov.admin.verify_audit()
    assert result.ok, result.first_broken
