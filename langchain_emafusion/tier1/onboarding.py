"""Onboarding pool members a predictor does not know: probe prompts, their scores, and a saved profile.

``emafusion onboard --pool pool.yaml`` is the shell face of :func:`onboard_pool`:

1. the members to onboard are the pool's members the base predictor (the shipped one, or a folder written by
   ``emafusion train``) does not know, or the ones named;
2. the probes are the first ``probes`` prompts of the starter seed set (round-robin over its templates, so every
   task type is probed; not paraphrased, so only the member is called), each scored by its template's checker;
3. the calls run through :class:`~langchain_emafusion.synthesis.SynthesisRunner` (resumable: a rerun skips the
   probes already answered; every call is cached), writing ``PROFILE/probes.jsonl``;
4. each member gets a quality vector fitted on the base predictor's frozen trunk from its probe outcomes
   (:meth:`Tier1Predictor.onboard`: pulled toward the known members' mean as strongly as cross-validation on
   the probes says, and held back by one standard error so an uncertain newcomer does not take prompts from
   members known to do them), and the
   predictor is saved to ``PROFILE`` with ``onboarding.json`` (what was probed, the scores).

A pool file points to the profile with ``router: PROFILE`` (``FusionChatModel(pool="pool.yaml")`` then routes
with it), or pass ``router="PROFILE"``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_emafusion.errors import EmaFusionError
from langchain_emafusion.evaluation.converters import estimate_tokens
from langchain_emafusion.evaluation.errors import OutcomeTableError
from langchain_emafusion.evaluation.table import OutcomeRow
from langchain_emafusion.jsonl import iter_jsonl
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import known_as
from langchain_emafusion.routing.default_predictor import default_predictor_path
from langchain_emafusion.synthesis import SynthesisRunner, SynthPrompt, expand_templates, load_seed_templates
from langchain_emafusion.tier1.predictor import CONFIG_FILE, Tier1Predictor

__all__ = [
    "OnboardingError",
    "OnboardingPlan",
    "PROBES_FILE",
    "PROFILE_FILE",
    "plan_onboarding",
    "onboard_pool",
]

PROBES_FILE = "probes.jsonl"
"""The probe outcome table inside a profile folder (its call cache and prompts sit next to it)."""

PROFILE_FILE = "onboarding.json"
"""What a profile's onboarding probed and measured, next to the predictor's files."""

DEFAULT_PROBE_SEED = 1
"""Slot values of the probes: not the seed (0) the shipped predictor's training prompts were drawn with."""


class OnboardingError(EmaFusionError, ValueError):
    """Onboarding cannot start or finish: a named member is not in the pool, none is unknown, a probe failed."""


@dataclass(frozen=True)
class OnboardingPlan:
    """What :func:`onboard_pool` will do, known before any call (``emafusion onboard`` prints it first)."""

    members: list[str]
    """The members to onboard, in pool order."""

    known: dict[str, str]
    """Pool members the base predictor already knows, with the name it knows each by."""

    prompts: list[SynthPrompt]
    """The probe prompts."""

    max_cost_usd: dict[str, float]
    """Per member: the most the probes can cost (prompt tokens estimated, every answer at ``max_tokens``)."""

    base: Path
    """The base predictor's folder."""

    @property
    def total_max_cost_usd(self) -> float:
        """The most the whole run can cost, in US$."""
        return sum(self.max_cost_usd.values())


def plan_onboarding(
    pool: ModelPool,
    *,
    members: Sequence[str] | None = None,
    base: str | os.PathLike[str] | None = None,
    probes: int = 50,
    seed: int = DEFAULT_PROBE_SEED,
    templates: Sequence[str | os.PathLike[str]] | None = None,
    max_tokens: int = 256,
) -> OnboardingPlan:
    """Choose the members and the probes and bound the cost, calling nothing.

    Args:
        pool: The pool.
        members: Members to onboard (default: every member the base predictor does not know).
        base: A predictor folder (``emafusion train``'s, or an earlier profile); default: the shipped predictor.
        probes: How many probe prompts (at least 10: fewer cannot tell a member's strengths apart).
        seed: Seed of the probes' slot values.
        templates: Seed template files or folders (default: the starter set shipped in the package).
        max_tokens: Most tokens per probe answer (the cost bound assumes every answer uses them all).

    Raises:
        OnboardingError: A named member is not in the pool or is known already, no member is unknown, the base
            folder holds no predictor, or ``probes`` is out of range.
    """
    if probes < 10:
        raise OnboardingError(f"onboarding needs at least 10 probes, got {probes}")
    base_dir = Path(base) if base is not None else default_predictor_path()
    config = base_dir / CONFIG_FILE
    if not config.is_file():
        raise OnboardingError(f"{base_dir} holds no tier-1 predictor ({CONFIG_FILE} missing)")
    try:
        base_models = json.loads(config.read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError) as exc:
        raise OnboardingError(f"{config} cannot be read as a predictor configuration: {exc}") from exc
    known = {card.name: k for card in pool if (k := known_as(card, base_models)) is not None}
    if members:
        for name in members:
            if name not in pool:
                raise OnboardingError(f"member {name!r} is not in the pool ({', '.join(pool.names)})")
            if name in known:
                raise OnboardingError(
                    f"member {name!r} is known to the base predictor already (as {known[name]!r})"
                )
        chosen = [name for name in pool.names if name in set(members)]
    else:
        chosen = [name for name in pool.names if name not in known]
        if not chosen:
            raise OnboardingError(
                f"every pool member is known to the base predictor ({base_dir}); nothing to onboard"
            )
    prompts = expand_templates(load_seed_templates(templates or None), n=probes, seed=seed)
    for prompt in prompts:
        # Probes are the templates as written: a paraphrase would call a helper member too.
        prompt.paraphrase = False
    input_tokens = sum(estimate_tokens(prompt.prompt) for prompt in prompts)
    max_cost = {name: pool[name].cost_usd(input_tokens, max_tokens * len(prompts)) for name in chosen}
    return OnboardingPlan(members=chosen, known=known, prompts=prompts, max_cost_usd=max_cost, base=base_dir)


def onboard_pool(
    pool: ModelPool,
    plan: OnboardingPlan,
    out: str | os.PathLike[str],
    *,
    concurrency: int = 4,
    timeout_s: float = 120.0,
    retries: int = 2,
    max_tokens: int = 256,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the plan's probes through its members, score them, onboard the members and save the profile.

    Killed and rerun with the same arguments, it resumes: answered probes are kept in ``OUT/probes.jsonl`` and
    every call in its cache. The profile is written only when every probe of every member has a score.

    Args:
        pool: The pool the plan was made for.
        plan: From :func:`plan_onboarding`.
        out: The profile folder (created; a predictor already there is replaced).
        concurrency: Most calls in flight.
        timeout_s: Seconds per call attempt.
        retries: Retries per call (exponential backoff).
        max_tokens: Most tokens per answer.
        progress: Show a progress bar with an ETA.

    Returns:
        A summary: per member its mean probe score, probes and cost; the profile folder; seconds.

    Raises:
        OnboardingError: Some probes failed after their retries (rerun to retry them).
    """
    started = time.perf_counter()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    probes_path = folder / PROBES_FILE
    SynthesisRunner(
        pool=ModelPool([pool[name] for name in plan.members]),
        prompts=plan.prompts,
        out=probes_path,
        concurrency=concurrency,
        timeout_s=timeout_s,
        retries=retries,
        max_tokens=max_tokens,
        progress=progress,
    ).run()
    rows_written = [OutcomeRow.model_validate(data) for _, data in iter_jsonl(probes_path, OutcomeTableError)]
    wanted = {prompt.prompt for prompt in plan.prompts}
    predictor = Tier1Predictor.load(plan.base)
    per_member: dict[str, dict[str, float | int]] = {}
    for name in plan.members:
        rows = list(
            {row.prompt: row for row in rows_written if row.model == name and row.prompt in wanted}.values()
        )
        missing = len(wanted) - len(rows)  # rows holds one row per answered probe
        if missing:
            raise OnboardingError(
                f"{missing} of {len(wanted)} probes of {name!r} have no score (their calls failed; see "
                f"{probes_path.name}.errors.jsonl); rerun the same command to retry them"
            )
        scores = [float(row.score) for row in rows]
        predictor.onboard(name, [row.prompt for row in rows], scores, [row.output_tokens for row in rows])
        mean = sum(scores) / len(scores)
        per_member[name] = {
            "probes": len(rows),
            "mean_score": mean,
            "standard_error": math.sqrt(max(mean * (1 - mean), 1e-12) / len(rows)),
            "cost_usd": sum(row.cost_usd or 0.0 for row in rows),
        }
    predictor.save(folder)
    summary = {
        "base": str(plan.base),
        "members": per_member,
        "known": plan.known,
        "probes": len(plan.prompts),
        "probe_templates": sorted({prompt.template for prompt in plan.prompts}),
        "max_tokens": max_tokens,
        "profile": str(folder),
        "wall_s": time.perf_counter() - started,
    }
    (folder / PROFILE_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
