"""FusionChatModel with a privacy policy: what the public member actually received, restored answers, audit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_emafusion import (
    AllMembersFailedError,
    FusionChatModel,
    ModelCard,
    ModelPool,
    NoEligibleModelError,
    PoolConfigError,
    Router,
    RoutingDecision,
    RoutingRequest,
)
from langchain_emafusion.pipeline.privacy import ChunkRelay
from langchain_emafusion.pool.card import Capabilities
from langchain_emafusion.privacy import PrivacyConfigError, PrivacyPolicy, Redactor, read_audit_log
from tests.unit_tests.fakes import ScriptedChatModel

ALWAYS = 10**9  # fail_times that never runs out

# Requests full of values the default detector finds; each one's last message is echoed back by the fakes.
SENSITIVE_TEXTS = [
    "Please e-mail ann.lee@acme-corp.com about the refund.",
    "Charge card 4111 1111 1111 1111 (exp 12/27) and confirm to bob@globex.io",
    "Wire it to DE89 3704 0044 0532 0130 00 today",
    "My SSN is 532-84-1193, call me on +44 20 7946 0958",
    "The server 10.1.2.3 runs with OPENAI_API_KEY=sk-9Xb2Lq7Zt4Wv1Mn8Pr3Ks6Jd set",
    "token ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 and AWS id AKIAZ7Q3M9X2L5T8W1PB leaked",
    "GB82 WEST 1234 5698 7654 32 and 5555 5555 5555 4444 belong to carol@example.org",
    "Amex 3782 822463 10005, SSN 078-05-1120, host 192.168.0.17, mail dave+billing@corp.example.com",
    "ann.lee@acme-corp.com wrote twice: ann.lee@acme-corp.com; [EMAIL_1] is a literal in her text",
    "Connect with password=Tr0ub4dor&3xY! to postgres://admin:S3cr3tPw9@db.internal:5432/prod",
    "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dQw4w9WgXcQ' https://api.example.com",
    "Text +1 415 555 2671 or mail frank_o@corp.example.com from 2001:db8:85a3::8a2e:370:7334",
    "Stripe key sk_live_4eC39HqLyjWDarjtT1zdp7dc and IBAN NL91 ABNA 0417 1643 00 for 6011 1111 1111 1117",
]
CLEAN_TEXT = "What is the capital of France?"


def conversations() -> list[list[BaseMessage]]:
    """Single prompts plus a multi-turn conversation with tool calls that carry values too."""
    requests: list[list[BaseMessage]] = [[HumanMessage(text)] for text in SENSITIVE_TEXTS]
    requests.append(
        [
            SystemMessage("You assist the account owner ann.lee@acme-corp.com."),
            HumanMessage([{"type": "text", "text": "Look up card 5555 5555 5555 4444 please."}]),
            AIMessage(
                content="",
                tool_calls=[
                    {
                        "name": "lookup",
                        "args": {"card": "5555 5555 5555 4444", "notify": "erin@globex.io"},
                        "id": "call_1",
                        "type": "tool_call",
                    }
                ],
            ),
            ToolMessage("Found IBAN FR14 2004 1010 0505 0001 3M02 606 for 10.1.2.3", tool_call_id="call_1"),
            HumanMessage("Summarise for erin@globex.io what you found."),
        ]
    )
    return requests


def detected_values(messages: list[BaseMessage]) -> set[str]:
    policy = PrivacyPolicy()
    texts = [json.dumps([m.model_dump() for m in messages], default=str)]
    texts += [m.text for m in messages]
    for m in messages:
        texts += [json.dumps(call["args"]) for call in getattr(m, "tool_calls", [])]
        texts += [str(v) for call in getattr(m, "tool_calls", []) for v in call["args"].values()]
    return {d.value for text in texts for d in policy.detect(text)}


def everything_received(member: ScriptedChatModel) -> str:
    """Every field of every message and every option the member got, as one string."""
    return json.dumps(
        [
            {"messages": [m.model_dump() for m in r["messages"]], "kwargs": r["kwargs"]}
            for r in member.received
        ],
        default=str,
    )


def two_member_pool(
    *, public_first: bool, private_fails: bool = False, chunk_chars: int = 3
) -> tuple[ModelPool, ScriptedChatModel, ScriptedChatModel]:
    public = ScriptedChatModel(echo=True, chunk_chars=chunk_chars)
    private = ScriptedChatModel(echo=True, chunk_chars=chunk_chars, fail_times=ALWAYS if private_fails else 0)
    # The cheapest router tries the cheaper member first; the other is the fallback.
    cheap, dear = {"input_price": 0.0}, {"input_price": 5.0}
    pool = ModelPool(
        [
            ModelCard(name="public", model=public, private=False, **(cheap if public_first else dear)),
            ModelCard(name="private", model=private, private=True, **(dear if public_first else cheap)),
        ]
    )
    return pool, public, private


def call_every_way(llm: FusionChatModel, requests: list[list[BaseMessage]]) -> dict[str, list[Any]]:
    """Answers (text, or the exception) per API: invoke, stream, batch, ainvoke, astream, abatch."""

    def attempt(fn: Any) -> Any:
        try:
            return fn()
        except Exception as exc:
            return exc

    def joined(chunks: list[AIMessageChunk]) -> str:
        return "".join(str(c.content) for c in chunks)

    async def async_ways() -> dict[str, list[Any]]:
        async def one(coro: Any) -> Any:
            try:
                return await coro
            except Exception as exc:
                return exc

        async def astream(messages: list[BaseMessage]) -> str:
            return joined([c async for c in llm.astream(messages)])

        ainvoked = [await one(llm.ainvoke(r)) for r in requests]
        astreamed = [await one(astream(r)) for r in requests]
        abatched = await llm.abatch(requests, return_exceptions=True)
        return {"ainvoke": ainvoked, "astream": astreamed, "abatch": abatched}

    answers = {
        "invoke": [attempt(lambda r=r: llm.invoke(r)) for r in requests],
        "stream": [attempt(lambda r=r: joined(list(llm.stream(r)))) for r in requests],
        "batch": llm.batch(requests, return_exceptions=True),
        **asyncio.run(async_ways()),
    }
    return {
        way: [a.content if isinstance(a, AIMessage) else a for a in found] for way, found in answers.items()
    }


@pytest.mark.parametrize(
    ("mode", "public_first", "private_fails"),
    [
        ("redact", True, False),  # the public member is the first choice and sees every request
        ("redact", False, True),  # the private member fails; the public one is the fallback
        ("private_only", True, False),  # the public member is cheaper but may not see sensitive requests
        ("private_only", False, True),  # the private member fails; falling back to public must not happen
    ],
)
def test_no_detected_value_ever_reaches_the_public_member(
    mode: str, public_first: bool, private_fails: bool, tmp_path: Path
) -> None:
    pool, public, private = two_member_pool(public_first=public_first, private_fails=private_fails)
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=pool, privacy=mode, audit_log=audit)
    requests = conversations()
    values = set().union(*(detected_values(r) for r in requests))
    assert len(values) == 28  # the corpus really is full of sensitive values, of every built-in kind

    answers = call_every_way(llm, requests)

    received = everything_received(public)
    leaked = sorted(value for value in values if value in received)
    assert leaked == []
    expected_answers = [str(r[-1].text) for r in requests]
    if mode == "redact":
        # The public member did the work on redacted text, and every answer came back restored.
        assert len(public.received) == 6 * len(requests)
        assert "[EMAIL_1]" in received and "[PAYMENT_CARD_1]" in received
        for way, found in answers.items():
            assert found == expected_answers, way
    else:
        if private_fails:
            assert public.received == []
            assert all(isinstance(a, AllMembersFailedError) for found in answers.values() for a in found)
        else:
            assert public.received == [] and all(found == expected_answers for found in answers.values())
    if not private_fails:
        return
    # The private member was tried first and saw the raw values (so "not received" above is meaningful).
    assert all(value in everything_received(private) for value in values)
    records = read_audit_log(audit)
    assert {(r.model, r.outcome, r.redacted) for r in records} >= {("private", "error", False)}
    # One line per member call, and one request record (the savings ledger's) per routed request.
    assert len(records) == len(public.received) + len(private.received)
    assert audit.read_text().count("\n") == len(records) + len(read_audit_log(audit, kind="request"))
    assert not [value for value in values if value in audit.read_text()]


def test_private_only_without_a_private_member_is_a_typed_error_naming_why() -> None:
    public = ScriptedChatModel()
    llm = FusionChatModel(pool=ModelPool([ModelCard(name="public", model=public)]), privacy="private_only")
    with pytest.raises(
        NoEligibleModelError, match=r"sensitive data \(email\).*'private_only'.*public: not private"
    ):
        llm.invoke("mail ann.lee@acme-corp.com")
    assert public.received == []
    assert llm.invoke(CLEAN_TEXT).content == "ok"  # a request with nothing sensitive may go anywhere


def test_a_router_that_ignores_private_only_still_cannot_reach_the_public_member() -> None:
    class EveryoneRouter(Router):
        name = "everyone"

        def route(self, request: RoutingRequest, pool: ModelPool) -> RoutingDecision:
            return RoutingDecision(models=pool.names, router=self.name, reason="all of them")

    pool, public, private = two_member_pool(public_first=True, private_fails=True)
    llm = FusionChatModel(pool=pool, router=EveryoneRouter(), privacy="private_only")
    with pytest.raises(AllMembersFailedError):
        llm.invoke("mail ann.lee@acme-corp.com")
    assert public.received == [] and len(private.received) == 1


def test_allow_mode_sends_raw_text_but_still_audits(tmp_path: Path) -> None:
    pool, public, _ = two_member_pool(public_first=True)
    audit = tmp_path / "audit.jsonl"
    message = FusionChatModel(pool=pool, privacy="allow", audit_log=audit).invoke("card 4111 1111 1111 1111")
    assert "4111 1111 1111 1111" in everything_received(public)
    assert message.response_metadata["fusion"]["privacy"] == {
        "sensitive": True,
        "kinds": ["payment_card"],
        "mode": "allow",
        "redacted_for": [],
    }
    (record,) = read_audit_log(audit)
    assert (record.model, record.redacted, record.detector_kinds) == ("public", False, ("payment_card",))


def test_redacted_answer_metadata_and_audit_say_what_happened_without_values(tmp_path: Path) -> None:
    pool, public, _ = two_member_pool(public_first=True)
    audit = tmp_path / "audit.jsonl"
    text = "Mail ann.lee@acme-corp.com the IBAN DE89 3704 0044 0532 0130 00"
    message = FusionChatModel(pool=pool, audit_log=audit).invoke(text)
    assert message.content == text
    assert public.received[0]["messages"][0].content == "Mail [EMAIL_1] the IBAN [IBAN_1]"
    fusion = message.response_metadata["fusion"]
    assert fusion["privacy"] == {
        "sensitive": True,
        "kinds": ["email", "iban"],
        "mode": "redact",
        "redacted_for": ["public"],
    }
    assert "acme-corp" not in json.dumps(fusion, default=str)
    (record,) = read_audit_log(audit)
    assert record.model_dump(
        include={"subtask_id", "model", "private", "detector_kinds", "redacted", "outcome"}
    ) == {
        "subtask_id": None,
        "model": "public",
        "private": False,
        "detector_kinds": ("email", "iban"),
        "redacted": True,
        "outcome": "ok",
    }
    assert record.cost_usd == fusion["cost_usd"] and len(record.request_id) == 36


def test_one_request_id_per_request_across_its_fallback_calls(tmp_path: Path) -> None:
    pool, _, _ = two_member_pool(public_first=False, private_fails=True)
    audit = tmp_path / "audit.jsonl"
    llm = FusionChatModel(pool=pool, audit_log=audit, max_retries=1)
    llm.invoke("mail ann.lee@acme-corp.com")
    llm.invoke(CLEAN_TEXT)
    records = read_audit_log(audit)
    assert [(r.model, r.outcome, r.error_type, r.redacted) for r in records] == [
        ("private", "error", "ConnectionError", False),
        ("private", "error", "ConnectionError", False),
        ("public", "ok", None, True),
        ("private", "error", "ConnectionError", False),
        ("private", "error", "ConnectionError", False),
        ("public", "ok", None, False),
    ]
    assert len({r.request_id for r in records[:3]}) == 1 and len({r.request_id for r in records}) == 2
    assert records[5].detector_kinds == ()


def test_tool_call_arguments_from_a_public_member_are_restored() -> None:
    public = ScriptedChatModel(tool_args={"to": "[EMAIL_1]", "body": "card [PAYMENT_CARD_1]"})
    pool = ModelPool([ModelCard(name="public", model=public, capabilities=Capabilities(tools=True))])

    def send_mail(to: str, body: str) -> None:
        """Send an e-mail."""

    llm = FusionChatModel(pool=pool).bind_tools([send_mail], tool_choice="any")
    message = llm.invoke("Send card 4111 1111 1111 1111 to ann.lee@acme-corp.com")
    assert message.tool_calls[0]["args"] == {
        "to": "ann.lee@acme-corp.com",
        "body": "card 4111 1111 1111 1111",
    }
    assert "ann.lee" not in everything_received(public)


def test_stream_relay_restores_placeholders_split_across_content_and_tool_call_chunks() -> None:
    redactor = Redactor(PrivacyPolicy().detector())
    redactor.redact("ann.lee@acme-corp.com")
    relay = ChunkRelay(redactor)
    pieces = [
        AIMessageChunk(content="Write to [EM"),
        AIMessageChunk(
            content="AIL_1] now",
            tool_call_chunks=[{"name": "f", "args": '{"to": "[EMA', "id": "c", "index": 0}],
        ),
        AIMessageChunk(
            content="", tool_call_chunks=[{"name": None, "args": 'IL_1]"}', "id": None, "index": 0}]
        ),
    ]
    out = list(relay.chunks(iter(pieces)))
    whole = out[0].message
    for chunk in out[1:]:
        whole = whole + chunk.message
    assert whole.content == "Write to ann.lee@acme-corp.com now"
    assert whole.tool_calls == [
        {"name": "f", "args": {"to": "ann.lee@acme-corp.com"}, "id": "c", "type": "tool_call"}
    ]
    assert relay.gathered is not None and "[EMAIL_1]" in str(relay.gathered.content)


def test_privacy_config_is_checked_at_construction() -> None:
    pool, _, _ = two_member_pool(public_first=True)
    with pytest.raises(PrivacyConfigError, match="mode"):
        FusionChatModel(pool=pool, privacy="leak_everything")
    with pytest.raises(PrivacyConfigError, match="custom_patterns"):
        FusionChatModel(pool=pool, privacy={"custom_patterns": {"badge": "([unclosed"}})
    with pytest.raises(PrivacyConfigError, match="expected a mapping"):
        PrivacyPolicy.from_config(["redact"])  # type: ignore[arg-type]
    keyword_policy = FusionChatModel(
        pool=pool, privacy={"keywords": {"codename": ["Project Falcon"]}}
    ).privacy
    assert keyword_policy.mode == "redact" and [
        d.kind for d in keyword_policy.detect("about Project Falcon")
    ] == ["codename"]
    assert FusionChatModel(pool=pool).privacy == PrivacyPolicy()  # the default redacts


def test_pool_file_privacy_section_applies_unless_the_model_sets_its_own(tmp_path: Path) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(
        "models:\n"
        "  - {name: public, type: import, class: tests.unit_tests.fakes.ScriptedChatModel, kwargs: {reply: pub}}\n"
        "  - {name: private, type: import, class: tests.unit_tests.fakes.ScriptedChatModel, kwargs: {reply: priv},"
        " private: true, input_price: 5}\n"
        "privacy:\n  mode: private_only\n  keywords: {project: [Project Falcon]}\n"
    )
    pool = ModelPool.from_yaml(path)
    assert pool.privacy is not None and pool.privacy.mode == "private_only"
    from_file = FusionChatModel(pool=pool).invoke("Status of Project Falcon?")
    assert from_file.content == "priv"
    assert from_file.response_metadata["fusion"]["privacy"]["kinds"] == ["project"]
    assert FusionChatModel(pool=pool).invoke("Status of the weather?").content == "pub"
    overridden = FusionChatModel(pool=pool, privacy="allow").invoke("Status of Project Falcon?")
    assert overridden.content == "pub"
    path.write_text(
        "models:\n  - {name: a, type: import, class: tests.unit_tests.fakes.ScriptedChatModel}\n"
        "privacy: {mode: sometimes}\n"
    )
    with pytest.raises(PoolConfigError, match="section 'privacy'"):
        ModelPool.from_yaml(path)
