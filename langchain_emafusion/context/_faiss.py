"""Imports of langchain-community's FAISS pieces, without the package's sunset warning on every import."""

from __future__ import annotations

import warnings
from typing import Any


def community() -> tuple[Any, Any, Any]:
    """Return ``(FAISS, InMemoryDocstore, DistanceStrategy)`` from langchain-community."""
    with warnings.catch_warnings():
        # The warning concerns the package's future, not this use; shown on each CLI run it is only noise.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="langchain_community")
        warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)
        from langchain_community.docstore.in_memory import InMemoryDocstore
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy
    return FAISS, InMemoryDocstore, DistanceStrategy
