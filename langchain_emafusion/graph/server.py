"""The fusion graph as LangGraph Server serves it (``langgraph.json`` → ``graph``).

Configured by environment variables (``langgraph.json``'s ``env`` or the shell): ``EMAFUSION_POOL`` (a pool
YAML; default the embedded local pool), ``EMAFUSION_ROUTER`` (default: FusionChatModel's), ``EMAFUSION_CONTEXT`` (an
index folder from ``emafusion index``; default none). Importing this module builds the graph but loads no
model and reads no index: members load on their first call, the index on the first retrieval.

Send ``{"messages": [{"role": "user", "content": "..."}], "options": {"max_tokens": 64}}`` as a run's input.
"""

from __future__ import annotations

import os

from langchain_emafusion.graph.builder import create_fusion_graph

__all__ = ["graph"]

graph = create_fusion_graph(
    pool=os.environ.get("EMAFUSION_POOL") or None,
    router=os.environ.get("EMAFUSION_ROUTER") or None,
    context=os.environ.get("EMAFUSION_CONTEXT") or None,
)
