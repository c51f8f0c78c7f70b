from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_emafusion.privacy import Redactor, SensitivityDetector, iter_restored

DETECTOR = SensitivityDetector(
    keywords={"codename": ["Project Falcon"]}, custom_patterns={"ticket": r"TCK-[0-9]{4}"}
)
SENSITIVE = [
    "ann.lee@acme-corp.com",
    "bob@globex.io",
    "+44 20 7946 0958",
    "+1 (415) 555-0132",
    "4111 1111 1111 1111",
    "5555555555554444",
    "DE89 3704 0044 0532 0130 00",
    "532-84-1193",
    "10.20.30.40",
    "2001:db8::7334",
    "sk-proj-4fQ9xLm2TzR8vKp1WcN7bYs3HdJ6eGa0UiOqFt5rXy",
    "AKIA4XQ2N7RJZL3PWM6B",
    "Project Falcon",
    "TCK-1234",
]
FRAGMENTS = [
    " ", ", ", ". ", "\n", "(", ")", "[", "]", "<", ">", "_", "-", ":", "=", "Hi ", "call ", "mail ", "EMAIL_1",
    "[EMAIL_1]", "email 1", "(PHONE-2)", "[payment_card_1]", "order 4829301756", "v1.2.3", "ID", "x", "0", "é", "漢字",
]  # fmt: skip
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pieces = st.lists(
    st.one_of(st.sampled_from(SENSITIVE), st.sampled_from(FRAGMENTS), st.text(max_size=6)),
    min_size=1,
    max_size=12,
)
texts = pieces.map("".join)


@SETTINGS
@given(batch=st.lists(texts, min_size=1, max_size=3))
def test_redact_then_restore_is_the_identity(batch: list[str]) -> None:
    redactor = Redactor(DETECTOR)
    redacted = redactor.redact_many(batch)
    assert [redactor.restore(text) for text in redacted] == batch


@SETTINGS
@given(
    parts=st.lists(st.sampled_from(SENSITIVE), min_size=1, max_size=5),
    glue=st.sampled_from([" ", " and ", "\n"]),
)
def test_redacted_text_contains_no_sensitive_value(parts: list[str], glue: str) -> None:
    text = "Values: " + glue.join(parts) + "."
    redactor = Redactor(DETECTOR)
    redacted = redactor.redact(text)
    for value in parts:
        assert value not in redacted
    assert redactor.restore(redacted) == text


@SETTINGS
@given(text=texts, size=st.integers(min_value=1, max_value=9))
def test_streamed_restore_equals_whole_restore(text: str, size: int) -> None:
    redactor = Redactor(DETECTOR)
    redacted = redactor.redact(text)
    chunks = [redacted[i : i + size] for i in range(0, len(redacted), size)]
    assert "".join(iter_restored(redactor, chunks)) == redactor.restore(redacted) == text


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(max_size=200), texts))
def test_detector_never_crashes_and_spans_are_exact_in_bounds_and_disjoint(text: str) -> None:
    detections = DETECTOR.detect(text)
    previous_end = 0
    for detection in detections:
        assert 0 <= previous_end <= detection.start < detection.end <= len(text)
        assert text[detection.start : detection.end] == detection.value
        assert detection.kind in DETECTOR.kinds
        previous_end = detection.end
