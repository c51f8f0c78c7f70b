"""Run llama-cpp-python's OpenAI-compatible server with a Qwen tool-calling chat handler registered.

Usage (what the ``openai_server`` fixture runs): ``python integration_tests/llama_server.py --config_file C``.

llama-cpp-python's own ``chatml-function-calling`` handler is not usable with Qwen2.5-Coder-0.5B on this
machine (observed): its grammar-constrained decoding runs at ~1.6 s/token with Qwen's 151k-token vocabulary (a
forced call took 108 s), its "auto" text path ignores ``max_tokens``, its template drops ``tool`` messages (an
agent never sees a tool's result) and ``tool_choice="required"`` fails with HTTP 500. The handler registered
here, ``emafusion-qwen-tools``, does what Qwen was trained for instead: it renders the model's own chat
template (the GGUF's ``tokenizer.chat_template``, which lists the tools and shows tool results), lets the model
write ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` and parses that into OpenAI ``tool_calls``. A
forced tool choice (a named function, or ``"required"``) prefills the start of the call so the model only writes
the arguments. Without tools it is llama-cpp-python's plain Jinja chat handler.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

HANDLER_NAME = "emafusion-qwen-tools"
_END = "<|im_end|>"


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def _template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI messages in the shape Qwen's template expects (text content, arguments as objects)."""
    shaped = []
    for message in messages:
        item = dict(message)
        item["content"] = _text(message.get("content"))
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = dict(call["function"])
                try:
                    function["arguments"] = json.loads(function.get("arguments") or "{}")
                except ValueError:
                    pass
                calls.append({**call, "function": function})
            item["tool_calls"] = calls
        shaped.append(item)
    return shaped


def _prefill(tools: list[dict[str, Any]], tool_choice: Any) -> str:
    """The start of a forced tool call, so that the model only writes what is left of it."""
    if isinstance(tool_choice, dict):
        chosen = [t for t in tools if t["function"]["name"] == tool_choice["function"]["name"]]
    elif tool_choice == "required":
        chosen = tools
    else:
        return ""
    if len(chosen) != 1:
        return '<tool_call>\n{"name": "'
    function = chosen[0]["function"]
    start = '<tool_call>\n{"name": "' + function["name"] + '", "arguments": '
    if not (function.get("parameters") or {}).get("properties"):
        return start + "{}}\n</tool_call>"
    return start + '{"'


def _json_objects(text: str, marker: str) -> Iterator[Any]:
    """Each JSON value that starts at the first ``{`` after an occurrence of ``marker``."""
    decoder = json.JSONDecoder()
    start = text.find(marker)
    while start != -1:
        brace = text.find("{", start + len(marker))
        if brace == -1:
            return
        try:
            value, end = decoder.raw_decode(text, brace)
        except ValueError:
            end = brace + 1
        else:
            yield value
        start = text.find(marker, end)


def _parse(text: str, tools: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Split generated text into the visible text and the OpenAI ``tool_calls`` it holds.

    Calls are read from ``<tool_call>`` blocks (Qwen's format) or, failing those, from fenced JSON blocks or an
    answer that is only the call's JSON (small Qwen models sometimes write those instead); a call must name a
    bound tool.
    """
    known = {tool["function"]["name"] for tool in tools}
    if "<tool_call>" in text:
        marker = "<tool_call>"
    elif "```" in text:
        marker = "```"
    else:
        marker = "" if text.lstrip().startswith("{") else "<tool_call>"
    calls = []
    for data in _json_objects(text, marker):
        if not isinstance(data, dict) or data.get("name") not in known:
            continue
        arguments = data.get("arguments", data.get("parameters", {}))
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {
                    "name": data["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    visible = text[: text.find(marker)].strip() if calls else text
    return visible, calls


def _stream(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The whole answer as OpenAI stream chunks (role, content, each tool call, finish reason with usage)."""
    choice = response["choices"][0]
    base = {"id": response["id"], "object": "chat.completion.chunk", "created": response["created"]}
    base["model"] = response["model"]

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }

    yield chunk({"role": "assistant", "content": ""})
    if choice["message"]["content"]:
        yield chunk({"content": choice["message"]["content"]})
    for index, call in enumerate(choice["message"].get("tool_calls") or []):
        yield chunk({"tool_calls": [{"index": index, **call}]})
    yield chunk({}, choice["finish_reason"], usage=response["usage"])


def qwen_tools_handler(
    llama: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    stream: bool = False,
    stop: str | list[str] | None = None,
    max_tokens: int | None = None,
    temperature: float = 0.2,
    **kwargs: Any,
) -> Any:
    """A llama-cpp-python chat completion handler for Qwen2.5 models with native tool calling."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"], eos_token=_END, bos_token=""
    )
    if not tools or tool_choice == "none":
        handler = formatter.to_chat_handler()
        return handler(
            llama=llama,
            messages=messages,
            stream=stream,
            stop=stop,
            max_tokens=max_tokens,
            temperature=temperature,
            **kwargs,
        )
    prompt = formatter(messages=_template_messages(messages), tools=tools).prompt
    prefill = _prefill(tools, tool_choice)
    stops = [_END, "</tool_call>"] if prefill else [_END]
    stops += [stop] if isinstance(stop, str) else list(stop or [])
    complete = prefill.endswith("</tool_call>")
    completion = llama.create_completion(
        prompt=prompt + prefill,
        max_tokens=1 if complete else max_tokens,
        temperature=temperature,
        stop=stops,
        seed=kwargs.get("seed"),
        top_p=kwargs.get("top_p", 0.95),
    )
    text = prefill + ("" if complete else completion["choices"][0]["text"])
    if prefill and "</tool_call>" not in text:
        text += "}\n</tool_call>" if text.count("{") > text.count("}") else "\n</tool_call>"
    visible, calls = _parse(text, tools)
    finish = "tool_calls" if calls else completion["choices"][0]["finish_reason"]
    response = {
        "id": "chat" + completion["id"],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": completion["model"],
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": visible or None,
                    **({"tool_calls": calls} if calls else {}),
                },
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": completion["usage"],
    }
    return _stream(response) if stream else response


def register() -> None:
    """Register :func:`qwen_tools_handler` under :data:`HANDLER_NAME` in llama-cpp-python."""
    from llama_cpp.llama_chat_format import register_chat_completion_handler

    register_chat_completion_handler(HANDLER_NAME)(qwen_tools_handler)


class OpenAIRequestFix:
    """ASGI middleware for two request fields that llama-cpp-python 0.3.36's server does not understand.

    - ``max_completion_tokens`` (what langchain-openai sends for ``max_tokens``) is ignored by the server,
      which then generates up to the context size: it is copied to ``max_tokens``;
    - an assistant message with ``"content": null`` (what OpenAI clients send beside ``tool_calls``) is
      rejected with HTTP 500: it gets ``""``;
    - list content (text parts) is accepted for user messages only: other roles get the parts' text joined.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            data = json.loads(body)
            if data.get("max_tokens") is None and data.get("max_completion_tokens") is not None:
                data["max_tokens"] = data["max_completion_tokens"]
            for item in data.get("messages", []):
                if item.get("role") == "assistant" and item.get("content") is None:
                    item["content"] = ""
                elif isinstance(item.get("content"), list) and item.get("role") != "user":
                    item["content"] = _text(item["content"])
            body = json.dumps(data).encode()
        except (ValueError, AttributeError):
            pass
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def main() -> None:
    """Start the server (same arguments as ``python -m llama_cpp.server``) with the handler and the fixes."""
    import llama_cpp.server.__main__ as server_main

    register()
    create_app = server_main.create_app

    def create_fixed_app(**kwargs: Any) -> Any:
        app = create_app(**kwargs)
        app.add_middleware(OpenAIRequestFix)
        return app

    server_main.create_app = create_fixed_app  # type: ignore[assignment]
    server_main.main()


if __name__ == "__main__":
    main()
