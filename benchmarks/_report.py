"""Shared by the replay benchmarks: the markdown table of one evaluation report (models, oracle, policies)."""

from __future__ import annotations

from typing import Any

from langchain_emafusion.evaluation.evaluate import auc_intervals


def fmt(value: float | None, digits: int = 4) -> str:
    """A figure, or "never" where the frontier never reaches it."""
    return "never" if value is None else f"{value:.{digits}f}"


def report_table(report: dict[str, Any]) -> list[str]:
    """Markdown rows: every single model (best first), the oracle, then each policy's frontier figures."""
    best = report["best_single_model"]
    lines = [
        "| | accuracy | $/prompt | acc @ best cost | cost ratio | AUC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, figures in sorted(report["models"].items(), key=lambda item: -item[1]["accuracy"]):
        label = f"`{model}`" + (" (best)" if model == best else "")
        lines.append(f"| {label} | {figures['accuracy']:.4f} | {figures['cost_usd']:.3g} | | | |")
    oracle = report["oracle"]
    lines.append(f"| oracle | {oracle['accuracy']:.4f} | {oracle['cost_usd']:.3g} | | | |")
    for policy, figures in report["policies"].items():
        lines.append(
            f"| **{policy}** | | | {fmt(figures['accuracy_at_best_single_cost'])} "
            f"| {fmt(figures['cost_ratio_to_best_single_accuracy'], 3)} | {figures['auc_normalized']:.4f} |"
        )
    return lines


def comparison_lines(report: dict[str, Any]) -> list[str]:
    """The bootstrap intervals of emafusion − tier1 and of each of ours − the best baseline, and tier 2's table."""
    lines = []
    for ours, compared, gap in auc_intervals(report):
        if compared == "tier1":
            lines.append(
                f"emafusion − tier1 normalized AUC: {gap['auc_difference']:+.4f} "
                f"(95% bootstrap interval over test prompts {gap['ci95_low']:+.4f} … {gap['ci95_high']:+.4f}, "
                f"{gap['resamples']} resamples)."
            )
        else:
            lines.append(
                f"{ours} − {compared} (the best baseline by AUC): {gap['auc_difference']:+.4f} "
                f"({gap['ci95_low']:+.4f} … {gap['ci95_high']:+.4f})."
            )
    if report.get("emafusion_vs_tier1"):
        strategies = report["policy_manifest"].get("tier2", {}).get("strategies", {})
        if strategies:
            lines.append(
                f"Tier-2 strategy per knob setting (all tasks): {', '.join(strategies.get('*', []))}."
            )
    return lines
