"""The fusion graph: decomposition into atomic subtasks, ``Send`` fan-out, merge (LangGraph)."""

from __future__ import annotations

from langchain_emafusion.graph.builder import create_fusion_graph
from langchain_emafusion.graph.decomposition import DecompositionPlan, parse_decomposition
from langchain_emafusion.graph.errors import InvalidDecompositionError, RequestBudgetExhaustedError
from langchain_emafusion.graph.rule import looks_multi_task
from langchain_emafusion.graph.subtask import PlannedSubtask

__all__ = [
    "DecompositionPlan",
    "InvalidDecompositionError",
    "PlannedSubtask",
    "RequestBudgetExhaustedError",
    "create_fusion_graph",
    "looks_multi_task",
    "parse_decomposition",
]
