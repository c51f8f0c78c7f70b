r"""Redaction: replace sensitive values with stable placeholders, and put them back into the model's answer.

One :class:`Redactor` serves one request. The same ``(kind, value)`` always gets the same placeholder within it
(``[EMAIL_1]``, ``[PHONE_2]``, ``[PAYMENT_CARD_1]``...), across all messages, so a public model can still reason
about "the same address" without seeing it.

What :meth:`Redactor.restore` tolerates when a model echoes a placeholder (``[EMAIL_1]`` as issued):

- any letter case: ``[email_1]``, ``Email_1``;
- no brackets: ``EMAIL_1`` (but not inside a longer identifier such as ``MY_EMAIL_1`` or ``EMAIL_12``);
- other brackets: ``(EMAIL_1)``, ``{EMAIL_1}``, ``<EMAIL_1>``, Markdown-escaped ``\[EMAIL\_1\]``;
- ``-`` instead of ``_`` (``EMAIL-1``, ``PAYMENT-CARD-1``), and a space only inside brackets (``[EMAIL 1]``),
  because a bare "email 1" is ordinary prose;
- leading zeros in the number (``EMAIL_01``) and up to two spaces inside the brackets.

Brackets are consumed only as a pair, so ``(EMAIL_1`` restores the value and keeps the ``(``. A placeholder that
was never issued in this request is left as it is.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_emafusion.privacy.detectors import Detection, SensitivityDetector

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["Redactor", "StreamRestorer", "iter_restored", "map_json_strings"]

# Values shorter than this are only replaced where the detector finds them, not wherever the string recurs,
# because a two-character custom id would otherwise punch holes into unrelated words.
_MIN_RECURRING_VALUE_LENGTH = 4
_MAX_NUMBER_DIGITS = 6


def _label(kind: str) -> str:
    return kind.upper()


class Redactor:
    """Per-request redaction state: which value got which placeholder, and the way back.

    Example:
        >>> redactor = Redactor(SensitivityDetector())
        >>> redactor.redact("Write to ann@acme.com or ann@acme.com")
        'Write to [EMAIL_1] or [EMAIL_1]'
        >>> redactor.restore("I wrote to email_1.")
        'I wrote to ann@acme.com.'

    Besides the detected spans, every occurrence of an already-detected value (4 characters or longer) is
    replaced too, so a phone number recognised in one message is also hidden where another message repeats it
    without the context that made it recognisable.

    Redact all texts of a request through one :meth:`redact_many` or :meth:`redact_messages` call: placeholder
    numbers are chosen so that no text of the batch already contains them (in any tolerated form), which makes
    ``restore(redact(text)) == text`` hold exactly. A later :meth:`redact` call cannot re-number placeholders
    already issued. The object is thread-safe.
    """

    def __init__(self, detector: SensitivityDetector) -> None:
        """Start an empty mapping that uses ``detector`` to find values."""
        self._detector = detector
        self._lock = threading.RLock()
        self._placeholder_by_value: dict[tuple[str, str], str] = {}
        self._value_by_key: dict[tuple[str, int], str] = {}
        self._last_number: dict[str, int] = {}
        self._reserved: set[tuple[str, int]] = set()
        labels = sorted({_label(kind) for kind in detector.kinds}, key=len, reverse=True)
        self._kind_by_label = {_label(kind): kind for kind in detector.kinds}
        self._max_placeholder_length = (
            max((len(label) for label in labels), default=0) + 2 * _MAX_NUMBER_DIGITS + 10
        )
        label_alternatives = "|".join(r"\\?[_\- ]".join(map(re.escape, label.split("_"))) for label in labels)
        self._pattern = re.compile(
            r"(?P<open>\\?[\[\(\{<] {0,2})?"
            r"(?<![A-Za-z0-9_])"
            rf"(?P<label>{label_alternatives or '(?!)'})"
            rf"(?P<sep>\\?[_\- ])(?P<number>[0-9]{{1,{_MAX_NUMBER_DIGITS}}})(?![0-9A-Za-z_])"
            r"(?P<close> {0,2}\\?[\]\)\}>])?",
            re.IGNORECASE,
        )

    # ------------------------------------------------------------------------------------------ state

    @property
    def detector(self) -> SensitivityDetector:
        """The detector this redactor uses."""
        return self._detector

    @property
    def detected_kinds(self) -> list[str]:
        """Sorted unique kinds redacted so far: what an audit record may say (never the values)."""
        with self._lock:
            return sorted({kind for kind, _ in self._placeholder_by_value})

    @property
    def has_redactions(self) -> bool:
        """Whether any value has been replaced so far."""
        return bool(self._placeholder_by_value)

    @property
    def mapping(self) -> dict[str, str]:
        """A copy of placeholder → original value. Contains the raw values: never log or send it."""
        with self._lock:
            return {placeholder: value for (_, value), placeholder in self._placeholder_by_value.items()}

    def _normalised_key(self, match: re.Match[str]) -> tuple[str, int]:
        label = re.sub(r"\\?[_\- ]", "_", match.group("label")).upper()
        return self._kind_by_label[label], int(match.group("number"))

    def _reserve_from(self, texts: Iterable[str]) -> None:
        # Numbers whose placeholder (in any tolerated form) already occurs in the input are never issued.
        for text in texts:
            for match in self._pattern.finditer(text):
                self._reserved.add(self._normalised_key(match))

    def _placeholder_for(self, kind: str, value: str) -> str:
        key = (kind, value)
        placeholder = self._placeholder_by_value.get(key)
        if placeholder is None:
            number = self._last_number.get(kind, 0) + 1
            while (kind, number) in self._reserved:
                number += 1
            self._last_number[kind] = number
            placeholder = f"[{_label(kind)}_{number}]"
            self._placeholder_by_value[key] = placeholder
            self._value_by_key[(kind, number)] = value
        return placeholder

    # ------------------------------------------------------------------------------------------ redact

    def redact(self, text: str) -> str:
        """Replace every sensitive value in ``text`` with its placeholder."""
        return self.redact_many([text])[0]

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """Redact several texts of one request with one consistent mapping (see the class notes)."""
        with self._lock:
            detections = [self._detector.detect(text) for text in texts]
            kind_by_value = {value: kind for kind, value in self._placeholder_by_value}
            for found in detections:
                for detection in found:
                    kind_by_value.setdefault(detection.value, detection.kind)
            recurring_values = sorted(
                (value for value in kind_by_value if len(value) >= _MIN_RECURRING_VALUE_LENGTH),
                key=len,
                reverse=True,
            )
            recurring = re.compile("|".join(map(re.escape, recurring_values))) if recurring_values else None
            spans = [
                self._spans(text, found, recurring, kind_by_value)
                for text, found in zip(texts, detections, strict=True)
            ]
            # Reserve the placeholder numbers the texts already contain, as they will read once redacted: a
            # placeholder is bracketed, so "1234EMAIL_1" becomes "[TICKET_1]EMAIL_1", which reads as a placeholder.
            for text, text_spans in zip(texts, spans, strict=True):
                self._reserve_from([self._splice(text, text_spans, lambda kind, value: "[\x00]")])
            for text_spans in spans:
                for _, _, kind, value in text_spans:
                    self._placeholder_for(kind, value)
            return [
                self._splice(text, text_spans, lambda kind, value: self._placeholder_by_value[(kind, value)])
                for text, text_spans in zip(texts, spans, strict=True)
            ]

    @staticmethod
    def _spans(
        text: str,
        detections: list[Detection],
        recurring: re.Pattern[str] | None,
        kind_by_value: dict[str, str],
    ) -> list[tuple[int, int, str, str]]:
        """Detected spans plus, in the gaps between them, every recurrence of an already-known value."""
        spans: list[tuple[int, int, str, str]] = []
        position = 0
        for detection in [*detections, None]:
            gap_end = len(text) if detection is None else detection.start
            if recurring is not None and gap_end > position:
                for match in recurring.finditer(text, position, gap_end):
                    spans.append((match.start(), match.end(), kind_by_value[match.group()], match.group()))
            if detection is not None:
                spans.append((detection.start, detection.end, detection.kind, detection.value))
                position = detection.end
        return spans

    @staticmethod
    def _splice(
        text: str, spans: list[tuple[int, int, str, str]], replacement: Callable[[str, str], str]
    ) -> str:
        pieces: list[str] = []
        position = 0
        for start, end, kind, value in spans:
            pieces.append(text[position:start])
            pieces.append(replacement(kind, value))
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    # ------------------------------------------------------------------------------------------ restore

    def _restore_match(self, match: re.Match[str]) -> str:
        value = self._value_by_key.get(self._normalised_key(match))
        if value is None:
            return match.group()
        opening, closing = match.group("open") or "", match.group("close") or ""
        if match.group("sep").lstrip("\\") == " " and not (opening and closing):
            return match.group()  # "email 1" in prose is not a placeholder
        if opening and closing:
            # A lone escape belongs to the surrounding text: "\\" before an issued "[EMAIL_1]" is kept.
            opening_escaped, closing_escaped = opening.startswith("\\"), closing.lstrip(" ").startswith("\\")
            return ("\\" if opening_escaped and not closing_escaped else "") + value
        return opening + value + closing

    def restore(self, text: str) -> str:
        """Put the original values back in place of this request's placeholders (see the module notes)."""
        if not self._value_by_key or not text:
            return text
        with self._lock:
            return self._pattern.sub(self._restore_match, text)

    def stream_restorer(self) -> StreamRestorer:
        """A restorer for streamed answers, where a placeholder may be split across chunks."""
        return StreamRestorer(self)

    # ------------------------------------------------------------------------------------------ messages

    def redact_messages(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        """Redacted copies of ``messages`` (same types, ids and other fields).

        Redacts ``str`` content, the ``text`` of text content blocks, tool-call arguments (``tool_calls`` and the
        JSON strings in ``additional_kwargs["tool_calls"]``). Other blocks (images, files) are left untouched:
        they cannot be scanned here, so a caller that must not leak should refuse them for public members.
        """
        with self._lock:
            texts: list[str] = []
            for message in messages:
                _walk_message(message, texts.append)
            redacted = iter(self.redact_many(texts))
            return [_rebuild_message(message, lambda _: next(redacted)) for message in messages]

    def restore_message(self, message: BaseMessage) -> BaseMessage:
        """A copy of a model's answer with the placeholders restored in content, text blocks and tool calls."""
        return _rebuild_message(message, self.restore)


class StreamRestorer:
    """Restores placeholders in a stream of chunks, holding back only a tail that might be a split placeholder.

    Example:
        >>> restorer = redactor.stream_restorer()  # doctest: +SKIP
        >>> "".join(restorer.feed(chunk) for chunk in ["Mail [EMA", "IL_1] now"]) + restorer.flush()  # doctest: +SKIP
        'Mail ann@acme.com now'
    """

    def __init__(self, redactor: Redactor) -> None:
        """Start with an empty buffer."""
        self._redactor = redactor
        self._pending = ""
        self._context = ""  # the last emitted character, so look-behinds see what preceded the buffer

    def feed(self, chunk: str) -> str:
        """Add a chunk; return the restored text that is now safe to emit (possibly empty)."""
        self._pending += chunk
        text = self._context + self._pending
        offset = len(self._context)
        # A placeholder is at most this long, so one that starts before ``cut`` is already complete.
        cut = len(text) - self._redactor._max_placeholder_length
        if cut <= offset:
            return ""
        pattern = self._redactor._pattern
        for match in pattern.finditer(text, offset):
            if match.start() < cut < match.end():
                cut = match.start()
        return self._emit(text, offset, cut)

    def flush(self) -> str:
        """Restore and return whatever is still held back; call once when the stream ends."""
        text = self._context + self._pending
        return self._emit(text, len(self._context), len(text))

    def _emit(self, text: str, offset: int, cut: int) -> str:
        if cut <= offset:
            return ""
        pieces: list[str] = []
        position = offset
        for match in self._redactor._pattern.finditer(text, offset):
            if match.end() > cut:
                break
            pieces.append(text[position : match.start()])
            pieces.append(self._redactor._restore_match(match))
            position = match.end()
        pieces.append(text[position:cut])
        self._context = text[cut - 1]
        self._pending = text[cut:]
        return "".join(pieces)


# ---------------------------------------------------------------------------------------------- message walking


def _walk_message(message: BaseMessage, visit: Callable[[str], None]) -> None:
    def visit_and_keep(text: str) -> str:
        visit(text)
        return text

    _rebuild_message(message, visit_and_keep)


def map_json_strings(value: Any, transform: Callable[[str], str]) -> Any:
    """A copy of a JSON-like value (mappings, lists, tuples as lists) with ``transform`` applied to every string."""
    if isinstance(value, str):
        return transform(value)
    if isinstance(value, Mapping):
        return {key: map_json_strings(item, transform) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [map_json_strings(item, transform) for item in value]
    return value


def _map_arguments_json(arguments: Any, transform: Callable[[str], str]) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return transform(arguments)
    return json.dumps(map_json_strings(parsed, transform), ensure_ascii=False)


def _rebuild_message(message: BaseMessage, transform: Callable[[str], str]) -> BaseMessage:
    """Apply ``transform`` (str → str) to every text field of ``message``, in a fixed order; return a copy."""
    update: dict[str, Any] = {}
    content = message.content
    if isinstance(content, str):
        update["content"] = transform(content)
    else:
        blocks: list[Any] = []
        for block in content:
            if isinstance(block, str):
                blocks.append(transform(block))
            elif (
                isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
            ):
                blocks.append({**block, "text": transform(block["text"])})
            else:
                blocks.append(block)
        update["content"] = blocks
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        update["tool_calls"] = [
            {**call, "args": map_json_strings(call["args"], transform)} for call in tool_calls
        ]
    raw_calls = message.additional_kwargs.get("tool_calls")
    if isinstance(raw_calls, list):
        new_raw_calls = []
        for raw_call in raw_calls:
            function = raw_call.get("function") if isinstance(raw_call, dict) else None
            if isinstance(function, dict) and "arguments" in function:
                function = {**function, "arguments": _map_arguments_json(function["arguments"], transform)}
                raw_call = {**raw_call, "function": function}
            new_raw_calls.append(raw_call)
        update["additional_kwargs"] = {**message.additional_kwargs, "tool_calls": new_raw_calls}
    return message.model_copy(update=update)


def iter_restored(redactor: Redactor, chunks: Iterable[str]) -> Iterator[str]:
    """Restore a stream of text chunks lazily (a convenience over :class:`StreamRestorer`)."""
    restorer = redactor.stream_restorer()
    for chunk in chunks:
        piece = restorer.feed(chunk)
        if piece:
            yield piece
    tail = restorer.flush()
    if tail:
        yield tail
