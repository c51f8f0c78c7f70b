"""``emafusion train``, ``emafusion eval`` and ``emafusion convert``: the evaluation commands of the CLI.

:func:`register` adds them to a Typer app; the evaluation package is imported inside each command so that
starting the CLI stays fast.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from langchain_emafusion.cli.errors import error_exit
from langchain_emafusion.errors import EmaFusionError

if TYPE_CHECKING:
    from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = ["register"]


class SharedDataset(StrEnum):
    """Datasets of ``../shared/data`` that ``emafusion convert`` knows."""

    llmrouter = "llmrouter"
    routellm_mmlu = "routellm-mmlu"
    routellm_gsm8k = "routellm-gsm8k"


def _encoder(cache: Path | None, no_cache: bool) -> PromptEncoder:
    from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir

    return PromptEncoder(cache_dir=None if no_cache else (cache or default_embedding_cache_dir()))


EmbeddingCacheOption = Annotated[
    Path | None,
    typer.Option(
        "--embedding-cache",
        help="Folder for on-disk prompt-embedding caches (default: ~/.cache/langchain-emafusion/embeddings).",
        file_okay=False,
    ),
]
NoCacheOption = Annotated[bool, typer.Option("--no-embedding-cache", help="Keep embeddings in memory only.")]


def train(
    outcomes: Annotated[
        Path,
        typer.Option(
            "--outcomes",
            help="Training outcome table (JSONL), or a feedback log (FusionChatModel(feedback_log=...)) with --base.",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder to save the trained policy in.", file_okay=False)
    ],
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the fit (and of the baselines refitted at eval).")
    ] = 0,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="With a feedback log: the policy (a folder written by `emafusion train`) to retrain with "
            "its scores.",
        ),
    ] = None,
    feedback_key: Annotated[
        str | None, typer.Option("--feedback-key", help="With a feedback log: use only scores of this key.")
    ] = None,
    embedding_cache: EmbeddingCacheOption = None,
    no_embedding_cache: NoCacheOption = False,
) -> None:
    """Train the project's routing policy on an outcome table and save it to OUT.

    Given a feedback log instead, retrain the --base policy with the scores callers gave its answers.
    """
    from langchain_emafusion.feedback.log import is_feedback_log

    console = Console(stderr=True)
    if is_feedback_log(outcomes):
        _retrain_from_feedback(
            console, outcomes, out, base, feedback_key, seed, embedding_cache, no_embedding_cache
        )
        return
    if base is not None or feedback_key is not None:
        raise error_exit(
            console,
            "--base and --feedback-key apply to a feedback log; "
            f"{escape(str(outcomes))} is an outcome table (train on it without them)",
            highlight=False,
            soft_wrap=True,
        )
    from langchain_emafusion.evaluation.training import train_policy

    try:
        manifest = train_policy(
            outcomes,
            out,
            seed=seed,
            encoder=_encoder(embedding_cache, no_embedding_cache),
            progress=True,
        )
    except (EmaFusionError, ValueError) as error:
        raise error_exit(console, escape(str(error)), highlight=False, soft_wrap=True) from error
    table = manifest["train_table"]
    console.print(
        f"trained {manifest['policy']} on {table['n_prompts']} prompts x {len(table['models'])} models; "
        f"saved to {out}",
        highlight=False,
    )
    router = manifest["router"]
    console.print(
        f"tier-1 router chosen out of fold: {router['chosen']} (out-of-fold AUC {router['out_of_fold']['auc']:.4f})",
        highlight=False,
    )


def _retrain_from_feedback(
    console: Console,
    log: Path,
    out: Path,
    base: str | None,
    key: str | None,
    seed: int,
    embedding_cache: Path | None,
    no_embedding_cache: bool,
) -> None:
    from langchain_emafusion.feedback.training import retrain_with_feedback

    if base is None:
        raise error_exit(
            console,
            f"{escape(str(log))} is a feedback log: it holds one member's score per request, "
            "not every member's, so it extends a trained policy's table rather than making one; pass --base "
            "POLICY (a folder written by `emafusion train`)",
            highlight=False,
            soft_wrap=True,
        )
    try:
        report = retrain_with_feedback(
            log,
            base,
            out,
            key=key,
            seed=seed,
            encoder=_encoder(embedding_cache, no_embedding_cache),
            progress=True,
        )
    except (EmaFusionError, ValueError) as error:
        raise error_exit(console, escape(str(error)), highlight=False, soft_wrap=True) from error
    account, table = report["account"], report["table"]
    members = ", ".join(f"{m} {n}" for m, n in account["per_member"].items())
    console.print(
        f"read {account['examples']} scored answers ({members}) of {account['decisions']} decisions; "
        f"left out: {account['decisions_without_feedback']} unscored, "
        f"{account['scored_but_no_single_member']} not one member's answer, "
        f"{account['feedback_naming_no_decision']} scores naming no logged run",
        highlight=False,
    )
    console.print(
        f"retrained on {table['base_prompts']} prompts of the base's table + {table['feedback_prompts']} scored "
        f"answers (other members' scores imputed by the base router); tier 2 "
        f"{'kept from the base' if report['tier2'] else 'none'}; saved to {out}",
        highlight=False,
    )


def evaluate(
    outcomes: Annotated[
        Path, typer.Option("--outcomes", help="Test outcome table (JSONL).", exists=True, dir_okay=False)
    ],
    policy: Annotated[
        Path,
        typer.Option("--policy", help="Folder written by `emafusion train`.", exists=True, file_okay=False),
    ],
    report: Annotated[Path, typer.Option("--report", help="Where to write the JSON report.", dir_okay=False)],
    baselines: Annotated[
        bool,
        typer.Option("--baselines", help="Also replay every baseline, fitted on the policy's train table."),
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Where to write the cost-vs-accuracy PNG.", dir_okay=False)
    ] = None,
    embedding_cache: EmbeddingCacheOption = None,
    no_embedding_cache: NoCacheOption = False,
) -> None:
    """Replay the trained policy (as "emafusion") and optionally the baselines on a test table; write the report."""
    from langchain_emafusion.evaluation.evaluate import evaluate_policy_dir

    console = Console(stderr=True)
    try:
        result = evaluate_policy_dir(
            outcomes,
            policy,
            baselines=baselines,
            encoder=_encoder(embedding_cache, no_embedding_cache),
            progress=True,
        )
    except (EmaFusionError, ValueError, FileNotFoundError) as error:
        raise error_exit(console, escape(str(error)), highlight=False, soft_wrap=True) from error
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if plot is not None:
        from langchain_emafusion.evaluation.plot import plot_report

        plot_report(result, plot)
    _print_summary(console, result)


def _print_summary(console: Console, result: dict[str, object]) -> None:
    from rich.table import Table

    def fmt(value: object, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    best = result["best_single_model"]
    models = result["models"]
    assert isinstance(models, dict)
    table = Table(title=f"best single model: {best}", highlight=False)
    for column in ("policy", "acc @ best cost", "cost ratio", "AUC"):
        table.add_column(column)
    policies = result["policies"]
    assert isinstance(policies, dict)
    for name, figures in policies.items():
        table.add_row(
            name,
            fmt(figures["accuracy_at_best_single_cost"]),
            fmt(figures["cost_ratio_to_best_single_accuracy"], 3),
            fmt(figures["auc_normalized"]),
        )
    console.print(table)
    from langchain_emafusion.evaluation.evaluate import auc_intervals

    for ours, compared, interval in auc_intervals(result):
        console.print(
            f"{ours} − {compared} AUC: {interval['auc_difference']:+.4f} (95% bootstrap "
            f"{interval['ci95_low']:+.4f} … {interval['ci95_high']:+.4f})",
            highlight=False,
        )
    fresh = result.get("without_repeats")
    if isinstance(fresh, dict):
        console.print(
            f"{result.get('n_test_prompts_also_in_train')} test prompts repeat a training prompt word for word; "
            f"on the other {fresh['n_prompts']} (report key without_repeats):",
            highlight=False,
        )
        for ours, compared, interval in auc_intervals(fresh):
            console.print(
                f"  {ours} − {compared} AUC: {interval['auc_difference']:+.4f} (95% bootstrap "
                f"{interval['ci95_low']:+.4f} … {interval['ci95_high']:+.4f})",
                highlight=False,
            )


def convert(
    dataset: Annotated[SharedDataset, typer.Argument(help="Which shared dataset to convert.")],
    out: Annotated[Path, typer.Option("--out", help="Output outcome table (JSONL).", dir_okay=False)],
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="The shared data folder (default: ../shared/data).", file_okay=False),
    ] = None,
    split: Annotated[
        str,
        typer.Option("--split", help="llmrouter only: the source's train, test, or all (train then test)."),
    ] = "all",
) -> None:
    """Convert a shared dataset (llmrouter, routellm-mmlu, routellm-gsm8k) into an outcome table."""
    from langchain_emafusion.evaluation.converters import CONVERTERS, convert_llmrouter, default_shared_dir
    from langchain_emafusion.evaluation.table import OutcomeTable, write_outcomes

    console = Console(stderr=True)
    try:
        folder = data_dir or default_shared_dir() / "data"
        if dataset is SharedDataset.llmrouter:
            rows = convert_llmrouter(folder, split=split)
        elif split != "all":
            raise typer.BadParameter("--split applies to llmrouter only", param_hint="--split")
        else:
            rows = CONVERTERS[dataset.value](folder)
        table = OutcomeTable(rows)
    except (EmaFusionError, ValueError) as error:
        raise error_exit(console, escape(str(error)), highlight=False, soft_wrap=True) from error
    write_outcomes(table, out)
    console.print(
        f"wrote {len(table.rows)} rows ({table.n_prompts} prompts x {len(table.models)} models) to {out}"
    )


def calibrate(
    policy: Annotated[
        Path,
        typer.Option("--policy", help="Folder written by `emafusion train`.", exists=True, file_okay=False),
    ],
    target_accuracy: Annotated[
        float | None,
        typer.Option(
            "--target-accuracy", help="Pick the cheapest knob expected to reach this accuracy.", min=0, max=1
        ),
    ] = None,
    max_mean_cost_usd: Annotated[
        float | None,
        typer.Option(
            "--max-mean-cost-usd",
            help="Pick the most accurate knob within this mean cost per request.",
            min=0,
        ),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help="Replay the policy on this reference table instead of reading its out-of-fold curve.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the curve and the choice as JSON.")] = False,
    embedding_cache: EmbeddingCacheOption = None,
    no_embedding_cache: NoCacheOption = False,
) -> None:
    """Print the knob → expected accuracy and cost per 1,000 requests table of a trained policy; pick a target.

    The curve is the one `emafusion train` saved: the whole system's out-of-fold figures on its training table.
    With --outcomes the policy is replayed on that table instead (in sample if it is the training table).
    """
    from langchain_emafusion.routing.targets import choose_knob, load_calibration

    console = Console(stderr=True)
    if target_accuracy is not None and max_mean_cost_usd is not None:
        raise error_exit(console, "give at most one of --target-accuracy and --max-mean-cost-usd")
    try:
        if outcomes is None:
            curve, source = load_calibration(policy)
        else:
            curve, source = _replayed_curve(policy, outcomes, _encoder(embedding_cache, no_embedding_cache))
        choice = (
            None
            if target_accuracy is None and max_mean_cost_usd is None
            else choose_knob(
                curve, target_accuracy=target_accuracy, max_mean_cost_usd=max_mean_cost_usd, source=source
            )
        )
    except (EmaFusionError, ValueError, FileNotFoundError) as error:
        raise error_exit(console, escape(str(error)), highlight=False, soft_wrap=True) from error
    if as_json:
        from langchain_emafusion.routing.targets import curve_to_json

        typer.echo(
            json.dumps(
                {
                    "source": source,
                    "curve": curve_to_json(curve),
                    "choice": None if choice is None else choice.metadata(),
                },
                indent=2,
            )
        )
        return
    from rich.table import Table

    table = Table(title=f"knob calibration: {source}", highlight=False)
    for column in ("quality_cost_tradeoff", "expected accuracy", "$ per 1,000 requests", ""):
        table.add_column(column)
    for point in curve:
        chosen = choice is not None and point.knob == choice.knob
        table.add_row(
            f"{point.knob:g}",
            f"{point.accuracy:.4f}",
            f"{1000 * point.mean_cost_usd:.4f}",
            "<- chosen" if chosen else "",
            style="bold" if chosen else None,
        )
    Console().print(table)
    if choice is not None:
        verdict = "met" if choice.met else "NOT met (closest setting shown)"
        console.print(
            f"target {choice.target}: {verdict}; quality_cost_tradeoff={choice.knob:g}, expected accuracy "
            f"{choice.expected_accuracy:.4f}, ${1000 * choice.expected_cost_usd:.4f} per 1,000 requests",
            highlight=False,
        )


def _replayed_curve(policy_dir: Path, outcomes: Path, encoder: PromptEncoder) -> tuple[list[Any], str]:
    """The trained policy's accuracy and mean cost per knob, replayed on a reference table."""
    from langchain_emafusion.evaluation.replay import replay
    from langchain_emafusion.evaluation.table import read_outcomes
    from langchain_emafusion.evaluation.training import load_cards, load_policy
    from langchain_emafusion.routing.targets import CalibrationPoint

    table = read_outcomes(outcomes)
    policy, _ = load_policy(policy_dir, encoder=encoder, progress=True)
    cards = load_cards(policy_dir)
    if not set(table.models) <= {card.name for card in cards}:
        raise ValueError(
            f"the reference table's models {sorted(table.models)} are not all in the policy's "
            f"{sorted(card.name for card in cards)}"
        )
    run = replay(policy, table, [c for c in cards if c.name in table.models], settings=policy.settings())
    curve = [CalibrationPoint(s.setting, s.accuracy, s.mean_cost_usd) for s in run.settings]
    return curve, f"replay of the policy on {outcomes.name} ({table.n_prompts} prompts)"


def register(app: typer.Typer) -> None:
    """Add the ``train``, ``eval``, ``calibrate`` and ``convert`` commands to a Typer app."""
    app.command("train")(train)
    app.command("eval")(evaluate)
    app.command("calibrate")(calibrate)
    app.command("convert")(convert)
