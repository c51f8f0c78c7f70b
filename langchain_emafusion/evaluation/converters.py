"""Converters from the shared outcome data (``../shared/data``) to outcome tables.

None of the source files has per-query token counts, so costs are **estimates**:

- input tokens = ``ceil(len(prompt) / 4)`` (the usual ~4 characters per token of English BPE tokenizers);
- output tokens: GSM8K ships each model's full answer, so its output tokens are ``ceil(len(response) / 4)``;
  the other sources have no answer text, so a fixed length per task is assumed (:data:`LLMROUTER_OUTPUT_TOKENS`,
  :data:`MMLU_OUTPUT_TOKENS`);
- ``cost_usd = (input_tokens * input_price + output_tokens * output_price) / 1e6`` with prices in $ per million
  tokens: llmrouter's ``default_llm.json``; for RouteLLM the public list prices in :data:`ROUTELLM_PRICES`.

Task labels: llmrouter questions are joined on their exact text to ``example_data/query_data`` (train file first,
then test; a few questions appear under two tasks, the first match wins); MMLU's task is the subject (file name).
GSM8K rows get ``answer`` = the final number of the model's response
(:func:`~langchain_emafusion.evaluation.extractors.extract_final_number`) and ``reference`` = the answer of the
rows marked correct when they agree (None when no model is correct or the correct answers extract differently;
the replay protocol then accepts the answer of any correct row).
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from langchain_emafusion.evaluation.errors import SharedDataNotFoundError
from langchain_emafusion.evaluation.extractors import extract_final_number
from langchain_emafusion.evaluation.table import OutcomeRow

__all__ = [
    "SHARED_DIR_ENV",
    "LLMROUTER_OUTPUT_TOKENS",
    "LLMROUTER_DEFAULT_OUTPUT_TOKENS",
    "MMLU_OUTPUT_TOKENS",
    "ROUTELLM_PRICES",
    "estimate_tokens",
    "default_shared_dir",
    "convert_llmrouter",
    "convert_routellm_mmlu",
    "convert_routellm_gsm8k",
    "CONVERTERS",
]

SHARED_DIR_ENV = "EMAFUSION_SHARED_DIR"
"""Environment variable that overrides where the shared folder (holding ``data/``) is."""

CHARS_PER_TOKEN = 4
"""Characters per token in the token estimate."""

# Assumed answer lengths (tokens) per llmrouter task, by answer style: an option letter with a short
# justification, a short span, a worked solution, a program.
LLMROUTER_OUTPUT_TOKENS: dict[str, int] = {
    "mmlu": 16,
    "openbook_qa": 16,
    "arc_challenge": 16,
    "commonsense_qa": 16,
    "gpqa": 16,
    "natural_qa": 32,
    "trivia_qa": 32,
    "commongen": 64,
    "agentverse-logicgrid": 128,
    "gsm8k": 256,
    "agentverse-mgsm": 256,
    "math": 256,
    "mbpp": 256,
    "human_eval": 256,
}
"""Assumed output tokens per llmrouter task."""

LLMROUTER_DEFAULT_OUTPUT_TOKENS = 128
"""Assumed output tokens of an llmrouter question whose task is unknown."""

MMLU_OUTPUT_TOKENS = 1
"""Assumed output tokens of an MMLU answer: the prompts end in ``Answer:`` and the answer is one option letter."""

ROUTELLM_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4-1106-preview": (10.0, 30.0),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.6, 0.6),
}
"""Public list prices, ($ per million input tokens, $ per million output tokens), of the RouteLLM models."""


def estimate_tokens(text: str) -> int:
    """Estimate a text's token count as ``ceil(len(text) / 4)`` (at least 1)."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def _cost(input_tokens: int, output_tokens: int, prices: tuple[float, float]) -> float:
    return (input_tokens * prices[0] + output_tokens * prices[1]) / 1_000_000


def default_shared_dir() -> Path:
    """Return the shared folder: ``$EMAFUSION_SHARED_DIR``, else ``shared/`` beside the repository root."""
    override = os.environ.get(SHARED_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared"


def _require(path: Path) -> Path:
    if not path.exists():
        raise SharedDataNotFoundError(
            f"shared outcome data not found: {path} (set {SHARED_DIR_ENV} to the folder that holds data/, "
            "or pass the data folder explicitly)"
        )
    return path


def convert_llmrouter(data_dir: str | Path, split: str = "all") -> list[OutcomeRow]:
    """Convert llmrouter's ``dcrouter_preprocessed`` train/test questions into outcome rows.

    Args:
        data_dir: The shared ``data`` folder (holding ``llmrouter/``).
        split: ``"train"``, ``"test"`` (the source's own split) or ``"all"`` (train then test).

    Returns:
        One row per (question, model); prompt ids are ``llmrouter/<split>/<index>``.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    root = Path(data_dir) / "llmrouter"
    candidates = json.loads(
        _require(root / "example_data" / "llm_candidates" / "default_llm.json").read_text(encoding="utf-8")
    )
    task_of_query: dict[str, str] = {}
    for part in ("train", "test"):
        query_file = _require(root / "example_data" / "query_data" / f"default_query_{part}.jsonl")
        with query_file.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    task_of_query.setdefault(record["query"], record["task_name"])
    rows: list[OutcomeRow] = []
    for part in ("train", "test") if split == "all" else (split,):
        questions = json.loads(
            _require(root / "dcrouter_preprocessed" / f"{part}.json").read_text(encoding="utf-8")
        )
        for index, question in enumerate(questions):
            prompt = question["question"]
            task = task_of_query.get(prompt)
            input_tokens = estimate_tokens(prompt)
            output_tokens = LLMROUTER_OUTPUT_TOKENS.get(task or "", LLMROUTER_DEFAULT_OUTPUT_TOKENS)
            for model, score in question["scores"].items():
                card = candidates[model]
                prices = (float(card["input_price"]), float(card["output_price"]))
                rows.append(
                    OutcomeRow(
                        prompt_id=f"llmrouter/{part}/{index}",
                        prompt=prompt,
                        model=model,
                        score=float(score),
                        task=task,
                        cost_usd=_cost(input_tokens, output_tokens, prices),
                        input_tokens=input_tokens,
                        output_tokens=output_tokens,
                    )
                )
    return rows


def _read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with _require(path).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _is_true(value: str) -> float:
    if value not in ("True", "False"):
        raise ValueError(f"expected True/False, got {value!r}")
    return 1.0 if value == "True" else 0.0


def convert_routellm_mmlu(data_dir: str | Path) -> list[OutcomeRow]:
    """Convert RouteLLM's MMLU results (all 57 subjects) into outcome rows; the task is the subject.

    Args:
        data_dir: The shared ``data`` folder (holding ``routellm/``).

    Returns:
        One row per (question, model); prompt ids are ``mmlu/<subject>/<index>``, subjects in file-name order.
    """
    folder = _require(Path(data_dir) / "routellm" / "mmlu")
    rows: list[OutcomeRow] = []
    files = sorted(folder.glob("mmlu_*.csv"))
    if not files:
        raise SharedDataNotFoundError(f"no mmlu_*.csv files in {folder}")
    for csv_path in files:
        subject = csv_path.stem.removeprefix("mmlu_")
        for index, record in enumerate(_read_csv(csv_path)):
            prompt = record["prompt"]
            input_tokens = estimate_tokens(prompt)
            for model, prices in ROUTELLM_PRICES.items():
                rows.append(
                    OutcomeRow(
                        prompt_id=f"mmlu/{subject}/{index}",
                        prompt=prompt,
                        model=model,
                        score=_is_true(record[model]),
                        task=subject,
                        cost_usd=_cost(input_tokens, MMLU_OUTPUT_TOKENS, prices),
                        input_tokens=input_tokens,
                        output_tokens=MMLU_OUTPUT_TOKENS,
                    )
                )
    return rows


def convert_routellm_gsm8k(data_dir: str | Path) -> list[OutcomeRow]:
    """Convert RouteLLM's GSM8K responses into outcome rows with extracted final-number answers.

    Args:
        data_dir: The shared ``data`` folder (holding ``routellm/``).

    Returns:
        One row per (question, model); prompt ids are ``gsm8k/<index>``; task is ``"gsm8k"``.
    """
    rows: list[OutcomeRow] = []
    for index, record in enumerate(_read_csv(Path(data_dir) / "routellm" / "gsm8k" / "gsm8k_responses.csv")):
        prompt = record["prompt"]
        input_tokens = estimate_tokens(prompt)
        scores = {model: _is_true(record[model]) for model in ROUTELLM_PRICES}
        responses = {model: record[f"{model}_response"] for model in ROUTELLM_PRICES}
        answers = {model: extract_final_number(responses[model]) for model in ROUTELLM_PRICES}
        correct_answers = {answers[model] for model in ROUTELLM_PRICES if scores[model] == 1.0}
        reference = correct_answers.pop() if len(correct_answers) == 1 else None
        for model, prices in ROUTELLM_PRICES.items():
            output_tokens = estimate_tokens(responses[model])
            rows.append(
                OutcomeRow(
                    prompt_id=f"gsm8k/{index}",
                    prompt=prompt,
                    model=model,
                    score=scores[model],
                    task="gsm8k",
                    cost_usd=_cost(input_tokens, output_tokens, prices),
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    response=responses[model],
                    answer=answers[model],
                    reference=reference,
                )
            )
    return rows


CONVERTERS = {
    "llmrouter": convert_llmrouter,
    "routellm-mmlu": convert_routellm_mmlu,
    "routellm-gsm8k": convert_routellm_gsm8k,
}
"""Converters by name (``emafusion convert NAME``); each takes the shared ``data`` folder."""
