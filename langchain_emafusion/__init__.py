"""langchain-emafusion: one LangChain chat model that fuses a pool of LLMs.

Importing the package loads no model, no torch and no llama.cpp: every heavy object is built on first use.
"""

from importlib import metadata

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
from langchain_emafusion.pool.card import Capabilities, ModelCard
from langchain_emafusion.pool.llamacpp import ChatGGUF
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import (
    Router,
    RoutingDecision,
    RoutingRequest,
    get_router,
    register_router,
)

try:
    __version__ = metadata.version(__package__ or "langchain-emafusion")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = ""
del metadata

__all__ = [
    "FusionChatModel",
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
