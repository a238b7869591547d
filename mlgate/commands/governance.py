"""CLI commands that speak to governance through its HTTP client.

``audit_app``: ``verify`` (over the API, or an export offline) and ``export``; the
top-level ``rollback`` and ``lineage`` commands (:func:`rollback_command`,
:func:`lineage_command`). :mod:`mlgate.cli` mounts them. The client is configured by
``MLGATE_GOVERNANCE_URL`` (or ``MLGATE_URL``) and ``MLGATE_TOKEN``. Running the service
and administering its database are governance's own commands (:mod:`governance.cli`,
mounted as ``mlgate governance``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from governance.errors import MlgateError

if TYPE_CHECKING:
    from governance.chain import Head
    from governance.schemas import ModelLineage, VerifyResult

audit_app = typer.Typer(
    help="Check and export the tamper-evident audit trail.", no_args_is_help=True
)

console = Console()
err = Console(stderr=True)


@audit_app.command()
def verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="a head pinned earlier (SEQ:HASH, as printed here): fail unless the chain "
            "still holds that event unchanged",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="verify an exported JSON Lines file offline instead"),
    ] = None,
) -> None:
    """Recompute the audit chain; exit 1 naming the first broken event.

    On success it prints the chain head (SEQ:HASH): keep it outside the database and pass
    it back with --expect-head to catch a history rewritten wholesale.
    """
    from governance.chain import parse_head

    try:
        pinned = parse_head(expect_head) if expect_head else None
        if file is not None:
            result, head = _verify_file(file, pinned)
        else:
            result, head = _verify_server(pinned)
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc}")
        raise typer.Exit(2) from exc
    if result.ok:
        console.print(f"audit chain intact: {result.events_checked} events verified")
        typer.echo(f"head {head}")
        return
    broken = result.first_broken
    where = f"event {broken.seq}: {broken.reason}" if broken else "unknown event"
    err.print(f"[red]audit chain broken[/red] at {where}")
    raise typer.Exit(1)


def _verify_file(path: Path, pinned: Head | None) -> tuple[VerifyResult, str]:
    from governance.chain import GENESIS_HASH, verify_records
    from governance.errors import InvalidInput

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read audit export {path}: {exc}") from exc
    result = verify_records(records, expect_head=pinned)
    last = records[-1] if records else {"seq": 0, "hash": GENESIS_HASH}
    return result, f"{last['seq']}:{last['hash']}"


def _verify_server(pinned: Head | None) -> tuple[VerifyResult, str]:
    from governance.chain import GENESIS_HASH
    from governance.client import GovernanceClient
    from governance.schemas import BrokenLink

    with GovernanceClient.from_env() as client:
        result = client.verify_audit()
        if not result.ok:
            return result, ""
        seq = result.events_checked
        tail = client.audit_events(after_seq=seq - 1, limit=1) if seq else []
        head = f"{tail[0].seq}:{tail[0].hash}" if tail else f"0:{GENESIS_HASH}"
        if pinned is not None and pinned.seq > 0:
            found = client.audit_events(after_seq=pinned.seq - 1, limit=1)
            if not found or found[0].seq != pinned.seq:
                reason = f"event {pinned.seq} of the pinned head is gone (truncated)"
            elif found[0].hash != pinned.hash:
                reason = f"event {pinned.seq} differs from the pinned head (history rewritten)"
            else:
                return result, head
            result.ok = False
            result.first_broken = BrokenLink(seq=pinned.seq, reason=reason)
        return result, head


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="JSON Lines file to write")] = Path("audit.jsonl"),
    after_seq: Annotated[int, typer.Option(help="export events after this seq", min=0)] = 0,
) -> None:
    """Export audit events as JSON Lines, one event per line in chain order."""
    from governance.client import GovernanceClient

    count = 0
    try:
        with GovernanceClient.from_env() as client, out.open("w", encoding="utf-8") as handle:
            while True:
                events = client.audit_events(after_seq=after_seq, limit=1000)
                if not events:
                    break
                for event in events:
                    handle.write(json.dumps(event.model_dump(mode="json"), sort_keys=True) + "\n")
                count += len(events)
                after_seq = events[-1].seq
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc}")
        raise typer.Exit(2) from exc
    console.print(f"{count} audit events written to {out}")


def _fail(exc: MlgateError) -> typer.Exit:
    err.print(f"[red]error[/red] {exc.code}: {escape(str(exc))}")
    return typer.Exit(2 if exc.code == "governance_unavailable" else 1)


def rollback_command(
    project: Annotated[str, typer.Argument(help="project name")],
    stage: Annotated[str, typer.Option(help="stage to roll back")] = "production",
    comment: Annotated[str, typer.Option(help="why (kept in the audit trail)")] = "",
) -> None:
    """Give STAGE back to the model version that held it before the current one."""
    from governance.client import GovernanceClient

    try:
        with GovernanceClient.from_env() as client:
            done = client.rollback(project, stage, comment=comment)
    except MlgateError as exc:
        raise _fail(exc) from exc
    console.print(
        f"{escape(project)} {done.stage.value}: rolled back from model version "
        f"{done.from_model_version} to {done.to_model_version} "
        f"(assignment {done.current.id}, by {escape(done.current.assigned_by)})"
    )


def _parse_ref(ref: str) -> tuple[str, int]:
    project, sep, version = ref.rpartition("@")
    if not sep or not project or not version.isdigit():
        raise typer.BadParameter(f"expected PROJECT@VERSION such as credit-risk@3, got {ref!r}")
    return project, int(version)


def _when(value: datetime | None) -> str:
    return "now" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_lineage(lin: ModelLineage) -> None:
    m = lin.model
    console.rule(f"[bold]{escape(m.project)}@{m.version}")
    console.print(
        f"[bold]Model[/]: {escape(m.algorithm)}, sha256 {m.sha256[:16]}…, "
        f"artifact {escape(m.artifact_uri)}"
    )
    console.print(
        f"[bold]Trained by[/] {escape(lin.trained_by)} at {_when(m.created_at)}; code "
        f"{escape(lin.code_version)}; flow run {escape(lin.flow_run_id or 'none')}"
    )
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(m.metrics.items())) or "none"
    console.print(f"[bold]Metrics[/]: {escape(metrics)}")
    for d in lin.datasets:
        console.print(
            f"[bold]Data[/]: dataset version {d.version} from {escape(d.source)} "
            f"({d.row_count:,} rows, contract v{d.contract_version}), snapshot "
            f"{escape(d.snapshot_uri)}, hash {d.content_hash[:16]}…, validation "
            f"[bold]{d.validation_status.value}[/]"
        )
    if not lin.promotion_requests:
        console.print("[bold]Promotion requests[/]: none")
    for r in lin.promotion_requests:
        console.print(
            f"[bold]Request[/] {str(r.id)[:8]} to {r.stage.value} by {escape(r.requested_by)} "
            f"at {_when(r.created_at)}: [bold]{r.status.value}[/] ({escape(r.detail)})"
        )
        for c in r.checks:
            mark = "[green]pass[/]" if c.passed else "[red]fail[/]"
            console.print(f"    {mark} {escape(c.name)}: {escape(c.detail)}")
        for dec in r.decisions:
            note = f" — {escape(dec.comment)}" if dec.comment else ""
            console.print(
                f"    {dec.decision.value} by {escape(dec.principal)} at "
                f"{_when(dec.created_at)}{note}"
            )
    table = Table(title="Stage history")
    for column in ("stage", "from", "until", "assigned by", "ended because"):
        table.add_column(column)
    for a in lin.stage_history:
        table.add_row(
            a.stage.value,
            _when(a.assigned_at),
            _when(a.ended_at),
            a.assigned_by,
            a.ended_reason or "",
        )
    if lin.stage_history:
        console.print(table)
    else:
        console.print("[bold]Stage history[/]: never held a stage")


def lineage_command(
    ref: Annotated[str, typer.Argument(metavar="PROJECT@VERSION", help="e.g. credit-risk@3")],
    as_json: Annotated[bool, typer.Option("--json", help="print the lineage as JSON")] = False,
) -> None:
    """What data trained a model version, its checks and approvals, and its stages."""
    from governance.client import GovernanceClient

    project, version = _parse_ref(ref)
    try:
        with GovernanceClient.from_env() as client:
            lin = client.lineage(project, version)
    except MlgateError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(lin.model_dump(mode="json"), indent=2, sort_keys=True))
        return
    _print_lineage(lin)
