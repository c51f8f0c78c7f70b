"""The replay protocol's policy side: what a policy sees, how it calls models, what it returns.

At decision time a policy gets a :class:`PromptView`: the prompt text, the pool's static cards and the rows it
has revealed so far, stripped of ``score``, ``task``, ``reference`` and ``prompt_id``. Nothing else is in the
view's reach, because the harness never puts anything else there: calling a model that is not yet revealed
raises an internal :class:`CallRequest` (a ``BaseException``, so ordinary ``except Exception`` blocks let it
through); the harness bills the call, reveals that row and runs ``decide`` again with the larger view. So
``decide`` must be a deterministic function of ``(view, setting)`` with no side effects it relies on; it is run
once per revealed call plus once (a cascade that calls two models one after the other runs three times).

What this guarantees is that nothing hidden is reachable *through the objects a policy is handed* (attributes,
containers, closures, bound methods: the tests crawl that whole graph). Code that walks interpreter frames
(``sys._getframe``, traceback frames) can reach anything in a Python process; no in-process harness can stop
that, and a policy doing it is not a policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from langchain_emafusion.pool.card import ModelCard

if TYPE_CHECKING:
    from langchain_emafusion.evaluation.table import OutcomeTable

__all__ = ["RevealedRow", "PromptView", "Decision", "ReplayPolicy", "BaseReplayPolicy", "CallRequest"]


@dataclass(frozen=True, slots=True)
class RevealedRow:
    """What calling a model reveals: its answer and what the call cost, never its score or the task."""

    model: str
    response: str | None
    answer: str | None
    cost_usd: float | None
    latency_s: float | None
    input_tokens: int | None
    output_tokens: int | None


class CallRequest(BaseException):  # noqa: N818 - a control-flow signal, not an error
    """Raised by :meth:`PromptView.call` for models not revealed yet; the harness catches it.

    It derives from ``BaseException`` so that a policy's ``except Exception`` does not swallow it; a policy that
    swallows it anyway is caught by the harness (:class:`~.errors.ProtocolViolationError`).
    """

    def __init__(self, models: tuple[str, ...]) -> None:
        super().__init__(models)
        self.models = models


class PromptView:
    """A test prompt as the policy sees it: text, cards and the calls made so far.

    The view holds no reference to the outcome table or to any unrevealed row.
    """

    __slots__ = ("_prompt", "_cards", "_revealed", "_requested")

    def __init__(
        self, prompt: str, cards: Sequence[ModelCard], revealed: Mapping[str, RevealedRow] | None = None
    ) -> None:
        """Create a view.

        Args:
            prompt: The prompt text.
            cards: The pool's static model cards.
            revealed: Rows already revealed (by earlier calls), by model name, in call order.
        """
        self._prompt = prompt
        self._cards = tuple(cards)
        self._revealed = dict(revealed or {})
        self._requested: tuple[str, ...] | None = None

    @property
    def prompt(self) -> str:
        """The prompt text."""
        return self._prompt

    @property
    def cards(self) -> tuple[ModelCard, ...]:
        """The pool's static model cards (names, prices, privacy, capabilities)."""
        return self._cards

    @property
    def model_names(self) -> tuple[str, ...]:
        """Names of the models that may be called."""
        return tuple(card.name for card in self._cards)

    def card(self, model: str) -> ModelCard:
        """Return the card of a model by name."""
        for card in self._cards:
            if card.name == model:
                return card
        raise KeyError(f"no model {model!r} in the pool; models: {', '.join(self.model_names)}")

    @property
    def called(self) -> tuple[str, ...]:
        """Models called so far, in call order."""
        return tuple(self._revealed)

    def call(self, model: str) -> RevealedRow:
        """Call a model: reveal its row for this prompt (billed once; calling it again is free).

        Args:
            model: The model name.

        Returns:
            The revealed row (answer, response, cost, latency, tokens).
        """
        return self.call_many([model])[0]

    def call_many(self, models: Iterable[str]) -> list[RevealedRow]:
        """Call several models at once (in parallel: the step's latency is the slowest call's).

        Args:
            models: The model names.

        Returns:
            The revealed rows, in the order asked.
        """
        wanted = list(dict.fromkeys(models))
        for model in wanted:
            self.card(model)  # an unknown name is the policy's bug: fail loudly now
        missing = tuple(model for model in wanted if model not in self._revealed)
        if missing:
            self._requested = missing
            raise CallRequest(missing)
        return [self._revealed[model] for model in wanted]

    @property
    def requested(self) -> tuple[str, ...] | None:
        """The models of the last call request that was raised, if any (used by the harness)."""
        return self._requested


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's final answer for one prompt: one called model's response, or a fused answer key.

    Attributes:
        model: Return this called model's response (correct = that row's score).
        answer: Return this answer key (correct = it equals the reference, or, without reference, the answer of
            some row with score 1).
    """

    model: str | None = None
    answer: str | None = None

    def __post_init__(self) -> None:
        if (self.model is None) == (self.answer is None):
            raise ValueError("a Decision has exactly one of model (a called model's response) or answer")

    @classmethod
    def respond(cls, model: str) -> Decision:
        """Return the response of a called model."""
        return cls(model=model)

    @classmethod
    def fused(cls, answer: str) -> Decision:
        """Return a fused answer key."""
        return cls(answer=answer)


@runtime_checkable
class ReplayPolicy(Protocol):
    """A routing/fusion policy that can be replayed offline.

    ``fit`` may read everything of the training table; ``decide`` sees only a :class:`PromptView` of a test
    prompt. ``settings`` lists the values of the policy's single cost/quality knob (at least 10 for a frontier).
    ``prepare`` receives the test prompts' text before deciding, for batching (e.g. embedding them in one go);
    it must not change decisions.
    """

    name: str

    def fit(self, train: OutcomeTable) -> None:
        """Learn from a training table (scores, tasks, costs: everything may be read here)."""
        ...

    def settings(self) -> list[float]:
        """Return the knob values to sweep."""
        ...

    def prepare(self, prompts: Sequence[str]) -> None:
        """Precompute per-prompt features for these test prompts (optional speed-up)."""
        ...

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Decide for one prompt at one knob setting."""
        ...


class BaseReplayPolicy:
    """Convenience base class: a no-op ``prepare`` and a ``name`` attribute."""

    name: str = "policy"

    def fit(self, train: OutcomeTable) -> None:
        """Learn from a training table (default: nothing to learn)."""

    def settings(self) -> list[float]:
        """Return the knob values to sweep (default: one setting, 0)."""
        return [0.0]

    def prepare(self, prompts: Sequence[str]) -> None:
        """Precompute per-prompt features (default: nothing)."""

    def decide(self, view: PromptView, setting: float) -> Decision:
        """Decide for one prompt at one knob setting."""
        raise NotImplementedError
