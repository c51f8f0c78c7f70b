"""The sync facade over the async pipeline: run a coroutine or an async stream from sync code.

The request pipeline is async-native; ``invoke`` and ``stream`` run it on an event loop of their own. In a
thread without a running loop (the usual case, LangGraph's sync nodes included) that loop runs right here; when
the calling thread already runs a loop (sync code called from inside async code), the pipeline runs on a
helper thread's loop instead, because a loop cannot be re-entered.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["iterate_sync", "run_sync"]

_T = TypeVar("_T")
_END = object()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` to completion from sync code and return its result."""
    if not _loop_running():
        return asyncio.run(coroutine)
    result: list[_T] = []
    error: list[BaseException] = []
    context = contextvars.copy_context()

    def target() -> None:
        try:
            result.append(context.run(asyncio.run, coroutine))
        except BaseException as exc:  # handed back to the caller's thread
            error.append(exc)

    worker = threading.Thread(target=target, name="emafusion-sync", daemon=True)
    worker.start()
    worker.join()
    if error:
        raise error[0]
    return result[0]


def iterate_sync(stream: AsyncIterator[_T]) -> Iterator[_T]:
    """Iterate an async stream from sync code; closing the iterator closes the stream (and cancels its calls)."""
    if not _loop_running():
        yield from _iterate_here(stream)
    else:
        yield from _iterate_on_thread(stream)


def _iterate_here(stream: AsyncIterator[_T]) -> Iterator[_T]:
    with asyncio.Runner() as runner:
        iterator = aiter(stream)
        try:
            while True:
                try:
                    item: _T = runner.run(_next(iterator))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                runner.run(close())


async def _next(iterator: AsyncIterator[_T]) -> _T:
    return await anext(iterator)


def _iterate_on_thread(stream: AsyncIterator[_T]) -> Iterator[_T]:
    items: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue()
    stop = threading.Event()

    async def pump() -> None:
        try:
            async for item in stream:
                if stop.is_set():  # the consumer closed the iterator: stop the stream (and its calls)
                    return
                items.put((item, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            items.put((_END, exc))
            return
        items.put((_END, None))

    context = contextvars.copy_context()
    worker = threading.Thread(
        target=context.run, args=(asyncio.run, pump()), name="emafusion-sync", daemon=True
    )
    worker.start()
    try:
        while True:
            item, error = items.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
