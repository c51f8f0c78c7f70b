"""The router registry: names for routers, and the lookup ``FusionChatModel(router=...)`` uses.

The built-in routers (``cheapest``, ``emafusion-default``, ``price-tier``, ``auto``) are imported and registered here, by
this module, rather than registering themselves on import: they import the interface in
:mod:`langchain_emafusion.routing.base`, and this module imports them, so no module imports one that imports
it back. A path to a trained predictor folder gives a
:class:`~langchain_emafusion.tier1.router.Tier1Router`, imported only then (tier 1 imports torch).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from langchain_emafusion.errors import UnknownRouterError
from langchain_emafusion.routing.auto import AutoRouter
from langchain_emafusion.routing.base import PREDICTOR_CONFIG_FILE, Router
from langchain_emafusion.routing.cheapest import CheapestCapableRouter
from langchain_emafusion.routing.default_predictor import DefaultPredictorRouter
from langchain_emafusion.routing.prior import PriceTierRouter

__all__ = ["register_router", "get_router", "available_routers", "check_router"]

_REGISTRY: dict[str, Callable[..., Router]] = {}
R = TypeVar("R", bound=type[Router])


def register_router(name: str) -> Callable[[R], R]:
    """Class decorator adding a router to the registry under ``name`` (and setting its ``name``).

    Raises:
        ValueError: (when the decorator is applied) another class is registered under ``name``.
    """

    def decorate(cls: R) -> R:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"a router named {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


_BUILTIN_ROUTERS: tuple[tuple[str, type[Router]], ...] = (
    ("cheapest", CheapestCapableRouter),
    ("emafusion-default", DefaultPredictorRouter),
    ("price-tier", PriceTierRouter),
    ("auto", AutoRouter),
)
for _name, _router in _BUILTIN_ROUTERS:
    register_router(_name)(_router)
del _name, _router


def available_routers() -> list[str]:
    """Names of the registered routers."""
    return sorted(_REGISTRY)


def get_router(router: str | os.PathLike[str] | Router, **kwargs: Any) -> Router:
    """Return ``router`` itself, a registered router by name, or a tier-1 router over a trained folder.

    A path to a folder written by ``emafusion train`` gives a
    :class:`~langchain_emafusion.tier1.router.Tier1Router` (its predictor loads on first use).

    Raises:
        UnknownRouterError: When the name is neither registered nor a trained predictor folder.
    """
    if isinstance(router, Router):
        return router
    if isinstance(router, os.PathLike) or (router not in _REGISTRY and Path(router).is_dir()):
        # Imported here: tier 1 imports torch, which a registered router never needs.
        from langchain_emafusion.tier1.router import Tier1Router

        return Tier1Router(router, **kwargs)
    router = str(router)
    if router not in _REGISTRY:
        raise UnknownRouterError(
            f"unknown router {router!r}; registered routers: {', '.join(available_routers())}"
        )
    return _REGISTRY[router](**kwargs)


def check_router(router: str | os.PathLike[str] | Router) -> None:
    """Check that ``router`` names a registered router or a trained predictor folder, loading nothing.

    Raises:
        UnknownRouterError: When it is neither.
    """
    if isinstance(router, Router) or (isinstance(router, str) and router in _REGISTRY):
        return
    if (Path(router) / PREDICTOR_CONFIG_FILE).is_file():
        return
    raise UnknownRouterError(
        f"unknown router {str(router)!r}: neither a registered router ({', '.join(available_routers())}) "
        f"nor a folder holding a trained predictor ({PREDICTOR_CONFIG_FILE}; see `emafusion train`)"
    )
