from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from langchain_emafusion.privacy import AuditLog, AuditLogError, AuditRecord, PrivacyPolicy, read_audit_log

SENSITIVE_VALUES = [
    "ann.lee@acme-corp.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "532-84-1193",
    "203.0.113.45",
    "sk-proj-4fQ9xLm2TzR8vKp1WcN7bYs3HdJ6eGa0UiOqFt5rXy",
    "Project Falcon",
]


def test_records_of_a_sensitive_request_never_contain_the_values(tmp_path: Path) -> None:
    policy = PrivacyPolicy(keywords={"codename": ["Project Falcon"]})
    request = "Please help: " + ", ".join(SENSITIVE_VALUES)
    redactor = policy.redactor()
    redacted = redactor.redact(request)
    assert len(redactor.detected_kinds) == 8
    log = AuditLog(tmp_path / "audit" / "privacy.jsonl")
    for model, private in (("local-qwen", True), ("gpt-4o-mini", False)):
        log.record(
            request_id="req-1",
            subtask_id="sub-1",
            model=model,
            private=private,
            detector_kinds=redactor.detected_kinds,
            redacted=not private,
            cost_usd=0.0012,
            outcome="error" if private else "ok",
            error_type="TimeoutError" if private else None,
        )
    content = log.path.read_text(encoding="utf-8")
    assert redacted not in content and len(content.splitlines()) == 2
    for value in SENSITIVE_VALUES:
        assert value not in content
        assert value.lower() not in content.lower()
    records = read_audit_log(log.path)
    assert [r.model for r in records] == ["local-qwen", "gpt-4o-mini"]
    assert records[1].detector_kinds == (
        "codename",
        "email",
        "iban",
        "ip_address",
        "payment_card",
        "phone",
        "secret",
        "us_ssn",
    )
    assert records[0].outcome == "error" and records[0].error_type == "TimeoutError"


def test_record_shape_kinds_sorted_unique_and_utc_timestamp() -> None:
    record = AuditRecord(
        request_id="r",
        model="m",
        private=False,
        detector_kinds=["phone", "email", "phone"],
        redacted=True,
        timestamp=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    )
    line = json.loads(record.model_dump_json())
    assert line["detector_kinds"] == ["email", "phone"]
    assert line["subtask_id"] is None and line["timestamp"] == "2024-05-01T12:00:00Z"
    assert set(line) == {
        "request_id", "subtask_id", "model", "private", "detector_kinds", "redacted", "cost_usd", "timestamp",
        "outcome", "error_type",
    }  # fmt: skip
    with pytest.raises(ValueError):
        AuditRecord(request_id="r", model="m", private=False, redacted=False, detector_kinds=["not a kind!"])
    with pytest.raises(ValueError):
        AuditRecord(
            request_id="r", model="m", private=False, redacted=False, error_type="boom: a@b.io leaked"
        )
    with pytest.raises(ValueError):
        AuditRecord(request_id="r", model="m", private=False, redacted=False, timestamp=datetime(2024, 5, 1))


def test_corrupt_line_names_the_line_number(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    log.record(request_id="r1", model="m", private=True, redacted=False)
    with log.path.open("a", encoding="utf-8") as handle:
        handle.write("\n{not json\n")
    with pytest.raises(AuditLogError) as caught:
        read_audit_log(log.path)
    assert caught.value.line == 3 and "line 3" in str(caught.value)

    wrong_field = tmp_path / "b.jsonl"
    wrong_field.write_text(
        log.path.read_text().splitlines()[0] + '\n{"request_id": "r2"}\n', encoding="utf-8"
    )
    with pytest.raises(AuditLogError, match="line 2.*model"):
        read_audit_log(wrong_field)
    with pytest.raises(AuditLogError, match="no audit log"):
        read_audit_log(tmp_path / "missing.jsonl")


def test_concurrent_threads_and_tasks_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "concurrent.jsonl"

    def write_many(worker: int) -> None:
        log = AuditLog(path)  # separate instances share the per-file lock
        for index in range(25):
            log.record(
                request_id=f"t{worker}-{index}", model="member-" + "x" * 190, private=False, redacted=True
            )

    threads = [threading.Thread(target=write_many, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()

    async def write_async() -> None:
        log = AuditLog(path)
        await asyncio.gather(
            *(
                log.aappend(AuditRecord(request_id=f"a{index}", model="m", private=True, redacted=False))
                for index in range(50)
            )
        )

    asyncio.run(write_async())
    for thread in threads:
        thread.join()
    records = read_audit_log(path)
    assert len(records) == 150
    assert len({record.request_id for record in records}) == 150
