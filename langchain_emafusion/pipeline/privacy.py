"""One request under a privacy policy: detect once, decide what each member sees, restore what it answers.

`FusionChatModel` builds one :class:`RequestPrivacy` per request. Private members get the raw messages; in
``redact`` mode public members get a redacted copy and their answer is restored before the caller sees it; in
``private_only`` mode a sensitive request never reaches a public member. The sync, async and streaming paths all
go through the same object, so they cannot disagree about who saw what.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk

from langchain_emafusion.errors import NoEligibleModelError
from langchain_emafusion.pipeline.messages import message_text
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.privacy.policy import MemberAccess, PrivacyPolicy
from langchain_emafusion.privacy.redaction import Redactor, StreamRestorer, map_json_strings

__all__ = ["ChunkRelay", "RequestPrivacy"]


class RequestPrivacy:
    """The privacy policy applied to one request: what was detected, the redacted copy, who saw what.

    Detection runs once, at construction, over every text of every message (string content, text blocks and
    tool-call arguments). Nothing here holds a value in a form that reaches metadata or logs: only kind names.

    Attributes:
        policy: The policy in force.
        sensitive: Whether anything was detected.
        kinds: The detected kinds, sorted and unique (never the values).
        redacted_for: Members that were sent the redacted copy, in call order.
    """

    def __init__(self, policy: PrivacyPolicy, messages: Sequence[BaseMessage]) -> None:
        """Detect sensitive values in ``messages`` and prepare the copy public members may see."""
        self.policy = policy
        self._raw = list(messages)
        self._redactor = policy.redactor()
        # Redacting is detecting: one pass gives both the kinds and the copy for public members.
        self._redacted = self._redactor.redact_messages(self._raw)
        self.sensitive = self._redactor.has_redactions
        self.kinds: list[str] = self._redactor.detected_kinds
        self.redacted_for: list[str] = []

    @property
    def private_only(self) -> bool:
        """Whether only private members may serve this request (sensitive, and mode ``private_only``)."""
        return self.sensitive and self.policy.mode == "private_only"

    def access(self, card: ModelCard) -> MemberAccess:
        """What ``card``'s member may see of this request: ``"raw"``, ``"redacted"`` or ``"forbidden"``."""
        return self.policy.access_for(private=card.private, sensitive=self.sensitive)

    def messages_for(self, card: ModelCard) -> list[BaseMessage]:
        """The messages to send to ``card``'s member.

        Raises:
            NoEligibleModelError: The member may not see this request at all (routing should have left it out;
                this is the last line of defence, so the member is never called).
        """
        access = self.access(card)
        if access == "forbidden":
            raise NoEligibleModelError(
                f"pool member {card.name!r} is public and the request is sensitive under privacy mode "
                f"{self.policy.mode!r}; it was not called"
            )
        if access == "redacted":
            if card.name not in self.redacted_for:
                self.redacted_for.append(card.name)
            return list(self._redacted)
        return list(self._raw)

    def restore(self, card: ModelCard, message: BaseMessage) -> BaseMessage:
        """``message`` with this request's placeholders replaced by the values, if ``card`` saw redacted text."""
        if self.access(card) != "redacted":
            return message
        restored = self._redactor.restore_message(message)
        invalid_calls = getattr(restored, "invalid_tool_calls", None)
        if invalid_calls:
            # restore_message covers parsed tool calls; unparsable ones still carry their raw argument text.
            restored = restored.model_copy(
                update={
                    "invalid_tool_calls": [
                        {**call, "args": self._redactor.restore(call["args"])}
                        if isinstance(call.get("args"), str)
                        else call
                        for call in invalid_calls
                    ]
                }
            )
        return restored

    def loggable_text(self) -> str:
        """The request's text (messages joined) with every detected value replaced by its placeholder."""
        return "\n".join(message_text(message) for message in self._redacted)

    def trace_scrubber(self) -> Callable[[Any], Any] | None:
        """What hides this request's values in traced member runs (see :mod:`~langchain_emafusion.pipeline.tracing`).

        Returns None when nothing was detected or the mode is ``allow``. Otherwise a function that returns a copy
        of any JSON-like value with every detected value replaced by its placeholder, wherever it occurs (a member
        echoing a value from the prompt included).
        """
        if not self.sensitive or self.policy.mode == "allow":
            return None
        by_value = {value: placeholder for placeholder, value in self._redactor.mapping.items()}
        pattern = re.compile("|".join(re.escape(value) for value in sorted(by_value, key=len, reverse=True)))

        def replace(text: str) -> str:
            return pattern.sub(lambda match: by_value[match.group(0)], text)

        return lambda value: map_json_strings(value, replace)

    def relay(self, card: ModelCard) -> ChunkRelay:
        """A relay for ``card``'s streamed chunks; it restores placeholders when the member saw redacted text."""
        return ChunkRelay(self._redactor if self.access(card) == "redacted" else None)

    def audit_fields(self, card: ModelCard) -> dict[str, Any]:
        """The privacy fields of an audit record for a call to ``card`` (kind names and flags, no values)."""
        return {
            "private": card.private,
            "detector_kinds": self.kinds,
            "redacted": self.access(card) == "redacted",
        }

    def metadata(self) -> dict[str, Any]:
        """What ``response_metadata["fusion"]["privacy"]`` reports (never a value)."""
        return {
            "sensitive": self.sensitive,
            "kinds": list(self.kinds),
            "mode": self.policy.mode,
            "redacted_for": list(self.redacted_for),
        }


class ChunkRelay:
    """Turns one member's stream chunks into the fusion model's, restoring placeholders on the way.

    A placeholder may be split across chunks (``"[EMA"``, ``"IL_1]"``), so text that might be the start of one is
    held back until it is complete; :meth:`chunks` emits the held-back tail when the member's stream ends.
    Tool-call argument fragments are restored the same way, one restorer per tool-call index.

    Attributes:
        gathered: The member's chunks added up as received (for usage and finish reason), or None.
    """

    def __init__(self, redactor: Redactor | None) -> None:
        """Relay unchanged when ``redactor`` is None, else restore its placeholders."""
        self._redactor = redactor
        self._content = redactor.stream_restorer() if redactor is not None else None
        self._arguments: dict[int, StreamRestorer] = {}
        self.gathered: AIMessageChunk | None = None

    def chunks(self, pieces: Iterator[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        """Relay a sync stream of member chunks, then the held-back tail."""
        for piece in pieces:
            chunk = self._relay(piece)
            if chunk is not None:
                yield chunk
        tail = self._flush()
        if tail is not None:
            yield tail

    async def achunks(self, pieces: AsyncIterator[BaseMessage]) -> AsyncIterator[ChatGenerationChunk]:
        """Relay an async stream of member chunks, then the held-back tail."""
        async for piece in pieces:
            chunk = self._relay(piece)
            if chunk is not None:
                yield chunk
        tail = self._flush()
        if tail is not None:
            yield tail

    def _relay(self, piece: BaseMessage) -> ChatGenerationChunk | None:
        if isinstance(piece, AIMessageChunk):
            self.gathered = piece if self.gathered is None else self.gathered + piece
        content: str | list[str | dict[Any, Any]] = piece.content
        tool_chunks: list[ToolCallChunk] = list(getattr(piece, "tool_call_chunks", []) or [])
        if self._redactor is not None and self._content is not None:
            if isinstance(content, str):
                content = self._content.feed(content)
            else:
                # Content blocks arrive whole per chunk here; restore each block's text as it is.
                content = self._redactor.restore_message(AIMessageChunk(content=content)).content
            tool_chunks = [self._restore_arguments(tool_chunk) for tool_chunk in tool_chunks]
        return _chunk(content, tool_chunks)

    def _restore_arguments(self, tool_chunk: ToolCallChunk) -> ToolCallChunk:
        assert self._redactor is not None
        arguments, index = tool_chunk.get("args"), tool_chunk.get("index")
        if not isinstance(arguments, str):
            return tool_chunk
        if index is None:
            # Without an index the fragments cannot be matched up later, so nothing may be held back.
            return {**tool_chunk, "args": self._redactor.restore(arguments)}
        restorer = self._arguments.setdefault(index, self._redactor.stream_restorer())
        return {**tool_chunk, "args": restorer.feed(arguments)}

    def _flush(self) -> ChatGenerationChunk | None:
        if self._content is None:
            return None
        tails = [
            tool_call_chunk(name=None, args=tail, id=None, index=index)
            for index, restorer in self._arguments.items()
            if (tail := restorer.flush())
        ]
        return _chunk(self._content.flush(), tails)


def _chunk(
    content: str | list[str | dict[Any, Any]], tool_chunks: list[ToolCallChunk]
) -> ChatGenerationChunk | None:
    """Our chunk for this content and these tool-call fragments; None when there is nothing to send."""
    if not content and not tool_chunks:
        return None
    return ChatGenerationChunk(message=AIMessageChunk(content=content, tool_call_chunks=tool_chunks))
