"""`PlannedSubtask`: one atomic subtask of a decomposition plan, as the decomposer model writes it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PlannedSubtask"]

Difficulty = Literal["easy", "medium", "hard"]


class PlannedSubtask(BaseModel):
    """One atomic subtask: what to do, which other subtasks' answers it needs, and how hard it looks.

    The difficulty only weights the request's cost budget (harder subtasks get a larger share); it never
    changes which members are eligible on its own.
    """

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    """Short id unique within the plan (``"t1"``, ``"report"``)."""

    task: str = Field(min_length=1, max_length=4000)
    """The subtask as a self-contained instruction."""

    depends_on: list[str] = Field(default_factory=list, max_length=20)
    """Ids of the subtasks whose answers this one needs; it runs after them, with their answers in its prompt."""

    difficulty: Difficulty = "medium"
    """How hard the subtask looks; weights its share of the request's cost budget."""
