"""`PipelineChatModel`: the fusion model's direct path — fields, tools, structured output, the request pipeline.

:class:`~langchain_emafusion.chat_models.FusionChatModel` is this model plus the fusion graph (decomposition,
enterprise context). The graph's own calls use this class, so the graph depends on the pipeline and this model,
and neither depends on the graph.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from langchain_emafusion.errors import InvalidInputError
from langchain_emafusion.feedback.log import FeedbackLog, FeedbackRecord
from langchain_emafusion.pipeline.ledger import LedgerReference, resolve_ledger_reference
from langchain_emafusion.pipeline.pipeline import STRUCTURED_MARKER, FusionPipeline
from langchain_emafusion.pipeline.sync import iterate_sync, run_sync
from langchain_emafusion.pool.embedded import default_embedded_pool
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.privacy.policy import PrivacyPolicy
from langchain_emafusion.routing.base import Router
from langchain_emafusion.routing.registry import check_router, get_router
from langchain_emafusion.routing.targets import CalibrationResult, choose_knob

__all__ = ["PipelineChatModel"]


class PipelineChatModel(BaseChatModel):
    """A chat model over a pool: each request routed, called through the request pipeline, answered.

    Everything :class:`~langchain_emafusion.chat_models.FusionChatModel` does except the fusion graph; see its
    docstring for the options. The four entry points hand each request to one
    :class:`~langchain_emafusion.pipeline.pipeline.FusionPipeline` (``invoke`` and ``stream`` through its sync
    facade), where every member is called in one place.
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    pool: ModelPool | None = Field(default=None, exclude=True)
    """The members; a ``ModelPool``, a path to a pool YAML file, or None for the embedded local pool."""

    router: str | Path | Router = Field(default="auto", exclude=True)
    """A registered router name (see ``available_routers()``), a folder written by ``emafusion train`` or
    ``emafusion onboard`` (a tier-1 predictor, loaded on the first call), or a ``Router`` instance. When not
    set, a pool file's ``router:`` applies, else ``"auto"``."""

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
    outcome; never a value) and one per routed request (the savings ledger's record: cost, members, predicted
    quality and each member's counterfactual cost); None writes no log."""

    feedback_log: str | Path | None = None
    """A JSONL file that gets one decision record per answered request (run id, the routed text with every
    detected value replaced by its placeholder, router, members, predicted qualities, cost, tokens, seconds);
    :meth:`record_feedback` adds scores to it and ``emafusion train --outcomes FILE --base POLICY --out NEW``
    retrains a trained policy with them. None writes no log."""

    ledger_baseline: str | None = None
    """The pool member the savings ledger compares each request with: the audit log's request records (one per
    routed request) hold what it would have cost and its predicted quality (``emafusion ledger`` sums them).
    None: the pool's best single member (best mean quality on a trained router's training table, else the
    priciest member). Checked against the pool on the first request written to an audit log."""

    quality_cost_tradeoff: float | None = Field(default=None, ge=0)
    """Learned routers' knob (0: best predicted quality; larger: cheaper); None: the router's default."""

    target_accuracy: float | None = Field(default=None, ge=0, le=1)
    """Instead of a knob: the cheapest knob whose expected accuracy reaches this, read off the trained router's
    calibration curve (its out-of-fold figures on the training table; ``emafusion calibrate`` prints it). The
    choice and its expected figures are in ``response_metadata["fusion"]["target"]``. Needs a router written by
    ``emafusion train``; excludes ``quality_cost_tradeoff`` and ``max_mean_cost_usd``."""

    max_mean_cost_usd: float | None = Field(default=None, ge=0)
    """Instead of a knob: the most accurate knob whose expected mean cost per request (US$) stays within this,
    read off the trained router's calibration curve like ``target_accuracy`` (which it excludes). Unlike
    ``max_cost_usd`` it caps the average, not each call."""

    max_cost_usd: float | None = Field(default=None, ge=0)
    """Hard cap on one member call's expected cost in US$; members above it are never called, fallbacks
    included. None: no cap."""

    max_latency_s: float | None = Field(default=None, ge=0)
    """Hard cap on a member's latency hint in seconds; slower members are never called. None: no cap."""

    _pool: ModelPool | None = PrivateAttr(default=None)
    _router: Router | None = PrivateAttr(default=None)
    _target: tuple[tuple[float | None, float | None], CalibrationResult] | None = PrivateAttr(default=None)
    _ledger: tuple[str | None, LedgerReference] | None = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        # A pool file and a privacy mapping are converted here rather than in validators: pydantic would wrap
        # the PoolConfigError / PrivacyConfigError (which name the bad entry and field) in a ValidationError.
        if isinstance(kwargs.get("pool"), str | Path):
            kwargs["pool"] = ModelPool.from_yaml(kwargs["pool"])
        pool = kwargs.get("pool")
        if "router" not in kwargs and isinstance(pool, ModelPool) and pool.router is not None:
            # A pool file's `router:` (e.g. the profile `emafusion onboard` writes) applies unless one is given.
            kwargs["router"] = pool.router
        privacy = kwargs.get("privacy")
        if isinstance(privacy, str):
            kwargs["privacy"] = PrivacyPolicy.from_config({"mode": privacy})
        elif isinstance(privacy, Mapping):
            kwargs["privacy"] = PrivacyPolicy.from_config(privacy)
        super().__init__(**kwargs)
        # Checked here, not in a validator, so the typed errors reach the caller unwrapped; reading the curve
        # touches only the policy's manifest.
        targets = [
            n
            for n in ("target_accuracy", "max_mean_cost_usd", "quality_cost_tradeoff")
            if getattr(self, n) is not None
        ]
        if len(targets) > 1:
            raise InvalidInputError(
                f"give at most one of target_accuracy, max_mean_cost_usd and quality_cost_tradeoff; got {', '.join(targets)}"
            )
        _ = self.target

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
        if self.pool is not None:
            return self.pool
        if self._pool is None:
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

    @property
    def target(self) -> CalibrationResult | None:
        """The knob chosen for ``target_accuracy`` or ``max_mean_cost_usd`` (None without a target).

        Read once per target off the router's calibration curve; a target no setting meets gets the closest
        setting, ``met=False`` and a warning.

        Raises:
            InvalidInputError: The router has no calibration curve (not trained by ``emafusion train``).
        """
        key = (self.target_accuracy, self.max_mean_cost_usd)
        if key == (None, None):
            return None
        if self._target is None or self._target[0] != key:
            calibration = self.resolved_router.calibration()
            if calibration is None:
                raise InvalidInputError(
                    "target_accuracy and max_mean_cost_usd need a router trained by `emafusion train` (its "
                    f"folder holds the knob's out-of-fold calibration); router {str(self.router)!r} has none: "
                    "set quality_cost_tradeoff instead"
                )
            curve, source = calibration
            choice = choose_knob(curve, target_accuracy=key[0], max_mean_cost_usd=key[1], source=source)
            if not choice.met:
                warnings.warn(
                    f"no knob setting meets the target {choice.target} on the router's calibration curve; "
                    f"using the closest (knob {choice.knob:g}: expected accuracy "
                    f"{choice.expected_accuracy:.3f}, mean cost ${choice.expected_cost_usd:.3g})",
                    RuntimeWarning,
                    stacklevel=2,
                )
            self._target = (key, choice)
        return self._target[1]

    @property
    def ledger_reference(self) -> LedgerReference:
        """The savings ledger's baseline and the members it prices, chosen on first use (see ``ledger_baseline``).

        A copy of the model (``model_copy``) keeps the choice, so the fusion graph's private-only copy, whose pool
        holds only private members, still prices the whole pool.

        Raises:
            InvalidInputError: ``ledger_baseline`` names no member of the pool.
        """
        if self._ledger is None or self._ledger[0] != self.ledger_baseline:
            reference = resolve_ledger_reference(
                self.resolved_pool, self.resolved_router, self.ledger_baseline
            )
            self._ledger = (self.ledger_baseline, reference)
        return self._ledger[1]

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
            extra_bind={STRUCTURED_MARKER: True},
        )

    def record_feedback(
        self,
        run_id: str | UUID,
        score: float | bool,
        *,
        key: str | None = None,
        comment: str | None = None,
    ) -> FeedbackRecord:
        """Score the answer of run ``run_id`` (0 wrong … 1 right; True/False count as 1/0) in ``feedback_log``.

        ``run_id`` is the LangChain run id of the call (callbacks' ``run_id``, LangSmith's run id,
        ``response_metadata["fusion"]["request_id"]``). The latest score of a run counts.

        Raises:
            InvalidInputError: This model has no ``feedback_log``.
            FeedbackLogError: The score is not a number in [0, 1].
        """
        if self.feedback_log is None:
            raise InvalidInputError(
                "record_feedback needs a feedback log: FusionChatModel(feedback_log='feedback.jsonl', ...)"
            )
        return FeedbackLog(self.feedback_log).record_feedback(str(run_id), score, key=key, comment=comment)

    @property
    def pipeline(self) -> FusionPipeline:
        """The request pipeline over this model's settings."""
        return FusionPipeline(self)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return run_sync(self.pipeline.agenerate(messages, stop, run_manager, kwargs, sync_members=True))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from iterate_sync(self.pipeline.astream(messages, stop, run_manager, kwargs, sync_members=True))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await self.pipeline.agenerate(messages, stop, run_manager, kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in self.pipeline.astream(messages, stop, run_manager, kwargs):
            yield chunk
