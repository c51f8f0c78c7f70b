"""Enterprise context: a FAISS index over a folder of documents, built by ``emafusion index``, read lazily."""

from __future__ import annotations

from langchain_emafusion.context.errors import ContextIndexError
from langchain_emafusion.context.index import IndexBuildReport, build_index
from langchain_emafusion.context.store import EnterpriseContext

__all__ = ["ContextIndexError", "EnterpriseContext", "IndexBuildReport", "build_index"]
