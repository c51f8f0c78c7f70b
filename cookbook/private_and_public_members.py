"""Cookbook: one FusionChatModel over a private local model and a "public API" model, with redaction and audit.

Run: .venv/bin/python cookbook/private_and_public_members.py

The public member here is a stand-in (a scripted LangChain chat model that reports what it received), so the
example runs offline; swap in `ChatOpenAI(...)` for a real API. The private member is the embedded SmolLM2.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_emafusion import ChatGGUF, FusionChatModel, ModelCard, ModelPool
from langchain_emafusion.privacy import read_audit_log


def main() -> dict[str, Any]:
    public_api = GenericFakeChatModel(
        messages=iter([AIMessage("I have e-mailed [EMAIL_1] about the refund.")] * 10)
    )
    pool = ModelPool(
        [
            # Cheaper, so the router prefers it whenever privacy allows.
            ModelCard(name="public-api", model=public_api, input_price=0.1, output_price=0.4),
            ModelCard(
                name="local-smollm2",
                model=lambda: ChatGGUF.from_embedded("smollm2-135m", max_tokens=32),
                input_price=0.2,
                output_price=0.8,
                private=True,
            ),
        ]
    )
    audit = Path(tempfile.mkdtemp()) / "audit.jsonl"

    redacting = FusionChatModel(pool=pool, audit_log=str(audit))  # default privacy="redact"
    answer = redacting.invoke("Please confirm the refund to jane.doe@example.com.")
    print("redact       ->", answer.content, "| via", answer.response_metadata["fusion"]["models"])
    print("               privacy:", answer.response_metadata["fusion"]["privacy"])

    keep_private = FusionChatModel(pool=pool, privacy="private_only", audit_log=str(audit))
    private_answer = keep_private.invoke("Please confirm the refund to jane.doe@example.com.")
    print(
        "private_only ->",
        str(private_answer.content).strip()[:80],
        "| via",
        private_answer.response_metadata["fusion"]["models"],
    )

    records = read_audit_log(audit)
    for record in records:
        print(
            "audit:",
            record.model,
            "private" if record.private else "public",
            record.detector_kinds,
            "redacted" if record.redacted else "raw",
        )
    return {"redacted": answer, "private": private_answer, "audit": records}


if __name__ == "__main__":
    main()
