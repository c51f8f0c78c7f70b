"""The fusion graph's state: the request-level state and the payloads sent to one subtask's nodes."""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class SubtaskResult(TypedDict):
    """One subtask's answer and what it cost (the ``execute`` node's output)."""

    id: str
    task: str
    wave: int
    answer: str
    models: list[str]
    cost_usd: float
    latency_s: float
    budget_usd: float | None
    sources: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    privacy: dict[str, Any]
    fusion: dict[str, Any]
    """The subtask call's own ``response_metadata["fusion"]`` (router, strategy, scores, ...)."""


class FusionState(TypedDict):
    """The whole request: the conversation in, the plan, the subtask results and the merged answer out.

    ``messages`` is shared with any parent graph using ``MessagesState``: the merged answer is appended to it
    as an ``AIMessage`` whose ``response_metadata["fusion"]`` holds the plan, each subtask's models and cost.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    options: NotRequired[dict[str, Any]]
    """Per-request call options: ``max_cost_usd``, ``max_latency_s``, ``quality_cost_tradeoff`` (for the whole
    request) and member options such as ``max_tokens`` or ``temperature``."""
    started_at: NotRequired[float]
    ledger_id: NotRequired[str]
    """The request's id in the audit log's ledger records (``parent_id`` of each of its calls)."""
    private_only: NotRequired[bool]
    """The request is sensitive under privacy mode ``private_only``: every call of the graph stays private."""
    subtasks: NotRequired[list[dict[str, Any]]]
    waves: NotRequired[list[list[str]]]
    plan: NotRequired[dict[str, Any]]
    # Parallel `execute` branches each add their result; `decompose` resets the list with `Overwrite`.
    results: NotRequired[Annotated[list[SubtaskResult], operator.add]]
    answer: NotRequired[str]
    fusion: NotRequired[dict[str, Any]]


class FusionOutput(TypedDict):
    """What the graph returns: the conversation with the answer appended, the answer and its metadata."""

    messages: list[AnyMessage]
    answer: str
    fusion: dict[str, Any]


class SubtaskInput(TypedDict):
    """What ``route`` receives through ``Send`` for one subtask (and, completed, what ``execute`` receives)."""

    subtask: dict[str, Any]
    wave: int
    final: bool
    """The subtask's answer is the request's answer (a one-subtask plan): ``execute`` streams it."""
    request: str
    history: list[AnyMessage]
    inputs: list[SubtaskResult]
    options: dict[str, Any]
    started_at: float
    ledger_id: str | None
    private_only: bool
    spent_usd: float
    pending_weight: float
    stages_left: int
    prompt: NotRequired[str]
    sources: NotRequired[list[dict[str, Any]]]
    caps: NotRequired[dict[str, float | None]]
