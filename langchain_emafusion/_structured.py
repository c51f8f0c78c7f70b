"""Shared `with_structured_output` for the package's chat models (forced tool call or JSON schema)."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

StructuredMethod = Literal["function_calling", "json_schema", "json_mode"]


def with_structured_output(
    model: BaseChatModel,
    schema: dict[str, Any] | type | None,
    *,
    method: StructuredMethod = "function_calling",
    include_raw: bool = False,
    strict: bool | None = None,
    extra_bind: dict[str, Any] | None = None,
) -> Runnable[LanguageModelInput, Any]:
    """Return a runnable that answers with ``schema``-shaped output, as langchain-openai does.

    ``function_calling`` forces a call of a tool whose parameters are the schema; ``json_schema`` binds an
    OpenAI-style ``response_format`` (decoded under the schema's grammar by local members); ``json_mode``
    asks for any JSON object. ``strict`` is OpenAI's strict-schema flag, passed on when set; ``extra_bind``
    adds call options to the bound model.
    """
    extra: dict[str, Any] = dict(extra_bind or {})
    is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    if method == "function_calling":
        if schema is None:
            raise ValueError("schema must be given for method='function_calling'")
        tool_name = convert_to_openai_tool(schema)["function"]["name"]
        llm = model.bind_tools(
            [schema],
            tool_choice=tool_name,
            ls_structured_output_format={
                "kwargs": {"method": method},
                "schema": convert_to_openai_tool(schema),
            },
            **({"strict": strict} if strict is not None else {}),
            **extra,
        )
        parser: Runnable[Any, Any] = (
            PydanticToolsParser(tools=[schema], first_tool_only=True)
            if is_pydantic
            else JsonOutputKeyToolsParser(key_name=tool_name, first_tool_only=True)
        )
    elif method == "json_schema":
        if schema is None:
            raise ValueError("schema must be given for method='json_schema'")
        json_schema = convert_to_json_schema(schema)
        llm = model.bind(
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": json_schema.get("title", "output"),
                    "schema": json_schema,
                    **({"strict": strict} if strict is not None else {}),
                },
            },
            ls_structured_output_format={"kwargs": {"method": method}, "schema": json_schema},
            **extra,
        )
        parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()
    elif method == "json_mode":
        llm = model.bind(
            response_format={"type": "json_object"},
            ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
            **extra,
        )
        parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()
    else:
        raise ValueError(f"method must be 'function_calling', 'json_schema' or 'json_mode', got {method!r}")

    if not include_raw:
        return llm | parser
    parser_assign = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
    parser_with_fallback = parser_assign.with_fallbacks([parser_none], exception_key="parsing_error")
    return RunnableMap(raw=llm) | parser_with_fallback
