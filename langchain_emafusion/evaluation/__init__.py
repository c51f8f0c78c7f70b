"""Measurement backbone: outcome tables, converters, the replay protocol, baselines and figures.

Everything here follows ``../shared/docs/EVALUATION.md``: one table format, one replay protocol, one set of
figures for every policy. Heavy libraries (torch, sentence-transformers, scikit-learn, matplotlib) are imported
only when a function needs them.
"""

from langchain_emafusion.evaluation.cards import ReplayOnlyModelError, replay_cards
from langchain_emafusion.evaluation.errors import (
    OutcomeTableError,
    ProtocolViolationError,
    SharedDataNotFoundError,
)
from langchain_emafusion.evaluation.figures import build_report
from langchain_emafusion.evaluation.protocol import (
    BaseReplayPolicy,
    Decision,
    PromptView,
    ReplayPolicy,
    RevealedRow,
)
from langchain_emafusion.evaluation.replay import PolicyRun, SettingRun, replay
from langchain_emafusion.evaluation.table import (
    OutcomeRow,
    OutcomeTable,
    read_outcomes,
    split_outcomes,
    write_outcomes,
)

__all__ = [
    "BaseReplayPolicy",
    "Decision",
    "OutcomeRow",
    "OutcomeTable",
    "OutcomeTableError",
    "PolicyRun",
    "PromptView",
    "ProtocolViolationError",
    "ReplayOnlyModelError",
    "ReplayPolicy",
    "RevealedRow",
    "SettingRun",
    "SharedDataNotFoundError",
    "build_report",
    "read_outcomes",
    "replay",
    "replay_cards",
    "split_outcomes",
    "write_outcomes",
]
