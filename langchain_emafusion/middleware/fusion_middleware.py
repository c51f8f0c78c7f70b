"""`FusionMiddleware`: an existing LangChain v1 agent's model calls, routed through the fusion pool.

The middleware hands each model call of the agent to a :class:`~langchain_emafusion.chat_models.FusionChatModel`
by replacing the request's model (``request.override(model=...)``), the way LangChain's own
``ModelRouterMiddleware`` does. ``create_agent`` then binds the request's tools, ``tool_choice``, model settings
and structured-output strategy to the fusion model and prepends the system message exactly as it does for the
agent's own model, so nothing of the request is lost or re-implemented here. When routing cannot serve the call
(:class:`~langchain_emafusion.errors.NoEligibleModelError`,
:class:`~langchain_emafusion.errors.AllMembersFailedError`), the unchanged request goes to the agent's own model,
and the answer says so in ``response_metadata["fusion_fallback"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from langchain.agents.middleware.types import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from langchain_emafusion.chat_models import FusionChatModel
from langchain_emafusion.errors import AllMembersFailedError, InvalidInputError, NoEligibleModelError
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import Router

__all__ = ["FusionMiddleware", "FALLBACK_ON", "FALLBACK_METADATA_KEY"]

FALLBACK_ON: tuple[type[Exception], ...] = (NoEligibleModelError, AllMembersFailedError)
"""The errors of a routed call that send it to the agent's own model: no member may serve it, or every member
tried failed. Any other error (a bad option, a bug, a structured-output parsing error) propagates."""

FALLBACK_METADATA_KEY = "fusion_fallback"
"""``response_metadata`` key of an answer the agent's own model gave because routing could not serve the call."""

logger = logging.getLogger(__name__)


class FusionMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Route every model call of an existing ``create_agent`` agent through the fusion pool (tier 1 and tier 2).

    The agent keeps its own model: the middleware serves each model call with a
    :class:`~langchain_emafusion.chat_models.FusionChatModel` instead, and hands the call to the agent's own model
    only when routing cannot serve it. Tools, ``tool_choice``, the system prompt, the model settings and the
    structured-output strategy reach the fusion model as ``create_agent`` binds them for any model, so a
    tool-bound call goes only to members whose card has ``capabilities.tools``, and every routed answer carries
    the routing decision in ``response_metadata["fusion"]``, as with ``FusionChatModel``.

    Setup:
        .. code-block:: bash

            pip install langchain-emafusion                  # langchain>=1.5 comes with it
            pip install 'langchain-emafusion[embedded]'      # for the embedded local pool

    Instantiate:
        Keyword arguments only: ``pool``, ``router`` and any other ``FusionChatModel`` option (``privacy``,
        ``audit_log``, ``quality_cost_tradeoff``, ``max_cost_usd``, ``max_latency_s``, ``timeout``,
        ``max_retries``, ...), or a ready ``model=FusionChatModel(...)``. Construction checks the options and
        loads nothing: the pool's members and a trained router load on the first routed call.

        .. code-block:: python

            from langchain_emafusion import FusionMiddleware

            fusion = FusionMiddleware()                                   # the embedded local pool
            fusion = FusionMiddleware(pool="pool.yaml", router="policy/", privacy="private_only",
                                      audit_log="audit.jsonl", max_cost_usd=0.01, timeout=30)
            fusion = FusionMiddleware(model=FusionChatModel(pool="pool.yaml"))

    Use with create_agent:
        .. code-block:: python

            from langchain.agents import create_agent

            agent = create_agent(ChatOpenAI(model="gpt-4.1"), [get_weather], middleware=[fusion])
            state = agent.invoke({"messages": [("user", "Weather in Paris?")]})
            state["messages"][-1].response_metadata["fusion"]
            # {'models': ['qwen2.5-coder-0.5b'], 'candidates': [...], 'router': 'auto', 'cost_usd': 0.0, ...}

        With LangChain's own middleware, list ``ModelFallbackMiddleware`` before (outside) this one: each of
        its attempts is routed first and, if routing cannot serve it, answered by that attempt's model (the
        agent's own model, then each fallback model), so the pool is tried again on each attempt. Listed
        after (inside) this one, it would catch the routing errors itself and skip the agent's own model.
        ``ModelCallLimitMiddleware`` counts each model call once, routed or not.

        .. code-block:: python

            agent = create_agent(
                model,
                tools,
                middleware=[
                    ModelCallLimitMiddleware(run_limit=10, exit_behavior="end"),
                    ModelFallbackMiddleware(backup_model),
                    FusionMiddleware(pool="pool.yaml"),
                ],
            )

    Async:
        ``agent.ainvoke`` / ``agent.astream`` call the fusion model's ``ainvoke``: the members are called through
        their native async API and routing runs off the event loop. ``agent.invoke`` uses ``invoke``.

        .. code-block:: python

            state = await agent.ainvoke({"messages": [("user", "Weather in Paris?")]})

    Fallback:
        A routed call that raises one of ``fallback_on`` (default :data:`FALLBACK_ON`:
        ``NoEligibleModelError``, e.g. tools bound and no tool-capable member; ``AllMembersFailedError``) is
        passed unchanged to the agent's own model. Its answer says why, and a warning is logged (error type
        only: a message can quote the prompt):

        .. code-block:: python

            answer.response_metadata["fusion_fallback"]
            # {'error_type': 'NoEligibleModelError', 'error': 'no pool member ... tools ...',
            #  'model': 'ChatOpenAI:gpt-4.1'}

        Any other error propagates. If the agent's own model fails too, its error propagates with a note
        naming the routing error. ``fallback_on=()`` turns the fallback off (routing errors propagate).

    Structured output:
        ``create_agent(..., response_format=Schema)`` works through the fusion model: it is given the tool
        strategy (a forced tool call, so tool-capable members only) unless ``ProviderStrategy`` is asked for
        (members with ``capabilities.structured_output`` then get ``response_format``); with no such member
        the call falls back to the agent's own model, which applies its own strategy.
    """

    def __init__(
        self,
        *,
        model: FusionChatModel | None = None,
        pool: ModelPool | str | Path | None = None,
        router: str | Path | Router | None = None,
        fallback_on: Iterable[type[Exception]] = FALLBACK_ON,
        **fusion_options: Any,
    ) -> None:
        """Route through ``model``, or through a ``FusionChatModel(pool=..., router=..., **fusion_options)``.

        Args:
            model: A ready fusion model; excludes ``pool``, ``router`` and ``fusion_options``.
            pool: A ``ModelPool``, a pool YAML file, or None for the embedded local pool.
            router: A router name, a folder written by ``emafusion train``, or a ``Router``; None: ``"auto"``.
            fallback_on: Error types of a routed call that send it to the agent's own model.
            **fusion_options: Any other ``FusionChatModel`` option (``privacy``, ``audit_log``,
                ``quality_cost_tradeoff``, ``max_cost_usd``, ``timeout``, ...).

        Raises:
            InvalidInputError: ``model`` together with other options, a ``model`` that is not a
                ``FusionChatModel``, or a ``fallback_on`` entry that is not an exception type.
            PoolConfigError: The pool file is invalid.
            UnknownRouterError: The router name is not registered.
        """
        super().__init__()
        if model is not None:
            named = {"pool": pool, "router": router}
            given = sorted(
                [name for name, value in named.items() if value is not None] + list(fusion_options)
            )
            if given:
                raise InvalidInputError(
                    f"give either model= or the FusionChatModel options, not both; got model= and {', '.join(given)}"
                )
            if not isinstance(model, FusionChatModel):
                raise InvalidInputError(f"model must be a FusionChatModel, got {type(model).__name__}")
            self._model = model
        else:
            options = dict(fusion_options)
            if pool is not None:
                options["pool"] = pool
            if router is not None:
                options["router"] = router
            # Cheap: the model resolves its pool's members and its router on the first call.
            self._model = FusionChatModel(**options)
        self.fallback_on = tuple(fallback_on)
        for error_type in self.fallback_on:
            if not (isinstance(error_type, type) and issubclass(error_type, Exception)):
                raise InvalidInputError(f"fallback_on takes exception types, got {error_type!r}")

    @property
    def model(self) -> FusionChatModel:
        """The fusion model that serves the agent's model calls."""
        return self._model

    def routed_request(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        """The same request with the fusion model as its model (tools, prompt and format untouched)."""
        return request.override(model=self._model)

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Serve the model call through the fusion model (``invoke``); the agent's own model if routing cannot.

        Args:
            request: The agent's model request.
            handler: Runs a request on its model (and the inner middleware).

        Returns:
            The routed answer, or the agent's own model's answer marked with ``fusion_fallback``.
        """
        try:
            return handler(self.routed_request(request))
        except self.fallback_on as exc:
            reason = self._fallback_reason(exc, request.model)
        try:
            response = handler(request)
        except Exception as exc:
            exc.add_note(self._note(reason))
            raise
        return self._mark(response, reason)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Serve the model call through the fusion model (``ainvoke``); the agent's own model if routing cannot.

        Args:
            request: The agent's model request.
            handler: Runs a request on its model (and the inner middleware), asynchronously.

        Returns:
            The routed answer, or the agent's own model's answer marked with ``fusion_fallback``.
        """
        try:
            return await handler(self.routed_request(request))
        except self.fallback_on as exc:
            reason = self._fallback_reason(exc, request.model)
        try:
            response = await handler(request)
        except Exception as exc:
            exc.add_note(self._note(reason))
            raise
        return self._mark(response, reason)

    # --- fallback -----------------------------------------------------------------------------------------
    @staticmethod
    def _fallback_reason(exc: Exception, model: BaseChatModel) -> dict[str, Any]:
        reason: dict[str, Any] = {
            "error_type": type(exc).__name__,
            "error": str(exc),
            "model": _model_label(model),
        }
        if isinstance(exc, AllMembersFailedError):
            reason["failures"] = list(exc.failures)
        logger.warning(
            "FusionMiddleware: routing could not serve the model call (%s); the agent's own model %s answers it",
            reason["error_type"],
            reason["model"],
        )
        return reason

    @staticmethod
    def _note(reason: dict[str, Any]) -> str:
        return (
            f"FusionMiddleware passed this call to the agent's own model ({reason['model']}) because "
            f"routing could not serve it: {reason['error_type']}: {reason['error']}"
        )

    @staticmethod
    def _mark(response: ModelResponse[Any], reason: dict[str, Any]) -> ModelResponse[Any]:
        """The response with ``fusion_fallback`` in the metadata of each of its AI messages."""
        result: list[BaseMessage] = [
            message.model_copy(
                update={
                    "response_metadata": {**message.response_metadata, FALLBACK_METADATA_KEY: dict(reason)}
                }
            )
            if isinstance(message, AIMessage)
            else message
            for message in response.result
        ]
        return ModelResponse(result=result, structured_response=response.structured_response)


def _model_label(model: BaseChatModel) -> str:
    """``ClassName:model-name`` (or the class name alone) for the metadata and the log."""
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    kind = type(model).__name__
    return f"{kind}:{name}" if isinstance(name, str) and name else kind
