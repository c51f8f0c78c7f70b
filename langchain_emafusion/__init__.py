"""langchain-emafusion: one LangChain chat model that fuses a pool of LLMs.

Importing the package loads no model, no torch and no llama.cpp; the public names below are resolved on first
access (PEP 562), so even langchain-core is imported only when one of them is used.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_emafusion.chat_models import FusionChatModel
    from langchain_emafusion.errors import (
        AllMembersFailedError,
        EmaFusionError,
        InvalidInputError,
        MissingModelPackageError,
        ModelIntegrityError,
        NoEligibleModelError,
        PoolConfigError,
        UnknownRouterError,
    )
    from langchain_emafusion.middleware import FusionMiddleware
    from langchain_emafusion.pool.card import Capabilities, ModelCard
    from langchain_emafusion.pool.llamacpp import ChatGGUF
    from langchain_emafusion.pool.pool import ModelPool
    from langchain_emafusion.routing.base import Router, RoutingDecision, RoutingRequest
    from langchain_emafusion.routing.registry import get_router, register_router

_EXPORTS: dict[str, str] = {
    "FusionChatModel": "langchain_emafusion.chat_models",
    "FusionMiddleware": "langchain_emafusion.middleware",
    "ChatGGUF": "langchain_emafusion.pool.llamacpp",
    "ModelCard": "langchain_emafusion.pool.card",
    "ModelPool": "langchain_emafusion.pool.pool",
    "Capabilities": "langchain_emafusion.pool.card",
    "Router": "langchain_emafusion.routing.base",
    "RoutingDecision": "langchain_emafusion.routing.base",
    "RoutingRequest": "langchain_emafusion.routing.base",
    "get_router": "langchain_emafusion.routing.registry",
    "register_router": "langchain_emafusion.routing.registry",
    "EmaFusionError": "langchain_emafusion.errors",
    "AllMembersFailedError": "langchain_emafusion.errors",
    "InvalidInputError": "langchain_emafusion.errors",
    "MissingModelPackageError": "langchain_emafusion.errors",
    "ModelIntegrityError": "langchain_emafusion.errors",
    "NoEligibleModelError": "langchain_emafusion.errors",
    "PoolConfigError": "langchain_emafusion.errors",
    "UnknownRouterError": "langchain_emafusion.errors",
}

try:
    __version__ = metadata.version("langchain-emafusion")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = ""

__all__ = [
    "FusionChatModel",
    "FusionMiddleware",
    "ChatGGUF",
    "ModelCard",
    "ModelPool",
    "Capabilities",
    "Router",
    "RoutingDecision",
    "RoutingRequest",
    "get_router",
    "register_router",
    "EmaFusionError",
    "AllMembersFailedError",
    "InvalidInputError",
    "MissingModelPackageError",
    "ModelIntegrityError",
    "NoEligibleModelError",
    "PoolConfigError",
    "UnknownRouterError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'langchain_emafusion' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
