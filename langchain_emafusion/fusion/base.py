"""The tier-2 interface: a fusion strategy runs on a :class:`FusionContext` and returns a :class:`FusionOutcome`.

Strategies are written against an async interface: ``await context.call_many(models)``. The same strategy code
runs live (``call_many`` calls pool members concurrently on the event loop, through the request pipeline) and
offline (replay: ``call_many`` reveals recorded rows and bills them; it never suspends, so
:func:`run_to_completion` drives the coroutine without an event loop). Strategies are deterministic functions of
what they have seen, which the replay protocol requires. The registry of strategy names is
:mod:`~langchain_emafusion.fusion.strategies`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.fusion.judge import AnswerJudge, JudgeInput

__all__ = [
    "Candidate",
    "FusionContext",
    "FusionOutcome",
    "FusionStrategy",
    "NoCandidatesError",
    "run_to_completion",
]

_T = TypeVar("_T")


class NoCandidatesError(EmaFusionError):
    """A strategy was left with no answer to choose from (live: every member it could call failed)."""


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
    call_many: Callable[[Sequence[str]], Awaitable[list[Candidate]]]
    """Call these members at once and return their answers in the order asked. Live, a member that fails is
    replaced by the next ranked one not yet called, and a member never gets a second call in one request;
    members that could not answer are added to :attr:`failed`."""
    task_probs: np.ndarray | None = None
    answers_expected: bool = False
    """Whether answers to this prompt have comparable keys (then vote and agreement apply)."""
    max_calls: int = 3
    """Most members one request may call."""
    aggregate: Callable[[str, Sequence[Candidate]], Awaitable[Candidate]] | None = None
    """Live only: have this member write one answer from the candidates (synthesis); None in replay."""
    failed: set[str] = field(default_factory=set)
    """Members that failed in this request (live only): strategies never ask for them again."""
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
    async def run(self, context: FusionContext) -> FusionOutcome:
        """Answer one request (awaiting only ``context.call_many`` and ``context.aggregate``)."""

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
    if not candidates:
        raise NoCandidatesError(f"strategy {strategy!r} has no answer to choose from")
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


def run_to_completion(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a strategy coroutine whose awaits never suspend (replay's ``call_many``), without an event loop.

    Replay scores thousands of prompts per knob; driving each strategy by hand costs nothing, where an event
    loop per prompt would. A coroutine that does suspend (it awaited real I/O) is closed and refused.

    Raises:
        RuntimeError: The coroutine suspended: it needs an event loop (use ``await`` instead).
    """
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("a replay strategy awaited something that suspends; replay calls must not")
