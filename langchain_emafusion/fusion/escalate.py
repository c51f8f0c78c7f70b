"""`EscalateStrategy`: call tier 1's choice, then escalate like the cascade while the judge says it pays."""

from __future__ import annotations

from langchain_emafusion.fusion.base import FusionContext
from langchain_emafusion.fusion.cascade import CascadeStrategy

__all__ = ["EscalateStrategy"]


class EscalateStrategy(CascadeStrategy):
    """The cascade's escalation rule, starting from tier 1's pick at this knob instead of the cheapest member.

    Where one member is far better and far pricier than the rest, the cascade pays for the cheap member on
    every prompt and then for the expensive one on most; this strategy starts where tier 1 would have stopped
    and adds a call only when the judge doubts the answer in hand (e.g. a cheap second opinion on the expensive
    member's doubtful answers), so it sits between tier 1 alone and calling everyone.
    """

    name = "escalate"

    def first_members(self, context: FusionContext) -> list[str]:
        """Tier 1's choice: the best-ranked eligible member at this knob."""
        return [context.ranked[0]]
