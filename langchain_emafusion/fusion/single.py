"""`SingleStrategy`: call tier 1's choice and return its answer (routing without fusion)."""

from __future__ import annotations

from langchain_emafusion.fusion.base import (
    FusionContext,
    FusionOutcome,
    FusionStrategy,
    combine,
)

__all__ = ["SingleStrategy"]


class SingleStrategy(FusionStrategy):
    """One call: the member tier 1 ranks first at this knob."""

    name = "single"

    async def run(self, context: FusionContext) -> FusionOutcome:
        """Call the top-ranked member."""
        return combine(context, await context.call_many(context.ranked[:1]), self.name)
