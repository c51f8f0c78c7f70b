"""`AgreementStrategy`: ask cheaper members first, stop when they agree, escalate on disagreement."""

from __future__ import annotations

from langchain_emafusion.fusion.base import Candidate, FusionContext, FusionOutcome, combine
from langchain_emafusion.fusion.cascade import CascadeStrategy

__all__ = ["AgreementStrategy"]


class AgreementStrategy(CascadeStrategy):
    """Call a panel of members cheaper than tier 1's pick at once; if their answer keys agree, that is the answer.

    The panel is the ``max_calls − 1`` best-ranked members (tier 1's order at this knob) whose expected cost is
    below that of tier 1's pick; when fewer are cheaper, the next best-ranked members fill it. Agreement between
    members that err differently is strong evidence: where one member is far better and far pricier than the
    rest (gpt-4o beside Gemini and Llama), two cheaper members that give the same answer are about as often
    right as the expensive one, for a fraction of its price. When the panel disagrees (or the answers have no
    comparable keys), the cascade's escalation rule takes over from the answers in hand: the member with the
    largest judged gain minus knob × its cost is called while that is positive, and the final answer is the
    judge-weighted vote. Whether this pays at a knob is learned like every strategy's, out of fold.
    """

    name = "agree"

    def first_members(self, context: FusionContext) -> list[str]:
        """The panel: best-ranked members cheaper than tier 1's pick, filled from the ranking if too few."""
        # One member is kept out of the panel so that a disagreement has somewhere to escalate to.
        size = max(1, min(context.max_calls - 1, len(context.ranked) - 1))
        top = context.ranked[0]
        top_cost = context.expected_cost_usd.get(top, 0.0)
        cheaper = [m for m in context.ranked[1:] if context.expected_cost_usd.get(m, 0.0) < top_cost]
        panel = cheaper[:size]
        for model in context.ranked:
            if len(panel) >= size:
                break
            if model not in panel:
                panel.append(model)
        return panel

    async def run(self, context: FusionContext) -> FusionOutcome:
        """Ask the panel; return its answer if the keys agree, else escalate."""
        candidates: list[Candidate] = list(await context.call_many(self.first_members(context)))
        keys = {c.answer for c in candidates}
        if context.answers_expected and len(candidates) >= 2 and None not in keys and len(keys) == 1:
            return combine(context, candidates, self.name)
        return await self.escalate(context, candidates)
