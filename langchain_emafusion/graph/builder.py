"""`create_fusion_graph`: the fusion request as a LangGraph graph (decompose, fan out, merge).

``decompose`` splits the request into atomic subtasks (the cheap rule first: a single-task request makes no
model call; then the expected gain of :mod:`~langchain_emafusion.graph.gain`: a split tier 1 predicts will not
pay is not made, and costs no decomposer call), then each wave of subtasks whose inputs are ready is fanned out with ``Send``: ``route`` gives the
subtask its share of the request's budget, its inputs' answers and its retrieved context, ``execute`` answers it
through a :class:`~langchain_emafusion.chat_models.FusionChatModel` (so routing, privacy, fallbacks and tier 2
apply per subtask), and ``collect`` waits for the wave. ``merge`` writes the final answer from the subtask
answers (streamed; with one subtask, its answer is the answer).

Every model call of the graph — the decomposer, each subtask and the merge — goes through the same
``FusionChatModel`` (a copy with ``decompose=False``, so a subtask is never decomposed again), hence through
its privacy handling: public members see redacted text, ``private_only`` keeps sensitive requests private.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, Command, Overwrite, Send

from langchain_emafusion.context.store import EnterpriseContext
from langchain_emafusion.errors import AllMembersFailedError, InvalidInputError, NoEligibleModelError
from langchain_emafusion.graph._state import FusionOutput, FusionState, SubtaskInput, SubtaskResult
from langchain_emafusion.graph.decomposition import (
    MAX_SUBTASKS,
    DecompositionPlan,
    decoding_schema,
    parse_decomposition,
)
from langchain_emafusion.graph.errors import InvalidDecompositionError, RequestBudgetExhaustedError
from langchain_emafusion.graph.gain import SplitGain, expected_split_gain, merge_cost_estimate
from langchain_emafusion.graph.rule import listed_tasks, looks_multi_task, task_clauses
from langchain_emafusion.graph.subtask import PlannedSubtask
from langchain_emafusion.pipeline.chat_model import PipelineChatModel
from langchain_emafusion.pipeline.ledger import LEDGER_METADATA_KEY
from langchain_emafusion.pipeline.privacy import RequestPrivacy
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import Router, RoutingDecision

__all__ = ["BUDGET_OPTIONS", "STREAM_KEY", "create_fusion_graph"]

BUDGET_OPTIONS = ("max_cost_usd", "max_latency_s", "quality_cost_tradeoff")
"""Options that apply to the whole request (split across its calls), not to each call."""
STREAM_KEY = "emafusion_answer"
"""Key of the custom-stream items (``stream_mode="custom"``) that carry pieces of the final answer."""

DIFFICULTY_WEIGHT = {"easy": 1.0, "medium": 2.0, "hard": 4.0}
"""Share of the cost budget per subtask difficulty (the merge counts as ``medium``)."""
DECOMPOSE_BUDGET_SHARE = 0.2
"""Part of ``max_cost_usd`` the decomposer call may use; the rest is split over subtasks and the merge."""
_DECOMPOSER_STAGES_GUESS = 3  # decompose, at least one wave, merge: the latency share of the decomposer

_DECOMPOSER_INSTRUCTIONS = """You split a request into its atomic subtasks. Answer only with JSON.
Each subtask is one self-contained instruction that can be answered on its own, with an id (t1, t2, ...),
the task text, depends_on (ids of subtasks whose answers it needs; [] when none) and difficulty (easy, medium or
hard). Keep every part of the request; do not add parts. A request with a single task gives one subtask."""

_MERGE_INSTRUCTIONS = """Write one reply to the request below from the answers to its parts. Keep every part's
answer (facts, numbers, names) as given, in the order of the request; do not add new facts."""

Merge = Literal["auto", "llm", "sectioned", "concatenate"]


def _text(message: BaseMessage) -> str:
    return message.text if isinstance(message.text, str) else str(message.text)


class _FusionNodes:
    """The graph's node functions over one configured fusion model and, optionally, one context index."""

    def __init__(
        self,
        llm: Any,
        context: EnterpriseContext | None,
        *,
        context_k: int,
        decomposer_max_tokens: int,
        merge: Merge,
    ) -> None:
        self.llm = llm
        self.context = context
        self.context_k = context_k
        self.decomposer_max_tokens = decomposer_max_tokens
        self.merge_mode = merge
        self._private_llm: Any = None

    # --- helpers -----------------------------------------------------------------------------------------
    def _budget(self, options: dict[str, Any]) -> dict[str, float | None]:
        budget: dict[str, float | None] = {}
        for name in BUDGET_OPTIONS:
            value = options.get(name, getattr(self.llm, name))
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0
            ):
                raise InvalidInputError(f"{name} must be a number >= 0 (or None for no cap), got {value!r}")
            budget[name] = value
        return budget

    @staticmethod
    def _call_options(options: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in options.items() if key not in BUDGET_OPTIONS}

    def _caps(
        self,
        budget: dict[str, float | None],
        *,
        cost_share: float,
        spent_usd: float,
        started_at: float,
        stages_left: int,
        stage: str,
    ) -> dict[str, float | None]:
        """This call's caps: its share of the request's remaining cost and latency budgets."""
        caps: dict[str, float | None] = {"quality_cost_tradeoff": budget["quality_cost_tradeoff"]}
        max_cost = budget["max_cost_usd"]
        if max_cost is None:
            caps["max_cost_usd"] = None
        else:
            remaining = max_cost - spent_usd
            if remaining <= 0:
                raise RequestBudgetExhaustedError(
                    f"max_cost_usd={max_cost} for the whole request is spent (${spent_usd:.6f}) before {stage}"
                )
            caps["max_cost_usd"] = remaining * cost_share
        max_latency = budget["max_latency_s"]
        if max_latency is None:
            caps["max_latency_s"] = None
        else:
            remaining_s = max_latency - (time.time() - started_at)
            if remaining_s <= 0:
                raise RequestBudgetExhaustedError(
                    f"max_latency_s={max_latency} for the whole request is spent before {stage}"
                )
            caps["max_latency_s"] = remaining_s / max(1, stages_left)
        return caps

    def _retrieve(self, query: str) -> tuple[str, list[dict[str, Any]]]:
        if self.context is None:
            return "", []
        found = self.context.retrieve(query, k=self.context_k)
        if not found:
            return "", []
        sources = [EnterpriseContext.describe(document, score) for document, score in found]
        blocks = [
            f"[{record['source']}"
            + (f" p.{record['page']}" if "page" in record else "")
            + f"]\n{document.page_content}"
            for record, (document, _) in zip(sources, found, strict=True)
        ]
        return "Context from the organisation's documents:\n" + "\n\n".join(blocks), sources

    def _private_only_llm(self) -> Any:
        """The fusion model restricted to private members (for sensitive requests under ``private_only``).

        A subtask or the merge may hold no detectable value and still derive from the sensitive request (a
        paraphrase, a summary), so under ``private_only`` every call of such a request stays private.
        """
        if self._private_llm is None:
            pool = self.llm.resolved_pool
            cards = [card for card in pool if card.private]
            if not cards:
                raise NoEligibleModelError(
                    "the request contains sensitive data and privacy mode is 'private_only', so only private "
                    "members may serve its subtasks, and the pool has none; add a private=True member"
                )
            if self.llm.audit_log is not None:
                _ = self.llm.ledger_reference  # chosen over the whole pool; the copy keeps it
            self._private_llm = self.llm.model_copy(update={"pool": ModelPool(cards, privacy=pool.privacy)})
        return self._private_llm

    def _ask(
        self,
        messages: Sequence[BaseMessage],
        kwargs: dict[str, Any],
        *,
        stream: bool,
        tags: list[str],
        private_only: bool,
        ledger: dict[str, str | None],
    ) -> AIMessage:
        """One fusion call; with ``stream``, its pieces also go to the graph's custom stream.

        ``ledger``: the call's stage, subtask id and graph request id, for its audit-log request record.
        """
        llm = self._private_only_llm() if private_only else self.llm
        config = {"tags": tags, "metadata": {LEDGER_METADATA_KEY: ledger}}
        if not stream:
            return llm.invoke(list(messages), config, **kwargs)
        write = get_stream_writer()
        gathered: AIMessageChunk | None = None
        for chunk in llm.stream(list(messages), config, **kwargs):
            if chunk.content:
                write({STREAM_KEY: chunk.content})
            gathered = chunk if gathered is None else gathered + chunk
        if gathered is None:
            return AIMessage(content="")
        return AIMessage(
            content=gathered.content,
            response_metadata=gathered.response_metadata,
            usage_metadata=gathered.usage_metadata,
        )

    # --- nodes -------------------------------------------------------------------------------------------
    def decompose(self, state: FusionState) -> dict[str, Any]:
        """Plan the request: one subtask by the cheap rule, else the decomposer's checked plan."""
        messages = list(state["messages"])
        if not messages:
            raise InvalidInputError("the fusion graph needs at least one message in 'messages'")
        request = _text(messages[-1])
        if not request.strip():
            raise InvalidInputError("the last message holds no text to answer")
        started_at = time.time()
        ledger_id = str(uuid.uuid4())
        private_only = RequestPrivacy(self.llm.privacy_policy, messages).private_only
        options = dict(state.get("options") or {})
        budget = self._budget(options)
        plan_info: dict[str, Any] = {
            "source": "rule",
            "error": None,
            "why": None,
            "calls": [],
            "privacy": None,
        }
        single = DecompositionPlan(subtasks=[PlannedSubtask(id="t1", task=request)])
        plan = single
        # The parts: a numbered task list's items (exact, no decomposer needed), else the rule's task clauses.
        listed = listed_tasks(request)
        parts = listed if listed is not None else task_clauses(request) if looks_multi_task(request) else None
        if parts is not None and len(parts) > MAX_SUBTASKS:
            # Cutting the plan would drop parts: the request is answered whole instead.
            plan_info["why"] = (
                f"a numbered list of {len(parts)} tasks, more than {MAX_SUBTASKS}: answered whole"
                if listed is not None
                else f"more than {MAX_SUBTASKS} parts: answered whole rather than cut"
            )
        elif parts is not None:
            # Weighed before any decomposer call: a split that does not pay costs nothing.
            gain = self._split_gain(request, parts, budget, private_only)
            plan_info["gain"] = gain.figures or None
            plan_info["why"] = gain.why
            if not gain.split:
                plan_info["source"] = "gain"
            elif listed is not None:
                # The request states its parts exactly: one subtask per item, verbatim.
                plan_info["source"] = "list"
                plan_info["why"] = (
                    f"a numbered list of {len(listed)} tasks under its header, one subtask per item; {gain.why}"
                )
                plan = DecompositionPlan(
                    subtasks=[PlannedSubtask(id=f"t{i}", task=item) for i, item in enumerate(listed, start=1)]
                )
            else:
                plan_info["source"] = "decomposer"
                try:
                    plan = self._decompose_with_model(
                        request, budget, options, started_at, plan_info, ledger_id
                    )
                except (InvalidDecompositionError, NoEligibleModelError, AllMembersFailedError) as exc:
                    plan_info["source"] = "fallback"
                    plan_info["error"] = f"{type(exc).__name__}: {exc}"
                    plan = single
                if len(plan.subtasks) == 1 and plan is not single:
                    # The decomposer saw one task: the request itself is answered (its own wording, not a
                    # paraphrase).
                    plan_info["why"] = "the decomposer found one task"
                    plan = single
        return {
            "started_at": started_at,
            "ledger_id": ledger_id,
            "private_only": private_only,
            "subtasks": [subtask.model_dump() for subtask in plan.subtasks],
            "waves": plan.waves(),
            "plan": plan_info,
            "results": Overwrite([]),
        }

    def _split_gain(
        self, request: str, parts: Sequence[str], budget: dict[str, float | None], private_only: bool
    ) -> SplitGain:
        """Tier 1's verdict on splitting ``request`` into ``parts`` (routing only: no member is called)."""
        try:
            llm = self._private_only_llm() if private_only else self.llm
            pipeline = llm.pipeline
            options = {"quality_cost_tradeoff": budget["quality_cost_tradeoff"]}

            def decide(text: str) -> RoutingDecision:
                routing, _, _ = pipeline.prepare([HumanMessage(text)], None, dict(options))
                return pipeline.decide(routing, None, None)

            whole = decide(request)
            decisions = [decide(part) for part in parts]
        except (NoEligibleModelError, InvalidInputError) as exc:
            return SplitGain(True, f"the split could not be weighed ({type(exc).__name__}): split as planned")
        merge_cost = (
            merge_cost_estimate(request, _MERGE_INSTRUCTIONS, decisions, llm.resolved_pool)
            if self.merge_mode in ("llm", "auto")
            else 0.0
        )
        return expected_split_gain(whole, decisions, merge_cost_usd=merge_cost)

    def _decompose_with_model(
        self,
        request: str,
        budget: dict[str, float | None],
        options: dict[str, Any],
        started_at: float,
        plan_info: dict[str, Any],
        ledger_id: str,
    ) -> DecompositionPlan:
        caps = self._caps(
            budget,
            cost_share=DECOMPOSE_BUDGET_SHARE,
            spent_usd=0.0,
            started_at=started_at,
            stages_left=_DECOMPOSER_STAGES_GUESS,
            stage="the decomposition",
        )
        # Small members copy and correct a draft far better than they plan from scratch.
        draft = {
            "subtasks": [
                {"id": f"t{number}", "task": clause, "depends_on": [], "difficulty": "medium"}
                for number, clause in enumerate(task_clauses(request), start=1)
            ]
        }
        messages = [
            SystemMessage(_DECOMPOSER_INSTRUCTIONS),
            HumanMessage(
                f"Request:\n{request}\n\nDraft plan from a simple rule; return it corrected (make each task "
                f"self-contained, set depends_on where a part needs another's answer):\n{json.dumps(draft)}"
            ),
        ]
        kwargs = {
            **self._call_options(options),
            **caps,
            "max_tokens": self.decomposer_max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "DecompositionPlan",
                    # One subtask per part the rule found, or one for the whole request: small members drop
                    # or invent parts when the count is free; dependencies carry answers between parts.
                    "schema": decoding_schema(
                        len(draft["subtasks"]), len(draft["subtasks"]), allow_single=True
                    ),
                },
            },
        }
        # The fusion model applies private_only itself here: this call carries the sensitive request.
        message = self._ask(
            messages,
            kwargs,
            stream=False,
            tags=["emafusion-decompose"],
            private_only=False,
            ledger={"stage": "decompose", "subtask_id": None, "parent_id": ledger_id},
        )
        fusion = message.response_metadata.get("fusion", {})
        plan_info["calls"] = [{**call, "stage": "decompose"} for call in fusion.get("calls", [])]
        plan_info["privacy"] = fusion.get("privacy")
        return parse_decomposition(_text(message))

    def dispatch(self, state: FusionState) -> list[Send] | str:
        """Send every subtask of the first unfinished wave to ``route``; ``merge`` once all are answered."""
        results = state.get("results", [])
        done = {result["id"] for result in results}
        waves = state["waves"]
        subtasks = {subtask["id"]: subtask for subtask in state["subtasks"]}
        for index, wave in enumerate(waves):
            pending = [subtask_id for subtask_id in wave if subtask_id not in done]
            if not pending:
                continue
            by_id = {result["id"]: result for result in results}
            spent = sum(call["cost_usd"] for call in state["plan"]["calls"]) + sum(
                r["cost_usd"] for r in results
            )
            weights = [DIFFICULTY_WEIGHT[s["difficulty"]] for i, s in subtasks.items() if i not in done]
            merge_call = len(subtasks) > 1 and self.merge_mode in ("llm", "auto")
            messages = list(state["messages"])
            return [
                Send(
                    "route",
                    SubtaskInput(
                        subtask=subtasks[subtask_id],
                        wave=index,
                        final=len(subtasks) == 1,
                        request=_text(messages[-1]),
                        history=messages[:-1],
                        inputs=[by_id[d] for d in subtasks[subtask_id]["depends_on"]],
                        options=dict(state.get("options") or {}),
                        started_at=state["started_at"],
                        ledger_id=state.get("ledger_id"),
                        private_only=state.get("private_only", False),
                        spent_usd=spent,
                        pending_weight=sum(weights) + (DIFFICULTY_WEIGHT["medium"] if merge_call else 0.0),
                        stages_left=len(waves) - index + (1 if merge_call else 0),
                    ),
                )
                for subtask_id in pending
            ]
        return "merge"

    def route(self, state: SubtaskInput) -> Command[Literal["execute"]]:
        """Give one subtask its budget share, its inputs' answers and its context; send it to ``execute``."""
        subtask = state["subtask"]
        options = state["options"]
        caps = self._caps(
            self._budget(options),
            cost_share=DIFFICULTY_WEIGHT[subtask["difficulty"]] / state["pending_weight"],
            spent_usd=state["spent_usd"],
            started_at=state["started_at"],
            stages_left=state["stages_left"],
            stage=f"subtask {subtask['id']!r}",
        )
        parts = [subtask["task"]]
        if state["inputs"]:
            parts.append(
                "Answers of the earlier steps this one uses:\n"
                + "\n\n".join(
                    f"[{result['id']}] {result['task']}\n{result['answer']}" for result in state["inputs"]
                )
            )
        context_text, sources = self._retrieve(subtask["task"])
        if context_text:
            parts.append(context_text)
        return Command(
            goto=Send("execute", {**state, "prompt": "\n\n".join(parts), "sources": sources, "caps": caps})
        )

    def execute(self, state: SubtaskInput) -> dict[str, Any]:
        """Answer one subtask through the fusion model (routing, privacy and fallbacks per subtask)."""
        subtask = state["subtask"]
        caps = state.get("caps", {})
        messages = [*state["history"], HumanMessage(state.get("prompt", subtask["task"]))]
        kwargs = {**self._call_options(state["options"]), **caps}
        message = self._ask(
            messages,
            kwargs,
            stream=state["final"],
            tags=["emafusion-subtask"],
            private_only=state["private_only"],
            ledger={"stage": "subtask", "subtask_id": subtask["id"], "parent_id": state.get("ledger_id")},
        )
        fusion = message.response_metadata.get("fusion", {})
        result = SubtaskResult(
            id=subtask["id"],
            task=subtask["task"],
            wave=state["wave"],
            answer=_text(message),
            models=list(fusion.get("models", [])),
            cost_usd=float(fusion.get("cost_usd", 0.0)),
            latency_s=float(fusion.get("latency_s", 0.0)),
            budget_usd=caps.get("max_cost_usd"),
            sources=state.get("sources", []),
            calls=[
                {**call, "stage": "subtask", "subtask_id": subtask["id"]} for call in fusion.get("calls", [])
            ],
            privacy=fusion.get("privacy") or {},
            fusion={key: value for key, value in fusion.items() if key != "calls"},
        )
        return {"results": [result]}

    @staticmethod
    def collect(state: FusionState) -> dict[str, Any]:
        """Wait for every subtask of the wave (a barrier: it runs once per wave)."""
        return {}

    def merge(self, state: FusionState) -> dict[str, Any]:
        """Write the final answer from the subtask answers, with the request's context; report everything."""
        order = {subtask["id"]: position for position, subtask in enumerate(state["subtasks"])}
        results = sorted(state.get("results", []), key=lambda result: order[result["id"]])
        messages = list(state["messages"])
        request = _text(messages[-1])
        merge_calls: list[dict[str, Any]] = []
        merge_privacy: dict[str, Any] | None = None
        merge_sources: list[dict[str, Any]] = []
        merge_check: str | None = None
        merge_mode = self.merge_mode
        merge_why: str | None = None
        if len(results) > 1 and merge_mode == "auto":
            merge_mode, merge_why = self._merge_choice(request, results, state)
        if len(results) == 1:
            answer = results[0]["answer"]
        elif merge_mode in ("concatenate", "sectioned"):
            answer = (
                sectioned_answer(results)
                if merge_mode == "sectioned"
                else "\n\n".join(f"{i}. {result['answer'].strip()}" for i, result in enumerate(results, 1))
            )
            write = get_stream_writer()
            write({STREAM_KEY: answer})
        else:
            options = dict(state.get("options") or {})
            spent = sum(call["cost_usd"] for call in state["plan"]["calls"]) + sum(
                r["cost_usd"] for r in results
            )
            caps = self._caps(
                self._budget(options),
                cost_share=1.0,
                spent_usd=spent,
                started_at=state["started_at"],
                stages_left=1,
                stage="the merge",
            )
            context_text, merge_sources = self._retrieve(request)
            prompt = _merge_prompt(request, results) + (f"\n\n{context_text}" if context_text else "")
            # Not streamed as it is written: the merged answer is checked for every part first, and the
            # sectioned answer replaces it when a part went missing.
            message = self._ask(
                [*messages[:-1], HumanMessage(prompt)],
                {**self._call_options(options), **caps},
                stream=False,
                tags=["emafusion-merge"],
                private_only=state.get("private_only", False),
                ledger={"stage": "merge", "subtask_id": None, "parent_id": state.get("ledger_id")},
            )
            answer = _text(message)
            missing = [i for i, r in enumerate(results, 1) if not part_survives(r["answer"], answer)]
            if missing:
                answer = sectioned_answer(results)
                merge_check = f"the merge lost part(s) {missing}: sectioned answer instead"
            else:
                merge_check = "every part's answer is in the merged reply"
            write = get_stream_writer()
            words = re.findall(r"\s+|\S+\s*", answer)
            for start in range(0, len(words), 8):  # streamed once checked, a few words a chunk
                write({STREAM_KEY: "".join(words[start : start + 8])})
            fusion = message.response_metadata.get("fusion", {})
            merge_calls = [{**call, "stage": "merge"} for call in fusion.get("calls", [])]
            merge_privacy = fusion.get("privacy")
        fusion_metadata = self._metadata(state, results, merge_calls, merge_privacy, merge_sources)
        if len(results) > 1:
            fusion_metadata["merge"]["mode"] = merge_mode
        fusion_metadata["merge"]["why"] = merge_why
        fusion_metadata["merge"]["check"] = merge_check
        usage = {
            "input_tokens": sum(c["input_tokens"] for c in fusion_metadata["calls"]),
            "output_tokens": sum(c["output_tokens"] for c in fusion_metadata["calls"]),
        }
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        reply = AIMessage(
            content=answer,
            name=getattr(self.llm, "model_name", None),
            response_metadata={
                "model_name": getattr(self.llm, "model_name", "emafusion"),
                "model_provider": "emafusion",
                "fusion": fusion_metadata,
            },
            usage_metadata=usage,
        )
        return {"messages": [reply], "answer": answer, "fusion": fusion_metadata}

    def _merge_choice(
        self, request: str, results: Sequence[SubtaskResult], state: FusionState
    ) -> tuple[Merge, str]:
        """``merge="auto"``: an LLM merge only when the member it would go to is not weaker than the parts' own.

        Routing only (nobody is called): the router ranks the members for the merge prompt. With quality
        predictions, the merge member is weaker when its predicted quality there is below a part member's; a
        router that predicts none (``cheapest``) is read by price, a cheaper merge member being the weaker. A
        weaker merge member can only lose or blur what better members wrote, so the answer is sectioned.
        """
        part_members = list(dict.fromkeys(r["models"][0] for r in results if r["models"]))
        prompt = _merge_prompt(request, results)
        try:
            llm = self._private_only_llm() if state.get("private_only", False) else self.llm
            pipeline = llm.pipeline
            options = {
                "quality_cost_tradeoff": self._budget(dict(state.get("options") or {}))[
                    "quality_cost_tradeoff"
                ]
            }
            routing, _, _ = pipeline.prepare([HumanMessage(prompt)], None, options)
            decision = pipeline.decide(routing, None, None)
        except (NoEligibleModelError, InvalidInputError) as exc:
            return "sectioned", f"no member for the merge ({type(exc).__name__}): sectioned answer"
        merger = decision.models[0]
        others = [name for name in part_members if name != merger]
        if not others:
            return "llm", f"merged by {merger}, which answered every part"
        predicted = decision.details.get("predicted_quality")
        quality = dict(predicted) if isinstance(predicted, dict) and predicted else dict(decision.scores)
        if all(name in quality for name in [merger, *others]):
            best = max(others, key=lambda name: quality[name])
            if quality[merger] < quality[best]:
                return "sectioned", (
                    f"the merge would go to {merger}, predicted weaker than {best} "
                    f"({quality[merger]:.3f} vs {quality[best]:.3f}): sectioned answer, no merge call"
                )
            return "llm", (
                f"merged by {merger} (predicted {quality[merger]:.3f}, not below the parts' members)"
            )
        cards = {card.name: card for card in llm.resolved_pool}
        price = {name: cards[name].cost_usd(1000, 1000) for name in [merger, *others] if name in cards}
        priciest = max(others, key=lambda name: price.get(name, 0.0))
        if price.get(merger, 0.0) < price.get(priciest, 0.0):
            return "sectioned", (
                f"the merge would go to {merger}, cheaper than {priciest} and no quality predicted: "
                "sectioned answer, no merge call"
            )
        return "llm", f"merged by {merger} (no quality predicted; not cheaper than the parts' members)"

    def _metadata(
        self,
        state: FusionState,
        results: list[SubtaskResult],
        merge_calls: list[dict[str, Any]],
        merge_privacy: dict[str, Any] | None,
        merge_sources: list[dict[str, Any]],
    ) -> dict[str, Any]:
        plan = state["plan"]
        calls = [*plan["calls"], *(call for result in results for call in result["calls"]), *merge_calls]
        models = list(dict.fromkeys(call["model"] for call in calls if "error" not in call))
        privacies = [p for p in (plan["privacy"], *(r["privacy"] for r in results), merge_privacy) if p]
        budget = self._budget(dict(state.get("options") or {}))
        by_id = {result["id"]: result for result in results}
        wave_of = {subtask_id: index for index, wave in enumerate(state["waves"]) for subtask_id in wave}
        # Metadata never holds a sensitive value: task texts are shown as public members would see them.
        policy = self.llm.privacy_policy
        redactor = policy.redactor() if policy.mode != "allow" else None
        subtasks = [
            {
                **subtask,
                "task": redactor.redact(subtask["task"]) if redactor is not None else subtask["task"],
                "wave": wave_of[subtask["id"]],
                "models": by_id[subtask["id"]]["models"],
                "cost_usd": by_id[subtask["id"]]["cost_usd"],
                "latency_s": by_id[subtask["id"]]["latency_s"],
                "budget_usd": by_id[subtask["id"]]["budget_usd"],
                "sources": by_id[subtask["id"]]["sources"],
            }
            for subtask in state["subtasks"]
        ]
        all_sources = [*(s for result in results for s in result["sources"]), *merge_sources]
        n = len(subtasks)
        # One subtask: the direct path's metadata (router, strategy, scores...), plus the plan and context.
        base = dict(results[0]["fusion"]) if n == 1 else {}
        return base | {
            "models": models,
            "strategy": "decompose" if n > 1 else base.get("strategy", "single"),
            "router": base.get("router", getattr(getattr(self.llm, "resolved_router", None), "name", None)),
            "reason": (
                f"{n} subtasks in {len(state['waves'])} wave(s), planned by the {plan['source']}"
                if n > 1
                else f"{base.get('reason', '')} (one subtask, plan by the {plan['source']})"
            ),
            "cost_usd": sum(call["cost_usd"] for call in calls),
            "latency_s": time.time() - state["started_at"],
            "calls": calls,
            "plan": {
                "source": plan["source"],
                "error": plan["error"],
                "why": plan.get("why"),
                "gain": plan.get("gain"),
                "subtasks": subtasks,
                "waves": state["waves"],
            },
            "merge": {"mode": self.merge_mode if n > 1 else "none", "sources": merge_sources},
            "budget": {**budget, "spent_usd": sum(call["cost_usd"] for call in calls)},
            "context": {
                "index": str(self.context.path) if self.context is not None else None,
                "sources": sorted({str(s["source"]) for s in all_sources}),
            },
            "privacy": _merge_privacy(privacies),
        }


_CONTENT_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]{4,}")
_COMMON = frozenset(
    "that this with from have will your they them their there which what when where about would could should "
    "answer here also than then into only some such very more most other these those were been being".split()
)
_PART_COVERAGE = 0.5
"""Share of a part's words of 4+ letters the merged reply must hold (besides every one of its numbers)."""


def part_survives(part: str, merged: str) -> bool:
    """Whether the merged reply keeps a part's answer: most of its numbers and content words are in it."""
    words = {w.lower() for w in _CONTENT_WORD.findall(part)} - _COMMON
    if not words:
        return True
    kept = {w.lower() for w in _CONTENT_WORD.findall(merged)}
    numbers = {w for w in words if w[0].isdigit()}
    text_words = words - numbers
    # Every number must survive (a dropped figure is a lost answer); words may be reworded a little.
    if not numbers <= kept:
        return False
    if len(text_words) < 3:  # a short answer: its number, or one of its words, carries it
        return bool(numbers) or bool(text_words & kept)
    return len(text_words & kept) >= _PART_COVERAGE * len(text_words)


def _merge_prompt(request: str, results: Sequence[SubtaskResult]) -> str:
    return f"{_MERGE_INSTRUCTIONS}\n\nRequest:\n{request}\n\nAnswers to its parts:\n" + "\n\n".join(
        f"[{i}] {r['task']}\n{r['answer'].strip()}" for i, r in enumerate(results, 1)
    )


def sectioned_answer(results: Sequence[SubtaskResult]) -> str:
    """Every part's answer under its task, in the request's order (nothing merged, nothing lost)."""
    return "\n\n".join(
        f"**{i}. {r['task'].strip()}**\n{r['answer'].strip()}" for i, r in enumerate(results, 1)
    )


def _merge_privacy(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if not records:
        return {"sensitive": False, "kinds": [], "mode": None, "redacted_for": []}
    return {
        "sensitive": any(record.get("sensitive") for record in records),
        "kinds": sorted({kind for record in records for kind in record.get("kinds", [])}),
        "mode": records[0].get("mode"),
        "redacted_for": list(
            dict.fromkeys(name for record in records for name in record.get("redacted_for", []))
        ),
    }


def _inner_model(pool: Any, router: Any, llm: Any) -> PipelineChatModel:
    """The model every graph call goes through: the direct path only (never decomposes or retrieves again)."""
    if llm is None:
        return PipelineChatModel(pool=pool, **({"router": router} if router is not None else {}))
    if pool is not None or router is not None:
        raise InvalidInputError("pass either llm=FusionChatModel(...) or pool/router, not both")
    if not isinstance(llm, PipelineChatModel):
        raise InvalidInputError(f"llm must be a FusionChatModel, got {type(llm).__name__}")
    # The caller's settings on the direct path; the pool and router resolved once, so every call shares the same
    # members (and loaded weights).
    settings = {
        name: getattr(llm, name) for name in PipelineChatModel.model_fields if name in llm.model_fields_set
    }
    settings.update(pool=llm.resolved_pool, router=llm.resolved_router, privacy=llm.privacy_policy)
    return PipelineChatModel(**settings)


def create_fusion_graph(
    pool: ModelPool | str | Path | None = None,
    router: str | Path | Router | None = None,
    context: str | Path | EnterpriseContext | None = None,
    *,
    checkpointer: Checkpointer = None,
    store: Any = None,
    name: str = "emafusion",
    llm: Any = None,
    context_k: int = 3,
    decomposer_max_tokens: int = 384,
    merge: Merge = "auto",
) -> CompiledStateGraph[FusionState, None, FusionState, FusionOutput]:
    """Build the fusion graph: ``decompose`` → ``Send`` per subtask (``route`` → ``execute``) → ``merge``.

    Input: ``{"messages": [...], "options": {...}}`` (``options`` optional: ``max_cost_usd``, ``max_latency_s``
    and ``quality_cost_tradeoff`` apply to the whole request; anything else, e.g. ``max_tokens``, to each call).
    Output: the messages with the answer appended (``response_metadata["fusion"]`` shows the plan, each
    subtask's models, cost and sources), ``answer`` and ``fusion``. Nothing loads until the first request.

    Args:
        pool: The members (a ``ModelPool`` or pool YAML path); None: the embedded local pool.
        router: The router for every call (name, trained folder or instance); None: FusionChatModel's default.
        context: An index folder written by ``emafusion index`` (or an ``EnterpriseContext``): subtasks and the
            merge get its top ``context_k`` chunks, and the metadata lists the sources used.
        checkpointer: Passed to ``compile``; leave None inside a parent graph (it inherits the parent's).
        store: Passed to ``compile``.
        name: The compiled graph's name.
        llm: A configured ``FusionChatModel`` to make every call with (its privacy policy, audit log,
            ``max_tokens``, caps); instead of ``pool`` and ``router``.
        context_k: Chunks retrieved per subtask and for the merge.
        decomposer_max_tokens: Token limit of the decomposer's plan (a truncated plan is refused).
        merge: ``"auto"`` (an LLM merge unless the member it would go to is predicted weaker than a member
            that answered a part, then the sectioned answer), ``"llm"`` (a fusion call writes the reply, checked
            for every part's answer, with the sectioned answer when one went missing), ``"sectioned"`` (each
            part's answer under its task, no call) or ``"concatenate"`` (numbered answers, no call).

    Raises:
        InvalidInputError: Both ``llm`` and ``pool``/``router`` given, or a bad ``context_k``/``merge``.
        ContextIndexError: ``context`` holds no index.
    """
    if context_k < 1 or decomposer_max_tokens < 1:
        raise InvalidInputError("context_k and decomposer_max_tokens must be >= 1")
    if merge not in get_args(Merge):
        raise InvalidInputError(f"merge must be one of {', '.join(get_args(Merge))}; got {merge!r}")
    if context is not None and not isinstance(context, EnterpriseContext):
        context = EnterpriseContext(context, k=context_k)
    nodes = _FusionNodes(
        _inner_model(pool, router, llm),
        context,
        context_k=context_k,
        decomposer_max_tokens=decomposer_max_tokens,
        merge=merge,
    )
    builder = StateGraph(FusionState, output_schema=FusionOutput)
    builder.add_node("decompose", nodes.decompose)
    builder.add_node("route", nodes.route, input_schema=SubtaskInput, destinations=("execute",))
    builder.add_node("execute", nodes.execute, input_schema=SubtaskInput)
    builder.add_node("collect", nodes.collect)
    builder.add_node("merge", nodes.merge)
    builder.add_edge(START, "decompose")
    builder.add_conditional_edges("decompose", nodes.dispatch, ["route", "merge"])
    builder.add_edge("execute", "collect")
    builder.add_conditional_edges("collect", nodes.dispatch, ["route", "merge"])
    builder.add_edge("merge", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
