"""What LangSmith receives for a fused call: member runs redacted, tokens counted once (on the fusion run)."""

from __future__ import annotations

import copy
from typing import Any
from unittest.mock import MagicMock

import pytest
from langchain_core.tracers.langchain import LangChainTracer
from langchain_core.tracers.schemas import Run

from langchain_emafusion import FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.pipeline.tracing import MEMBER_USAGE_KEY, redact_trace_payload, redacting_client
from langchain_emafusion.privacy import PrivacyPolicy
from tests.unit_tests.fakes import ScriptedChatModel

EMAIL = "maria.g@example.org"
PROMPT = f"Write one line to {EMAIL} confirming the order."


class RecordingTracer(LangChainTracer):
    """LangSmith's tracer with the client replaced by a record of what would be posted and patched.

    The record is per class (reset for each test): langchain-core copies tracers as runs nest.
    """

    posted: list[Run] = []  # noqa: RUF012 - shared on purpose, see above
    patched: list[Run] = []  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("client", MagicMock())
        super().__init__(**kwargs)

    def _persist_run_single(self, run: Run) -> None:
        self.posted.append(_snapshot(run))

    def _update_run_single(self, run: Run) -> None:  # type: ignore[override]
        self.patched.append(_snapshot(run))


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    RecordingTracer.posted.clear()
    RecordingTracer.patched.clear()


def _snapshot(run: Run) -> Run:
    # What the client would send, frozen now (the run object keeps changing; its client is a mock).
    return run.model_copy(
        update={
            "inputs": copy.deepcopy(run.inputs),
            "outputs": copy.deepcopy(run.outputs),
            "extra": copy.deepcopy({k: v for k, v in run.extra.items() if k != "runtime"}),
        }
    )


def _llm(private: bool, privacy: str = "redact") -> FusionChatModel:
    member = ScriptedChatModel(echo=True, input_tokens=11, output_tokens=7)
    pool = ModelPool([ModelCard(name="member", model=member, private=private)])
    return FusionChatModel(pool=pool, router="cheapest", privacy=privacy, decompose=False)


def _runs(tracer: RecordingTracer, name: str, *, ended: bool) -> list[Run]:
    return [run for run in (tracer.patched if ended else tracer.posted) if run.name == name]


@pytest.mark.parametrize("private", [True, False])
async def test_member_runs_never_carry_detected_values(private: bool) -> None:
    tracer = RecordingTracer()
    answer = str((await _llm(private).ainvoke(PROMPT, config={"callbacks": [tracer]})).content)
    assert EMAIL in answer  # the caller's answer is restored (or raw from the private member)
    (started,) = _runs(tracer, "member:member", ended=False)
    (ended,) = _runs(tracer, "member:member", ended=True)
    assert EMAIL not in repr(started.inputs) and "[EMAIL_1]" in repr(started.inputs)
    assert EMAIL not in repr(ended.outputs) and "[EMAIL_1]" in repr(ended.outputs)
    # The member run hangs under the fusion run in the same trace.
    (fusion,) = _runs(tracer, "FusionChatModel", ended=True)
    assert started.parent_run_id == fusion.id and started.trace_id == fusion.trace_id


async def test_allow_mode_traces_member_runs_as_they_are() -> None:
    tracer = RecordingTracer()
    await _llm(private=True, privacy="allow").ainvoke(PROMPT, config={"callbacks": [tracer]})
    (started,) = _runs(tracer, "member:member", ended=False)
    assert EMAIL in repr(started.inputs)


async def test_tokens_are_counted_once_on_the_fusion_run() -> None:
    tracer = RecordingTracer()
    await _llm(private=True).ainvoke("Say hi.", config={"callbacks": [tracer]})
    (member,) = _runs(tracer, "member:member", ended=True)
    (fusion,) = _runs(tracer, "FusionChatModel", ended=True)
    member_metadata: dict[str, Any] = member.extra.get("metadata", {})
    assert "usage_metadata" not in member_metadata
    assert "usage_metadata" not in repr(member.outputs)
    assert member_metadata[MEMBER_USAGE_KEY] == {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    assert fusion.extra["metadata"]["usage_metadata"]["total_tokens"] == 18


def test_sync_invoke_traces_the_same_way() -> None:
    tracer = RecordingTracer()
    _llm(private=True).invoke(PROMPT, config={"callbacks": [tracer]})
    (started,) = _runs(tracer, "member:member", ended=False)
    (ended,) = _runs(tracer, "member:member", ended=True)
    assert EMAIL not in repr(started.inputs) and EMAIL not in repr(ended.outputs)
    assert MEMBER_USAGE_KEY in ended.extra["metadata"]


async def test_a_streamed_call_traces_one_run_with_the_total_usage() -> None:
    """langchain-core hands `_astream` no run manager, so a streamed call's members are not child runs."""
    tracer = RecordingTracer()
    chunks = [chunk async for chunk in _llm(private=True).astream(PROMPT, config={"callbacks": [tracer]})]
    assert EMAIL in "".join(str(chunk.content) for chunk in chunks)
    assert [run.name for run in RecordingTracer.patched] == ["FusionChatModel"]
    (fusion,) = RecordingTracer.patched
    assert fusion.extra["metadata"]["usage_metadata"]["total_tokens"] == 18


def test_trace_payloads_are_redacted_as_one_batch() -> None:
    payload = {"messages": [[{"kwargs": {"content": PROMPT, "type": "human"}}]], "to": EMAIL, "n": 1}
    hidden = redact_trace_payload(payload, PrivacyPolicy())
    assert EMAIL not in repr(hidden)
    assert hidden["to"] == "[EMAIL_1]" and "[EMAIL_1]" in hidden["messages"][0][0]["kwargs"]["content"]
    assert hidden["n"] == 1 and hidden["messages"][0][0]["kwargs"]["type"] == "human"
    assert EMAIL in repr(payload)  # the caller's own objects are left as they are


def test_redacting_client_hides_inputs_and_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    import langsmith

    built: dict[str, Any] = {}
    monkeypatch.setattr(langsmith, "Client", lambda **kwargs: built.update(kwargs) or "client")
    assert redacting_client(api_key="k") == "client"
    assert built["api_key"] == "k"
    for hook in (built["hide_inputs"], built["hide_outputs"]):
        assert hook({"text": PROMPT}) == {"text": PROMPT.replace(EMAIL, "[EMAIL_1]")}
