"""`Tier2Run`: a tier-2 strategy run live, its member calls made through :class:`MemberCaller`.

The strategy code is the one replay scores; only ``call_many`` differs: here it calls pool members at once on
the event loop. A member that fails every attempt is replaced by the next ranked eligible member not yet called
(so a vote still hears ``k`` answers when it can), is never called again in the request, and is named in
``fusion.failures``; when no member at all could answer, the request fails with ``AllMembersFailedError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.messages import BaseMessage, HumanMessage

from langchain_emafusion.fusion.answers import AnswerKind, answer_key, infer_answer_kind
from langchain_emafusion.fusion.base import Candidate, FusionContext, FusionOutcome, NoCandidatesError
from langchain_emafusion.fusion.model import Tier2Model
from langchain_emafusion.fusion.strategies import get_strategy
from langchain_emafusion.fusion.synthesize import SYNTHESIS_INSTRUCTION
from langchain_emafusion.pipeline.member import MemberCaller
from langchain_emafusion.pipeline.messages import message_text
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool

__all__ = ["Tier2Run"]


class Tier2Run:
    """One request's tier-2 run: the strategy, its member calls and the metadata of how it answered."""

    def __init__(self, caller: MemberCaller, pool: ModelPool, tier2: Tier2Model) -> None:
        """Prepare the run (nothing is called yet)."""
        self.caller = caller
        self.request = caller.request
        self.pool = pool
        self.tier2 = tier2
        self.messages: dict[str, BaseMessage] = {}
        self.tried: set[str] = set()
        self.kind: AnswerKind | None = infer_answer_kind(self.request.prompt)
        name = self.request.decision.strategy
        self.note = ""
        if name == "synthesize" and self.request.privacy.sensitive:
            # The aggregator would read every candidate's restored answer; sensitive requests are only selected.
            name, self.note = "select", "synthesis skipped: the request holds sensitive data"
        self.strategy = get_strategy(name)

    def _context(self) -> FusionContext:
        decision = self.request.decision
        details = decision.details
        probs = details.get("task_probs")
        return FusionContext(
            prompt=self.request.prompt,
            ranked=list(decision.models),
            quality={m: float(q) for m, q in decision.scores.items()},
            expected_cost_usd={m: float(c) for m, c in details.get("expected_cost_usd", {}).items()},
            knob=float(details.get("quality_cost_tradeoff", 0.0)),
            judge=self.tier2.judge,
            call_many=self._call_many,
            task_probs=None if probs is None else np.asarray(probs, dtype=float),
            answers_expected=self.tier2.answers_expected and self.kind is not None,
            max_calls=self.tier2.max_calls,
            aggregate=self._aggregate,
            failed=self.request.failed,
        )

    def _candidate(self, card: ModelCard, message: BaseMessage) -> Candidate:
        text = message_text(message)
        entry: dict[str, Any] = next((c for c in reversed(self.request.calls) if c["model"] == card.name), {})
        confidence = message.response_metadata.get("confidence")
        return Candidate(
            model=card.name,
            response=text,
            answer=answer_key(text, self.kind, self.request.prompt),
            cost_usd=entry.get("cost_usd"),
            latency_s=entry.get("latency_s"),
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
        )

    def _replacement(self) -> str | None:
        """The best-ranked eligible member not yet called in this request."""
        return next((m for m in self.request.decision.models if m not in self.tried), None)

    async def _answer(self, name: str | None) -> tuple[ModelCard, BaseMessage] | None:
        """Call ``name``; when it fails, the next ranked member not yet called, until one answers."""
        while name is not None:
            self.tried.add(name)
            card = self.pool[name]
            try:
                return card, await self.caller.invoke(card)
            except Exception:  # noqa: BLE001 - recorded in the request's failures; the next member stands in
                name = self._replacement()
        return None

    async def _call_many(self, models: Sequence[str]) -> list[Candidate]:
        wanted = [m for m in models if m not in self.tried]
        self.tried.update(wanted)
        answers = await asyncio.gather(*(self._answer(name) for name in wanted))
        out = []
        for answer in answers:
            if answer is not None:
                card, message = answer
                self.messages[card.name] = message
                out.append(self._candidate(card, message))
        if not out and not self.messages:
            raise self.request.all_failed()
        return out

    async def _aggregate(self, aggregator: str, candidates: Sequence[Candidate]) -> Candidate:
        """Have ``aggregator`` (or, when it fails, the next ranked member that did not) write the answer."""
        order = [aggregator] + [m for m in self.request.decision.models if m != aggregator]
        listing = "\n\n".join(f"Candidate {i + 1}:\n{c.response or ''}" for i, c in enumerate(candidates))
        for name in order:
            if name in self.request.failed:
                continue
            card = self.pool[name]
            messages = [
                *self.request.privacy.messages_for(card),
                HumanMessage(f"{SYNTHESIS_INSTRUCTION}\n\n{listing}\n\nFinal answer:"),
            ]
            try:
                message = await self.caller.invoke(card, messages)
            except Exception:  # noqa: BLE001,S112 - recorded; the next member writes the answer
                continue
            self.messages["synthesis"] = message
            return self._candidate(card, message)
        raise self.request.all_failed()

    async def run(self) -> BaseMessage:
        """Run the strategy and return the final answer's message (privacy already restored)."""
        try:
            outcome = await self.strategy.run(self._context())
        except NoCandidatesError:
            raise self.request.all_failed() from None
        return self._finish(outcome)

    def _finish(self, outcome: FusionOutcome) -> BaseMessage:
        if outcome.synthesized is not None:
            message = self.messages["synthesis"]
        elif outcome.chosen in self.messages:
            message = self.messages[outcome.chosen]
        else:
            raise self.request.all_failed()
        self.request.fusion.update(
            {
                "strategy": outcome.strategy,
                "models": [m for m in outcome.called if m in self.messages or m == outcome.chosen],
                "chosen": outcome.chosen,
                "how": outcome.how + (f" ({self.note})" if self.note else ""),
                "judge_confidences": {m: round(q, 4) for m, q in outcome.confidences.items()},
                "answer_kind": self.kind,
                "answers": self._answers(),
                **({"votes": {k: round(v, 4) for k, v in outcome.votes.items()}} if outcome.votes else {}),
            }
        )
        return message

    def _answers(self) -> dict[str, str | None]:
        return {
            name: answer_key(message_text(message), self.kind, self.request.prompt)
            for name, message in self.messages.items()
            if name != "synthesis"
        }
