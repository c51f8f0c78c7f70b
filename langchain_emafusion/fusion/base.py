"""The tier-2 interface: a fusion strategy runs on a :class:`FusionContext` and returns a :class:`FusionOutcome`.

The same strategy code runs offline (replay: ``call_many`` reveals recorded rows and bills them) and live
(``call_many`` calls pool members, concurrently where it can). Strategies are deterministic functions of what
they have seen, which the replay protocol requires.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.fusion.judge import AnswerJudge, JudgeInput

__all__ = [
    "Candidate",
    "FusionContext",
    "FusionOutcome",
    "FusionStrategy",
    "UnknownStrategyError",
    "available_strategies",
    "get_strategy",
    "register_strategy",
]


class UnknownStrategyError(EmaFusionError, KeyError):
    """No fusion strategy is registered under that name."""


@dataclass(frozen=True)
class Candidate:
    """One called model's answer."""

    model: str
    response: str | None
    answer: str | None = None
    """Comparable answer key (option letter, number, label), when one could be extracted."""
    cost_usd: float | None = None
    latency_s: float | None = None
    confidence: float | None = None
    """Token-logprob confidence (local models)."""


@dataclass
class FusionContext:
    """What a strategy may use for one request: tier 1's view of the pool, the judge and a way to call models."""

    prompt: str
    ranked: list[str]
    """Eligible members ranked by tier 1's selector at this knob (caps and privacy already applied)."""
    quality: dict[str, float]
    """Tier 1's predicted probability of a good answer, per eligible member."""
    expected_cost_usd: dict[str, float]
    """Expected US$ of one call, per eligible member."""
    knob: float
    """The quality/cost trade-off λ (the same knob tier 1 uses)."""
    judge: AnswerJudge
    call_many: Callable[[Sequence[str]], list[Candidate]]
    """Call these members (in parallel where possible) and return their answers in the order asked."""
    task_probs: np.ndarray | None = None
    answers_expected: bool = False
    """Whether answers to this prompt have comparable keys (then vote and agreement apply)."""
    max_calls: int = 3
    """Most members one request may call."""
    aggregate: Callable[[str, Sequence[Candidate]], Candidate] | None = None
    """Live only: have this member write one answer from the candidates (synthesis); None in replay."""
    judge_cache: dict[Any, dict[str, float]] | None = None
    """Optional memo of :meth:`judged` results (replay re-runs a prompt once per call and per knob)."""

    def utility_scale(self) -> float:
        """The priciest eligible member's expected cost: costs are compared as a share of it."""
        return max(self.expected_cost_usd.values(), default=0.0) or 1.0

    def judged(self, candidates: Sequence[Candidate]) -> dict[str, float]:
        """The judge's P(right) of each candidate, seeing the others' answers (agreement)."""
        key = (self.prompt, tuple((c.model, c.answer, c.response) for c in candidates))
        if self.judge_cache is not None and key in self.judge_cache:
            return self.judge_cache[key]
        out = {}
        for candidate in candidates:
            others = [
                (other.answer if self.answers_expected else None, self.quality.get(other.model, 0.5))
                for other in candidates
                if other.model != candidate.model
            ]
            out[candidate.model] = self.judge.probability(
                JudgeInput(
                    model=candidate.model,
                    predicted_quality=self.quality.get(candidate.model, 0.5),
                    response=candidate.response,
                    answer=candidate.answer if self.answers_expected else None,
                    others=others,
                    confidence=candidate.confidence,
                    other_responses=[
                        other.response for other in candidates if other.model != candidate.model
                    ],
                ),
                self.task_probs,
            )
        if self.judge_cache is not None:
            self.judge_cache[key] = out
        return out


@dataclass(frozen=True)
class FusionOutcome:
    """How a request was answered."""

    strategy: str
    called: list[str]
    """Members called, in call order."""
    chosen: str
    """The member whose response is returned (for a vote: the most trusted member of the winning answer)."""
    how: str
    """Why this answer, in words."""
    confidences: dict[str, float] = field(default_factory=dict)
    """The judge's P(right) per called member."""
    answer: str | None = None
    """The fused answer key, for a vote."""
    votes: dict[str, float] = field(default_factory=dict)
    """Answer key → weight, for a vote."""
    synthesized: Candidate | None = None
    """The aggregator's answer, for synthesis (its text is the final answer)."""


class FusionStrategy(ABC):
    """A way to combine the members tier 1 selected. Subclasses set ``name`` and implement :meth:`run`."""

    name: ClassVar[str]
    live_only: ClassVar[bool] = False
    """True for strategies whose answer is new text (synthesis): replay cannot score it."""

    @abstractmethod
    def run(self, context: FusionContext) -> FusionOutcome:
        """Answer one request."""

    def settings(self) -> dict[str, Any]:
        """The strategy's parameters, for metadata."""
        return {}


def combine(
    context: FusionContext, candidates: Sequence[Candidate], strategy: str, *, vote: bool = True
) -> FusionOutcome:
    """Choose the final answer among the candidates in hand.

    With comparable answer keys, a weighted vote: each candidate adds −log(1 − q) to its answer key, q being
    the judge's probability that it is right (so a key's weight is −log P(every member behind it is wrong),
    treating their errors as independent); the heaviest key wins and its most trusted member's response is
    returned. Otherwise the judge selects the candidate most likely right.
    """
    confidences = context.judged(candidates)
    called = [candidate.model for candidate in candidates]
    keyed = [c for c in candidates if context.answers_expected and c.answer is not None]
    if vote and len(keyed) >= 2:
        votes: dict[str, float] = {}
        for candidate in keyed:
            q = min(max(confidences[candidate.model], 1e-6), 1 - 1e-6)
            votes[candidate.answer or ""] = votes.get(candidate.answer or "", 0.0) - math.log(1 - q)
        # Equal weights go to the key of the earliest-called candidate (deterministic, no string order).
        first_call = {c.answer: i for i, c in reversed(list(enumerate(keyed)))}
        winner = max(votes, key=lambda key: (votes[key], -first_call[key]))
        members = [c.model for c in keyed if c.answer == winner]
        chosen = max(members, key=lambda model: confidences[model])
        how = (
            f"weighted vote over {len(keyed)} answers: {winner!r} won with weight {votes[winner]:.2f} "
            f"({', '.join(members)})"
        )
        return FusionOutcome(strategy, called, chosen, how, confidences, answer=winner, votes=votes)
    chosen = max(called, key=lambda model: (confidences[model], -called.index(model)))
    how = (
        f"only answer: judged P(right) {confidences[chosen]:.2f}"
        if len(called) == 1
        else f"judge selected {chosen} (P(right) {confidences[chosen]:.2f}) among {len(called)} answers"
    )
    return FusionOutcome(strategy, called, chosen, how, confidences)


_REGISTRY: dict[str, type[FusionStrategy]] = {}


def register_strategy(cls: type[FusionStrategy]) -> type[FusionStrategy]:
    """Class decorator: register a strategy under its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def get_strategy(name: str, **kwargs: Any) -> FusionStrategy:
    """Instantiate a registered strategy by name.

    Raises:
        UnknownStrategyError: No strategy has that name.
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise UnknownStrategyError(
            f"unknown fusion strategy {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name](**kwargs)


def available_strategies() -> list[str]:
    """Names of the registered strategies."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    # Importing the modules registers them; done lazily so that base stays importable on its own.
    from langchain_emafusion.fusion import (  # noqa: F401
        cascade,
        escalate,
        select,
        single,
        synthesize,
        vote,
    )
