"""Running a tier-2 strategy live, inside :class:`~langchain_emafusion.chat_models.FusionChatModel`.

The strategy code is the one replay scores; only ``call_many`` differs: here it calls pool members — several at
once in threads (sync) or on the event loop (async) — with the chat model's retries, timeout, privacy handling
(each member sees the raw or redacted messages its access allows; answers are restored) and audit log. A member
that fails every attempt is left out of the candidates and named in ``fusion.failures``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.messages import BaseMessage, HumanMessage

from langchain_emafusion.chat_models import _message_text, detached_task
from langchain_emafusion.fusion.answers import AnswerKind, answer_key, infer_answer_kind
from langchain_emafusion.fusion.base import Candidate, FusionContext, FusionOutcome, get_strategy
from langchain_emafusion.fusion.model import Tier2Model
from langchain_emafusion.fusion.synthesize import SYNTHESIS_INSTRUCTION

if TYPE_CHECKING:
    from langchain_emafusion.chat_models import FusionChatModel, _Call
    from langchain_emafusion.pool.card import ModelCard

__all__ = ["LiveFusion"]


class LiveFusion:
    """One request's tier-2 run: the strategy, its member calls and the metadata of how it answered."""

    def __init__(self, chat_model: FusionChatModel, call: _Call, callbacks: Any, tier2: Tier2Model) -> None:
        """Prepare the run (nothing is called yet)."""
        self.chat_model = chat_model
        self.call = call
        self.callbacks = callbacks
        self.tier2 = tier2
        self.messages: dict[str, BaseMessage] = {}
        self.kind: AnswerKind | None = infer_answer_kind(call.request.prompt)
        name = call.decision.strategy
        self.note = ""
        if name == "synthesize" and call.privacy.sensitive:
            # The aggregator would read every candidate's restored answer; sensitive requests are only selected.
            name, self.note = "select", "synthesis skipped: the request holds sensitive data"
        self.strategy = get_strategy(name)

    # --- context ------------------------------------------------------------------------------------------
    def _context(self, call_many: Any, aggregate: Any) -> FusionContext:
        decision = self.call.decision
        details = decision.details
        probs = details.get("task_probs")
        return FusionContext(
            prompt=self.call.request.prompt,
            ranked=list(decision.models),
            quality={m: float(q) for m, q in decision.scores.items()},
            expected_cost_usd={m: float(c) for m, c in details.get("expected_cost_usd", {}).items()},
            knob=float(details.get("quality_cost_tradeoff", 0.0)),
            judge=self.tier2.judge,
            call_many=call_many,
            task_probs=None if probs is None else np.asarray(probs, dtype=float),
            answers_expected=self.tier2.answers_expected and self.kind is not None,
            max_calls=self.tier2.max_calls,
            aggregate=aggregate,
        )

    def _candidate(self, card: ModelCard, message: BaseMessage) -> Candidate:
        text = _message_text(message)
        entry = self.call.calls[-1] if self.call.calls and self.call.calls[-1]["model"] == card.name else {}
        confidence = message.response_metadata.get("confidence")
        return Candidate(
            model=card.name,
            response=text,
            answer=answer_key(text, self.kind, self.call.request.prompt),
            cost_usd=entry.get("cost_usd"),
            latency_s=entry.get("latency_s"),
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
        )

    def _synthesis_messages(self, card: ModelCard, candidates: Sequence[Candidate]) -> list[BaseMessage]:
        listing = "\n\n".join(f"Candidate {i + 1}:\n{c.response or ''}" for i, c in enumerate(candidates))
        return [
            *self.call.privacy.messages_for(card),
            HumanMessage(f"{SYNTHESIS_INSTRUCTION}\n\n{listing}\n\nFinal answer:"),
        ]

    # --- sync -------------------------------------------------------------------------------------------------
    def _invoke(self, card: ModelCard, messages: list[BaseMessage] | None = None) -> BaseMessage | None:
        model, call = self.chat_model, self.call
        for attempt in range(model.max_retries + 1):
            started = time.perf_counter()
            try:
                member, member_messages, config = model._open(card, call, self.callbacks)
                message = model._with_timeout(member, messages or member_messages, config, call.member_kwargs)
            except Exception as exc:  # a failed member is left out; the others still answer
                model._audit(call.fail(card, attempt, exc, time.perf_counter() - started))
                continue
            model._audit(call.record(card, message, time.perf_counter() - started))
            return call.privacy.restore(card, message)
        return None

    def _call_many(self, models: Sequence[str]) -> list[Candidate]:
        pool = self.chat_model.resolved_pool
        cards = [pool[name] for name in models]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(cards), 1)) as executor:
            messages = list(executor.map(self._invoke, cards))
        return self._answered(cards, messages)

    def _answered(
        self, cards: Sequence[ModelCard], messages: Sequence[BaseMessage | None]
    ) -> list[Candidate]:
        """Keep each member's answer and return the candidates, in call order; failed members are left out."""
        out = []
        for card, message in zip(cards, messages, strict=True):
            if message is not None:
                self.messages[card.name] = message
                out.append(self._candidate(card, message))
        return out

    def _aggregate(self, aggregator: str, candidates: Sequence[Candidate]) -> Candidate:
        card = self.chat_model.resolved_pool[aggregator]
        message = self._invoke(card, self._synthesis_messages(card, candidates))
        if message is None:
            raise self.call.all_failed()
        self.messages["synthesis"] = message
        return self._candidate(card, message)

    def run(self) -> BaseMessage:
        """Run the strategy (sync) and return the final answer's message."""
        outcome = self.strategy.run(self._context(self._call_many, self._aggregate))
        return self._finish(outcome)

    # --- async ------------------------------------------------------------------------------------------------
    async def _ainvoke(
        self, card: ModelCard, messages: list[BaseMessage] | None = None
    ) -> BaseMessage | None:
        model, call = self.chat_model, self.call
        for attempt in range(model.max_retries + 1):
            started = time.perf_counter()
            try:
                member, member_messages, config = model._open(card, call, self.callbacks)
                message = await asyncio.wait_for(
                    detached_task(member.ainvoke(messages or member_messages, config, **call.member_kwargs)),
                    timeout=model.timeout,
                )
            except Exception as exc:
                await model._aaudit(call.fail(card, attempt, exc, time.perf_counter() - started))
                continue
            await model._aaudit(call.record(card, message, time.perf_counter() - started))
            return call.privacy.restore(card, message)
        return None

    async def arun(self) -> BaseMessage:
        """Run the strategy with member calls on the running event loop; returns the final answer's message."""
        loop = asyncio.get_running_loop()
        pool = self.chat_model.resolved_pool

        async def call_many(models: Sequence[str]) -> list[Candidate]:
            cards = [pool[name] for name in models]
            return self._answered(cards, await asyncio.gather(*(self._ainvoke(card) for card in cards)))

        async def aggregate(aggregator: str, candidates: Sequence[Candidate]) -> Candidate:
            card = pool[aggregator]
            message = await self._ainvoke(card, self._synthesis_messages(card, candidates))
            if message is None:
                raise self.call.all_failed()
            self.messages["synthesis"] = message
            return self._candidate(card, message)

        # The strategy is plain sync code; it runs in a worker thread and hands each call to the loop.
        context = self._context(
            lambda models: asyncio.run_coroutine_threadsafe(call_many(models), loop).result(),
            lambda name, cands: asyncio.run_coroutine_threadsafe(aggregate(name, cands), loop).result(),
        )
        outcome = await asyncio.to_thread(self.strategy.run, context)
        return self._finish(outcome)

    # --- result -----------------------------------------------------------------------------------------------
    def _finish(self, outcome: FusionOutcome) -> BaseMessage:
        if outcome.synthesized is not None:
            message = self.messages["synthesis"]
        elif outcome.chosen in self.messages:
            message = self.messages[outcome.chosen]
        else:
            raise self.call.all_failed()
        self.call.fusion.update(
            {
                "strategy": outcome.strategy,
                "models": [m for m in outcome.called if m in self.messages or m == outcome.chosen],
                "chosen": outcome.chosen,
                "how": outcome.how + (f" ({self.note})" if self.note else ""),
                "judge_confidences": {m: round(q, 4) for m, q in outcome.confidences.items()},
                "answer_kind": self.kind,
                "answers": {m: c for m, c in self._answers().items()},
                **({"votes": {k: round(v, 4) for k, v in outcome.votes.items()}} if outcome.votes else {}),
            }
        )
        return message

    def _answers(self) -> dict[str, str | None]:
        return {
            name: answer_key(_message_text(message), self.kind, self.call.request.prompt)
            for name, message in self.messages.items()
            if name != "synthesis"
        }
