"""Routing: the router interface, its registry and the routers (baseline now, learned tier 1 later)."""

from langchain_emafusion.routing.base import (
    Router,
    RoutingDecision,
    RoutingRequest,
    available_routers,
    eligible_cards,
    get_router,
    register_router,
)
from langchain_emafusion.routing.cheapest import CheapestCapableRouter

__all__ = [
    "Router",
    "RoutingDecision",
    "RoutingRequest",
    "CheapestCapableRouter",
    "available_routers",
    "eligible_cards",
    "get_router",
    "register_router",
]
