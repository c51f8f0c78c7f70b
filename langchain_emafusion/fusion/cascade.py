"""`CascadeStrategy`: start with tier 1's choice, escalate while the judge says another call is worth it."""

from __future__ import annotations

from langchain_emafusion.fusion.base import (
    Candidate,
    FusionContext,
    FusionOutcome,
    FusionStrategy,
    combine,
)

__all__ = ["CascadeStrategy"]


class CascadeStrategy(FusionStrategy):
    """Call the cheapest eligible member first, then escalate one member at a time while it pays.

    After each answer the judge estimates E = P(the best answer in hand is right). Calling member b, predicted
    right with probability p, and then keeping the answer the judge prefers is worth

        E·p + s·(E·(1 − p) + p·(1 − E)) − E

    where s is the judge's measured skill at picking the right one of two disagreeing answers. The cascade calls
    the member with the largest gain minus knob × its cost (as a share of the priciest member's), while that is
    positive and the call limit allows. So the escalation threshold is not hand-set: it follows from the judge's
    calibrated confidence, tier 1's predictions and the knob. The final answer is a weighted vote when answers
    have comparable keys, else the judge's pick.
    """

    name = "cascade"

    def first_members(self, context: FusionContext) -> list[str]:
        """The members called first, at once: the cheapest eligible one (ties: tier 1's order)."""
        return [
            min(
                context.ranked,
                key=lambda m: (context.expected_cost_usd.get(m, 0.0), context.ranked.index(m)),
            )
        ]

    async def run(self, context: FusionContext) -> FusionOutcome:
        """Run the cascade."""
        candidates: list[Candidate] = list(await context.call_many(self.first_members(context)))
        return await self.escalate(context, candidates)

    async def escalate(self, context: FusionContext, candidates: list[Candidate]) -> FusionOutcome:
        """Add one member at a time to the answers in hand while the judged gain beats knob × cost."""
        scale = context.utility_scale()
        skill = context.judge.selection_skill
        while candidates and len(candidates) < context.max_calls:
            confidences = context.judged(candidates)
            in_hand = max(confidences.values())
            # Live, a member that failed (or stood in for one) is never asked again in this request.
            called = {candidate.model for candidate in candidates} | context.failed
            best_value, best_model = 0.0, None
            for model in context.ranked:
                if model in called:
                    continue
                p = context.quality.get(model, 0.0)
                gain = in_hand * p + skill * (in_hand * (1 - p) + p * (1 - in_hand)) - in_hand
                value = gain - context.knob * context.expected_cost_usd.get(model, 0.0) / scale
                if value > best_value:
                    best_value, best_model = value, model
            if best_model is None:
                break
            candidates.extend(await context.call_many([best_model]))
        return combine(context, candidates, self.name)
