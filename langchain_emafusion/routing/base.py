"""The router interface every routing policy implements.

A router sees the request (its text, what it needs) and the pool's static cards, never a member's answer,
and returns the ordered members to call. Tier 1 (a learned predictor) plugs in here as another router. The
registry that names routers (``get_router``, ``register_router``) is :mod:`langchain_emafusion.routing.registry`:
it imports the routers, which import this module, so this module imports none of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from langchain_emafusion.errors import NoEligibleModelError
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.targets import CalibrationPoint

__all__ = [
    "RoutingRequest",
    "RoutingDecision",
    "Router",
    "eligible_cards",
    "known_as",
    "PREDICTOR_CONFIG_FILE",
]

PREDICTOR_CONFIG_FILE = "tier1.json"
"""The file that marks a folder as a trained tier-1 predictor."""


class RoutingRequest(BaseModel):
    """What a router may know about one request."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    """The request's text (all messages joined), for routers that read it."""

    input_tokens: int = Field(ge=0)
    """Estimated prompt tokens."""

    max_output_tokens: int = Field(default=256, ge=0)
    """Output tokens the request may produce; counted against each member's context window."""

    needs_tools: bool = False
    """The request has tools bound and may need a member that calls them."""

    needs_structured_output: bool = False
    """The request asks for schema-shaped output."""

    private_only: bool = False
    """Only members with ``private=True`` may see this request (e.g. it holds sensitive data)."""

    max_cost_usd: float | None = Field(default=None, ge=0)
    """Hard cap on one member call's expected cost in US$ (input tokens plus the output budget at card prices)."""

    max_latency_s: float | None = Field(default=None, ge=0)
    """Hard cap on a member's latency hint, in seconds."""

    quality_cost_tradeoff: float | None = Field(default=None, ge=0)
    """The learned routers' knob (0: best predicted quality; larger: cheaper); None: the router's default."""


class RoutingDecision(BaseModel):
    """The members to call, best first; later ones are fallbacks when an earlier one fails."""

    model_config = ConfigDict(frozen=True)

    models: list[str] = Field(min_length=1)
    """Member names in the order to try."""

    strategy: str = "single"
    """How the members' outputs are combined (``"single"``: the first member that answers)."""

    router: str
    """Registry name of the router that decided."""

    reason: str
    """A one-line human-readable explanation of the choice."""

    scores: dict[str, float] = Field(default_factory=dict)
    """Per-member scores the router used (meaning depends on the router)."""

    details: dict[str, Any] = Field(default_factory=dict)
    """Router-specific facts worth showing (e.g. the knob, expected costs, the predicted task)."""


class Router(ABC):
    """Chooses pool members for a request.

    Subclasses are registered by name with :func:`~langchain_emafusion.routing.registry.register_router`.
    """

    name: str = "router"

    def calibration(self) -> tuple[list[CalibrationPoint], str] | None:
        """The knob's calibration curve and where it comes from, or None when the router has none.

        ``FusionChatModel(target_accuracy=...)`` reads its knob off this curve; routers trained by
        ``emafusion train`` carry one (the whole system's out-of-fold figures on the training table).

        Raises:
            InvalidInputError: The router has a policy folder whose curve is missing or malformed.
        """
        return None

    def training_quality(self, pool: ModelPool) -> dict[str, float] | None:
        """Each member's mean recorded quality on the table the router was trained on, or None without one.

        Only members of ``pool`` the router was trained on are named. The savings ledger
        (``FusionChatModel(audit_log=...)``) takes the best of them as its default baseline; a router that also
        puts ``predicted_quality`` and ``predicted_output_tokens`` (member → value) in its decision's
        ``details`` has each request's counterfactuals priced and rated with them.
        """
        return None

    @abstractmethod
    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        """Return the members to call for ``request``, best first.

        Raises:
            NoEligibleModelError: When no member can serve the request.
        """


def known_as(card: ModelCard, known: Collection[str]) -> str | None:
    """The name under which a predictor trained on the members ``known`` knows ``card``, or None.

    A card is known by its name, else by what it runs (:attr:`ModelCard.runs`): a member named ``local`` that
    runs the embedded ``qwen2.5-coder-0.5b`` is the predictor's ``qwen2.5-coder-0.5b``.
    """
    if card.name in known:
        return card.name
    if card.runs is not None and card.runs in known:
        return card.runs
    return None


def eligible_cards(request: RoutingRequest, pool: ModelPool) -> list[ModelCard]:
    """Members that can serve ``request``: capabilities, context window, privacy and the hard caps.

    The cost cap uses the request's full output budget (a worst case); routers that predict the output length
    may apply a tighter estimate on top.

    Raises:
        NoEligibleModelError: When none can, naming why each member was left out.
    """
    eligible: list[ModelCard] = []
    reasons: list[str] = []
    fixes: dict[str, None] = {}  # what the caller can change, once per cause, in order of appearance
    needed_context = request.input_tokens + request.max_output_tokens
    for card in pool:
        caps = card.capabilities
        if request.needs_structured_output and not caps.structured_output:
            reasons.append(f"{card.name}: no structured output")
            fixes["add a member with capabilities.structured_output"] = None
        elif request.needs_tools and not request.needs_structured_output and not caps.tools:
            reasons.append(f"{card.name}: no tool calling")
            fixes["add a member with capabilities.tools, or call without tools"] = None
        elif needed_context > caps.context_window:
            reasons.append(
                f"{card.name}: context window {caps.context_window} < {needed_context} tokens needed"
            )
            fixes[
                "shorten the prompt or lower max_tokens, or add a member with a larger "
                "capabilities.context_window (prompts are never truncated)"
            ] = None
        elif request.private_only and not card.private:
            reasons.append(f"{card.name}: not private")
            fixes["add a private=True member that can serve the request"] = None
        elif request.max_latency_s is not None and card.latency_hint_s > request.max_latency_s:
            reasons.append(
                f"{card.name}: latency hint {card.latency_hint_s}s > max_latency_s {request.max_latency_s}"
            )
            fixes["raise max_latency_s"] = None
        elif (
            request.max_cost_usd is not None
            and card.cost_usd(request.input_tokens, request.max_output_tokens) > request.max_cost_usd
        ):
            worst = card.cost_usd(request.input_tokens, request.max_output_tokens)
            reasons.append(f"{card.name}: expected ${worst:.6f} > max_cost_usd {request.max_cost_usd}")
            fixes["raise max_cost_usd or lower max_tokens"] = None
        else:
            eligible.append(card)
    if not eligible:
        raise NoEligibleModelError(
            "no pool member can serve this request (" + "; ".join(reasons) + "); to fix: " + "; ".join(fixes)
        )
    return eligible
