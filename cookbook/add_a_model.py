"""Cookbook: add a new model to a pool whose router is already trained, from a few probe outcomes.

Run: .venv/bin/python cookbook/add_a_model.py

A tier-1 router predicts, per pool member, the chance of a good answer. A new member needs no retraining: run
it on a few probe prompts, score its answers the way your outcome table does (a checker, a reference, a judge),
and `Tier1Predictor.onboard(...)` fits only the new model's own vector on the frozen network. The existing
members' predictions do not change, so routing for them stays as it was. Until it is onboarded, the router
gives an unknown member the average predicted quality and says so in its reason.

Here the trained router comes from a made-up outcome table (lexical features only, so it trains in seconds) in
which no member is good at code; the new member `coder` is. The members are scripted stand-ins.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable
from langchain_emafusion.tier1 import FeatureConfig, Tier1Predictor, Tier1Router, TrainingConfig

TEMPLATES = {
    "math": [
        "compute {a} plus {b}",
        "what is {a} times {b}",
        "solve {a} minus {b} quickly",
        "add {a} and {b}",
    ],
    "poem": [
        "write a poem about {w}",
        "a haiku on {w} please",
        "compose verses about {w}",
        "poem: {w} at dusk",
    ],
    "code": [
        "write a python function that sorts {w} records",
        "fix this python bug: list index {a} out of range",
        "implement a python class for {w} parsing",
        "python code to read {w} from a csv file",
    ],
}
WORDS = ["invoices", "users", "orders", "sensors", "logs", "rain", "sea", "moon", "trees", "snow"]
# The trained pool: (name, $/Mtok, task it is good at).
POOL = [("mathy", 2.0, "math"), ("poet", 2.0, "poem"), ("cheap", 0.1, None)]
NEW_MODEL, NEW_PRICE, NEW_SKILL = "coder", 1.0, "code"


def prompt(kind: str, i: int) -> str:
    return TEMPLATES[kind][i % 4].format(a=i, b=3 * i + 1, w=f"{WORDS[i % len(WORDS)]} {i}")


def past_outcomes(n: int = 60) -> OutcomeTable:
    """What the pool did so far: nobody in it is good at code."""
    rows = [
        OutcomeRow(
            prompt_id=f"{kind}-{i}",
            prompt=prompt(kind, i),
            model=name,
            score=1.0 if skill == kind else 0.0,
            task=kind,
            input_tokens=40,
            output_tokens=30,
            cost_usd=70 * price / 1e6,
        )
        for kind in TEMPLATES
        for i in range(n)
        for name, price, skill in POOL
    ]
    return OutcomeTable(rows)


def probe_outcomes(n_per_kind: int = 8) -> tuple[list[str], list[float]]:
    """The new model run on a few fresh probe prompts of each kind, and scored (right on code only)."""
    prompts, scores = [], []
    for kind in TEMPLATES:
        for i in range(500, 500 + n_per_kind):
            prompts.append(prompt(kind, i))
            scores.append(1.0 if kind == NEW_SKILL else 0.0)
    return prompts, scores


def card(name: str, price: float) -> ModelCard:
    replies = GenericFakeChatModel(messages=iter([AIMessage(f"answer from {name}")] * 20))
    return ModelCard(name=name, model=replies, input_price=price, output_price=price)


def route(llm: FusionChatModel, question: str) -> dict[str, Any]:
    fusion = llm.invoke(question).response_metadata["fusion"]
    print(f"  {question!r} -> {fusion['models']}: {fusion['reason']}")
    return fusion


def main() -> dict[str, Any]:
    predictor = Tier1Predictor.fit(
        past_outcomes(),
        training=TrainingConfig(n_members=2, max_epochs=80, patience=10, seed=0),
        features=FeatureConfig(use_embeddings=False, ngram_buckets=256),
    )
    # The pool now has the new member; the router has not heard of it yet.
    pool = ModelPool([*(card(name, price) for name, price, _ in POOL), card(NEW_MODEL, NEW_PRICE)])
    questions = ["write a python function that merges two sorted lists", "what is 12 times 9"]
    before_llm = FusionChatModel(pool=pool, router=Tier1Router(predictor))
    print("before onboarding:")
    before = [route(before_llm, q) for q in questions]

    # Onboard it from its probe outcomes (24 prompts here; 50-100 is typical for real models).
    old = predictor.predict(questions).quality.copy()
    probes, scores = probe_outcomes()
    predictor.onboard(NEW_MODEL, probes, scores)
    new = predictor.predict(questions).quality
    unchanged = bool(np.allclose(old, new[:, : old.shape[1]], atol=1e-6))
    print(f"existing members' predictions unchanged: {unchanged}")

    # Save it as a router folder (what `emafusion train` writes) and serve from it.
    folder = Path(tempfile.mkdtemp(prefix="emafusion-router-"))
    predictor.save(folder)
    after_llm = FusionChatModel(pool=pool, router=str(folder))
    print("after onboarding:")
    after = [route(after_llm, q) for q in questions]
    return {"before": before, "after": after, "unchanged": unchanged, "folder": folder}


if __name__ == "__main__":
    main()
