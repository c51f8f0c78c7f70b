"""Typed errors of the enterprise-context index."""

from __future__ import annotations

from langchain_emafusion.errors import EmaFusionError

__all__ = ["ContextIndexError"]


class ContextIndexError(EmaFusionError, ValueError):
    """A document folder or a context index cannot be used; the message names the file and what to do."""
