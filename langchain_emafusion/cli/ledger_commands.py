"""``emafusion ledger``: the savings ledger of an audit log, per UTC day and in total (and as a PNG).

:func:`register` adds the command to a Typer app; the ledger package (and matplotlib, for ``--plot``) is imported
inside it so that starting the CLI stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from langchain_emafusion.cli.errors import error_exit
from langchain_emafusion.errors import EmaFusionError

if TYPE_CHECKING:
    from langchain_emafusion.ledger.ledger import LedgerRow, LedgerSummary

__all__ = ["register"]


def _money(value: float) -> str:
    return f"{value:.6f}" if abs(value) < 1 else f"{value:,.2f}"


def _mix(row: LedgerRow, most: int = 3) -> str:
    items = list(row.model_mix.items())
    shown = ", ".join(f"{name} {share:.0%}" for name, share in items[:most])
    return shown + (f", +{len(items) - most} more" if len(items) > most else "") if items else "-"


def _quality(row: LedgerRow) -> str:
    if row.quality is None or row.baseline_quality is None:
        return "-"
    return f"{row.quality:.3f} vs {row.baseline_quality:.3f} (n={row.quality_n})"


def _print(summary: LedgerSummary, console: Console) -> None:
    against = summary.baseline or ", ".join(f"{name} ({n} compared)" for name, n in summary.baselines.items())
    rows = [*summary.days, summary.total]
    money = Table(title=f"savings ledger against {escape(against or '-')}", highlight=False)
    for column in ("day (UTC)", "requests", "spent $", "counterfactual $", "saved $", "saved %"):
        money.add_column(column, justify="left" if column.startswith("day") else "right")
    for row in rows:
        money.add_row(
            row.label,
            str(row.requests),
            _money(row.spent_usd),
            _money(row.counterfactual_usd),
            _money(row.saved_usd),
            f"{row.saved_share:.1%}" if row.saved_share is not None else "-",
            end_section=row is summary.days[-1],
        )
    console.print(money)
    mix = Table(title="routed requests: model mix and predicted quality", highlight=False)
    for column in ("day (UTC)", "routed", "failed", "quality vs baseline", "model mix"):
        mix.add_column(column)
    for row in rows:
        mix.add_row(
            row.label,
            str(row.routed),
            str(row.failed),
            _quality(row),
            escape(_mix(row)),
            end_section=row is summary.days[-1],
        )
    console.print(mix)
    for source in summary.sources:
        console.print(f"baseline: {escape(source)}", highlight=False)
    for note in summary.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    total = summary.total
    console.print(
        f"{total.compared} answered request(s) and subtask(s) compared; quality is the router's prediction, "
        f"known for {total.quality_n} of them; decomposer and merge calls count as spend only.",
        highlight=False,
    )


def ledger(
    audit_log: Annotated[
        Path,
        typer.Argument(
            help="An audit log written by FusionChatModel(audit_log=...).", exists=True, dir_okay=False
        ),
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", help="Compare with this pool member instead of each record's own baseline."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Also draw spend vs counterfactual and the model mix to this PNG.", dir_okay=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Print what routing spent against what the baseline member alone would have, per day and in total."""
    from langchain_emafusion.ledger import plot_ledger, read_ledger, summarize_ledger

    console = Console(stderr=True)
    try:
        records = read_ledger(audit_log)
        summary = summarize_ledger(records, baseline=baseline)
        written = plot_ledger(records, plot, baseline=baseline) if plot is not None else None
    except EmaFusionError as error:
        raise error_exit(console, escape(str(error)), highlight=False, soft_wrap=True) from error
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _print(summary, Console())
    if written is not None:
        console.print(f"plot written to {escape(str(written))}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` command to a Typer app."""
    app.command("ledger")(ledger)
