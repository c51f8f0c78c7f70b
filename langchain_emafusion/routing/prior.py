"""The ``"price-tier"`` router: a documented prior for members no predictor knows yet.

A pool member that no trained predictor has seen (an API model, a GGUF of your own) has no predicted quality.
Until it is onboarded into a trained predictor (``Tier1Predictor.onboard``, ``cookbook/add_a_model.py``) or a
predictor is trained on the pool's outcomes (``emafusion train``), this router assumes what its price says: a
pricier member is better, and the gap matters more the harder the prompt. Easy prompts go to cheaper members,
hard ones to pricier members, and the decision says so.

**The prior.** For a prompt ``x`` of difficulty ``d(x)`` in [0, 1] and a member in price tier ``r`` of ``T``
(the pool's distinct list prices, ``input_price + output_price``, ranked from 0, the cheapest, to ``T − 1``):

    q(member, x) = (1 − d(x)) + d(x) · r / T

The cheapest tier is expected to answer a prompt well with probability ``1 − d(x)``; the pricier tiers are
assumed to spread evenly between that and a perfect answer, in price order (``r / T`` is the expected position
of the ``r``-th of ``T − 1`` qualities drawn uniformly between the two). The selector then ranks the eligible
members as tier 1 does, by ``q − knob · expected cost / the priciest eligible member's expected cost`` (knob
``quality_cost_tradeoff``, default 0.2), after the hard caps. With two tiers the pricier member wins when
``d(x) / 2`` exceeds the knob times its share of the price spread: for a free member against a priced one and
the default knob, when ``d(x) > 0.4``.

**The difficulty** ``d(x)`` is read from the request's text, cheaply and without a model (:func:`prompt_difficulty`):

    effort(x) = log2(1 + words / 32) + markers(x)
    d(x) = 1 − 2 ** (−effort(x) / 2)

``markers`` counts the kinds of work the request asks for, one unit each: code, mathematics, proof or analysis,
several steps (see :data:`MARKERS`) and, when tools are bound, tool calls. So every 2 units of effort halve the odds that the cheapest tier is enough:
"What is the capital of France?" has difficulty 0.08, a paragraph-long proof with code about 0.8.

**Why not the shipped predictor's figures.** The predictor shipped for the embedded pool (``"emafusion-default"``)
was trained on synthesized outcomes of three small local models on the starter seeds' checks. Its absolute
figures follow those checks, not how hard a prompt is in general (it gives ``qwen2.5-coder-0.5b`` 0.04 on
"What is the capital of France?" and 0.07 on a multi-step proof), so they are not compared with the prior. It
still knows how those members compare with one another: when two or more members it knows share a price tier
(the embedded pool plus an API model), they are ordered among themselves by its predicted quality.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest, eligible_cards, known_as
from langchain_emafusion.routing.default_predictor import DefaultPredictorRouter

__all__ = ["MARKERS", "Difficulty", "PriceTierRouter", "prompt_difficulty", "price_tiers"]

DEFAULT_QUALITY_COST_TRADEOFF = 0.2
"""The knob when the request sets none: tier 1's default."""

LENGTH_UNIT_WORDS = 32
"""A prompt of this many words counts one unit of effort; each doubling of ``1 + words / 32`` one more."""

HALVING_EFFORT = 2.0
"""Units of effort that halve the odds that the cheapest tier answers well."""

_SEQUENCE_RE = re.compile(
    r"\b(?:then|finally|afterwards|subsequently|additionally|after that)\b", re.IGNORECASE
)
_ITEM_RE = re.compile(r"^[ \t]*(?:\d+[.)]|[-*•])[ \t]+\S", re.MULTILINE)


def _several_steps(text: str) -> bool:
    return bool(_SEQUENCE_RE.search(text)) or len(_ITEM_RE.findall(text)) >= 2 or text.count("?") >= 2


_CODE_RE = re.compile(
    r"```|^[ \t]*(?:def|class|import|#include|fn|func|public|function)\b|[;{][ \t]*$|=>"
    r"|\b(?:python|javascript|typescript|java|rust|golang|sql|regex|bash|function|algorithm|implement\w*"
    r"|refactor\w*|debug\w*|compile\w*|unit tests?)\b|(?<!\w)c(?:\+\+|#)(?!\w)",
    re.IGNORECASE | re.MULTILINE,
)
_MATHS_RE = re.compile(
    r"[∫∑∏√≡≤≥∀∃∞]|\^[ \t]*\d|\b(?:theorem|lemma|integral|integrate|derivative|differentiate|equations?"
    r"|matri(?:x|ces)|eigen\w*|probabilit\w*|polynomial|modulo|mod|logarithm|roots?)\b",
    re.IGNORECASE,
)
_REASONING_RE = re.compile(
    r"\b(?:prove|proof|show that|derive|justify|analy[sz]e|analysis|step[- ]by[- ]step|explain why"
    r"|trade-?offs?|complexity|optimi[sz]e|design)\b",
    re.IGNORECASE,
)

MARKERS: Mapping[str, Callable[[str], bool]] = {
    "code": lambda text: bool(_CODE_RE.search(text)),
    "maths": lambda text: bool(_MATHS_RE.search(text)),
    "proof or analysis": lambda text: bool(_REASONING_RE.search(text)),
    "several steps": _several_steps,
}
"""The kinds of work that add one unit of effort each, and how the text shows them: code (a fence, code lines,
a language or "function", "implement", "algorithm"), maths (symbols such as ∫ ≡ ≤, powers, "equation",
"integral", "matrix", "probability", "roots"), proof or analysis ("prove", "derive", "analyse", "step by
step", "complexity", "trade-off") and several steps ("then", "finally", a list of two or more items, two or
more questions)."""


@dataclass(frozen=True)
class Difficulty:
    """How hard a prompt looks from its text, and why."""

    value: float
    """``d(x)`` in [0, 1): 0 for an empty prompt, growing with length and with each kind of work asked."""
    words: int
    """Whitespace-separated words in the prompt."""
    markers: tuple[str, ...]
    """The kinds of work found (names from :data:`MARKERS`)."""

    def describe(self) -> str:
        """A short human-readable account, e.g. ``"0.84 (52 words; code, maths)"``."""
        found = ", ".join(self.markers) if self.markers else "no code, maths, proof or steps"
        return f"{self.value:.2f} ({self.words} words; {found})"


def prompt_difficulty(prompt: str, *, tools: bool = False) -> Difficulty:
    """The prompt's difficulty ``d(x) = 1 − 2 ** (−effort / 2)`` (see the module docstring).

    Args:
        prompt: The request's text.
        tools: The request has tools bound: choosing one and writing its arguments is one more unit of effort.
    """
    words = len(prompt.split())
    markers = tuple(name for name, found in MARKERS.items() if found(prompt)) + (
        ("tool calls",) if tools else ()
    )
    effort = math.log2(1 + words / LENGTH_UNIT_WORDS) + len(markers)
    return Difficulty(value=1.0 - 2.0 ** (-effort / HALVING_EFFORT), words=words, markers=markers)


def _list_price(card: ModelCard) -> float:
    return round(card.input_price + card.output_price, 9)


def price_tiers(cards: Sequence[ModelCard]) -> tuple[dict[str, int], int]:
    """Each member's price tier (0: the cheapest list price ``input_price + output_price``) and the tier count."""
    prices = sorted({_list_price(card) for card in cards})
    rank = {price: i for i, price in enumerate(prices)}
    return {card.name: rank[_list_price(card)] for card in cards}, len(prices)


class PriceTierRouter(Router):
    """Route members no predictor knows by a price-tier prior: easy prompts to cheaper members, hard to pricier.

    Every member's quality is ``(1 − d) + d · r / T`` for a prompt of difficulty ``d`` (:func:`prompt_difficulty`)
    and a member in price tier ``r`` of the pool's ``T`` (0: cheapest), ranked like tier 1 by quality − knob ·
    normalized expected cost after the request's capabilities and caps (the module docstring has the
    derivation). It is a prior: onboard the members into a trained predictor (``Tier1Predictor.onboard``) or
    train one on your outcomes (``emafusion train``) and route with it (``router="policy/"``) to replace it.
    Members the shipped predictor knows (by name or by what they run) that share a price tier are ordered among
    themselves by its predicted quality (loaded once, on the first request that needs it). ``router="auto"``
    uses this router for every pool holding a member the shipped predictor does not know.

    Example:
        .. code-block:: python

            llm = FusionChatModel(pool="pool.yaml", router="price-tier", quality_cost_tradeoff=0.1)
    """

    name = "price-tier"
    """Its name in the registry (:mod:`langchain_emafusion.routing.registry`)."""

    def __init__(
        self,
        *,
        quality_cost_tradeoff: float = DEFAULT_QUALITY_COST_TRADEOFF,
        predictor: DefaultPredictorRouter | None = None,
    ) -> None:
        """Create the router (loads nothing).

        Args:
            quality_cost_tradeoff: Default knob when the request sets none (>= 0).
            predictor: The shipped predictor's router, to share its single load (default: a new one).

        Raises:
            ValueError: A negative knob.
        """
        if not quality_cost_tradeoff >= 0:
            raise ValueError(f"quality_cost_tradeoff must be >= 0, got {quality_cost_tradeoff!r}")
        self.quality_cost_tradeoff = quality_cost_tradeoff
        self._predictor = predictor or DefaultPredictorRouter()

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        """Rank the eligible members by the price-tier prior under the knob and caps."""
        eligible = eligible_cards(request, pool)
        tiers, n_tiers = price_tiers(pool.cards)
        difficulty = prompt_difficulty(request.prompt, tools=request.needs_tools)
        d = difficulty.value
        quality = {card.name: (1.0 - d) + d * tiers[card.name] / n_tiers for card in eligible}
        shipped = self._predictor.known_members()
        runs = {card.name: k for card in pool if (k := known_as(card, shipped)) is not None}
        ordered, predicted = self._order_within_tiers(request.prompt, eligible, tiers, runs)
        knob = (
            self.quality_cost_tradeoff
            if request.quality_cost_tradeoff is None
            else request.quality_cost_tradeoff
        )
        # Tier 1's selector rule (langchain_emafusion.tier1.selector, which imports torch with its package), at the
        # request's full output budget: eligible_cards has already applied max_cost_usd at that budget.
        cost = {card.name: card.cost_usd(request.input_tokens, request.max_output_tokens) for card in ordered}
        scale = max(cost.values())
        utility = {name: quality[name] - (knob * cost[name] / scale if scale > 0 else 0.0) for name in cost}
        position = {card.name: i for i, card in enumerate(ordered)}
        ranked = sorted(cost, key=lambda name: (-utility[name], cost[name], position[name]))
        best = ranked[0]
        unknown = [card.name for card in pool if card.name not in runs]
        prior = {
            card.name: {"tier": tiers[card.name] + 1, "of": n_tiers, "quality": round(quality[card.name], 6)}
            for card in ordered
        }
        reason = (
            f"price-tier prior: {best} (price tier {tiers[best] + 1} of {n_tiers}), quality {quality[best]:.3f} at "
            f"expected ${cost[best]:.6f} (knob {knob:g}), best of {len(ranked)}; "
            f"prompt difficulty {difficulty.describe()}"
        )
        if predicted:
            reason += "; equally priced members the shipped predictor knows ordered by its predicted quality"
        details: dict[str, Any] = {
            "quality_cost_tradeoff": knob,
            "expected_cost_usd": cost,
            "utility": utility,
            "prior": {
                "formula": "quality = (1 - difficulty) + difficulty * (tier - 1) / of (tier 1: the cheapest)",
                "difficulty": round(d, 6),
                "words": difficulty.words,
                "markers": list(difficulty.markers),
                "members": prior,
                "unknown": unknown,
                "known_to_shipped_predictor": runs,
            },
        }
        if predicted:
            # Not under "predicted_quality": these figures did not decide, and are on the seed checks' scale.
            details["prior"]["shipped_predictor_quality"] = {
                name: round(q, 6) for name, q in predicted.items()
            }
        return RoutingDecision(
            models=ranked,
            router=self.name,
            reason=reason,
            scores={name: quality[name] for name in ranked},
            details=details,
        )

    def _order_within_tiers(
        self,
        prompt: str,
        eligible: list[ModelCard],
        tiers: Mapping[str, int],
        runs: Mapping[str, str],
    ) -> tuple[list[ModelCard], dict[str, float]]:
        """Reorder the known members of each price tier by the shipped predictor (only where two share one).

        The selector breaks ties in utility by cost and then by the order it is given, so members of one tier
        keep their pool order except that the known ones swap places among themselves, best predicted first.
        """
        known_by_tier: dict[int, list[int]] = {}
        for position, card in enumerate(eligible):
            if card.name in runs:
                known_by_tier.setdefault(tiers[card.name], []).append(position)
        if all(len(positions) < 2 for positions in known_by_tier.values()):
            return eligible, {}
        scores = self._predictor.predict(prompt)
        predicted = {name: scores[key] for name, key in runs.items()}
        ordered = list(eligible)
        for positions in known_by_tier.values():
            cards = sorted((eligible[p] for p in positions), key=lambda card: -predicted[card.name])
            for position, card in zip(positions, cards, strict=True):
                ordered[position] = card
        return ordered, predicted
