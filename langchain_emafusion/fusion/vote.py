"""`VoteStrategy`: call the top members at once and take a reliability-weighted vote over their answer keys."""

from __future__ import annotations

from langchain_emafusion.fusion.base import (
    FusionContext,
    FusionOutcome,
    FusionStrategy,
    combine,
)

__all__ = ["VoteStrategy"]


class VoteStrategy(FusionStrategy):
    """Call tier 1's top ``k`` members in parallel; each votes for its answer key with the judge's log-odds.

    The weights are learned (the judge: tier 1's per-model, per-predicted-task reliability, agreement and the
    answer's own signals). Without comparable answer keys it falls back to the judge's pick.
    """

    name = "vote"

    def __init__(self, k: int = 3) -> None:
        """Create the strategy (``k``: members called, at least 2)."""
        if k < 2:
            raise ValueError(f"a vote needs k >= 2 members, got {k}")
        self.k = k

    async def run(self, context: FusionContext) -> FusionOutcome:
        """Call the top k members and vote."""
        k = min(self.k, context.max_calls, len(context.ranked))
        return combine(context, await context.call_many(context.ranked[:k]), self.name)

    def settings(self) -> dict[str, int]:
        """The number of members called."""
        return {"k": self.k}
