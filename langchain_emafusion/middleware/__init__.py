"""LangChain v1 agent middleware: route an existing agent's model calls through the fusion pool.

- :mod:`~langchain_emafusion.middleware.fusion_middleware`: :class:`FusionMiddleware`, for
  ``langchain.agents.create_agent(..., middleware=[FusionMiddleware(...)])``; the agent keeps its own model as
  the fallback.
"""

from __future__ import annotations

from langchain_emafusion.middleware.fusion_middleware import FusionMiddleware

__all__ = ["FusionMiddleware"]
