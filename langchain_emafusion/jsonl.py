"""Reading JSONL files line by line, with typed errors that name the file and the line.

The feedback log, the audit log and outcome tables are JSONL files: one JSON value per line, blank lines
ignored. :func:`iter_jsonl` is their shared loop; each reader keeps its own error class and turns the decoded
values into its own records. This module imports nothing else from the package.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol, overload

__all__ = ["JsonlErrorFactory", "iter_jsonl"]


class JsonlErrorFactory(Protocol):
    """What :func:`iter_jsonl` builds its errors with: an error class taking ``(message, *, path, line)``."""

    def __call__(self, message: str, *, path: Path, line: int) -> Exception:
        """Return the error to raise for ``message`` about line ``line`` of ``path``."""
        ...


def _json_error_message(error: json.JSONDecodeError) -> str:
    """The default message of a line that is not JSON."""
    return f"not valid JSON ({error.msg})"


@overload
def iter_jsonl(
    path: str | Path,
    error: JsonlErrorFactory,
    *,
    text: str | None = None,
    json_message: Callable[[json.JSONDecodeError], str] = _json_error_message,
    objects_only: Literal[True] = True,
) -> Iterator[tuple[int, dict[str, Any]]]: ...
@overload
def iter_jsonl(
    path: str | Path,
    error: JsonlErrorFactory,
    *,
    text: str | None = None,
    json_message: Callable[[json.JSONDecodeError], str] = _json_error_message,
    objects_only: Literal[False],
) -> Iterator[tuple[int, Any]]: ...
def iter_jsonl(
    path: str | Path,
    error: JsonlErrorFactory,
    *,
    text: str | None = None,
    json_message: Callable[[json.JSONDecodeError], str] = _json_error_message,
    objects_only: bool = True,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, decoded value)`` for each non-blank line of a JSONL file, in file order.

    Lines are split as reading the file in text mode splits them (at LF, CRLF or CR) and numbered from 1,
    blank lines included in the count. The file is read lazily, as the iterator is consumed, so an
    error raised on a later line comes after the earlier lines were yielded.

    Args:
        path: The JSONL file, read as UTF-8 text; it also names the file in the errors raised.
        error: Builds the error raised for a bad line, as ``error(message, path=Path(path), line=number)``:
            the reader's own error class.
        text: The file's content, already read (e.g. decompressed and decoded by the caller); when given, it
            is parsed instead of reading ``path``.
        json_message: Formats the message of a line that is not valid JSON from the decoder's error
            (default: ``not valid JSON (<the decoder's message>)``).
        objects_only: Whether a line must hold a JSON object; when False, every JSON value (list, number,
            string, null) is yielded as it is and the caller checks it.

    Yields:
        The 1-based line number and the line's decoded JSON value (a ``dict`` when ``objects_only``).

    Raises:
        Exception: The one ``error`` builds, when a line is not valid JSON, or (``objects_only``) not a JSON
            object (message ``expected a JSON object, got <type name>``). A file that cannot be opened or is
            not UTF-8 raises as :func:`open` and reading do (``OSError``, ``UnicodeDecodeError``).
    """
    source = Path(path)
    # newline=None: the same line splitting as iterating over a file opened in text mode.
    with source.open(encoding="utf-8") if text is None else io.StringIO(text, newline=None) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as decode_error:
                raise error(json_message(decode_error), path=source, line=number) from None
            if objects_only and not isinstance(data, dict):
                raise error(f"expected a JSON object, got {type(data).__name__}", path=source, line=number)
            yield number, data
