"""`FusionPolicy`: the whole system (tier 1 + tier 2) as a replay policy — the ``"emafusion"`` row of `emafusion eval`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_emafusion.evaluation.protocol import BaseReplayPolicy, Decision, PromptView
from langchain_emafusion.fusion.base import (
    Candidate,
    FusionContext,
    FusionOutcome,
    FusionStrategy,
    run_to_completion,
)
from langchain_emafusion.fusion.model import Tier2Model
from langchain_emafusion.fusion.strategies import get_strategy
from langchain_emafusion.tier1.policy import Tier1Policy

__all__ = ["FusionPolicy"]


class FusionPolicy(BaseReplayPolicy):
    """Tier 1 ranks the members; tier 2 picks a strategy for the prompt and knob and runs it.

    The knob is tier 1's ``quality_cost_tradeoff``; the cascade's escalations are valued with the same knob.
    ``force_strategy`` runs one strategy everywhere (used to learn the strategy table and for ablations).
    """

    name = "emafusion"

    def __init__(
        self,
        tier1: Tier1Policy,
        tier2: Tier2Model,
        *,
        force_strategy: str | None = None,
        judge_cache: dict[Any, dict[str, float]] | None = None,
    ) -> None:
        """Create the policy from a tier-1 policy and a trained tier-2 model.

        ``judge_cache`` memoizes the judge's verdicts on a set of answers; policies that share a judge may
        share one (tier-2 training replays every strategy of a fold with the same fold judge).
        """
        self.tier1 = tier1
        self.tier2 = tier2
        self.force_strategy = force_strategy
        self._strategies: dict[str, FusionStrategy] = {}
        self._judged: dict[Any, dict[str, float]] = {} if judge_cache is None else judge_cache

    def settings(self) -> list[float]:
        """Tier 1's knob values."""
        return self.tier1.settings()

    def prepare(self, prompts: Sequence[str]) -> None:
        """Predict all prompts with tier 1 in one batch."""
        self.tier1.prepare(prompts)

    def strategy(self, name: str) -> FusionStrategy:
        """The strategy instance of that name (made once)."""
        if name not in self._strategies:
            self._strategies[name] = get_strategy(name)
        return self._strategies[name]

    def outcome(self, view: PromptView, setting: float) -> FusionOutcome:
        """Run tier 2 on one prompt (calls go through the view, so the harness bills them)."""
        selection = self.tier1.selection(view, setting)
        task_probs = self.tier1.task_probs(view.prompt)
        name = self.force_strategy or self.tier2.strategy_for(self.tier2.predicted_task(task_probs), setting)

        async def call_many(models: Sequence[str]) -> list[Candidate]:
            return [
                Candidate(row.model, row.response, row.answer, row.cost_usd, row.latency_s)
                for row in view.call_many(models)
            ]

        context = FusionContext(
            prompt=view.prompt,
            ranked=selection.ranked,
            quality=selection.quality,
            expected_cost_usd=selection.expected_cost_usd,
            knob=setting,
            judge=self.tier2.judge,
            call_many=call_many,
            task_probs=task_probs,
            answers_expected=self.tier2.answers_expected,
            max_calls=self.tier2.max_calls,
            judge_cache=self._judged,
        )
        return run_to_completion(self.strategy(name).run(context))

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Return the response tier 2 chose."""
        return Decision.respond(self.outcome(view, setting).chosen)

    def describe(self) -> dict[str, Any]:
        """The strategy table and training info, for reports."""
        return {"strategies": self.tier2.strategies, "knobs": self.tier2.knobs, "info": self.tier2.info}
