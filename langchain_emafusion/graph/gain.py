"""Whether splitting a multi-part request is expected to beat answering it whole, from tier 1's predictions.

The seed's case for decomposition is that each part can go to the member that suits it. Tier 1 predicts, without
calling anyone, the quality and the expected cost of every member for the whole request and for each part. The
direct path is the member chosen for the whole request answering every part (its predicted quality on each
part); the split path is each part's own choice, plus the merge call. Both are valued as the selector values a
member: mean predicted quality − knob × expected cost / the priciest candidate's expected cost for the whole
request. The request is split only when the split path's value is higher. A router that predicts no quality
(``cheapest``) gives nothing to weigh: the plan is kept, as before.

This is conservative: the direct member's predicted quality on a part alone is taken as its quality on that part
inside the whole request, although small members drop parts of long requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_emafusion.pipeline.messages import estimate_tokens
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.routing.base import RoutingDecision

__all__ = ["SplitGain", "expected_split_gain", "merge_cost_estimate"]

_TIE = 1e-9
"""A split must be predicted better than the direct path by more than rounding."""


@dataclass(frozen=True)
class SplitGain:
    """The decision and the figures behind it (the graph puts them in ``fusion.plan.gain``)."""

    split: bool
    why: str
    figures: dict[str, Any] = field(default_factory=dict)


def _costs(decision: RoutingDecision) -> Mapping[str, float] | None:
    costs = decision.details.get("expected_cost_usd")
    return costs if isinstance(costs, Mapping) and costs else None


def merge_cost_estimate(
    request: str, instructions: str, parts: Sequence[RoutingDecision], cards: Iterable[ModelCard]
) -> float:
    """The expected cost of the merge call, at the cheapest member's price.

    The merge reads the request, ``instructions`` and every part's answer and writes the answers again; a part's
    answer length is its pick's predicted output tokens, else the request's length.
    """
    written = 0
    for decision in parts:
        tokens = decision.details.get("predicted_output_tokens")
        predicted = tokens.get(decision.models[0]) if isinstance(tokens, Mapping) else None
        written += int(predicted) if predicted is not None else estimate_tokens(request)
    read = estimate_tokens(request) + estimate_tokens(instructions) + written
    return min(card.cost_usd(read, written) for card in cards)


def expected_split_gain(
    whole: RoutingDecision, parts: Sequence[RoutingDecision], *, merge_cost_usd: float
) -> SplitGain:
    """Compare answering the request whole with answering each part on its own (see the module docstring).

    Args:
        whole: The router's decision for the whole request.
        parts: Its decision for each part, in order.
        merge_cost_usd: The expected cost of the merge call (0 when the answers are concatenated).
    """
    whole_costs = _costs(whole)
    part_costs = [_costs(part) for part in parts]
    if (
        whole_costs is None
        or not whole.scores
        or any(c is None or not p.scores for p, c in zip(parts, part_costs, strict=True))
    ):
        return SplitGain(True, f"router {whole.router!r} predicts no quality: split as planned")
    direct = whole.models[0]
    direct_quality = []
    for part in parts:
        predicted = part.details.get("predicted_quality")
        value = predicted.get(direct) if isinstance(predicted, Mapping) else None
        value = part.scores.get(direct) if value is None else value
        if value is None:
            return SplitGain(True, f"no predicted quality for {direct} on every part: split as planned")
        direct_quality.append(float(value))
    chosen = [part.models[0] for part in parts]
    split_quality = []
    for part, name in zip(parts, chosen, strict=True):
        # The same quantity on both sides: the predicted quality where the router gives it, else its score.
        predicted = part.details.get("predicted_quality")
        value = predicted.get(name) if isinstance(predicted, Mapping) else None
        split_quality.append(float(part.scores[name] if value is None else value))
    knob = float(whole.details.get("quality_cost_tradeoff") or 0.0)
    direct_cost = float(whole_costs[direct])
    split_cost = sum(float(c[name]) for c, name in zip(part_costs, chosen, strict=True) if c is not None)
    split_cost += merge_cost_usd
    scale = max(float(v) for v in whole_costs.values())
    penalty = knob / scale if scale > 0 else 0.0
    n = len(parts)
    direct_value = sum(direct_quality) / n - penalty * direct_cost
    split_value = sum(split_quality) / n - penalty * split_cost
    figures = {
        "direct_model": direct,
        "part_models": chosen,
        "direct_quality": round(sum(direct_quality) / n, 4),
        "split_quality": round(sum(split_quality) / n, 4),
        "direct_cost_usd": direct_cost,
        "split_cost_usd": split_cost,
        "merge_cost_usd": merge_cost_usd,
        "knob": knob,
        "gain": round(split_value - direct_value, 6),
    }
    if all(name == direct for name in chosen):
        # The same member either way: splitting only adds the merge (and small members' plans lose parts).
        return SplitGain(
            False,
            f"answered whole by the router's choice: every part goes to {direct}, as the whole request does",
            figures,
        )
    if split_value > direct_value + _TIE:
        return SplitGain(
            True,
            f"split: predicted quality {figures['split_quality']:.3f} vs {figures['direct_quality']:.3f} for "
            f"{direct} answering whole, at ${split_cost:.6f} vs ${direct_cost:.6f} (knob {knob:g})",
            figures,
        )
    return SplitGain(
        False,
        f"answered whole by the router's choice: splitting predicts quality {figures['split_quality']:.3f} vs "
        f"{figures['direct_quality']:.3f} at ${split_cost:.6f} vs ${direct_cost:.6f} (knob {knob:g})",
        figures,
    )
