"""Budget-aware selection over tier-1 predictions: one knob plus hard caps.

For each candidate the selector knows the predicted probability of a good answer ``q`` and the expected cost
``c`` (its card's prices × the estimated input tokens and the predicted output tokens). It ranks candidates by

    utility = q − λ · c / c_max

where ``c_max`` is the most expensive candidate's expected cost for this request, so the knob
``quality_cost_tradeoff`` (λ) means the same on any pool and any price scale: λ = 0 buys the best predicted
quality whatever it costs; λ = 1 trades the whole price spread of the request for one unit of probability;
large λ takes the cheapest. Hard caps (``max_cost_usd`` per call, ``max_latency_s``, private-only, the request's
capabilities) remove candidates before ranking, and are never traded against quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from langchain_emafusion.errors import NoEligibleModelError
from langchain_emafusion.pool.card import ModelCard

__all__ = ["SelectionCaps", "Selection", "select_models", "KNOB_SETTINGS"]

KNOB_SETTINGS: list[float] = [
    0.0,
    0.01,
    0.02,
    0.035,
    0.05,
    0.075,
    0.1,
    0.125,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.7,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    100.0,
]
"""Knob values swept for a frontier: dense below 0.3, where one expensive model's cost share is traded
against a few points of accuracy (a step from 0.1 to 0.15 can move a cascade's escalation rate by 15%)."""


@dataclass(frozen=True)
class SelectionCaps:
    """Hard limits applied before ranking."""

    max_cost_usd: float | None = None
    """Most expected US$ one call may cost."""
    max_latency_s: float | None = None
    """Most seconds (the card's latency hint) one call may take."""
    private_only: bool = False
    """Only members with ``private=True``."""

    def __post_init__(self) -> None:
        for name in ("max_cost_usd", "max_latency_s"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")


@dataclass(frozen=True)
class Selection:
    """The ranked candidates for one request, best first, with what the ranking used."""

    ranked: list[str]
    knob: float
    quality: dict[str, float] = field(default_factory=dict)
    expected_cost_usd: dict[str, float] = field(default_factory=dict)
    utility: dict[str, float] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    """Members removed by a cap, and which."""

    @property
    def best(self) -> str:
        """The chosen member."""
        return self.ranked[0]

    def top(self, k: int) -> list[str]:
        """The ``k`` best members (the set tier 2 may combine)."""
        return self.ranked[:k]


def expected_cost(card: ModelCard, input_tokens: int, output_tokens: float) -> float:
    """Expected US$ of one call of ``card``."""
    return card.cost_usd(input_tokens, int(round(output_tokens)))


def select_models(
    cards: Sequence[ModelCard],
    quality: Sequence[float] | np.ndarray,
    output_tokens: Sequence[float] | np.ndarray,
    *,
    input_tokens: int,
    knob: float,
    caps: SelectionCaps | None = None,
) -> Selection:
    """Rank ``cards`` by predicted quality − knob · normalized expected cost, after the hard caps.

    Args:
        cards: Candidate members (already filtered for capabilities and context window).
        quality: Predicted probability of a good answer, per card.
        output_tokens: Predicted output tokens, per card.
        input_tokens: Estimated prompt tokens.
        knob: The quality/cost trade-off λ ≥ 0.
        caps: Hard limits.

    Raises:
        NoEligibleModelError: When the caps leave no candidate (naming what removed each one).
        ValueError: For a negative knob.
    """
    if not knob >= 0:
        raise ValueError(f"quality_cost_tradeoff must be >= 0, got {knob!r}")
    caps = caps or SelectionCaps()
    costs = np.array(
        [expected_cost(card, input_tokens, out) for card, out in zip(cards, output_tokens, strict=True)]
    )
    q = np.asarray(quality, dtype=np.float64)
    excluded: dict[str, str] = {}
    keep = []
    for i, card in enumerate(cards):
        if caps.private_only and not card.private:
            excluded[card.name] = "not private"
        elif caps.max_cost_usd is not None and costs[i] > caps.max_cost_usd:
            excluded[card.name] = f"expected ${costs[i]:.6f} > max_cost_usd {caps.max_cost_usd}"
        elif caps.max_latency_s is not None and card.latency_hint_s > caps.max_latency_s:
            excluded[card.name] = f"latency hint {card.latency_hint_s}s > max_latency_s {caps.max_latency_s}"
        else:
            keep.append(i)
    if not keep:
        raise NoEligibleModelError(
            "the caps leave no pool member: " + "; ".join(f"{n}: {why}" for n, why in excluded.items())
        )
    kept_costs = costs[keep]
    scale = float(kept_costs.max())
    normalized = kept_costs / scale if scale > 0 else np.zeros_like(kept_costs)
    utility = q[keep] - knob * normalized
    # Highest utility first; ties go to the cheaper member, then to pool order.
    order = sorted(range(len(keep)), key=lambda k: (-utility[k], kept_costs[k], keep[k]))
    ranked = [cards[keep[k]].name for k in order]
    return Selection(
        ranked=ranked,
        knob=knob,
        quality={cards[i].name: float(q[i]) for i in keep},
        expected_cost_usd={cards[i].name: float(costs[i]) for i in keep},
        utility={cards[keep[k]].name: float(utility[k]) for k in range(len(keep))},
        excluded=excluded,
    )
