"""Learning from production: a log of routed requests' decisions and the scores their answers got.

``FusionChatModel(feedback_log="feedback.jsonl")`` logs each answered request; ``llm.record_feedback(run_id,
score)`` or :func:`import_langsmith_feedback` adds scores; ``emafusion train --outcomes feedback.jsonl --base
policy/ --out policy2/`` retrains the router on them.
"""

from langchain_emafusion.feedback.log import (
    DecisionRecord,
    FeedbackExamples,
    FeedbackLog,
    FeedbackLogError,
    FeedbackRecord,
    import_langsmith_feedback,
    is_feedback_log,
    read_feedback_examples,
    read_feedback_log,
)

__all__ = [
    "DecisionRecord",
    "FeedbackExamples",
    "FeedbackLog",
    "FeedbackLogError",
    "FeedbackRecord",
    "import_langsmith_feedback",
    "is_feedback_log",
    "read_feedback_examples",
    "read_feedback_log",
]
