"""Evaluation runs: replay policies on a test table and turn the runs into the report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langchain_emafusion.evaluation.baselines.registry import fit_baselines
from langchain_emafusion.evaluation.cards import replay_cards
from langchain_emafusion.evaluation.figures import auc_normalized, build_report
from langchain_emafusion.evaluation.protocol import ReplayPolicy
from langchain_emafusion.evaluation.replay import PolicyRun, SettingRun, replay
from langchain_emafusion.evaluation.table import OutcomeTable, read_outcomes
from langchain_emafusion.evaluation.training import (
    load_cards,
    load_policy,
    load_tier1_policy,
    load_training_table,
)
from langchain_emafusion.fusion.model import TIER2_FILE
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.routing.encoder import PromptEncoder

__all__ = [
    "auc_difference_interval",
    "auc_intervals",
    "evaluate_policies",
    "evaluate_policy_dir",
    "restricted_run",
]


def evaluate_policies(
    test: OutcomeTable,
    policies: Sequence[ReplayPolicy],
    *,
    cards: Sequence[ModelCard] | None = None,
    train_prompts: Collection[str] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Replay fitted policies on a test table and build the report.

    Args:
        test: The test table.
        policies: Fitted policies (names must be unique).
        cards: The static cards shown to the policies (default: fitted from the test table's costs).
        train_prompts: The training prompts' texts: when some test prompts repeat one word for word, the report
            also carries ``without_repeats``, the same figures on the other test prompts only (same runs).
        progress: Show progress bars.

    Returns:
        The report (see :func:`~langchain_emafusion.evaluation.figures.build_report`).
    """
    names = [policy.name for policy in policies]
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be unique, got {names}")
    shown_cards = tuple(cards) if cards is not None else replay_cards(test)
    runs = [replay(policy, test, shown_cards, progress=progress) for policy in policies]
    report = _comparisons(test, runs)
    if train_prompts is not None:
        seen = set(train_prompts)
        fresh = np.array([prompt not in seen for prompt in test.prompts])
        report["n_test_prompts_also_in_train"] = int((~fresh).sum())
        if 0 < int(fresh.sum()) < test.n_prompts:
            ids = [pid for pid, keep in zip(test.prompt_ids, fresh, strict=True) if keep]
            report["without_repeats"] = _comparisons(
                test.subset(ids), [restricted_run(run, np.flatnonzero(fresh)) for run in runs]
            )
    return report


def restricted_run(run: PolicyRun, rows: np.ndarray) -> PolicyRun:
    """The same run on a subset of the test prompts (``rows``, in table order)."""
    return PolicyRun(
        run.name,
        [
            SettingRun(s.setting, s.correct[rows], s.cost_usd[rows], s.calls[rows], s.latency_s[rows])
            for s in run.settings
        ],
    )


def _comparisons(test: OutcomeTable, runs: Sequence[PolicyRun]) -> dict[str, Any]:
    """The report of these runs, with ours compared with tier 1 alone and with the best baseline."""
    report = build_report(test, runs)
    names = [run.name for run in runs]
    by_name = {run.name: run for run in runs}
    if "emafusion" in by_name and "tier1" in by_name:
        report["emafusion_vs_tier1"] = auc_difference_interval(
            test, by_name["emafusion"], by_name["tier1"], report
        )
    ours = [name for name in ("emafusion", "tier1") if name in by_name]
    others = [name for name in names if name not in ("emafusion", "tier1")]
    if ours and others:
        # How far each of ours is from the strongest baseline, with the same bootstrap (the noise of a win or
        # a loss on a test split of a few hundred prompts).
        best = max(others, key=lambda name: report["policies"][name]["auc_normalized"])
        report["vs_best_baseline"] = {
            "baseline": best,
            **{name: auc_difference_interval(test, by_name[name], by_name[best], report) for name in ours},
        }
    return report


def auc_intervals(report: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The AUC-difference intervals a report carries, as ``(ours, compared with, interval)``.

    ``emafusion`` − ``tier1`` first where both ran, then each of ours − the best baseline; what a report lacks
    is left out. The CLI and the benchmarks print these.
    """
    found: list[tuple[str, str, dict[str, Any]]] = []
    versus = report.get("emafusion_vs_tier1")
    if isinstance(versus, dict):
        found.append(("emafusion", "tier1", versus))
    against = report.get("vs_best_baseline")
    if isinstance(against, dict):
        found += [
            (name, against["baseline"], against[name]) for name in ("emafusion", "tier1") if name in against
        ]
    return found


def auc_difference_interval(
    test: OutcomeTable,
    first: PolicyRun,
    second: PolicyRun,
    report: dict[str, Any],
    *,
    n: int = 300,
    seed: int = 0,
) -> dict[str, float]:
    """Normalized-AUC difference of two policies with a 95% bootstrap interval over the test prompts.

    Each resample draws the test prompts with replacement (the same draw for both policies and the single
    models' cost range), recomputes every frontier point and both AUCs. The interval says how much of a
    difference is noise.
    """
    models = report["models"]
    low = models[report["cheapest_single_model"]]["cost_usd"]
    high = models[report["best_single_model"]]["cost_usd"]

    def auc(run: PolicyRun, rows: np.ndarray) -> float:
        points = [(float(s.cost_usd[rows].mean()), float(s.correct[rows].mean())) for s in run.settings]
        return auc_normalized(points, low, high)

    everything = np.arange(test.n_prompts)
    observed = auc(first, everything) - auc(second, everything)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        rows = rng.integers(0, test.n_prompts, test.n_prompts)
        draws.append(auc(first, rows) - auc(second, rows))
    lower, upper = np.percentile(draws, [2.5, 97.5])
    return {"auc_difference": observed, "ci95_low": float(lower), "ci95_high": float(upper), "resamples": n}


def evaluate_policy_dir(
    outcomes: str | Path,
    policy_dir: str | Path,
    *,
    baselines: bool = False,
    encoder: PromptEncoder | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Replay the policy trained in ``policy_dir`` (as ``"emafusion"``) and, optionally, every baseline.

    Baselines are fitted on the training table saved in ``policy_dir``, with the seed it was trained with.

    Args:
        outcomes: The test outcome table (JSONL).
        policy_dir: A folder written by :func:`~langchain_emafusion.evaluation.training.train_policy`.
        baselines: Also replay every applicable baseline.
        encoder: Prompt encoder shared by all policies (default: the process-wide one).
        progress: Show progress bars.

    Returns:
        The report, with extra keys ``policy_manifest`` and ``baselines_skipped``.
    """
    test = read_outcomes(outcomes)
    shared_encoder = encoder or PromptEncoder.shared()
    policy, manifest = load_policy(policy_dir, encoder=shared_encoder, progress=progress)
    policies: list[ReplayPolicy] = [policy]
    if (Path(policy_dir) / TIER2_FILE).is_file():
        # The whole system is always compared with its own routing-only half in the same run.
        policies.append(load_tier1_policy(policy_dir, encoder=shared_encoder, progress=progress))
    skipped: list[str] = []
    train = load_training_table(policy_dir)
    if baselines:
        fitted, skipped = fit_baselines(
            train, encoder=shared_encoder, seed=int(manifest["seed"]), progress=progress
        )
        policies.extend(fitted)
    cards = load_cards(policy_dir)
    if {card.name for card in cards} != set(test.models):
        raise ValueError(
            f"the test table's models {sorted(test.models)} differ from the models the policy was trained on "
            f"{sorted(card.name for card in cards)}"
        )
    report = evaluate_policies(test, policies, cards=cards, train_prompts=train.prompts, progress=progress)
    report["baselines_skipped"] = skipped
    # Each baseline's own hyper-parameter, chosen by cross-validation on the same training table.
    report["baseline_validation"] = {
        policy.name: {
            "chosen": _chosen_hyperparameter(policy),
            "out_of_fold_brier": getattr(policy, "validation", None),
        }
        for policy in policies
        if getattr(policy, "validation", None)
    }
    report["policy_manifest"] = {key: value for key, value in manifest.items() if key != "cards"}
    return report


def _chosen_hyperparameter(policy: ReplayPolicy) -> float | int | None:
    for name in ("k", "regularization"):
        value = getattr(policy, name, None)
        if isinstance(value, int | float):
            return value
    return None
