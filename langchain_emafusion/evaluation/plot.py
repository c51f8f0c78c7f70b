"""PNG plot of a report: cost (log axis) against accuracy for single models, the oracle and each frontier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_report"]


def plot_report(report: dict[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    """Draw a report's trade-off plot and save it as PNG (matplotlib, Agg backend: no display needed).

    Args:
        report: A report from :func:`~langchain_emafusion.evaluation.figures.build_report`.
        path: Destination PNG file; parent folders are created.
        title: Plot title (default: the prompt count).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(9, 6))
    try:
        smallest_positive = min(
            [entry["cost_usd"] for entry in report["models"].values() if entry["cost_usd"] > 0]
            + [
                point["cost_usd"]
                for policy in report["policies"].values()
                for point in policy["frontier"]
                if point["cost_usd"] > 0
            ],
            default=1e-9,
        )

        def x_of(cost: float) -> float:
            # A log axis cannot show 0: free runs are drawn at half the smallest positive cost.
            return cost if cost > 0 else smallest_positive / 2

        # Single models: grey points labelled in place, so their colours never clash with the frontiers'.
        for index, (name, entry) in enumerate(report["models"].items()):
            is_best = name == report["best_single_model"]
            axes.scatter(
                x_of(entry["cost_usd"]),
                entry["accuracy"],
                marker="*" if is_best else "o",
                s=140 if is_best else 50,
                c="dimgray",
                edgecolors="black",
                zorder=3,
                label="single models (* = best)" if index == 0 else None,
            )
            axes.annotate(
                name.split("/")[-1],
                (x_of(entry["cost_usd"]), entry["accuracy"]),
                textcoords="offset points",
                xytext=(5, -10 if index % 2 else 4),
                fontsize=7,
                color="dimgray",
            )
        oracle = report["oracle"]
        axes.scatter(
            x_of(oracle["cost_usd"]),
            oracle["accuracy"],
            marker="X",
            s=110,
            c="black",
            zorder=4,
            label="oracle",
        )
        for name, policy in report["policies"].items():
            frontier = sorted(policy["frontier"], key=lambda point: point["cost_usd"])
            # The project's own policy is drawn dashed and on top, so it stays visible when a baseline coincides.
            own = name == "emafusion"
            axes.plot(
                [x_of(point["cost_usd"]) for point in frontier],
                [point["accuracy"] for point in frontier],
                marker=".",
                linewidth=2.5 if own else 1.5,
                linestyle="--" if own else "-",
                zorder=5 if own else 2,
                label=f"{name} (AUC {policy['auc_normalized']:.3f})",
            )
        axes.set_xscale("log")
        axes.set_xlabel("mean cost per prompt (US$, log scale)")
        axes.set_ylabel("accuracy")
        axes.set_title(title or f"Cost vs accuracy ({report['n_prompts']} test prompts)")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=7, loc="lower right")
        figure.tight_layout()
        figure.savefig(destination, dpi=120)
    finally:
        plt.close(figure)
    return destination
