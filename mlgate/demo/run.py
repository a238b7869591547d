"""`mlgate demo`: the whole pipeline end to end on the embedded default.

No server to install: governance runs under uvicorn in this process on SQLite, the
artifact store is a local directory, Prefect runs in its local (ephemeral) mode and
the pipeline's governance token comes from a file (a ``file://`` secret reference, mode
0600, the way a mounted secret is read). Two people take part, each with
their own API token, exactly as they would through the HTTP API:

* alice, lead data scientist (role approver): her token runs the pipeline, so she
  trains and requests the promotion — and her attempt to approve her own request
  is refused (separation of duties);
* bob, model risk (role approver): reviews the request and approves it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from flows.results import PipelineSummary
from governance.schemas import AuditEventPublic, PromotionRequestPublic, VerifyResult
from mlgate.demo import data as demo_data

SPEC_FILE = Path(__file__).with_name("credit_risk.yaml")


class ApprovalEvent(BaseModel):
    """One attempt at the gate, as the demo's people saw it."""

    model_config = ConfigDict(frozen=True)

    who: str = Field(description="who tried, and in which role")
    outcome: str = Field(description="what governance answered (e.g. refused [code])")
    detail: str = Field(description="governance's message, or the policy checks reviewed")


@dataclass
class ApprovalTrail:
    """What happened at the gate, in order, filled in by the reviewer's thread."""

    events: list[ApprovalEvent] = field(default_factory=list)
    error: str | None = None

    def add(self, who: str, outcome: str, detail: str) -> None:
        self.events.append(ApprovalEvent(who=who, outcome=outcome, detail=detail))


class DemoSummary(BaseModel):
    """What ``mlgate demo`` did: the pipeline's summary, the gate, the audit chain."""

    model_config = ConfigDict(frozen=True)

    pipeline: PipelineSummary = Field(description="what the pipeline run did")
    approval_trail: list[ApprovalEvent] = Field(description="the attempts at the gate, in order")
    approval_error: str | None = Field(description="why the reviewer failed (None: it did not)")
    audit: VerifyResult = Field(description="the audit chain's verification after the run")
    audit_events: list[AuditEventPublic] = Field(description="every audit event, in chain order")
    wall_s: float = Field(ge=0, description="seconds the demo took, data generation included")
    workdir: str = Field(description="where data, database and artifacts went")
    database_url: str = Field(description="the governance database (SQLite)")


def _credentials(path: Path, database_url: str) -> dict[str, str]:
    """Tokens of the demo's principals, created on the first run and kept (mode 0600)."""
    from governance.admin import bootstrap_admin
    from governance.client import GovernanceClient  # noqa: F401  (import check only)

    if path.exists():
        return dict(json.loads(path.read_text()))
    creds = {"admin": bootstrap_admin(database_url, name="admin")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(creds))
    return creds


def _token_file(path: Path, token: str) -> str:
    """Keep ``token`` in ``path`` (mode 0600); the ``file://`` reference the flow resolves."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token)
    path.chmod(0o600)  # a file left by an earlier run keeps its mode otherwise
    return f"file://{path}"


def _ensure_people(url: str, creds: dict[str, str], path: Path) -> dict[str, str]:
    from governance.client import GovernanceClient

    missing = [n for n in ("alice", "bob") if n not in creds]
    if missing:
        with GovernanceClient(url, creds["admin"]) as admin:
            for name in missing:
                _, token = admin.create_principal(name, "approver", kind="human")
                creds[name] = token
        path.write_text(json.dumps(creds))
    return creds


def _reviewer(
    url: str,
    creds: dict[str, str],
    project: str,
    seen: set[str],
    trail: ApprovalTrail,
    stop: threading.Event,
) -> None:
    """Bob's side: wait for the pipeline's request, let alice try, then review it."""
    from governance.client import GovernanceClient
    from governance.errors import MlgateError, NotFound

    try:
        with (
            GovernanceClient(url, creds["alice"]) as alice,
            GovernanceClient(url, creds["bob"]) as bob,
        ):
            while not stop.is_set():
                waiting: list[PromotionRequestPublic] = []
                # NotFound: the pipeline has not created the project yet.
                with contextlib.suppress(NotFound):
                    waiting = bob.list_promotion_requests(project, status="pending")
                pending = [r for r in waiting if str(r.id) not in seen]
                if not pending:
                    time.sleep(0.5)
                    continue
                req = pending[0]
                try:
                    alice.decide(str(req.id), "approve", comment="my own model, looks fine")
                    trail.add("alice", "APPROVED (unexpected!)", "self-approval was accepted")
                except MlgateError as exc:
                    trail.add("alice (requester)", f"refused [{exc.code}]", str(exc))
                checks = ", ".join(f"{c.name} {'ok' if c.passed else 'FAILED'}" for c in req.checks)
                bob.decide(str(req.id), "approve", comment=f"reviewed: {checks}")
                trail.add("bob (model risk)", "approved", f"policy checks: {checks}")
                return
    except Exception as exc:
        trail.error = f"{type(exc).__name__}: {exc}"


def run_demo(rows: int, workdir: Path, console: Console) -> DemoSummary:
    """Run the demo and return the pipeline's summary plus the approval trail."""
    from core.spec import load_spec
    from flows.pipeline import PipelineParams, pipeline
    from governance.client import GovernanceClient
    from governance.server import serve_in_thread

    spec = load_spec(SPEC_FILE)
    workdir = workdir.resolve()
    data_dir = workdir / "data"
    database_url = f"sqlite:///{workdir / 'governance.db'}"
    creds_file = workdir / "credentials.json"

    started = time.perf_counter()
    with console.status(f"generating {rows:,} loan applications and a later batch"):
        demo_data.write_csv(demo_data.make_applications(rows), data_dir / "applications.csv")
        current_rows = max(rows // 5, 1_000)
        demo_data.write_csv(demo_data.make_current_batch(current_rows), data_dir / "current.csv")
    console.print(
        f"[green]✓[/] data: {rows:,} applications, {current_rows:,} in the current batch "
        f"(drifted on purpose: {', '.join(demo_data.DRIFTED_FEATURES)})"
    )

    creds = _credentials(creds_file, database_url)
    # Governance records locations only inside the demo's own artifact store.
    with serve_in_thread(database_url, stores=[f"file://{workdir / 'artifacts'}"]) as server:
        console.print(f"[green]✓[/] governance service on {server.url} (SQLite)")
        creds = _ensure_people(server.url, creds, creds_file)
        with GovernanceClient(server.url, creds["bob"]) as bob:
            try:
                seen = {str(r.id) for r in bob.list_promotion_requests(spec.name)}
            except Exception:
                seen = set()

        trail = ApprovalTrail()
        stop = threading.Event()
        reviewer = threading.Thread(
            target=_reviewer,
            args=(server.url, creds, spec.name, seen, trail, stop),
            name="reviewer",
            daemon=True,
        )
        reviewer.start()
        params = PipelineParams(
            token_ref=_token_file(workdir / "alice.token", creds["alice"]),
            spec_path=str(SPEC_FILE),
            data_dir=str(data_dir),
            store_url=str(workdir / "artifacts"),
            governance_url=server.url,
            current_source="file://current.csv",
            approval_timeout_s=300,
            poll_interval_s=0.5,
        )
        try:
            summary = pipeline(params)
        finally:
            stop.set()
            reviewer.join(timeout=10)
        with GovernanceClient(server.url, creds["bob"]) as bob:
            verify = bob.verify_audit()
            events: list[AuditEventPublic] = []
            while page := bob.audit_events(after_seq=events[-1].seq if events else 0):
                events.extend(page)
    return DemoSummary(
        pipeline=summary,
        approval_trail=trail.events,
        approval_error=trail.error,
        audit=verify,
        audit_events=events,
        wall_s=round(time.perf_counter() - started, 1),
        workdir=str(workdir),
        database_url=database_url,
    )
