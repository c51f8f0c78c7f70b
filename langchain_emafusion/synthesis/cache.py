"""`CallCache`: an append-only JSONL cache of model calls, so identical (model, prompt) calls run once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from langchain_emafusion.synthesis.errors import SynthesisError

__all__ = ["CallCache", "CachedCall", "append_line", "repair_tail"]


class CachedCall(BaseModel):
    """One finished model call, as the cache keeps it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    """sha256 of (model, kind, max_tokens, text)."""

    model: str
    """The pool member called."""

    kind: str
    """``answer``, ``paraphrase`` or ``judge``."""

    response: str
    """The model's text."""

    input_tokens: int = Field(ge=0)
    """Input tokens (the model's usage report, or an estimate when it gives none)."""

    output_tokens: int = Field(ge=0)
    """Output tokens."""

    latency_s: float = Field(ge=0)
    """Wall time of the call that produced the entry (not of the cache read)."""


def repair_tail(path: Path) -> int:
    """Cut a partial last line (a write interrupted by a kill) off a JSONL file; return the bytes removed."""
    if not path.is_file():
        return 0
    with path.open("rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Read backwards in blocks to find the last newline.
        position = size
        keep = 0
        while position > 0:
            step = min(1 << 16, position)
            position -= step
            handle.seek(position)
            block = handle.read(step)
            index = block.rfind(b"\n")
            if index >= 0:
                keep = position + index + 1
                break
        handle.truncate(keep)
        return size - keep


def append_line(path: Path, line: str) -> None:
    """Append one line with a single ``write`` on an ``O_APPEND`` descriptor (a kill leaves it whole or absent)."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(descriptor, data)
        if written != len(data):  # pragma: no cover - regular files write whole buffers
            raise SynthesisError(f"{path}: short write ({written} of {len(data)} bytes)")
    finally:
        os.close(descriptor)


class CallCache:
    """Model calls keyed by (model, kind, max_tokens, text), in memory and appended to a JSONL file.

    Concurrent requests for the same key share one call. Entries written by an earlier (killed) run are reused.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        """Open the cache; ``path`` None keeps it in memory only.

        Raises:
            SynthesisError: A line of the file is not a cache entry.
        """
        self.path = None if path is None else Path(path)
        self._entries: dict[str, CachedCall] = {}
        self._pending: dict[str, asyncio.Future[CachedCall]] = {}
        self.hits = 0
        if self.path is not None and self.path.is_file():
            repair_tail(self.path)
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    entry = CachedCall.model_validate_json(line)
                except ValueError as error:
                    raise SynthesisError(
                        f"{self.path}, line {number}: not a call-cache entry ({error})"
                    ) from None
                self._entries[entry.key] = entry

    @staticmethod
    def key(model: str, kind: str, text: str, max_tokens: int | None) -> str:
        """The cache key of a call."""
        payload = json.dumps([model, kind, max_tokens, text], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedCall | None:
        """The cached call, if any."""
        return self._entries.get(key)

    async def get_or_call(self, key: str, call: Callable[[], Awaitable[dict[str, Any]]]) -> CachedCall:
        """Return the cached call for ``key``, or run ``call`` once (concurrent callers wait for it) and keep it.

        ``call`` returns the entry's fields other than ``key``. A failing call is not cached.
        """
        if key in self._entries:
            self.hits += 1
            return self._entries[key]
        if key in self._pending:
            self.hits += 1
            return await asyncio.shield(self._pending[key])
        future: asyncio.Future[CachedCall] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            entry = CachedCall(key=key, **(await call()))
        except BaseException as error:
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)
                future.exception()  # mark retrieved: the caller re-raises it
            raise
        finally:
            self._pending.pop(key, None)
        self._entries[key] = entry
        if self.path is not None:
            append_line(self.path, entry.model_dump_json())
        future.set_result(entry)
        return entry
