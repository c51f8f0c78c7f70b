"""`SlotSpec`: where a template slot's values come from (a list, an integer range, or a generator)."""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from langchain_emafusion.synthesis.generators import resolve_generator

__all__ = ["SlotSpec"]


class SlotSpec(BaseModel):
    """One slot's value source; exactly one of ``values``, ``range`` or ``generator``.

    YAML forms: ``{values: [a, b, c]}`` (a value may be a mapping, read in the prompt as ``{slot[key]}``),
    ``{range: [2, 40]}`` or ``{range: [0, 100, 5]}`` (integers, both ends included), and
    ``{generator: date, args: {start: 2025-01-01, end: 2025-12-31}}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: list[Any] | None = Field(default=None, min_length=1)
    """Pick one of these values."""

    range: list[int] | None = Field(default=None, min_length=2, max_length=3)
    """``[low, high]`` or ``[low, high, step]``: an integer from low to high, both included."""

    generator: str | None = None
    """A built-in generator name (see ``generators.GENERATORS``) or a callable's dotted path."""

    args: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the generator."""

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SlotSpec:
        given = [name for name in ("values", "range", "generator") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'values', 'range' or 'generator' (got {given or 'none'})")
        if self.range is not None and (
            self.range[1] < self.range[0] or (len(self.range) == 3 and self.range[2] < 1)
        ):
            raise ValueError(f"'range' {self.range} must be [low, high(, step >= 1)] with low <= high")
        if self.args and self.generator is None:
            raise ValueError("'args' applies to a 'generator' only")
        if self.generator is not None:
            resolve_generator(self.generator)
        return self

    def draw(self, rng: random.Random) -> Any:
        """Draw one value with ``rng``.

        Raises:
            ValueError: The generator rejects its arguments.
        """
        if self.values is not None:
            return rng.choice(self.values)
        if self.range is not None:
            step = self.range[2] if len(self.range) == 3 else 1
            return rng.randrange(self.range[0], self.range[1] + 1, step)
        assert self.generator is not None
        try:
            return resolve_generator(self.generator)(rng, **self.args)
        except TypeError as error:
            raise ValueError(f"generator {self.generator!r} rejected its args {self.args}: {error}") from None
