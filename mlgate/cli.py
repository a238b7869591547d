"""The `mlgate` command line: thin commands over the packages.

Heavy imports happen inside commands, so `mlgate --help` stays fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

import mlgate
from core import offline
from flows.errors import SettingsError
from governance.cli import app as governance_app
from mlgate.commands import stack as stack_commands
from mlgate.commands.governance import audit_app, lineage_command, rollback_command
from mlgate.commands.serve import serve as serve_command

if TYPE_CHECKING:
    from mlgate.demo.run import DemoSummary

app = typer.Typer(
    name="mlgate",
    help="Self-hosted MLOps with governed promotion: raw data to a production model.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(governance_app, name="governance")
app.add_typer(audit_app, name="audit")
app.command("rollback")(rollback_command)
app.command("lineage")(lineage_command)
for _name in ("up", "down", "status", "deploy"):
    app.command(name=_name)(getattr(stack_commands, _name))
app.command(name="serve")(serve_command)
console = Console()


@app.command()
def version() -> None:
    """Print mlgate's version."""
    console.print(mlgate.__version__)


def _quiet_prefect(verbose: bool) -> None:
    home = Path(os.environ.setdefault("PREFECT_HOME", str(Path(".mlgate/prefect").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    if not verbose:
        # Prefect still logs everything to its API (the UI); the terminal shows progress.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    handler = RichHandler(console=console, show_time=True, show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("mlgate.progress")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


@app.command()
def demo(
    rows: Annotated[int, typer.Option(min=1000, help="rows of the training table")] = 50_000,
    workdir: Annotated[Path, typer.Option(help="where data, database and artifacts go")] = Path(
        ".mlgate/demo"
    ),
    verbose: Annotated[bool, typer.Option(help="show Prefect's own logs too")] = False,
) -> None:
    """Run the whole pipeline end to end on the embedded default and print a summary."""
    _quiet_prefect(verbose)
    from mlgate.demo.run import run_demo

    try:
        summary = run_demo(rows, workdir, console)
    except Exception as exc:
        console.print(f"[bold red]demo failed:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    ok = _print_summary(summary)
    raise typer.Exit(0 if ok else 1)


def _print_summary(s: DemoSummary) -> bool:
    run = s.pipeline
    console.rule("[bold]mlgate demo: summary")
    board = Table(title="Leaderboard (cv on the training part, metrics on the holdout)")
    rows = run.model.leaderboard
    keys = [k for k in rows[0] if k not in ("holdout_accuracy", "holdout_f1")]
    for k in keys:
        header = k.removeprefix("holdout_").replace("average_precision", "avg_prec")
        board.add_column(header, justify="left" if k == "candidate" else "right")
    for row in rows:
        board.add_row(*(_fmt(row.get(k)) for k in keys))
    console.print(board)
    m = run.model
    console.print(
        f"[bold]Chosen model[/]: {run.project}@{run.model_version} = {m.algorithm}, "
        f"sha256 {m.sha256[:16]}…, trained on dataset v{run.dataset_version} "
        f"(snapshot {run.snapshot.content_hash[:12]}…, {run.snapshot.rows:,} rows)"
    )
    console.print("[bold]Approval trail[/]:")
    for e in s.approval_trail:
        console.print(f"  • {escape(e.who)}: {escape(e.outcome)} — {escape(e.detail)}")
    req = run.promotion_request
    console.print(f"  • request {req.request_id[:8]} → {req.status}; stage production updated")
    if s.approval_error:
        console.print(f"  [red]reviewer failed: {s.approval_error}[/]")
    if run.drift is not None:
        d = run.drift
        cols = ", ".join(d.drifted_columns) or "none"
        console.print(
            f"[bold]Drift[/]: share {d.drift_share:.0%} of features "
            f"({'dataset drift' if d.dataset_drift else 'below threshold'}); drifted: {cols}"
        )
        console.print(f"  report: {d.html_uri}\n  json:   {d.json_uri}")
    if run.scoring is not None:
        sc = run.scoring
        console.print(
            f"[bold]Scoring[/]: {sc.rows:,} rows, mean score {sc.mean_score:.3f} → "
            f"{sc.predictions_uri}"
        )
    chain_ok = s.audit.ok
    console.print(
        f"[bold]Audit chain[/]: {'verifies' if chain_ok else 'BROKEN'} "
        f"({s.audit.events_checked} events); governance database {s.database_url}"
    )
    console.print(f"Done in {s.wall_s} s. Everything is under {s.workdir}.")
    self_refused = any(e.outcome.startswith("refused") for e in s.approval_trail)
    return chain_ok and self_refused and not s.approval_error


def _fmt(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v))


def main() -> None:
    """The ``mlgate`` command: telemetry off in this process and its children, then run."""
    offline.apply()
    try:
        app()
    except SettingsError as exc:
        Console(stderr=True).print(f"[red]error[/red] {exc.code}: {escape(str(exc))}")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
