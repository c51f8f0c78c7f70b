from __future__ import annotations

import json

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_emafusion.privacy import Redactor, SensitivityDetector, iter_restored

DETECTOR = SensitivityDetector(keywords={"codename": ["Project Falcon"]})
EMAIL_A = "ann.lee@acme-corp.com"
EMAIL_B = "bob@globex.io"
CARD = "4111 1111 1111 1111"
PHONE = "+44 20 7946 0958"
IBAN = "DE89 3704 0044 0532 0130 00"


def test_placeholders_are_stable_per_kind_and_value_across_texts() -> None:
    redactor = Redactor(DETECTOR)
    first, second = redactor.redact_many(
        [f"Mail {EMAIL_A} and {EMAIL_B}, then {EMAIL_A} again; card {CARD}", f"cc {EMAIL_B}, call {PHONE}"]
    )
    assert first == "Mail [EMAIL_1] and [EMAIL_2], then [EMAIL_1] again; card [PAYMENT_CARD_1]"
    assert second == "cc [EMAIL_2], call [PHONE_1]"
    assert redactor.redact(f"later {EMAIL_A} and {IBAN}") == "later [EMAIL_1] and [IBAN_1]"
    assert redactor.detected_kinds == ["email", "iban", "payment_card", "phone"]
    assert redactor.mapping["[EMAIL_2]"] == EMAIL_B


def test_round_trip_and_no_fragment_of_any_value_is_left() -> None:
    redactor = Redactor(DETECTOR)
    text = f"{EMAIL_A} / {CARD} / {PHONE} / {IBAN} / Project Falcon / 10.1.2.3 / 532-84-1193"
    redacted = redactor.redact(text)
    for value in (
        EMAIL_A,
        CARD,
        PHONE,
        IBAN,
        "Falcon",
        "10.1.2.3",
        "532-84-1193",
        "acme-corp",
        "7946",
        "0532",
    ):
        assert value not in redacted
    assert redactor.restore(redacted) == text


def test_a_value_recognised_once_is_hidden_where_it_recurs_without_context() -> None:
    redactor = Redactor(DETECTOR)
    # The bare digit run alone is not a phone number, but it was detected as one in the first message.
    first, second = redactor.redact_many(["Phone: 0171 2345678", "as said, 0171 2345678 after six"])
    assert first == "Phone: [PHONE_1]" and second == "as said, [PHONE_1] after six"


def test_restore_tolerates_the_documented_variants() -> None:
    redactor = Redactor(DETECTOR)
    redactor.redact(f"{EMAIL_A} {CARD}")
    value = EMAIL_A
    for echoed in (
        "[EMAIL_1]",
        "[email_1]",
        "EMAIL_1",
        "Email_1",
        "(EMAIL_1)",
        "{EMAIL_1}",
        "<EMAIL_1>",
        "EMAIL-1",
    ):
        assert redactor.restore(f"x {echoed} y") == f"x {value} y", echoed
    assert redactor.restore("x \\[EMAIL\\_1\\] y") == f"x {value} y"
    assert redactor.restore("x [ EMAIL 1 ] y") == f"x {value} y"
    assert redactor.restore("x [EMAIL_01] y") == f"x {value} y"
    assert redactor.restore("PAYMENT-CARD-1 and payment_card_1") == f"{CARD} and {CARD}"
    assert redactor.restore("(EMAIL_1 is it") == f"({value} is it"


def test_restore_leaves_lookalikes_alone() -> None:
    redactor = Redactor(DETECTOR)
    redactor.redact(EMAIL_A)
    for text in (
        "email 1 is prose",
        "EMAIL_12",
        "MY_EMAIL_1",
        "EMAIL_1x",
        "[EMAIL_2]",
        "[PHONE_1]",
        "EMAIL1",
    ):
        assert redactor.restore(text) == text


def test_placeholders_already_in_the_input_are_not_reused() -> None:
    redactor = Redactor(DETECTOR)
    texts = [f"The template says [EMAIL_1] and email-2; the real one is {EMAIL_A}"]
    (redacted,) = redactor.redact_many(texts)
    assert redacted == "The template says [EMAIL_1] and email-2; the real one is [EMAIL_3]"
    assert redactor.restore(redacted) == texts[0]


def test_streamed_answers_are_restored_whatever_the_chunking() -> None:
    redactor = Redactor(DETECTOR)
    redactor.redact(f"{EMAIL_A} {PHONE} {CARD}")
    answer = "Sure: [EMAIL_1], call (PHONE_1) or use PAYMENT_CARD_1. Not EMAIL_12 though; [email_1]"
    expected = redactor.restore(answer)
    assert EMAIL_A in expected and "EMAIL_12" in expected
    for size in (1, 2, 3, 5, 8, 13, 200):
        chunks = [answer[i : i + size] for i in range(0, len(answer), size)]
        assert "".join(iter_restored(redactor, chunks)) == expected, size


def test_redact_messages_keeps_types_ids_and_covers_blocks_and_tool_calls() -> None:
    redactor = Redactor(DETECTOR)
    messages = [
        SystemMessage(content="You are helpful.", id="s1"),
        HumanMessage(
            content=[
                {"type": "text", "text": f"Mail {EMAIL_A}"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
            id="h1",
        ),
        AIMessage(
            content="",
            id="a1",
            tool_calls=[{"name": "send", "args": {"to": EMAIL_A, "cc": [EMAIL_B], "n": 3}, "id": "c1"}],
            additional_kwargs={
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "send", "arguments": json.dumps({"to": EMAIL_A})},
                    }
                ]
            },
        ),
        ToolMessage(content=f"sent to {EMAIL_B}", tool_call_id="c1", id="t1"),
    ]
    redacted = redactor.redact_messages(messages)
    assert [type(m) for m in redacted] == [type(m) for m in messages]
    assert [m.id for m in redacted] == ["s1", "h1", "a1", "t1"]
    dumped = json.dumps([m.model_dump() for m in redacted])
    assert EMAIL_A not in dumped and EMAIL_B not in dumped
    assert redacted[1].content[0] == {"type": "text", "text": "Mail [EMAIL_1]"}
    assert redacted[1].content[1] == messages[1].content[1]
    assert redacted[2].tool_calls[0]["args"] == {"to": "[EMAIL_1]", "cc": ["[EMAIL_2]"], "n": 3}
    assert isinstance(redacted[3], ToolMessage) and redacted[3].tool_call_id == "c1"
    assert messages[1].content[0]["text"] == f"Mail {EMAIL_A}"  # the originals are untouched

    answer = AIMessage(
        content="Done for EMAIL_1",
        id="r1",
        tool_calls=[{"name": "send", "args": {"to": "[EMAIL_2]"}, "id": "c2"}],
    )
    restored = redactor.restore_message(answer)
    assert restored.content == f"Done for {EMAIL_A}" and restored.id == "r1"
    assert isinstance(restored, AIMessage) and restored.tool_calls[0]["args"] == {"to": EMAIL_B}
