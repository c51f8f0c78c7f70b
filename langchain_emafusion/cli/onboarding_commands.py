"""``emafusion onboard``: probe the pool members a predictor does not know and save a routing profile.

:func:`register` adds the command to a Typer app; tier 1 (torch) is imported inside the command so that starting
the CLI stays fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from langchain_emafusion.cli.errors import error_exit
from langchain_emafusion.errors import EmaFusionError

__all__ = ["register"]


def onboard(
    pool: Annotated[Path, typer.Option("--pool", help="Pool YAML file.", dir_okay=False, exists=True)],
    member: Annotated[
        list[str] | None,
        typer.Option(
            "--member", help="Member to onboard (repeatable); default: every member the base does not know."
        ),
    ] = None,
    probes: Annotated[int, typer.Option("--probes", help="Probe prompts per member.", min=10)] = 50,
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            help="Predictor folder to extend (`emafusion train`'s or an earlier profile); default: the shipped one.",
            file_okay=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Profile folder to write; default: POOL's name + '-profile' next to it. Rerun to resume.",
            file_okay=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the probes' slot values.")] = 1,
    templates: Annotated[
        list[Path] | None,
        typer.Option(
            "--templates", help="Seed template YAML file or folder (repeatable); default: the starter set."
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Most calls in flight.", min=1)] = 4,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per call attempt.", min=0.001)] = 120.0,
    retries: Annotated[int, typer.Option("--retries", help="Retries per call, with backoff.", min=0)] = 2,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Most tokens per answer.", min=1)] = 256,
    max_cost_usd: Annotated[
        float | None,
        typer.Option(
            "--max-cost-usd", help="Stop before calling anything if the probes may cost more.", min=0
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the members, probes and cost bound, and call nothing.")
    ] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Onboard pool members the routing predictor does not know, from their answers to probe prompts.

    Prints what it will call and the most it can cost first. The probe answers are kept in OUT/probes.jsonl
    (with a call cache), so a killed run resumes where it stopped. Point the pool file at the profile with
    `router: PROFILE` and FusionChatModel(pool="pool.yaml") routes with it.
    """
    from langchain_emafusion.pool.pool import ModelPool
    from langchain_emafusion.tier1.onboarding import onboard_pool, plan_onboarding

    console = Console(stderr=True)
    profile = out if out is not None else pool.with_name(f"{pool.stem}-profile")
    try:
        members = ModelPool.from_yaml(pool)
        plan = plan_onboarding(
            members,
            members=member or None,
            base=base,
            probes=probes,
            seed=seed,
            templates=templates or None,
            max_tokens=max_tokens,
        )
        known = ", ".join(f"{n} (as {k})" if n != k else n for n, k in plan.known.items()) or "none"
        console.print(
            f"base predictor: {escape(str(plan.base))}; known members: {escape(known)}", highlight=False
        )
        console.print(
            f"onboarding {', '.join(plan.members)} from {len(plan.prompts)} probes each "
            f"({len({p.template for p in plan.prompts})} starter templates, seed {seed})",
            highlight=False,
        )
        for name, cost in plan.max_cost_usd.items():
            console.print(f"  {name}: at most ${cost:.4f}", highlight=False)
        console.print(
            f"most the probes can cost: ${plan.total_max_cost_usd:.4f} (every answer at {max_tokens} tokens)",
            highlight=False,
        )
        if dry_run:
            return
        if max_cost_usd is not None and plan.total_max_cost_usd > max_cost_usd:
            raise error_exit(
                console,
                f"the probes may cost ${plan.total_max_cost_usd:.4f}, above --max-cost-usd {max_cost_usd}; "
                "lower --probes or --max-tokens",
                highlight=False,
            )
        summary = onboard_pool(
            members,
            plan,
            profile,
            concurrency=concurrency,
            timeout_s=timeout,
            retries=retries,
            max_tokens=max_tokens,
            progress=progress,
        )
    except EmaFusionError as error:
        raise error_exit(console, escape(str(error)), highlight=False, soft_wrap=True) from error
    for name, figures in summary["members"].items():
        console.print(
            f"  {name}: mean probe score {figures['mean_score']:.3f} ± {figures['standard_error']:.3f} over "
            f"{figures['probes']} probes, cost ${figures['cost_usd']:.4f}",
            highlight=False,
        )
    relative = os.path.relpath(profile, pool.parent)
    console.print(
        f"profile written to {escape(str(profile))}; route with it by adding to {escape(pool.name)}:\n"
        f"  router: {escape(relative)}",
        highlight=False,
    )
    typer.echo(json.dumps(summary))


def register(app: typer.Typer) -> None:
    """Add the ``onboard`` command to a Typer app."""
    app.command("onboard")(onboard)
