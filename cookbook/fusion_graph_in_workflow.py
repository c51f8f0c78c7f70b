"""Cookbook: the fusion graph as one node of a LangGraph workflow, with a checkpointer and enterprise context.

Run: .venv/bin/python cookbook/fusion_graph_in_workflow.py

A support workflow: `intake` tags the ticket, `fusion` (the compiled fusion graph, used as a subgraph) splits
the customer's message into subtasks, answers each with the pool's members and the company documents, and
merges the answers (streamed), then `archive` keeps what the workflow needs from the answer's metadata. The
checkpointer keeps the conversation per thread, so a second message continues the same ticket. Everything
runs offline: the member is the embedded SmolLM2, the documents are embedded with the packaged MiniLM.
"""

# No `from __future__ import annotations`: LangGraph reads TicketState's annotations when the workflow is built,
# and a file run with runpy is no longer importable by name at that point to resolve string annotations.
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from langchain_emafusion import ChatGGUF, FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.context import build_index
from langchain_emafusion.graph import create_fusion_graph

DOCUMENTS = {
    "refunds.md": "# Refunds\n\nCustomers may return any product within 30 days of delivery for a full refund.",
    "shipping.txt": "Orders ship from the Lyon warehouse within two business days, tracking included.",
}


class TicketState(MessagesState):
    """The workflow's state: the conversation plus what the workflow itself tracks."""

    priority: str
    plans: list[dict[str, Any]]


def intake(state: TicketState) -> dict[str, Any]:
    text = str(state["messages"][-1].content).lower()
    return {"priority": "high" if "refund" in text else "normal"}


def archive(state: TicketState) -> dict[str, Any]:
    fusion = state["messages"][-1].response_metadata["fusion"]
    entry = {
        "subtasks": [s["task"] for s in fusion["plan"]["subtasks"]],
        "models": fusion["models"],
        "sources": fusion["context"]["sources"],
        "cost_usd": fusion["cost_usd"],
    }
    return {"plans": [*state.get("plans", []), entry]}


def build_workflow(index_dir: Path) -> Any:
    pool = ModelPool(
        [
            ModelCard(
                name="local-smollm2",
                model=lambda: ChatGGUF.from_embedded("smollm2-135m"),
                private=True,
                capabilities={"structured_output": True, "context_window": 8192},
            )
        ]
    )
    llm = FusionChatModel(pool=pool, max_tokens=32)
    fusion = create_fusion_graph(
        llm=llm, context=index_dir, context_k=1
    )  # inherits the workflow's checkpointer
    workflow = StateGraph(TicketState)
    workflow.add_node("intake", intake)
    workflow.add_node("fusion", fusion)
    workflow.add_node("archive", archive)
    workflow.add_edge(START, "intake")
    workflow.add_edge("intake", "fusion")
    workflow.add_edge("fusion", "archive")
    workflow.add_edge("archive", END)
    return workflow.compile(checkpointer=InMemorySaver())


def main() -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp())
    for name, text in DOCUMENTS.items():
        (folder / "docs").mkdir(exist_ok=True)
        (folder / "docs" / name).write_text(text, encoding="utf-8")
    report = build_index(folder / "docs", folder / "index")
    print(f"indexed {report.chunks} chunks from {len(report.files)} documents")

    app = build_workflow(folder / "index")
    config = {"configurable": {"thread_id": "ticket-42"}}
    first = "How many days do I have to return a product? Also, where do orders ship from?"
    print("customer:", first)
    print("agent:    ", end="")
    streamed = []
    # The merge streams through the parent workflow as custom events of the fusion subgraph.
    for _namespace, item in app.stream(
        {"messages": [HumanMessage(first)]}, config, stream_mode="custom", subgraphs=True
    ):
        if "emafusion_answer" in item:
            streamed.append(item["emafusion_answer"])
            print(item["emafusion_answer"], end="", flush=True)
    print()
    second = "Thanks! What is your refund window again?"
    answer = app.invoke({"messages": [HumanMessage(second)]}, config)
    print("customer:", second)
    print("agent:   ", str(answer["messages"][-1].content).strip())
    state = app.get_state(config).values
    for plan in state["plans"]:
        print("plan:", plan)
    return {"state": state, "streamed": "".join(streamed)}


if __name__ == "__main__":
    main()
