"""`SelectStrategy`: call the top members at once and let the learned judge pick one response."""

from __future__ import annotations

from langchain_emafusion.fusion.base import (
    FusionContext,
    FusionOutcome,
    FusionStrategy,
    combine,
)

__all__ = ["SelectStrategy"]


class SelectStrategy(FusionStrategy):
    """Call tier 1's top ``k`` members in parallel; return the response the judge rates most likely right.

    Works on any answer (free text, code), since it needs no answer keys; where keys exist the judge still
    reads agreement between the answers.
    """

    name = "select"

    def __init__(self, k: int = 2) -> None:
        """Create the strategy (``k``: members called, at least 2)."""
        if k < 2:
            raise ValueError(f"selection needs k >= 2 members, got {k}")
        self.k = k

    async def run(self, context: FusionContext) -> FusionOutcome:
        """Call the top k members and select."""
        k = min(self.k, context.max_calls, len(context.ranked))
        return combine(context, await context.call_many(context.ranked[:k]), self.name, vote=False)

    def settings(self) -> dict[str, int]:
        """The number of members called."""
        return {"k": self.k}
