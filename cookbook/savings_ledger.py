"""Cookbook: the savings ledger, what routing spent against what one pool member alone would have.

Run: .venv/bin/python cookbook/savings_ledger.py      (then: .venv/bin/emafusion ledger <the printed path>)

Two stand-in "API" members (scripted LangChain chat models reporting token usage, so the example runs
offline; swap in ``ChatOpenAI(...)`` for real ones) with real-looking prices. Every routed request writes, next
to its member-call lines in the audit log, one request record: its cost, the members that answered and what each
member alone would have cost. ``emafusion ledger`` sums them per day; ``--plot`` draws them.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.ledger import read_ledger, summarize_ledger


class StandIn(BaseChatModel):
    """Answers ``reply`` with 120 input and 80 output tokens of usage; the first ``failures`` calls fail."""

    reply: str
    failures: int = 0

    @property
    def _llm_type(self) -> str:
        return "stand-in"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("rate limited")
        usage = {"input_tokens": 120, "output_tokens": 80, "total_tokens": 200}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.reply, usage_metadata=usage))])


def main() -> dict[str, Any]:
    pool = ModelPool(
        [
            # US$ per million tokens; the router takes the cheapest member that can serve each request.
            ModelCard(
                name="small-api",
                model=StandIn(reply="Paris.", failures=1),
                input_price=0.15,
                output_price=0.6,
            ),
            ModelCard(name="medium-api", model=StandIn(reply="Paris."), input_price=0.4, output_price=1.6),
            ModelCard(
                name="large-api",
                model=StandIn(reply="Paris, on the Seine."),
                input_price=2.5,
                output_price=10.0,
            ),
        ]
    )
    audit = Path(tempfile.mkdtemp()) / "audit.jsonl"
    llm = FusionChatModel(pool=pool, router="cheapest", audit_log=audit, ledger_baseline="large-api")

    first = llm.invoke("What is the capital of France?")  # small-api fails once: medium-api answers
    answers = [first, llm.invoke("And of Italy?"), asyncio.run(llm.ainvoke("And of Spain?"))]
    streamed = list(llm.stream("And of Portugal?"))  # streams are recorded too
    for answer in answers:
        fusion = answer.response_metadata["fusion"]
        print(f"{fusion['models']} ${fusion['cost_usd']:.6f}")

    records = read_ledger(audit)
    total = summarize_ledger(records).total
    print(
        f"{total.requests} requests: spent ${total.spent_usd:.6f}, large-api alone ${total.counterfactual_usd:.6f}, "
        f"saved ${total.saved_usd:.6f} ({total.saved_share:.0%}); model mix {total.model_mix}"
    )
    against_medium = summarize_ledger(records, baseline="medium-api").total
    print(f"the same requests against medium-api alone: saved ${against_medium.saved_usd:.6f}")
    print(f"per day: emafusion ledger {audit} [--baseline medium-api] [--plot ledger.png] [--json]")
    return {"audit": audit, "records": records, "answers": answers, "streamed": streamed, "total": total}


if __name__ == "__main__":
    main()
