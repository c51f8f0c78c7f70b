"""The savings ledger: what routing spent against what one pool member alone would have, from the audit log.

``FusionChatModel(audit_log=...)`` writes one request record per routed request (see
:class:`~langchain_emafusion.privacy.audit.RequestRecord`); :func:`read_ledger` reads them back,
:func:`summarize_ledger` sums them per UTC day and in total, :func:`plot_ledger` draws them
(``emafusion ledger AUDIT.jsonl`` does all three).
"""

from langchain_emafusion.ledger.ledger import (
    LedgerError,
    LedgerRow,
    LedgerSummary,
    counterfactual,
    read_ledger,
    summarize_ledger,
)
from langchain_emafusion.ledger.plot import plot_ledger

__all__ = [
    "LedgerError",
    "LedgerRow",
    "LedgerSummary",
    "counterfactual",
    "plot_ledger",
    "read_ledger",
    "summarize_ledger",
]
