"""The default router: learned tier 1 where the shipped predictor knows every member, a price-tier prior where not."""

from __future__ import annotations

from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest, known_as
from langchain_emafusion.routing.cheapest import CheapestCapableRouter
from langchain_emafusion.routing.default_predictor import DefaultPredictorRouter
from langchain_emafusion.routing.prior import PriceTierRouter, price_tiers

__all__ = ["AutoRouter"]


class AutoRouter(Router):
    """``FusionChatModel``'s default: the shipped learned predictor where it knows the pool, else a price prior.

    The shipped tier-1 predictor (``router="emafusion-default"``) was trained on synthesized outcomes of the
    embedded local pool, so it predicts only those members; it knows a member by its name or by what the card
    runs (``ModelCard.runs``, filled in by ``embedded:`` in a YAML pool). Which router decides:

    - every member known to it (and the ``ml`` extra installed): ``"emafusion-default"``;
    - a member it does not know, and the pool's members differ in price: ``"price-tier"``
      (:class:`~langchain_emafusion.routing.prior.PriceTierRouter`), a documented prior until the member is
      onboarded into a trained predictor (``Tier1Predictor.onboard``) or a predictor is trained on the pool's
      outcomes (``emafusion train``): a member in price tier ``r`` of ``T`` (0: cheapest) gets quality
      ``(1 − d) + d · r / T`` for a prompt of difficulty ``d`` read from its text, so easy prompts go to cheaper
      members and hard ones to pricier members;
    - a member it does not know, and one price for all (e.g. all free): ``"cheapest"`` (the prior cannot tell
      them apart).

    The decision names the router that decided; its reason starts with ``auto:`` and names the members that
    were not known. Nothing is loaded before the first request, and the shipped predictor is loaded at most once
    per router (only the learned route, or equally priced known members under the prior, need it).
    """

    name = "auto"
    """Its name in the registry (:mod:`langchain_emafusion.routing.registry`)."""

    def __init__(self) -> None:
        """Create the router (loads nothing)."""
        self._learned = DefaultPredictorRouter()
        self._prior = PriceTierRouter(predictor=self._learned)
        self._cheapest = CheapestCapableRouter()

    @property
    def is_loaded(self) -> bool:
        """Whether the shipped predictor has been loaded (only a request that needs it loads it)."""
        return self._learned.is_loaded

    def known_members(self) -> frozenset[str]:
        """Names of the members the shipped predictor was trained on (empty without the ``ml`` extra)."""
        return self._learned.known_members()

    def _unknown(self, pool: ModelPool) -> tuple[dict[str, str], list[str]]:
        shipped = self.known_members()
        known = {card.name: k for card in pool if (k := known_as(card, shipped)) is not None}
        return known, [card.name for card in pool if card.name not in known]

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        """Delegate to the learned predictor, the price-tier prior or ``cheapest`` (see the class docstring)."""
        known, unknown = self._unknown(pool)
        if not unknown:
            decision = self._learned.route(request, pool)
            named = ", ".join(name if name == k else f"{name} (runs {k})" for name, k in known.items())
            why = f"auto: the shipped predictor knows {named}"
        else:
            why = f"auto: {', '.join(unknown)} not known to the shipped predictor"
            if not self.known_members():
                why += " (it needs the ml extra, not installed)"
            if known:
                why += (
                    " (it knows "
                    + ", ".join(name if name == k else f"{name}, which runs {k}" for name, k in known.items())
                    + ")"
                )
            if price_tiers(pool.cards)[1] == 1:
                decision = self._cheapest.route(request, pool)
                why += "; every member has the same price, so the prior cannot tell them apart"
            else:
                decision = self._prior.route(request, pool)
        return decision.model_copy(update={"reason": f"{why}; {decision.reason}"})

    def training_quality(self, pool: ModelPool) -> dict[str, float] | None:
        """The shipped predictor's training-table means when it routes this pool; None otherwise."""
        if self._unknown(pool)[1]:
            return None
        return self._learned.training_quality(pool)
