"""Typer application behind the ``emafusion`` console script."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from langchain_emafusion.cli.errors import error_exit
from langchain_emafusion.errors import EmaFusionError

app = typer.Typer(
    name="emafusion",
    help="Fuse a pool of LLMs into one: chat, train the router, evaluate it by replay.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def chat(
    prompt: Annotated[str, typer.Argument(help="The user message to answer.")],
    pool: Annotated[
        Path | None,
        typer.Option("--pool", help="Pool YAML file; the embedded local pool when omitted.", dir_okay=False),
    ] = None,
    router: Annotated[
        str | None,
        typer.Option(
            help="Registered router name or a folder written by `emafusion train` / `onboard` "
            "(default: the pool file's `router:`, else auto)."
        ),
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Most tokens in the answer.", min=1)] = 128,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            "--audit-log",
            help="Append the member calls and the request's ledger record to this JSONL file (see `ledger`).",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer and metadata as JSON.")] = False,
) -> None:
    """Answer PROMPT on the pool and show the routing decision (models, cost, latency)."""
    from langchain_emafusion.chat_models import FusionChatModel

    console = Console()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            options: dict[str, Any] = {} if router is None else {"router": router}
            llm = FusionChatModel(pool=pool, max_tokens=max_tokens, audit_log=audit_log, **options)
            message = llm.invoke(prompt)
        for warning in caught:
            console.print(f"[yellow]warning:[/yellow] {warning.message}")
    except EmaFusionError as exc:
        raise error_exit(console, str(exc)) from exc
    fusion = message.response_metadata["fusion"]
    if as_json:
        typer.echo(
            json.dumps(
                {"answer": message.content, "usage": message.usage_metadata, "fusion": fusion},
                indent=2,
                default=str,
            )
        )
        return
    console.print("[bold]Answer[/bold]")
    console.print(str(message.content).strip() or "(empty)", markup=False, highlight=False)
    console.print()
    console.print(
        f"[bold]Routing[/bold]  router={fusion['router']}  strategy={fusion['strategy']}  "
        f"models={', '.join(fusion['models'])}"
    )
    console.print(f"  why: {fusion['reason']}", markup=False, highlight=False)
    table = Table("model", "input tok", "output tok", "cost $", "latency s", "confidence")
    for entry in fusion["calls"]:
        confidence = entry.get("confidence")
        table.add_row(
            entry["model"] + (" (failed)" if "error" in entry else ""),
            str(entry["input_tokens"]),
            str(entry["output_tokens"]),
            f"{entry['cost_usd']:.6f}",
            f"{entry['latency_s']:.2f}",
            f"{confidence:.3f}" if isinstance(confidence, float) else "-",
        )
    console.print(table)
    console.print(f"  total cost ${fusion['cost_usd']:.6f}, wall time {fusion['latency_s']:.2f}s")


def _register_optional_commands() -> None:
    # The evaluation commands live with the evaluation package; they import nothing heavy at this point.
    from langchain_emafusion.cli.evaluation_commands import register

    register(app)
    from langchain_emafusion.cli.context_commands import register as register_context  # emafusion index

    register_context(app)
    from langchain_emafusion.cli.synthesis_commands import register as register_synthesis  # issue 7

    register_synthesis(app)
    from langchain_emafusion.cli.ledger_commands import register as register_ledger  # emafusion ledger

    register_ledger(app)
    from langchain_emafusion.cli.onboarding_commands import (
        register as register_onboarding,
    )  # emafusion onboard

    register_onboarding(app)


_register_optional_commands()


def main() -> None:
    """Console-script entry point."""
    app()
