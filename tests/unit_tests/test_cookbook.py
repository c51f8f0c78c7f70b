"""Every cookbook entry runs offline and shows what it promises."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"


@pytest.mark.local_model
def test_private_and_public_members() -> None:
    result = runpy.run_path(str(COOKBOOK / "private_and_public_members.py"))["main"]()
    redacted, private = result["redacted"], result["private"]
    # The public member answered with a placeholder; the caller gets the real address back.
    assert redacted.content == "I have e-mailed jane.doe@example.com about the refund."
    assert redacted.response_metadata["fusion"]["models"] == ["public-api"]
    assert private.response_metadata["fusion"]["models"] == ["local-smollm2"]
    kinds = {(r.model, r.redacted) for r in result["audit"]}
    assert kinds == {("public-api", True), ("local-smollm2", False)}
    assert all(tuple(r.detector_kinds) == ("email",) for r in result["audit"])


@pytest.mark.local_model
def test_drop_in_agent() -> None:
    result = runpy.run_path(str(COOKBOOK / "drop_in_agent.py"))["main"]()
    before, after = result["before"]["messages"], result["after"]["messages"]
    # The agent code did not change, and neither did the conversation it produced.
    assert [m.type for m in after] == ["human", "ai", "tool", "ai"]
    assert [(m.type, m.text) for m in after] == [(m.type, m.text) for m in before]
    call = after[1].tool_calls[0]
    assert (call["name"], call["args"], call["id"]) == ("order_status", {"order_id": "A-1042"}, "call_1")
    assert after[2].tool_call_id == "call_1" and after[2].text == "shipped on 3 March, arriving Friday"
    # Every agent step went to the tool-capable member, although the local one is cheaper...
    for step in (after[1], after[3]):
        assert step.response_metadata["fusion"]["candidates"] == ["api-model"]
    # ...which answers the requests that need no tools.
    assert result["chat"].response_metadata["fusion"]["models"] == ["local-smollm2"]
    assert result["chat"].text.strip()


@pytest.mark.local_model
def test_fusion_middleware() -> None:
    result = runpy.run_path(str(COOKBOOK / "fusion_middleware.py"))["main"]()
    routed, fallback = result["routed"]["messages"], result["fallback"]["messages"]
    for messages in (routed, fallback):
        assert [m.type for m in messages] == ["human", "ai", "tool"]
        call = messages[1].tool_calls[0]
        assert (call["name"], call["args"]) == ("order_status", {"order_id": "A-1042"})
        assert messages[2].text == "shipped on 3 March, arriving Friday"
    # Routed: the agent's step went to the embedded tool-capable member; the agent's own model was never called.
    fusion = routed[1].response_metadata["fusion"]
    assert fusion["candidates"] == ["qwen2.5-coder-0.5b"] and fusion["models"] == ["qwen2.5-coder-0.5b"]
    assert result["own_calls"] == 0
    # Fallback: no tool-capable member, so the agent's own model answered, and the answer says why.
    assert "fusion" not in fallback[1].response_metadata
    assert fallback[1].response_metadata["fusion_fallback"]["error_type"] == "NoEligibleModelError"
    assert result["fallback_own_calls"] == 1


def test_tracing_shows_each_member_call_with_score_cost_and_reason() -> None:
    result = runpy.run_path(str(COOKBOOK / "tracing.py"))["main"]()
    trace = result["trace"]
    assert [t["root"].name for t in trace] == ["emafusion", "emafusion"]
    assert [[m["run_name"] for m in t["members"]] for t in trace] == [["member:mathy"], ["member:poet"]]
    for t, chosen in zip(trace, ("mathy", "poet"), strict=True):
        fusion, member = t["fusion"], t["members"][0]
        assert fusion["router"] == "tier1" and fusion["models"] == [chosen]
        # The member run carries the predicted score that made it win, and the router's reason.
        assert member["score"] == fusion["scores"][chosen]
        assert member["score"] > max(s for name, s in fusion["scores"].items() if name != chosen)
        assert member["reason"] == fusion["reason"] and f"for {chosen}" in member["reason"]
        assert member["cost_usd"] == fusion["cost_usd"] > 0
        assert "emafusion-member" in member["tags"]
    # The member runs are children of the fusion runs, not separate traces.
    assert len(result["tracer"].roots) == 2


def test_train_on_your_outcomes_writes_report_and_plot(tmp_path: Path, shared_dir: Path) -> None:
    result = runpy.run_path(str(COOKBOOK / "train_on_your_outcomes.py"))["main"](tmp_path)
    report = result["report"]
    assert result["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "policy" / "manifest.json").is_file() and (tmp_path / "report.json").is_file()
    assert result["manifest"]["train_table"]["n_prompts"] == 200 and report["n_prompts"] == 80
    assert len(report["models"]) == 9 and report["best_single_model"] in report["models"]
    assert "emafusion" in report["policies"]
    frontier = report["policies"]["emafusion"]["frontier"]
    assert len(frontier) >= 10 and all(0 <= p["accuracy"] <= 1 for p in frontier)
    assert 0 < report["policies"]["emafusion"]["auc_normalized"] <= 1
    # The target was read off the saved out-of-fold curve: one of the replayed knob settings.
    target = result["target"]
    assert target.target.startswith("accuracy >= ") and target.knob in [p["setting"] for p in frontier]
    assert "out-of-fold" in target.source


def test_add_a_model_routes_to_the_onboarded_member_and_leaves_the_others_alone() -> None:
    result = runpy.run_path(str(COOKBOOK / "add_a_model.py"))["main"]()
    code_before, math_before = result["before"]
    code_after, math_after = result["after"]
    assert code_before["models"][0] != "coder" and "not in the predictor" in code_before["reason"]
    assert code_after["models"][0] == "coder" and "not in the predictor" not in code_after["reason"]
    assert math_before["models"][0] == math_after["models"][0] == "mathy"
    assert result["unchanged"] is True


def test_savings_ledger() -> None:
    result = runpy.run_path(str(COOKBOOK / "savings_ledger.py"))["main"]()
    records, total = result["records"], result["total"]
    assert len(records) == 4 and total.requests == 4
    assert records[0].models == ("medium-api",) and records[0].failed == ("small-api",)
    assert total.model_mix == {"small-api": 0.75, "medium-api": 0.25}
    fusions = [a.response_metadata["fusion"] for a in result["answers"]]
    streamed = result["streamed"][-1].response_metadata["fusion"]
    assert total.spent_usd == pytest.approx(sum(f["cost_usd"] for f in fusions) + streamed["cost_usd"])
    assert all(r.baseline == "large-api" for r in records) and total.saved_share > 0.5
