"""Routing: the router interface, its registry and the routers (baseline now, learned tier 1 later)."""

from langchain_emafusion.routing.auto import AutoRouter
from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest, eligible_cards
from langchain_emafusion.routing.cheapest import CheapestCapableRouter
from langchain_emafusion.routing.default_predictor import DefaultPredictorRouter  # "emafusion-default"
from langchain_emafusion.routing.prior import PriceTierRouter  # "price-tier"
from langchain_emafusion.routing.registry import available_routers, get_router, register_router

__all__ = [
    "AutoRouter",
    "Router",
    "RoutingDecision",
    "RoutingRequest",
    "CheapestCapableRouter",
    "DefaultPredictorRouter",
    "PriceTierRouter",
    "available_routers",
    "eligible_cards",
    "get_router",
    "register_router",
]
