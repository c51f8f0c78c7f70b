"""`ModelCard`: one member of a fusion pool and what the router may know about it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

__all__ = ["Capabilities", "ModelCard", "UNKNOWN_OUTPUT_TOKENS"]

UNKNOWN_OUTPUT_TOKENS = 256.0
"""The output length assumed for a member whose answers' lengths were never recorded: tier 1 predicts it, and
replay cards fitted to recorded costs without token counts put a call's fixed cost on it (the same estimate in
replay and live)."""

ModelFactory = Callable[[], BaseChatModel]


class Capabilities(BaseModel):
    """What a pool member can do; the router only sends a request to members that can serve it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: bool = False
    """The member supports tool calling (`bind_tools`) and returns `tool_calls` intact."""

    structured_output: bool = False
    """The member supports schema-constrained output (`with_structured_output` / `response_format`)."""

    context_window: int = Field(default=4096, gt=0)
    """The most tokens (prompt plus answer) the member accepts."""


class ModelCard(BaseModel):
    """A pool member: a LangChain chat model plus the static facts a router may use.

    The router sees only these facts (never the model's answers) when it decides. `model` may be a
    ready `BaseChatModel` or a zero-argument factory returning one, so that nothing heavy is built
    until the member is first called; the built model is then reused for every later call.

    Example:
        .. code-block:: python

            from langchain_openai import ChatOpenAI
            from langchain_emafusion import ModelCard

            card = ModelCard(
                name="gpt-4o-mini",
                model=lambda: ChatOpenAI(model="gpt-4o-mini"),
                input_price=0.15,
                output_price=0.60,
                capabilities={"tools": True, "structured_output": True, "context_window": 128_000},
            )
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(min_length=1)
    """Unique name of the member within its pool."""

    model: BaseChatModel | ModelFactory = Field(exclude=True)
    """A LangChain chat model, or a zero-argument callable that builds one on first use."""

    input_price: float = Field(default=0.0, ge=0)
    """Price in US$ per million input tokens (0 for free or local models)."""

    output_price: float = Field(default=0.0, ge=0)
    """Price in US$ per million output tokens (0 for free or local models)."""

    latency_hint_s: float = Field(default=1.0, ge=0)
    """Typical wall time of one short call, in seconds (a routing hint, not a measurement)."""

    private: bool = False
    """True when data sent to this member stays inside the organisation (local or self-hosted)."""

    capabilities: Capabilities = Field(default_factory=Capabilities)
    """Tool calling, structured output and context window."""

    tags: list[str] = Field(default_factory=list)
    """Free-form labels (e.g. ``"local"``, ``"code"``), for people and custom routers."""

    runs: str | None = Field(default=None, min_length=1)
    """What the member runs, when known: the embedded model (``"qwen2.5-coder-0.5b"``) or the provider's model
    id (``"gpt-4o-mini"``). A YAML pool fills it in from ``embedded:`` and ``model:``. A trained predictor (the
    shipped one included) knows a member by its name, else by this, so a member called ``local`` that runs an
    embedded model is still recognised."""

    _built: BaseChatModel | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("name")
    @classmethod
    def _name_has_no_outer_space(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("name must not start or end with whitespace")
        return value

    @field_validator("model")
    @classmethod
    def _model_is_chat_model_or_factory(cls, value: Any) -> Any:
        if isinstance(value, BaseChatModel) or callable(value):
            return value
        raise ValueError(
            f"model must be a BaseChatModel or a zero-argument factory, got {type(value).__name__}"
        )

    def get_model(self) -> BaseChatModel:
        """Return the member's chat model, building it from the factory on first use (thread-safe)."""
        if isinstance(self.model, BaseChatModel):
            return self.model
        if self._built is None:
            with self._lock:
                if self._built is None:
                    built = self.model()
                    if not isinstance(built, BaseChatModel):
                        raise TypeError(
                            f"model factory of pool member {self.name!r} returned {type(built).__name__}, "
                            "expected a langchain_core BaseChatModel"
                        )
                    self._built = built
        return self._built

    @property
    def is_loaded(self) -> bool:
        """Whether the member's chat model exists already (a ready model, or a factory already called)."""
        return isinstance(self.model, BaseChatModel) or self._built is not None

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        """Price of one call with these token counts, in US$."""
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1_000_000
