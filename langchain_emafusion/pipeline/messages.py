"""Message helpers every step of the request pipeline shares: a message's text, token estimates, chunks."""

from __future__ import annotations

import re
from collections.abc import Iterator

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from langchain_emafusion.errors import InvalidInputError

__all__ = ["answer_chunks", "check_messages", "estimate_tokens", "message_text", "whole"]

CHARS_PER_TOKEN = 4
"""Characters per token when a member reports no usage (a rough English average)."""


def message_text(message: BaseMessage) -> str:
    """The text of a message: its string content, or its text blocks joined by newlines."""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(
        block if isinstance(block, str) else str(block.get("text", ""))
        for block in message.content
        if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
    )


def estimate_tokens(text: str) -> int:
    """A token count estimate for ``text`` (at least 1)."""
    return max(1, len(text) // CHARS_PER_TOKEN)


def check_messages(messages: list[BaseMessage]) -> None:
    """Refuse requests that cannot be routed, saying what to fix; nothing is ever dropped silently.

    Raises:
        InvalidInputError: No messages, or no text in any of them (for example only an image).
    """
    if not messages:
        raise InvalidInputError(
            "FusionChatModel needs at least one message; pass a string or a non-empty list of messages"
        )
    if any(message_text(m).strip() for m in messages) or any(
        getattr(m, "tool_calls", None) for m in messages
    ):
        return
    other_blocks = sorted(
        {
            str(block.get("type", "?")) if isinstance(block, dict) else type(block).__name__
            for m in messages
            if not isinstance(m.content, str)
            for block in m.content
            if not (isinstance(block, dict) and block.get("type") == "text")
        }
    )
    if other_blocks:
        raise InvalidInputError(
            f"the messages hold no text, only content blocks of type {', '.join(other_blocks)}; requests are "
            "routed and privacy-checked on their text, so add a text part saying what to do with them"
        )
    raise InvalidInputError("the messages hold no text to answer; every message is empty or whitespace")


def answer_chunks(message: BaseMessage) -> Iterator[ChatGenerationChunk]:
    """A finished answer as stream chunks (word by word), for strategies that choose before they can stream."""
    for piece in re.findall(r"\S+\s*|\s+", message_text(message)):
        yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


def whole(gathered: AIMessageChunk | None) -> AIMessageChunk:
    """The gathered stream, or an empty message when the member streamed nothing."""
    return gathered if gathered is not None else AIMessageChunk(content="")
