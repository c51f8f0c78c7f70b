"""How `FusionChatModel` hands a request to the fusion graph: which requests, and the result in its shape.

``FusionChatModel._generate`` (and the async and streaming variants) call :func:`uses_graph` first; when it
says yes, the request runs through the model's own fusion graph (built once per model, on first use) and the
graph's answer comes back as the model's ``ChatResult`` or chunks, with the plan in
``response_metadata["fusion"]``. Requests with tools, structured output or a pinned member always take the
direct path: a plan cannot call tools or fill one schema from several answers.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.constants import TAG_NOSTREAM

from langchain_emafusion.graph.builder import STREAM_KEY, create_fusion_graph
from langchain_emafusion.graph.rule import looks_multi_task
from langchain_emafusion.pipeline.member import child_callbacks

if TYPE_CHECKING:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langgraph.graph.state import CompiledStateGraph

    from langchain_emafusion.chat_models import FusionChatModel

__all__ = [
    "agenerate_with_graph",
    "astream_with_graph",
    "generate_with_graph",
    "stream_with_graph",
    "uses_graph",
]

# Call options that need the direct path (tools, schema-shaped output, a member pinned by the caller).
_DIRECT_ONLY = ("tools", "tool_choice", "response_format", "model", "emafusion_structured_output")
_GRAPHS: dict[int, CompiledStateGraph[Any, Any, Any, Any]] = {}
_GRAPHS_LOCK = threading.Lock()


def uses_graph(llm: FusionChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]) -> bool:
    """Whether this request goes through the fusion graph.

    It does when the model may decompose (``decompose=True``), the request needs nothing only the direct path
    offers, the last message is the user's, and either the cheap rule sees several tasks in it or the model
    has a ``context`` index (whose retrieval lives in the graph; a one-task plan costs no extra call).
    """
    if not llm.decompose or not messages or any(kwargs.get(key) for key in _DIRECT_ONLY):
        return False
    last = messages[-1]
    if not isinstance(last, HumanMessage) or not last.text.strip():
        return False
    return llm.context is not None or looks_multi_task(last.text)


def _graph(llm: FusionChatModel) -> CompiledStateGraph[Any, Any, Any, Any]:
    key = id(llm)
    with _GRAPHS_LOCK:
        graph = _GRAPHS.get(key)
        if graph is None:
            # checkpointer=False: a FusionChatModel called inside a parent graph's node must not write its
            # internal steps into the parent's checkpoints (it is one model call there, not a subgraph).
            graph = create_fusion_graph(llm=llm, context=llm.context, checkpointer=False)
            _GRAPHS[key] = graph
            weakref.finalize(llm, _GRAPHS.pop, key, None)
        return graph


def _input(messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    options = dict(kwargs)
    if stop:
        options["stop"] = stop
    return {"messages": list(messages), "options": options}


def _config(run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None) -> RunnableConfig:
    # nostream: a parent graph streaming messages gets this model's chunks once, not its inner calls' too.
    return RunnableConfig(
        callbacks=child_callbacks(run_manager), tags=[TAG_NOSTREAM], run_name="fusion_graph"
    )


def _result(llm: FusionChatModel, state: dict[str, Any]) -> ChatResult:
    reply: AIMessage = state["messages"][-1]
    message = AIMessage(
        content=reply.content, usage_metadata=reply.usage_metadata, response_metadata=reply.response_metadata
    )
    return ChatResult(
        generations=[ChatGeneration(message=message)], llm_output={"model_name": llm.model_name}
    )


def _last_chunk(state: dict[str, Any]) -> ChatGenerationChunk:
    reply: AIMessage = state["messages"][-1]
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content="",
            usage_metadata=reply.usage_metadata,
            response_metadata=reply.response_metadata,
            chunk_position="last",
        )
    )


def _finished(final: dict[str, Any] | None) -> dict[str, Any]:
    if final is None or "fusion" not in final:
        raise RuntimeError("the fusion graph ended without an answer")  # a bug, not a bad request
    return final


def generate_with_graph(
    llm: FusionChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: CallbackManagerForLLMRun | None,
    kwargs: dict[str, Any],
) -> ChatResult:
    """Answer the request through the fusion graph."""
    return _result(llm, _graph(llm).invoke(_input(messages, stop, kwargs), _config(run_manager)))


async def agenerate_with_graph(
    llm: FusionChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: AsyncCallbackManagerForLLMRun | None,
    kwargs: dict[str, Any],
) -> ChatResult:
    """Answer the request through the fusion graph (async)."""
    return _result(llm, await _graph(llm).ainvoke(_input(messages, stop, kwargs), _config(run_manager)))


def stream_with_graph(
    llm: FusionChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: CallbackManagerForLLMRun | None,
    kwargs: dict[str, Any],
) -> Iterator[ChatGenerationChunk]:
    """Stream the merged answer as the merge writes it, then a last chunk with usage and metadata."""
    final: dict[str, Any] | None = None
    for mode, item in _graph(llm).stream(
        _input(messages, stop, kwargs), _config(run_manager), stream_mode=["custom", "values"]
    ):
        if mode == "custom" and isinstance(item, dict) and STREAM_KEY in item:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=item[STREAM_KEY]))
            yield chunk
        elif mode == "values":
            final = cast(dict[str, Any], item)
    yield _last_chunk(_finished(final))


async def astream_with_graph(
    llm: FusionChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: AsyncCallbackManagerForLLMRun | None,
    kwargs: dict[str, Any],
) -> AsyncIterator[ChatGenerationChunk]:
    """Stream the merged answer (async)."""
    final: dict[str, Any] | None = None
    async for mode, item in _graph(llm).astream(
        _input(messages, stop, kwargs), _config(run_manager), stream_mode=["custom", "values"]
    ):
        if mode == "custom" and isinstance(item, dict) and STREAM_KEY in item:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=item[STREAM_KEY]))
            yield chunk
        elif mode == "values":
            final = cast(dict[str, Any], item)
    yield _last_chunk(_finished(final))
