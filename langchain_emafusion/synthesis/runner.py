"""`SynthesisRunner`: run every pool member on every expanded prompt, score, and append outcome rows.

The run is resumable: rows go to the output file one complete line at a time as calls finish, every model call
is kept in a call cache first, and a rerun with the same arguments skips the (prompt, model) pairs already
written. Paraphrases are cached too, so a rerun sees the same prompt texts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential
from tqdm.auto import tqdm

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.evaluation.table import OutcomeRow
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.synthesis.cache import CachedCall, CallCache, append_line, repair_tail
from langchain_emafusion.synthesis.checkers import ResolvedCheck, check_response
from langchain_emafusion.synthesis.errors import SynthesisError, SynthesisResumeError
from langchain_emafusion.synthesis.paraphrase import DEFAULT_PARAPHRASE_INSTRUCTION
from langchain_emafusion.synthesis.prompt import SynthPrompt

__all__ = ["SynthesisRunner", "sidecar_path", "split_parts"]

_JUDGE_PROMPT = (
    "You grade answers. Decide whether the answer below correctly does the task.\n\n"
    "Task:\n{task}\n\n{reference}{criteria}Answer to grade:\n{answer}\n\n"
    "Is the answer correct? Reply with one word: YES or NO."
)
_PART_MARKER = re.compile(
    r"^[ \t]*(?:[*#_]+[ \t]*)?(?:(?:part|task)[ \t]*)?(\d{1,2})[ \t]*[.):\]][ \t]*", re.I | re.M
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PARAPHRASE_PREFIX = re.compile(
    r"^\s*(?:rewritten request|request|rewritten|paraphrase)\s*:\s*", re.IGNORECASE
)


def sidecar_path(out: Path, suffix: str) -> Path:
    """A file next to the outcome table: ``OUT.<suffix>`` (e.g. ``outcomes.jsonl.prompts.jsonl``)."""
    return out.with_name(f"{out.name}.{suffix}")


def split_parts(response: str, n_parts: int) -> list[str] | None:
    """Split a multi-part answer at its numbered markers ``1.`` ... ``n.``; None when they are not all there, in order."""
    starts: list[tuple[int, int]] = []
    expected = 1
    for match in _PART_MARKER.finditer(response):
        if int(match.group(1)) == expected:
            starts.append((match.start(), match.end()))
            expected += 1
            if expected > n_parts:
                break
    if len(starts) != n_parts:
        return None
    ends = [start for start, _ in starts[1:]] + [len(response)]
    return [response[body:end].strip() for (_, body), end in zip(starts, ends, strict=True)]


def _retryable(error: BaseException) -> bool:
    # Configuration errors (a missing package, a bad pool entry) fail the same way every time.
    return not isinstance(error, EmaFusionError)


class SynthesisRunner:
    """Run a pool on expanded prompts and append scored rows to an outcome table (JSONL), resumably.

    Example:
        .. code-block:: python

            prompts = expand_templates(load_seed_templates(), n=200, seed=0)
            summary = SynthesisRunner(pool=pool, prompts=prompts, out="outcomes.jsonl").run()
    """

    def __init__(
        self,
        *,
        pool: ModelPool,
        prompts: Sequence[SynthPrompt],
        out: str | os.PathLike[str],
        cache: str | os.PathLike[str] | None = None,
        concurrency: int = 4,
        timeout_s: float = 120.0,
        retries: int = 2,
        backoff_s: float = 1.0,
        max_tokens: int | None = 256,
        fail_as_zero: bool = False,
        helper_model: str | None = None,
        progress: bool = True,
    ) -> None:
        """Prepare a run (nothing is called yet).

        Args:
            pool: The members to run on every prompt.
            prompts: The expanded prompts (see ``expand_templates``).
            out: The outcome table to append to (created if absent).
            cache: The call-cache file (default ``OUT.cache.jsonl``); share one between runs to reuse calls.
            concurrency: Most model calls in flight at once (local llama.cpp members run one at a time anyway).
            timeout_s: Limit of one call attempt, in seconds. A timed-out call to a local llama.cpp member keeps
                running in its worker thread (and holding the process-wide inference lock) until it ends, so give
                local members a generous limit and a bounded ``max_tokens``.
            retries: Further attempts after a failed or timed-out one, with exponential backoff.
            backoff_s: First backoff wait, doubled per retry (at most 30 s).
            max_tokens: Most tokens per answer (passed to each call; None: the member's own limit).
            fail_as_zero: Write a score-0 row for a call that fails after its retries instead of leaving the pair
                for the next run.
            helper_model: The member that paraphrases and judges where a template names none (default: the
                member with the highest output price, the last one in pool order on a tie).
            progress: Show a progress bar with an ETA on stderr.

        Raises:
            SynthesisError: A template names a judge or paraphrase model that is not in the pool, or a setting
                is out of range.
        """
        if concurrency < 1 or timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise SynthesisError(
                "concurrency >= 1, timeout_s > 0, retries >= 0 and backoff_s >= 0 are required"
            )
        if max_tokens is not None and max_tokens < 1:
            raise SynthesisError(f"max_tokens must be positive, got {max_tokens}")
        ids = [prompt.prompt_id for prompt in prompts]
        if len(set(ids)) != len(ids) or not ids:
            raise SynthesisError("prompts must be non-empty with unique prompt ids")
        self.pool = pool
        self.prompts = [prompt.model_copy(deep=True) for prompt in prompts]
        self.out = Path(out)
        self.cache = CallCache(sidecar_path(self.out, "cache.jsonl") if cache is None else cache)
        self.errors_path = sidecar_path(self.out, "errors.jsonl")
        self.prompts_path = sidecar_path(self.out, "prompts.jsonl")
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_tokens = max_tokens
        self.fail_as_zero = fail_as_zero
        self.progress = progress
        if helper_model is not None and helper_model not in pool:
            raise SynthesisError(
                f"helper model {helper_model!r} is not in the pool ({', '.join(pool.names)})"
            )
        self.helper_model = (
            helper_model
            or max(enumerate(pool.cards), key=lambda item: (item[1].output_price, item[0]))[1].name
        )
        for prompt in self.prompts:
            if prompt.paraphrase and prompt.paraphrase_model is None:
                prompt.paraphrase_model = self.helper_model
            for check in prompt.checks:
                judge = check.params.get("judge_model")
                if check.checker == "judge" and judge is None:
                    check.params["judge_model"] = judge = self.helper_model
                if judge is not None and judge not in pool:
                    raise SynthesisError(
                        f"template {prompt.template!r}: field 'scoring.judge_model' names {judge!r}, which is not "
                        f"in the pool ({', '.join(pool.names)})"
                    )
            if prompt.paraphrase_model is not None and prompt.paraphrase_model not in pool:
                raise SynthesisError(
                    f"template {prompt.template!r}: field 'paraphrase.model' names {prompt.paraphrase_model!r}, "
                    f"which is not in the pool ({', '.join(pool.names)})"
                )
        self._semaphore: asyncio.Semaphore | None = None
        self._calls: dict[str, list[CachedCall]] = defaultdict(list)

    def run(self) -> dict[str, Any]:
        """Run synchronously; see :meth:`arun`."""
        return asyncio.run(self.arun())

    async def arun(self) -> dict[str, Any]:
        """Paraphrase, then run and score every (prompt, model) pair not yet in the output; return a summary.

        Returns:
            Counts (prompts, rows existing / written, cache hits, failures), the wall time and, per model, the
            answers of this run (fresh or cached) with their model time (the calls' own wall times) and
            prompts per minute of model time.

        Raises:
            SynthesisResumeError: The output file was written with other arguments.
            SynthesisError: A paraphrase call failed after its retries (nothing was written for the run yet), or
                some calls failed (their pairs are listed in ``OUT.errors.jsonl``; rerun to retry them).
        """
        started = time.perf_counter()
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        paraphrases = await self._paraphrase_all()
        self._write_prompts()
        done = self._existing_pairs()
        todo = [
            (prompt, card)
            for prompt in self.prompts
            for card in self.pool
            if (prompt.prompt_id, card.name) not in done
        ]
        total = len(self.prompts) * len(self.pool)
        failures: list[str] = []
        written = 0
        bar = tqdm(
            total=total,
            initial=total - len(todo),
            unit="call",
            desc="synth",
            disable=not self.progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )

        async def one(prompt: SynthPrompt, card: ModelCard) -> None:
            nonlocal written
            try:
                row = await self._outcome(prompt, card)
            except Exception as error:  # a member that failed after its retries
                failures.append(f"{prompt.prompt_id} x {card.name}: {type(error).__name__}: {error}")
                append_line(
                    self.errors_path,
                    json.dumps(
                        {
                            "prompt_id": prompt.prompt_id,
                            "model": card.name,
                            "error": f"{type(error).__name__}: {error}",
                        }
                    ),
                )
                if not self.fail_as_zero:
                    bar.set_postfix(failed=len(failures))
                    return
                row = self._row(prompt, card, None, score=0.0, answer=None)
            append_line(self.out, row.model_dump_json(exclude_none=True))
            written += 1
            bar.update(1)

        try:
            await asyncio.gather(*(one(prompt, card) for prompt, card in todo))
        finally:
            bar.close()
        summary = {
            "out": str(self.out),
            "prompts": len(self.prompts),
            "models": self.pool.names,
            "rows_total": total,
            "rows_existing": total - len(todo),
            "rows_written": written,
            "failed_calls": len(failures),
            "cache_hits": self.cache.hits,
            "paraphrases": paraphrases,
            "helper_model": self.helper_model,
            "wall_s": round(time.perf_counter() - started, 3),
            "per_model": self._per_model(),
        }
        if failures and not self.fail_as_zero:
            raise SynthesisError(
                f"{len(failures)} call(s) failed after {self.retries} retries (listed in {self.errors_path}); "
                f"rerun the same command to retry them, or pass fail_as_zero. First: {failures[0]}"
            )
        return summary

    # --- calls -----------------------------------------------------------------------------------------
    async def _call(self, card: ModelCard, kind: str, text: str, max_tokens: int | None) -> CachedCall:
        key = CallCache.key(card.name, kind, text, max_tokens)

        async def invoke() -> dict[str, Any]:
            assert self._semaphore is not None
            async with self._semaphore:
                # Building a member (e.g. loading weights) must not block the event loop.
                model = await asyncio.to_thread(card.get_model)
                kwargs: dict[str, Any] = {} if max_tokens is None else {"max_tokens": max_tokens}
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.retries + 1),
                    wait=wait_exponential(multiplier=self.backoff_s, max=30),
                    retry=retry_if_exception(_retryable),
                    reraise=True,
                ):
                    with attempt:
                        start = time.perf_counter()
                        message = await asyncio.wait_for(
                            model.ainvoke([HumanMessage(content=text)], **kwargs), timeout=self.timeout_s
                        )
                        latency = time.perf_counter() - start
            response = message.text
            usage: dict[str, Any] = dict(message.usage_metadata or {})
            result = {
                "model": card.name,
                "kind": kind,
                "response": response,
                "input_tokens": int(usage.get("input_tokens") or estimate_tokens(text)),
                "output_tokens": int(
                    usage.get("output_tokens") or (estimate_tokens(response) if response else 0)
                ),
                "latency_s": round(latency, 4),
            }
            return result

        entry = await self.cache.get_or_call(key, invoke)
        if kind == "answer" and entry.key not in {call.key for call in self._calls[card.name]}:
            self._calls[card.name].append(entry)
        return entry

    async def _paraphrase_all(self) -> dict[str, int]:
        chosen = [prompt for prompt in self.prompts if prompt.paraphrase]
        counts = {"accepted": 0, "rejected": 0}
        if not chosen:
            return counts

        async def one(prompt: SynthPrompt) -> None:
            assert prompt.paraphrase_model is not None
            card = self.pool[prompt.paraphrase_model]
            instruction = prompt.paraphrase_instruction or DEFAULT_PARAPHRASE_INSTRUCTION
            request = instruction.replace("{prompt}", prompt.original_prompt)
            budget = max(64, 2 * estimate_tokens(prompt.original_prompt))
            try:
                entry = await self._call(card, "paraphrase", request, budget)
            except Exception as error:
                raise SynthesisError(
                    f"paraphrasing {prompt.prompt_id} with {card.name} failed after {self.retries} retries "
                    f"({type(error).__name__}: {error}); nothing was written, rerun to retry"
                ) from error
            text = _PARAPHRASE_PREFIX.sub("", entry.response.strip()).strip().strip('"').strip()
            lost = [value for value in prompt.protected if value not in text]
            # A number the original does not hold is most often the model answering the task (a leaked answer).
            added = sorted(set(_NUMBER.findall(text)) - set(_NUMBER.findall(prompt.original_prompt)))
            if not text:
                prompt.paraphrase_status = "rejected: empty"
            elif " ".join(text.split()) == " ".join(prompt.original_prompt.split()):
                prompt.paraphrase_status = "rejected: unchanged"
            elif lost:
                prompt.paraphrase_status = f"rejected: lost {lost[0]!r}"
            elif added:
                prompt.paraphrase_status = f"rejected: adds {added[0]!r}"
            else:
                prompt.paraphrase_status = "accepted"
                prompt.prompt = text
            counts["accepted" if prompt.paraphrase_status == "accepted" else "rejected"] += 1

        bar = tqdm(
            total=len(chosen), unit="prompt", desc="paraphrase", disable=not self.progress, file=sys.stderr
        )
        try:
            for prompt in chosen:  # one at a time in prompt order: cheap, and the same order on every rerun
                await one(prompt)
                bar.update(1)
        finally:
            bar.close()
        return counts

    # --- scoring ---------------------------------------------------------------------------------------
    async def _outcome(self, prompt: SynthPrompt, card: ModelCard) -> OutcomeRow:
        entry = await self._call(card, "answer", prompt.prompt, self.max_tokens)
        if not prompt.is_multi_part:
            score, answer = await self._check(prompt.checks[0], prompt.prompt, entry.response)
            return self._row(prompt, card, entry, score=score, answer=answer)
        segments = split_parts(entry.response, len(prompt.checks))
        scores, answers = [], []
        for index, check in enumerate(prompt.checks):
            # Without all numbered markers, each part is looked for in the whole answer.
            segment = entry.response if segments is None else segments[index]
            assert prompt.part_prompts is not None
            score, answer = await self._check(check, prompt.part_prompts[index], segment)
            scores.append(score)
            answers.append(answer)
        return self._row(
            prompt,
            card,
            entry,
            score=sum(scores) / len(scores),
            answer=json.dumps(answers, ensure_ascii=False),
        )

    async def _check(self, check: ResolvedCheck, task: str, response: str) -> tuple[float, str | None]:
        if check.checker != "judge":
            # python_tests start a subprocess: keep the event loop free.
            return await asyncio.to_thread(check_response, check, response)
        judge = self.pool[check.params["judge_model"]]
        reference = f"Reference answer: {check.reference}\n\n" if check.reference is not None else ""
        criteria = f"A correct answer: {check.params['criteria']}\n\n" if check.params.get("criteria") else ""
        request = _JUDGE_PROMPT.format(task=task, reference=reference, criteria=criteria, answer=response)
        verdict = await self._call(judge, "judge", request, 8)
        match = re.search(r"\b(yes|no)\b", verdict.response, re.IGNORECASE)
        return float(bool(match) and match.group(1).lower() == "yes"), None  # type: ignore[union-attr]

    def _row(
        self,
        prompt: SynthPrompt,
        card: ModelCard,
        entry: CachedCall | None,
        *,
        score: float,
        answer: str | None,
    ) -> OutcomeRow:
        return OutcomeRow(
            prompt_id=prompt.prompt_id,
            prompt=prompt.prompt,
            model=card.name,
            score=min(1.0, max(0.0, score)),
            task=prompt.task,
            cost_usd=0.0 if entry is None else card.cost_usd(entry.input_tokens, entry.output_tokens),
            latency_s=None if entry is None else entry.latency_s,
            input_tokens=None if entry is None else entry.input_tokens,
            output_tokens=None if entry is None else entry.output_tokens,
            response=None if entry is None else entry.response,
            answer=answer,
            reference=prompt.reference,
        )

    # --- files -----------------------------------------------------------------------------------------
    def _write_prompts(self) -> None:
        temporary = sidecar_path(self.out, "prompts.jsonl.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            for prompt in self.prompts:
                handle.write(prompt.model_dump_json() + "\n")
        os.replace(temporary, self.prompts_path)

    def _existing_pairs(self) -> set[tuple[str, str]]:
        if not self.out.is_file():
            return set()
        repair_tail(self.out)
        texts = {prompt.prompt_id: prompt.prompt for prompt in self.prompts}
        done: set[tuple[str, str]] = set()
        hint = "it was written with other arguments (templates, --n, --seed, pool): use a new --out"
        with self.out.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = OutcomeRow.model_validate_json(line)
                except ValueError as error:
                    raise SynthesisResumeError(
                        f"{self.out}, line {number}: not an outcome row ({error})"
                    ) from None
                where = f"{self.out}, line {number}"
                if row.prompt_id not in texts:
                    raise SynthesisResumeError(
                        f"{where}: prompt_id {row.prompt_id!r} is not in this run; {hint}"
                    )
                if row.prompt != texts[row.prompt_id]:
                    raise SynthesisResumeError(f"{where}: prompt {row.prompt_id!r} has another text; {hint}")
                if row.model not in self.pool:
                    raise SynthesisResumeError(f"{where}: model {row.model!r} is not in the pool; {hint}")
                if (row.prompt_id, row.model) in done:
                    raise SynthesisResumeError(
                        f"{where}: duplicate row for {row.prompt_id!r} x {row.model!r}"
                    )
                done.add((row.prompt_id, row.model))
        return done

    def _per_model(self) -> dict[str, dict[str, float]]:
        figures: dict[str, dict[str, float]] = {}
        for name, calls in self._calls.items():
            model_time = sum(call.latency_s for call in calls)
            figures[name] = {
                "answers": len(calls),
                "model_time_s": round(model_time, 3),
                "output_tokens": sum(call.output_tokens for call in calls),
                "prompts_per_min": round(60 * len(calls) / model_time, 2) if model_time else 0.0,
            }
        return figures
