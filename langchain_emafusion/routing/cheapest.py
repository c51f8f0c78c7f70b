"""The baseline router: the cheapest member that can serve the request."""

from __future__ import annotations

from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import (
    Router,
    RoutingDecision,
    RoutingRequest,
    eligible_cards,
)

__all__ = ["CheapestCapableRouter"]


class CheapestCapableRouter(Router):
    """Route to the cheapest eligible member; the rest follow as fallbacks, cheapest first.

    A member is eligible when it has the capabilities the request needs (tool calling, structured output)
    and its context window holds the prompt plus the answer. Cost is the expected price of this request
    (estimated input tokens at the input price plus the output budget at the output price); ties go to the
    lower latency hint, then to pool order. It reads no text and learns nothing: it is the floor that
    learned routers must beat.
    """

    name = "cheapest"
    """Its name in the registry (:mod:`langchain_emafusion.routing.registry`)."""

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        """Order the eligible members by expected cost, then latency hint, then pool order."""
        eligible = eligible_cards(request, pool)
        order = {name: i for i, name in enumerate(pool.names)}
        costs = {
            card.name: card.cost_usd(request.input_tokens, request.max_output_tokens) for card in eligible
        }
        ranked = sorted(eligible, key=lambda card: (costs[card.name], card.latency_hint_s, order[card.name]))
        best = ranked[0]
        return RoutingDecision(
            models=[card.name for card in ranked],
            router=self.name,
            reason=(
                f"cheapest eligible member: {best.name} (expected ${costs[best.name]:.6f}, "
                f"latency hint {best.latency_hint_s:g}s) of {len(eligible)} eligible"
            ),
            scores={name: -cost for name, cost in costs.items()},
        )
