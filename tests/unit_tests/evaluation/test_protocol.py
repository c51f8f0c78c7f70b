"""The replay protocol is enforced: a policy cannot read scores, tasks or rows it did not call (and pay for)."""

from __future__ import annotations

import gc
import sys
import types
from typing import Any

import pytest

from langchain_emafusion.evaluation.cards import ReplayOnlyModelError, replay_cards
from langchain_emafusion.evaluation.errors import ProtocolViolationError
from langchain_emafusion.evaluation.protocol import BaseReplayPolicy, Decision, PromptView
from langchain_emafusion.evaluation.replay import replay
from langchain_emafusion.evaluation.table import OutcomeRow, OutcomeTable

MODELS = {"cheap": 1.0, "mid": 2.0, "big": 5.0}


def secret_table() -> OutcomeTable:
    """Every hidden field carries a SECRET marker, so a leak is visible in any reachable string."""
    rows = [
        OutcomeRow(
            prompt_id=f"SECRET-ID-{p}",
            prompt=f"prompt {p}",
            model=model,
            score=1.0 if model == "big" else 0.0,
            task=f"SECRET-TASK-{p}",
            cost_usd=cost,
            latency_s=cost / 10,
            response=f"RESPONSE-{model}-{p}",
            answer=f"ANSWER-{model}-{p}",
            reference=f"SECRET-REFERENCE-{p}",
        )
        for p in range(3)
        for model, cost in MODELS.items()
    ]
    return OutcomeTable(rows)


def reachable_objects(root: Any, limit: int = 200_000) -> list[Any]:
    """Everything a policy can reach from ``root`` through attributes, containers, closures and bound methods.

    Classes, modules and module globals are not followed: they hold code, not this run's data (frames are not
    reachable this way either; a policy that walks interpreter frames is not a policy).
    """
    module_dicts = {id(vars(module)) for module in list(sys.modules.values()) if module is not None}
    seen: set[int] = set()
    found: list[Any] = []
    stack = [root]
    while stack and len(found) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | types.ModuleType) or id(obj) in module_dicts:
            continue
        seen.add(id(obj))
        found.append(obj)
        stack.extend(gc.get_referents(obj))
    return found


def reachable_strings(root: Any) -> set[str]:
    return {obj for obj in reachable_objects(root) if isinstance(obj, str)}


class SpyPolicy(BaseReplayPolicy):
    """Records what is reachable from the view before and after calling ``cheap``; answers with ``cheap``."""

    name = "spy"

    def __init__(self) -> None:
        self.before: list[set[str]] = []
        self.after: list[set[str]] = []
        self.leaked_types: set[str] = set()

    def decide(self, view: PromptView, setting: float) -> Decision:
        strings = reachable_strings(view)
        self.leaked_types |= {
            type(obj).__name__
            for obj in reachable_objects(view)
            if isinstance(obj, OutcomeRow | OutcomeTable)
        }
        (self.after if "cheap" in view.called else self.before).append(strings)
        view.call("cheap")
        return Decision.respond("cheap")


def test_nothing_hidden_is_reachable_from_the_view() -> None:
    table = secret_table()
    spy = SpyPolicy()
    run = replay(spy, table, replay_cards(table))
    assert spy.before and spy.after
    assert not spy.leaked_types
    for strings in spy.before:
        assert not [text for text in strings if "SECRET" in text or "RESPONSE" in text or "ANSWER" in text]
        assert any(text.startswith("prompt ") for text in strings)  # the crawl does see the prompt
    for strings in spy.after:
        assert not [text for text in strings if "SECRET" in text]
        revealed = {text for text in strings if text.startswith(("RESPONSE", "ANSWER"))}
        assert revealed and all("-cheap-" in text for text in revealed)  # only the called model's row
    assert run.settings[0].accuracy == 0.0  # cheap is never right
    assert run.settings[0].mean_cost_usd == 1.0


class CheatingPolicy(BaseReplayPolicy):
    """Tries the ordinary ways into hidden data, then answers with a model it never called."""

    name = "cheater"

    def __init__(self) -> None:
        self.attempts: dict[str, str] = {}

    def decide(self, view: PromptView, setting: float) -> Decision:
        for label, attempt in {
            "__dict__": lambda: view.__dict__,
            "vars": lambda: vars(view),
            "table": lambda: view._table,  # type: ignore[attr-defined]
            "rows": lambda: view._rows,  # type: ignore[attr-defined]
            "score": lambda: view.score,  # type: ignore[attr-defined]
            "task": lambda: view.task,  # type: ignore[attr-defined]
        }.items():
            try:
                attempt()
                self.attempts[label] = "read"
            except (AttributeError, TypeError):
                self.attempts[label] = "blocked"
        self.attempts["call closure"] = repr(type(view).call.__closure__)
        return Decision.respond("big")


def test_cheating_policy_is_blocked_and_rejected() -> None:
    table = secret_table()
    cheater = CheatingPolicy()
    with pytest.raises(ProtocolViolationError, match="without calling it"):
        replay(cheater, table, replay_cards(table))
    assert cheater.attempts == {
        "__dict__": "blocked",
        "vars": "blocked",
        "table": "blocked",
        "rows": "blocked",
        "score": "blocked",
        "task": "blocked",
        "call closure": "None",
    }


class SwallowingPolicy(BaseReplayPolicy):
    name = "swallower"

    def decide(self, view: PromptView, setting: float) -> Decision:
        try:
            view.call("big")
        except BaseException:  # noqa: BLE001 - this policy misbehaves on purpose
            pass
        return Decision.fused("anything")


def test_swallowing_the_call_request_is_a_violation() -> None:
    table = secret_table()
    with pytest.raises(ProtocolViolationError, match="swallowed"):
        replay(SwallowingPolicy(), table, replay_cards(table))


class CarefulCascade(BaseReplayPolicy):
    """Calls cheap, then big inside ``except Exception`` (which must not intercept the call mechanism)."""

    name = "careful"

    def decide(self, view: PromptView, setting: float) -> Decision:
        first = view.call("cheap")
        try:
            second = view.call("big")
        except Exception:  # pragma: no cover - must never happen
            return Decision.respond("cheap")
        assert first.model == "cheap" and second.model == "big"
        assert not hasattr(second, "score") and not hasattr(second, "task")
        return Decision.respond("big")


def test_every_call_is_billed_and_counted() -> None:
    table = secret_table()
    run = replay(CarefulCascade(), table, replay_cards(table)).settings[0]
    assert run.accuracy == 1.0
    assert run.mean_cost_usd == pytest.approx(MODELS["cheap"] + MODELS["big"])
    assert run.calls_per_prompt == 2.0
    # Sequential calls: latency adds up (0.1 + 0.5).
    assert run.latency_percentile(50) == pytest.approx(0.6)


class ParallelVote(BaseReplayPolicy):
    name = "parallel"

    def decide(self, view: PromptView, setting: float) -> Decision:
        rows = view.call_many(view.model_names)
        return Decision.fused(rows[0].answer or "")


def test_parallel_calls_take_the_slowest_latency_and_fused_answers_are_judged_on_reference() -> None:
    table = secret_table()
    run = replay(ParallelVote(), table, replay_cards(table)).settings[0]
    assert run.mean_cost_usd == pytest.approx(sum(MODELS.values()))
    assert run.latency_percentile(95) == pytest.approx(0.5)
    assert run.accuracy == 0.0  # "ANSWER-cheap-p" is not the reference


def test_unknown_model_and_replay_card_model_fail_loudly() -> None:
    table = secret_table()
    view = PromptView("hello", replay_cards(table))
    with pytest.raises(KeyError, match="no model 'gpt-9'"):
        view.call("gpt-9")
    with pytest.raises(ReplayOnlyModelError, match="replay card"):
        replay_cards(table)[0].get_model()


def test_replay_cards_recover_prices_from_token_counts() -> None:
    rows = [
        OutcomeRow(
            prompt_id=str(p),
            prompt=str(p),
            model="m",
            score=1.0,
            input_tokens=100 + 10 * p,
            output_tokens=50 + 3 * p * p,
            cost_usd=((100 + 10 * p) * 2.0 + (50 + 3 * p * p) * 6.0) / 1e6,
        )
        for p in range(5)
    ]
    card = replay_cards(OutcomeTable(rows))[0]
    assert (card.input_price, card.output_price) == pytest.approx((2.0, 6.0))
