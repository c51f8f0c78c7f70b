"""The registry of tier-2 strategies by name: the built-in ones and any a user registers."""

from __future__ import annotations

from typing import Any

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.fusion.agree import AgreementStrategy
from langchain_emafusion.fusion.base import FusionStrategy
from langchain_emafusion.fusion.cascade import CascadeStrategy
from langchain_emafusion.fusion.escalate import EscalateStrategy
from langchain_emafusion.fusion.select import SelectStrategy
from langchain_emafusion.fusion.single import SingleStrategy
from langchain_emafusion.fusion.synthesize import SynthesizeStrategy
from langchain_emafusion.fusion.vote import VoteStrategy

__all__ = ["UnknownStrategyError", "available_strategies", "get_strategy", "register_strategy"]


class UnknownStrategyError(EmaFusionError, KeyError):
    """No fusion strategy is registered under that name."""


_REGISTRY: dict[str, type[FusionStrategy]] = {
    cls.name: cls
    for cls in (
        AgreementStrategy,
        CascadeStrategy,
        EscalateStrategy,
        SelectStrategy,
        SingleStrategy,
        SynthesizeStrategy,
        VoteStrategy,
    )
}


def register_strategy(cls: type[FusionStrategy]) -> type[FusionStrategy]:
    """Class decorator: register a strategy under its ``name`` (a user's own strategy; replaces a built-in)."""
    _REGISTRY[cls.name] = cls
    return cls


def get_strategy(name: str, **kwargs: Any) -> FusionStrategy:
    """Instantiate a registered strategy by name.

    Raises:
        UnknownStrategyError: No strategy has that name.
    """
    if name not in _REGISTRY:
        raise UnknownStrategyError(
            f"unknown fusion strategy {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name](**kwargs)


def available_strategies() -> list[str]:
    """Names of the registered strategies."""
    return sorted(_REGISTRY)
