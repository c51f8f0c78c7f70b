"""``emafusion synth``: synthesize an outcome table from seed prompt templates.

:func:`register` adds the command to a Typer app; the synthesis package is imported inside the command so that
starting the CLI stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from langchain_emafusion.cli.errors import error_exit
from langchain_emafusion.errors import EmaFusionError

__all__ = ["register"]


def synth(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Outcome table to write (JSONL); appended to and resumed.", dir_okay=False
        ),
    ],
    templates: Annotated[
        list[Path] | None,
        typer.Option(
            "--templates",
            help="Seed template YAML file or folder (repeatable); default: the starter set shipped in the package.",
        ),
    ] = None,
    pool: Annotated[
        Path | None,
        typer.Option("--pool", help="Pool YAML file; the embedded local pool when omitted.", dir_okay=False),
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", help="Number of prompts (default: every template's variants).", min=1)
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the slot values and paraphrase choices.")] = 0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Most model calls in flight.", min=1)] = 4,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per call attempt.", min=0.001)] = 120.0,
    retries: Annotated[
        int, typer.Option("--retries", help="Retries per call, with exponential backoff.", min=0)
    ] = 2,
    backoff: Annotated[
        float, typer.Option("--backoff", help="First backoff wait in seconds.", min=0.0)
    ] = 1.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Most tokens per answer.", min=1)] = 256,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            help="Call-cache file (default: OUT.cache.jsonl); share it to reuse calls.",
            dir_okay=False,
        ),
    ] = None,
    fail_as_zero: Annotated[
        bool,
        typer.Option(
            "--fail-as-zero",
            help="Score a call that fails after its retries 0 instead of retrying it next run.",
        ),
    ] = False,
    helper_model: Annotated[
        str | None,
        typer.Option(
            "--helper-model",
            help="Pool member that paraphrases and judges where a template names none (default: the priciest).",
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar with ETA.")
    ] = True,
    summary: Annotated[
        Path | None,
        typer.Option("--summary", help="Also write the run summary as JSON here.", dir_okay=False),
    ] = None,
) -> None:
    """Expand seed templates, run every pool model on every prompt, score, and append rows to OUT.

    Killed and rerun with the same arguments, it resumes where it stopped. Next to OUT it keeps
    OUT.prompts.jsonl (the expanded prompts with their references and checks), OUT.cache.jsonl (every model
    call) and, when calls failed, OUT.errors.jsonl.
    """
    from langchain_emafusion.pool.pool import ModelPool
    from langchain_emafusion.synthesis import SynthesisRunner, expand_templates, load_seed_templates

    console = Console(stderr=True)
    try:
        if pool is None:
            from langchain_emafusion.pool.embedded import default_embedded_pool

            members = default_embedded_pool()
        else:
            members = ModelPool.from_yaml(pool)
        prompts = expand_templates(load_seed_templates(templates or None), n=n, seed=seed)
        result = SynthesisRunner(
            pool=members,
            prompts=prompts,
            out=out,
            cache=cache,
            concurrency=concurrency,
            timeout_s=timeout,
            retries=retries,
            backoff_s=backoff,
            max_tokens=max_tokens,
            fail_as_zero=fail_as_zero,
            helper_model=helper_model,
            progress=progress,
        ).run()
    except EmaFusionError as error:
        raise error_exit(console, escape(str(error)), highlight=False, soft_wrap=True) from error
    if summary is not None:
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(
        f"{result['rows_written']} rows written, {result['rows_existing']} already there "
        f"({result['prompts']} prompts x {len(result['models'])} models) in {result['wall_s']:.1f}s; "
        f"{result['cache_hits']} cached calls; table: {out}",
        highlight=False,
    )
    for name, figures in result["per_model"].items():
        console.print(
            f"  {name}: {figures['answers']} answers, {figures['prompts_per_min']:.1f} prompts/min of model time",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to a Typer app."""
    app.command("synth")(synth)
