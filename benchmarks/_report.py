"""Shared by the replay benchmarks: the markdown table of one evaluation report (models, oracle, policies)."""

from __future__ import annotations

from typing import Any


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
