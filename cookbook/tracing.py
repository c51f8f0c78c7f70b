"""Cookbook: what a LangSmith trace of FusionChatModel shows, checked offline with a collecting tracer.

Run: .venv/bin/python cookbook/tracing.py

With ``LANGSMITH_TRACING=true`` and an API key, LangSmith receives the same runs that the in-memory tracer below
collects (both are LangChain tracers; nothing here needs the network):

- one run for the fusion call (``emafusion``), whose output message carries ``response_metadata["fusion"]``:
  the router, why it chose, every candidate's predicted score, the total cost;
- one child run per member call, named ``member:<name>``, whose metadata holds that member's predicted score
  (``emafusion_score``), the router's reason (``emafusion_reason``), its privacy flags, and whose output holds the
  member's own token usage (its cost is in the parent's ``fusion.calls``).

The router here is a small tier-1 predictor trained in a few seconds on a made-up outcome table (lexical
features only), so that the scores are real predictions; the members are scripted stand-ins for API models.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable
from langchain_emafusion.tier1 import FeatureConfig, Tier1Predictor, Tier1Router, TrainingConfig


class CollectingTracer(BaseTracer):
    """A LangChain tracer that keeps every finished run in memory (LangSmith's tracer sends them instead)."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: dict[UUID, Run] = {}
        self.roots: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.roots.append(run)

    def _end_trace(self, run: Run) -> None:
        self.finished[run.id] = run
        super()._end_trace(run)

    def children(self, run: Run) -> list[Run]:
        return sorted(
            (r for r in self.finished.values() if r.parent_run_id == run.id), key=lambda r: r.start_time
        )


MATH = ["compute {a} plus {b}", "what is {a} times {b}", "solve {a} minus {b} quickly", "add {a} and {b}"]
POEM = ["write a poem about {w}", "a haiku on {w} please", "compose verses about {w}", "poem: {w} at dusk"]
WORDS = ["rain", "sea", "autumn", "love", "city", "snow", "fire", "moon", "trees", "silence"]
# (name, $/Mtok in, $/Mtok out, good at)
MODELS = [("mathy", 2.0, 2.0, "math"), ("poet", 2.0, 2.0, "poem"), ("cheap", 0.1, 0.1, None)]


def outcome_table(n: int = 60) -> OutcomeTable:
    """Past outcomes: `mathy` answers arithmetic well, `poet` poems, `cheap` neither but costs little."""
    rows = []
    for kind, templates in (("math", MATH), ("poem", POEM)):
        for i in range(n):
            prompt = templates[i % 4].format(a=i, b=3 * i + 1, w=f"{WORDS[i % len(WORDS)]} {i}")
            for name, price_in, price_out, good_at in MODELS:
                rows.append(
                    OutcomeRow(
                        prompt_id=f"{kind}-{i}",
                        prompt=prompt,
                        model=name,
                        score=1.0 if good_at == kind else 0.0,
                        task=kind,
                        input_tokens=40,
                        output_tokens=30,
                        cost_usd=(40 * price_in + 30 * price_out) / 1e6,
                    )
                )
    return OutcomeTable(rows)


def scripted(reply: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(reply)] * 20))


def _response_metadata(message: Any) -> dict[str, Any]:
    """A run's output message: a message object, or its serialized form as tracers store it."""
    if hasattr(message, "response_metadata"):
        return dict(message.response_metadata)
    return dict(message.get("kwargs", message)["response_metadata"])


def describe(tracer: CollectingTracer) -> list[dict[str, Any]]:
    """Turn each collected fusion run into what the LangSmith UI shows for it; print it as a small tree."""
    described = []
    for root in tracer.roots:
        assert root.outputs is not None
        fusion = _response_metadata(root.outputs["generations"][0][0]["message"])["fusion"]
        costs = {call["model"]: call["cost_usd"] for call in fusion["calls"]}
        print(f"run {root.name!r} ({root.run_type}) router={fusion['router']} models={fusion['models']}")
        print(f"  reason: {fusion['reason']}")
        print(f"  predicted scores: { ({k: round(v, 3) for k, v in fusion['scores'].items()}) }")
        members = []
        for child in tracer.children(root):
            name = child.name.removeprefix("member:")
            score = child.extra["metadata"]["emafusion_score"]
            print(
                f"  └─ {child.name}: predicted score {score:.3f}, cost ${costs[name]:.8f}, "
                f"why: {child.extra['metadata']['emafusion_reason']}"
            )
            members.append(
                {
                    "run_name": child.name,
                    "score": score,
                    "cost_usd": costs[name],
                    "reason": child.extra["metadata"]["emafusion_reason"],
                    "tags": child.tags,
                }
            )
        described.append({"root": root, "fusion": fusion, "members": members})
    return described


def main() -> dict[str, Any]:
    predictor = Tier1Predictor.fit(
        outcome_table(),
        training=TrainingConfig(n_members=2, max_epochs=60, patience=10, seed=0),
        features=FeatureConfig(use_embeddings=False, ngram_buckets=256),
    )
    pool = ModelPool(
        [
            ModelCard(name=name, model=scripted(f"answer from {name}"), input_price=pin, output_price=pout)
            for name, pin, pout, _ in MODELS
        ]
    )
    llm = FusionChatModel(pool=pool, router=Tier1Router(predictor, quality_cost_tradeoff=0.2))

    tracer = CollectingTracer()
    answers = [
        llm.invoke("what is 41 times 7", config={"callbacks": [tracer], "run_name": "emafusion"}),
        llm.invoke(
            "write a poem about rain at dawn", config={"callbacks": [tracer], "run_name": "emafusion"}
        ),
    ]
    return {"answers": answers, "trace": describe(tracer), "tracer": tracer}


if __name__ == "__main__":
    main()
