"""PNG plot of a ledger: cumulative spend against the baseline's counterfactual over time, and the model mix."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from langchain_emafusion.ledger.ledger import LedgerError, counterfactual, summarize_ledger
from langchain_emafusion.privacy.audit import RequestRecord

__all__ = ["plot_ledger"]


def _usd(value: float) -> str:
    return f"{value:.6f}" if abs(value) < 1 else f"{value:,.2f}"


def plot_ledger(
    records: Sequence[RequestRecord],
    path: str | Path,
    *,
    baseline: str | None = None,
    title: str | None = None,
) -> Path:
    """Draw the ledger of ``records`` and save it as PNG (matplotlib, Agg backend: no display needed).

    Top: cumulative spend and cumulative counterfactual (the baseline's cost, counted as in
    :func:`~langchain_emafusion.ledger.ledger.summarize_ledger`) at each record's time. Bottom: the model mix
    per UTC day, as stacked bars of answered routed requests per member.

    Args:
        records: Request records, e.g. from :func:`~langchain_emafusion.ledger.ledger.read_ledger`.
        path: Destination PNG file; parent folders are created.
        baseline: Compare with this member instead of each record's own baseline.
        title: Plot title (default: the request count and the baseline).

    Returns:
        The path written.

    Raises:
        LedgerError: No records, a baseline some records cannot be compared with, or matplotlib is missing.
    """
    summary = summarize_ledger(records, baseline=baseline)  # checks the records and the baseline
    try:
        import matplotlib
    except ImportError as exc:
        raise LedgerError(
            "--plot needs matplotlib: pip install matplotlib (or the package's `ml` extra)"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(records, key=lambda record: record.timestamp)
    times, spent, counterfactuals = [], [], []
    running_spent = running_counterfactual = 0.0
    for record in ordered:
        running_spent += record.cost_usd
        if record.outcome == "ok" and record.stage in ("direct", "subtask"):
            running_counterfactual += counterfactual(record, baseline)[1]
        times.append(record.timestamp)
        spent.append(running_spent)
        counterfactuals.append(running_counterfactual)
    mix: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for record in ordered:
        if record.outcome == "ok" and record.models:
            for name in record.models:
                mix[name][record.timestamp.date().isoformat()] += 1.0 / len(record.models)
    days = [row.label for row in summary.days]
    members = sorted(mix, key=lambda name: -sum(mix[name].values()))

    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    figure, (money, bars) = plt.subplots(2, 1, figsize=(9, 7), height_ratios=(3, 2))
    try:
        against = baseline or ", ".join(summary.baselines) or "baseline"
        money.step(
            times, counterfactuals, where="post", linewidth=2, label=f"counterfactual ({against} alone)"
        )
        money.step(times, spent, where="post", linewidth=2, linestyle="--", label="spent")
        money.set_ylabel("cumulative US$")
        total = summary.total
        share = f" ({total.saved_share:.0%})" if total.saved_share is not None else ""
        # "\$": a plain "$" would start matplotlib's math mode.
        money.set_title(
            title
            or f"Savings ledger: {total.requests} requests, \\${_usd(total.spent_usd)} spent, "
            f"\\${_usd(total.saved_usd)} saved{share} against {against}",
            fontsize=10,
        )
        money.grid(True, alpha=0.3)
        money.legend(fontsize=8, loc="upper left")
        money.tick_params(axis="x", labelrotation=20)
        bottom = [0.0] * len(days)
        for name in members:
            heights = [mix[name].get(day, 0.0) for day in days]
            bars.bar(days, heights, bottom=bottom, label=name)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        bars.set_ylabel("answered routed requests")
        bars.set_title("Model mix per day (UTC)", fontsize=9)
        bars.grid(True, axis="y", alpha=0.3)
        if members:
            bars.legend(fontsize=7, loc="upper left")
        figure.tight_layout()
        figure.savefig(destination, dpi=120)
    finally:
        plt.close(figure)
    return destination
