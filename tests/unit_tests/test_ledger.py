"""The savings ledger: request records written by real calls, read back, summed, printed and plotted."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from typer.testing import CliRunner

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.cli.app import app
from langchain_emafusion.errors import AllMembersFailedError, InvalidInputError
from langchain_emafusion.ledger import LedgerError, read_ledger, summarize_ledger
from langchain_emafusion.privacy import (
    AuditLog,
    AuditLogError,
    AuditRecord,
    MemberEstimate,
    RequestRecord,
    read_audit_log,
)
from langchain_emafusion.routing.base import (
    Router,
    RoutingDecision,
    RoutingRequest,
    eligible_cards,
)
from tests.unit_tests.fakes import ScriptedChatModel
from tests.unit_tests.graph.helpers import THREE_PARTS, echo_member

PROMPT = "What is the capital of France?"
PRICES = {"cheap": (0.1, 0.4), "mid": (1.0, 4.0), "premium": (10.0, 30.0)}


def pool(**overrides: dict[str, Any]) -> tuple[ModelPool, dict[str, ScriptedChatModel]]:
    """Three members; ``cheapest`` routes to ``cheap``. Each reports 100 input and 50 output tokens."""
    models = {
        name: ScriptedChatModel(
            reply=f"answer from {name}", input_tokens=100, output_tokens=50, **overrides.get(name, {})
        )
        for name in PRICES
    }
    cards = [
        ModelCard(name=name, model=models[name], input_price=i, output_price=o)
        for name, (i, o) in PRICES.items()
    ]
    return ModelPool(cards), models


def cost(name: str, input_tokens: int = 100, output_tokens: int = 50) -> float:
    i, o = PRICES[name]
    return (input_tokens * i + output_tokens * o) / 1e6


def gathered(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    return whole


def test_invoke_ainvoke_and_stream_each_write_one_request_record(tmp_path: Path) -> None:
    members, _ = pool()
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=members, router="cheapest", audit_log=audit)
    answers: list[BaseMessage] = [llm.invoke(PROMPT), asyncio.run(llm.ainvoke(PROMPT))]
    answers.append(gathered(list(llm.stream(PROMPT))))
    fusions = [a.response_metadata["fusion"] for a in answers]

    calls = read_audit_log(audit)  # the member calls, as before the ledger
    records = read_audit_log(audit, kind="request")
    assert [c.model for c in calls] == ["cheap"] * 3 and all(isinstance(c, AuditRecord) for c in calls)
    assert len(records) == 3 and len(read_audit_log(audit, kind="all")) == 6
    for record, fusion, call in zip(records, fusions, calls, strict=True):
        assert record.request_id == call.request_id
        assert record.cost_usd == fusion["cost_usd"] == call.cost_usd == pytest.approx(cost("cheap"))
        assert (record.router, record.strategy, record.stage) == ("cheapest", "single", "direct")
        assert record.models == ("cheap",) and record.answered_by == "cheap" and record.failed == ()
        assert (record.calls, record.input_tokens, record.output_tokens) == (1, 100, 50)
        # No trained router: the priciest member, priced with the answer's own 50 output tokens; no quality.
        assert record.baseline == "premium" and "priciest" in record.baseline_source
        assert record.baseline_cost_usd == pytest.approx(cost("premium"))
        assert record.members["mid"].model_dump() == {
            "cost_usd": pytest.approx(cost("mid")),
            "quality": None,
            "output_tokens": 50,
            "tokens_predicted": False,
        }
        assert record.predicted_quality is None and record.baseline_quality is None
    assert PROMPT not in audit.read_text() and "answer from" not in audit.read_text()

    summary = summarize_ledger(read_ledger(audit))
    total = summary.total
    assert (total.requests, total.routed, total.failed, total.compared) == (3, 3, 0, 3)
    assert total.spent_usd == pytest.approx(sum(f["cost_usd"] for f in fusions))
    assert total.counterfactual_usd == pytest.approx(3 * cost("premium"))
    assert total.saved_usd == pytest.approx(3 * (cost("premium") - cost("cheap")))
    assert total.saved_share == pytest.approx(1 - cost("cheap") / cost("premium"))
    assert total.model_mix == {"cheap": 1.0}
    assert total.quality is None and total.quality_n == 0
    assert summary.baselines == {"premium": 3} and len(summary.days) == 1
    assert summary.days[0].label == records[0].timestamp.date().isoformat()


def test_a_request_that_failed_over_records_both_members_and_the_answers_cost(tmp_path: Path) -> None:
    members, models = pool(cheap={"fail_times": 10})
    audit = tmp_path / "audit.jsonl"
    message = FusionChatModel(pool=members, router="cheapest", audit_log=audit, max_retries=1).invoke(PROMPT)
    assert message.content == "answer from mid"
    (record,) = read_audit_log(audit, kind="request")
    assert record.models == ("mid",) and record.failed == ("cheap",) and record.answered_by == "mid"
    assert record.calls == 3  # two attempts on cheap, one on mid
    assert record.cost_usd == message.response_metadata["fusion"]["cost_usd"] == pytest.approx(cost("mid"))
    assert [(c.model, c.outcome) for c in read_audit_log(audit)] == [
        ("cheap", "error"),
        ("cheap", "error"),
        ("mid", "ok"),
    ]
    total = summarize_ledger([record]).total
    assert total.spent_usd == pytest.approx(cost("mid")) and total.model_mix == {"mid": 1.0}


def test_a_request_no_member_answers_is_recorded_as_failed(tmp_path: Path) -> None:
    members, _ = pool(**{name: {"fail_times": 10} for name in PRICES})
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=members, router="cheapest", audit_log=audit)
    with pytest.raises(AllMembersFailedError):
        llm.invoke(PROMPT)
    with pytest.raises(AllMembersFailedError):
        list(llm.stream(PROMPT))
    records = read_audit_log(audit, kind="request")
    assert [(r.outcome, r.error_type, r.models, r.cost_usd) for r in records] == [
        ("error", "AllMembersFailedError", (), 0.0)
    ] * 2
    assert records[0].failed == ("cheap", "mid", "premium")
    total = summarize_ledger(records).total
    assert (total.failed, total.compared, total.counterfactual_usd, total.model_mix) == (2, 0, 0.0, {})


def test_a_named_baseline_and_a_baseline_chosen_afterwards(tmp_path: Path) -> None:
    members, models = pool()
    audit = tmp_path / "audit.jsonl"
    with pytest.raises(InvalidInputError, match=r"ledger_baseline='gpt-9'.*cheap, mid, premium"):
        FusionChatModel(pool=members, audit_log=audit, ledger_baseline="gpt-9").invoke(PROMPT)
    assert all(model.received == [] for model in models.values())  # checked before any member call
    FusionChatModel(pool=members, router="cheapest", ledger_baseline="gpt-9").invoke(PROMPT)  # no log: unused

    FusionChatModel(pool=members, router="cheapest", audit_log=audit, ledger_baseline="mid").invoke(PROMPT)
    (record,) = read_ledger(audit)
    assert record.baseline == "mid" and record.baseline_source == "named by ledger_baseline"
    assert record.baseline_cost_usd == pytest.approx(cost("mid"))
    own = summarize_ledger([record]).total
    assert own.counterfactual_usd == pytest.approx(cost("mid"))
    against_cheap = summarize_ledger([record], baseline="cheap")
    assert against_cheap.total.saved_usd == pytest.approx(0.0) and against_cheap.baselines == {"cheap": 1}
    assert against_cheap.notes  # cheap was not the record's own baseline
    premium = summarize_ledger([record], baseline="premium").total
    assert premium.saved_usd == pytest.approx(cost("premium") - cost("cheap"))
    with pytest.raises(LedgerError, match=r"no estimate for 'gpt-9'.*cheap, mid, premium"):
        summarize_ledger([record], baseline="gpt-9")


class PredictingRouter(Router):
    """Routes to ``cheap`` and predicts like a trained router: quality and output tokens for every member."""

    name = "predicting"
    QUALITY = {"cheap": 0.6, "mid": 0.8, "premium": 0.9}
    TOKENS = {"cheap": 40.0, "mid": 60.0, "premium": 120.0}

    def training_quality(self, pool: ModelPool) -> dict[str, float] | None:
        return {"cheap": 0.5, "mid": 0.75, "premium": 0.7}  # mid is the best single member on its table

    def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
        ranked = sorted((c.name for c in eligible_cards(request, pool)), key=lambda n: n != "cheap")
        return RoutingDecision(
            models=ranked,
            router=self.name,
            reason="test",
            details={"predicted_quality": self.QUALITY, "predicted_output_tokens": self.TOKENS},
        )


def test_predictions_price_and_rate_every_member(tmp_path: Path) -> None:
    members, _ = pool()
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=members, router=PredictingRouter(), audit_log=audit)
    llm.invoke(PROMPT)
    (record,) = read_ledger(audit)
    assert record.baseline == "mid" and "training table (0.750" in record.baseline_source
    assert record.predicted_quality == 0.6 and record.baseline_quality == 0.8
    # Input: the answer's reported 100 tokens; output: each member's predicted length.
    assert record.members["premium"].model_dump() == {
        "cost_usd": pytest.approx(cost("premium", 100, 120)),
        "quality": 0.9,
        "output_tokens": 120,
        "tokens_predicted": True,
    }
    assert record.baseline_cost_usd == pytest.approx(cost("mid", 100, 60))
    total = summarize_ledger([record], baseline="premium").total
    assert (total.quality, total.baseline_quality, total.quality_n) == (0.6, 0.9, 1)


def test_a_trained_tier1_router_fills_the_predictions(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from langchain_emafusion.tier1.predictor import Tier1Predictor
    from tests.unit_tests.tier1.test_tier1 import FAST, LEXICAL, cards, table

    predictor = Tier1Predictor.fit(table(n=24), training=FAST, features=LEXICAL)
    predictor.save(tmp_path / "router")
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=ModelPool(cards()), router=str(tmp_path / "router"), audit_log=audit)
    answer = llm.invoke("write a poem about the harbour 42")
    (record,) = read_ledger(audit)
    fusion = answer.response_metadata["fusion"]
    assert record.router == "tier1" and record.answered_by == fusion["models"][0]
    # mathy and poet are each right on half the training table, cheap on none: the first best is the baseline.
    assert record.baseline == "mathy" and "best mean quality on the router's training table (0.500" in (
        record.baseline_source
    )
    predicted = fusion["router_details"]["predicted_quality"]
    assert set(predicted) == {"mathy", "poet", "cheap"}
    assert record.predicted_quality == pytest.approx(predicted[record.answered_by])
    assert record.members["cheap"].tokens_predicted and record.members["cheap"].quality == pytest.approx(
        predicted["cheap"]
    )


def test_a_graph_request_is_one_request_its_calls_are_tagged_and_counted_once(tmp_path: Path) -> None:
    _, echo = echo_member(input_price=0.1, output_price=0.1)
    premium = ModelCard(name="premium", model=ScriptedChatModel(), input_price=10.0, output_price=10.0)
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=ModelPool([echo, premium]), router="cheapest", audit_log=audit)
    message = llm.invoke(THREE_PARTS)
    fusion = message.response_metadata["fusion"]
    records = read_ledger(audit)
    # colour and fruit run at once (either may be written first); phrase needs both; the merge comes last.
    stages = [(r.stage, r.subtask_id) for r in records]
    assert stages[0] == ("decompose", None) and stages[3:] == [("subtask", "phrase"), ("merge", None)]
    assert sorted(stages[1:3], key=str) == [("subtask", "colour"), ("subtask", "fruit")]
    assert len({r.parent_id for r in records}) == 1 and records[0].parent_id is not None
    subtask_calls = {c.subtask_id for c in read_audit_log(audit)}
    assert subtask_calls == {None, "colour", "fruit", "phrase"}  # the member calls say their subtask too
    total = summarize_ledger(records).total
    assert (total.requests, total.routed, total.compared) == (1, 5, 3)
    assert total.spent_usd == pytest.approx(fusion["cost_usd"])  # every call, decomposer and merge included
    subtasks = [r for r in records if r.stage == "subtask"]
    assert total.counterfactual_usd == pytest.approx(sum(r.baseline_cost_usd for r in subtasks))

    llm.invoke(PROMPT)  # a direct request besides
    assert summarize_ledger(read_ledger(audit)).total.requests == 2


def test_private_only_graph_calls_still_price_the_whole_pool(tmp_path: Path) -> None:
    _, public = echo_member(name="public-api", input_price=5.0, output_price=5.0)
    _, private = echo_member(name="private-local", private=True, input_price=0.1, output_price=0.1)
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=ModelPool([public, private]), privacy="private_only", audit_log=audit)
    sensitive = (
        "Write a short note to jane.doe@example.com about the refund, then list two next steps for her."
    )
    llm.invoke(sensitive)
    records = read_ledger(audit)
    assert len(records) >= 3 and {m for r in records for m in r.models} == {"private-local"}
    assert all(
        r.baseline == "public-api" and set(r.members) == {"public-api", "private-local"} for r in records
    )
    assert "jane.doe" not in audit.read_text()


def test_old_member_only_logs_still_parse_and_the_ledger_says_why_it_is_empty(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text(
        '{"request_id": "r1", "subtask_id": null, "model": "m", "private": true, "detector_kinds": [], '
        '"redacted": false, "cost_usd": 0.0, "timestamp": "2024-05-01T12:00:00Z", "outcome": "ok", '
        '"error_type": null}\n',
        encoding="utf-8",
    )
    AuditLog(old).record(request_id="r2", model="m", private=False, redacted=True)
    assert [r.request_id for r in read_audit_log(old)] == ["r1", "r2"]
    assert read_audit_log(old, kind="request") == []
    with pytest.raises(
        LedgerError, match=r"2 member-call line\(s\) only.*FusionChatModel\(audit_log=\.\.\.\)"
    ):
        read_ledger(old)
    result = CliRunner().invoke(app, ["ledger", str(old)])
    assert result.exit_code == 2 and "FusionChatModel(audit_log" in result.output


def test_bad_lines_still_name_their_line_number(tmp_path: Path) -> None:
    members, _ = pool()
    audit = tmp_path / "audit.jsonl"
    FusionChatModel(pool=members, router="cheapest", audit_log=audit).invoke(PROMPT)
    good = audit.read_text()
    request_line = json.loads(good.splitlines()[1])
    assert request_line["kind"] == "request"
    broken = dict(request_line, members={})
    for extra, match in (
        (json.dumps({**request_line, "kind": "surprise"}), "line 3.*unknown record kind 'surprise'"),
        (json.dumps(broken), "line 3.*not a valid request record.*members"),
        (json.dumps({**request_line, "prompt": "leak"}), "line 3.*prompt"),
    ):
        path = tmp_path / "bad.jsonl"
        path.write_text(good + extra + "\n", encoding="utf-8")
        for kind in ("call", "request", "all"):  # every line is checked, whichever kind is returned
            with pytest.raises(AuditLogError, match=match):
                read_audit_log(path, kind=kind)  # type: ignore[call-overload]


def record(day: int, cost_usd: float, models: tuple[str, ...], **fields: Any) -> RequestRecord:
    members = {
        "a": MemberEstimate(cost_usd=0.001, quality=0.5, output_tokens=10, tokens_predicted=True),
        "b": MemberEstimate(cost_usd=0.004, quality=0.9, output_tokens=10, tokens_predicted=True),
    }
    return RequestRecord(
        request_id=fields.pop("request_id", f"r{day}-{cost_usd}-{models}"),
        timestamp=datetime(2025, 3, day, 12, tzinfo=UTC),
        router="tier1",
        strategy=fields.pop("strategy", "single"),
        models=models,
        calls=len(models),
        cost_usd=cost_usd,
        answered_by=models[0] if models else None,
        predicted_quality=0.7 if models else None,
        baseline="b",
        baseline_source="best mean quality on the router's training table",
        baseline_cost_usd=0.004,
        baseline_quality=0.9,
        members=members,
        **fields,
    )


def test_summary_per_day_mix_split_and_graph_stages() -> None:
    records = [
        record(1, 0.001, ("a",)),
        record(1, 0.005, ("a", "b"), strategy="vote"),  # tier 2: its share is split
        record(2, 0.0002, ("a",), stage="decompose", parent_id="g"),
        record(2, 0.001, ("a",), stage="subtask", subtask_id="t1", parent_id="g"),
        record(
            3, 0.001, ("a",), stage="subtask", subtask_id="t2", parent_id="g"
        ),  # the same request, next day
        record(3, 0.0003, ("b",), stage="merge", parent_id="g"),
        record(3, 0.0, (), outcome="error", error_type="AllMembersFailedError"),
    ]
    summary = summarize_ledger(records)
    assert [d.label for d in summary.days] == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert [d.requests for d in summary.days] == [2, 1, 1] and summary.total.requests == 4
    day1, day2, day3 = summary.days
    assert day1.model_mix == {"a": 0.75, "b": 0.25}
    assert day1.counterfactual_usd == pytest.approx(0.008) and day1.saved_usd == pytest.approx(0.002)
    assert day2.counterfactual_usd == pytest.approx(0.004)  # the subtask; the decomposer has none
    assert day2.spent_usd == pytest.approx(0.0012) and day2.compared == 1
    assert (day3.failed, day3.routed, day3.compared) == (1, 3, 1)
    total = summary.total
    assert total.spent_usd == pytest.approx(sum(r.cost_usd for r in records))
    assert total.counterfactual_usd == pytest.approx(4 * 0.004)
    assert (total.quality, total.baseline_quality, total.quality_n) == (pytest.approx(0.7), 0.9, 4)
    assert summarize_ledger(records, baseline="a").total.counterfactual_usd == pytest.approx(4 * 0.001)
    assert summary.first == "2025-03-01T12:00:00+00:00" and summary.sources == [records[0].baseline_source]


def test_cli_prints_the_table_json_and_writes_the_plot(tmp_path: Path) -> None:
    members, _ = pool()
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=members, router="cheapest", audit_log=audit)
    spent = sum(llm.invoke(PROMPT).response_metadata["fusion"]["cost_usd"] for _ in range(3))
    runner = CliRunner()

    shown = runner.invoke(app, ["ledger", str(audit)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "savings ledger against premium" in shown.output and "total" in shown.output
    assert "cheap 100%" in shown.output and "priciest" in shown.output

    as_json = runner.invoke(app, ["ledger", str(audit), "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["total"]["requests"] == 3 and data["total"]["spent_usd"] == pytest.approx(spent)
    assert data["total"]["counterfactual_usd"] == pytest.approx(3 * cost("premium"))
    assert data["baselines"] == {"premium": 3} and data["days"][0]["model_mix"] == {"cheap": 1.0}

    against_mid = json.loads(runner.invoke(app, ["ledger", str(audit), "--json", "--baseline", "mid"]).stdout)
    assert against_mid["total"]["counterfactual_usd"] == pytest.approx(3 * cost("mid"))
    unknown = runner.invoke(app, ["ledger", str(audit), "--baseline", "gpt-9"])
    assert unknown.exit_code == 2 and "gpt-9" in unknown.output

    pytest.importorskip("matplotlib")
    png = tmp_path / "plots" / "ledger.png"
    plotted = runner.invoke(app, ["ledger", str(audit), "--plot", str(png)])
    assert plotted.exit_code == 0, plotted.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_stream_records_are_written_before_the_last_chunk(tmp_path: Path) -> None:
    members, _ = pool()
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=members, router="cheapest", audit_log=audit)

    async def consume() -> list[AIMessageChunk]:
        chunks = []
        async for chunk in llm.astream(PROMPT):
            chunks.append(chunk)
            if chunk.chunk_position == "last":
                assert len(read_audit_log(audit, kind="request")) == 1
        return chunks

    whole = gathered(asyncio.run(consume()))
    assert isinstance(whole, AIMessage | AIMessageChunk)
    (record,) = read_ledger(audit)
    assert record.cost_usd == whole.response_metadata["fusion"]["cost_usd"]


def test_chat_audit_log_then_ledger_on_the_command_line(tmp_path: Path) -> None:
    pool_file = tmp_path / "pool.yaml"
    pool_file.write_text(
        "models:\n"
        "  - {name: parrot, type: import, class: langchain_core.language_models.fake_chat_models.FakeListChatModel,\n"
        '     kwargs: {responses: ["Paris."]}, input_price: 1.0, output_price: 2.0}\n'
        "  - {name: sage, type: import, class: langchain_core.language_models.fake_chat_models.FakeListChatModel,\n"
        '     kwargs: {responses: ["Paris, France."]}, input_price: 5.0, output_price: 15.0}\n'
    )
    audit = tmp_path / "audit.jsonl"
    runner = CliRunner()
    costs = []
    for prompt in ("Capital of France?", "Capital of Italy?"):
        chat = runner.invoke(
            app, ["chat", "--pool", str(pool_file), "--audit-log", str(audit), "--json", prompt]
        )
        assert chat.exit_code == 0, chat.output
        costs.append(json.loads(chat.stdout)["fusion"]["cost_usd"])
    summary = json.loads(runner.invoke(app, ["ledger", str(audit), "--json"]).stdout)
    assert summary["total"]["requests"] == 2 and summary["total"]["spent_usd"] == pytest.approx(sum(costs))
    assert summary["baselines"] == {"sage": 2} and summary["total"]["saved_usd"] > 0
