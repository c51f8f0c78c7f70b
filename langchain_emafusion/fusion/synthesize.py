"""`SynthesizeStrategy`: an aggregator member writes the final answer from the candidates' answers (live only)."""

from __future__ import annotations

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.fusion.base import FusionContext, FusionOutcome, FusionStrategy

__all__ = ["SynthesizeStrategy", "SYNTHESIS_INSTRUCTION"]

SYNTHESIS_INSTRUCTION = (
    "You are given a question and several candidate answers written by other assistants. Some may be wrong. "
    "Write the single best final answer to the question: keep what the candidates get right, fix what they get "
    "wrong, and do not mention the candidates."
)
"""The aggregator's instruction (the question, any retrieved context and the candidates follow it)."""


class SynthesizeStrategy(FusionStrategy):
    """Call tier 1's top ``k`` members in parallel, then the top-ranked member writes the answer from theirs.

    Replay cannot score newly written text, so this strategy runs live only; the judge's confidences of the
    candidates are still reported.
    """

    name = "synthesize"
    live_only = True

    def __init__(self, k: int = 2) -> None:
        """Create the strategy (``k``: candidate members called, at least 2)."""
        if k < 2:
            raise ValueError(f"synthesis needs k >= 2 candidates, got {k}")
        self.k = k

    async def run(self, context: FusionContext) -> FusionOutcome:
        """Call the candidates, then the aggregator."""
        if context.aggregate is None:
            raise EmaFusionError("synthesis needs a live pool (an aggregator call); replay cannot score it")
        k = min(self.k, max(context.max_calls - 1, 1), len(context.ranked))
        candidates = await context.call_many(context.ranked[:k])
        aggregator = context.ranked[0]
        final = await context.aggregate(aggregator, candidates)
        confidences = context.judged(candidates)
        how = f"{aggregator} wrote the answer from {len(candidates)} candidates ({', '.join(confidences)})"
        called = [candidate.model for candidate in candidates] + [aggregator]
        return FusionOutcome(self.name, called, aggregator, how, confidences, synthesized=final)

    def settings(self) -> dict[str, int]:
        """The number of candidates."""
        return {"k": self.k}
