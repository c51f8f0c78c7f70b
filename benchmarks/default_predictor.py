"""Regenerate the shipped default predictor end to end: synthesize on the embedded pool, split, train, copy.

    python benchmarks/default_predictor.py                 # 264 prompts x 3 members: ~100 min of model time
    python benchmarks/default_predictor.py --n 44 --no-large --no-ship --work-dir /tmp/quick   # a quick look

Steps (every model call is cached in the work folder, so a rerun or an interrupted run resumes):
1. ``emafusion synth`` on the starter seed set with the embedded models: the default pool's SmolLM2-135M and
   Qwen2.5-Coder-0.5B and the opt-in Qwen2.5-Coder-1.5B (``embedded-large`` extra; ``--no-large`` leaves it out),
   one llama.cpp thread each, answers capped at ``--max-tokens``. The predictor thus also knows the opt-in
   member (so a default run needs that extra installed), and the replay has a third, stronger member whose
   failures the smaller ones might cover. The pool file gives the local models notional compute prices (US$ per
   million tokens, in proportion to their measured seconds per token), so that replay figures show a
   cost/quality trade-off; the shipped predictor stores no prices (routing uses the live cards).
2. A fixed-seed split by prompt: ``--test-fraction`` held out for ``benchmarks/synthesis.py``.
3. ``train_policy`` on the training part (what ``emafusion train`` does, with a smaller network, and tier 2 too
   for the replay; only tier 1 is shipped).
4. Unless ``--no-ship``: copy tier 1 (``tier1.json``, ``tier1.safetensors``; the router the package registers)
   into ``langchain_emafusion/tier1/default_predictor/`` with a provenance file (the work folder keeps a copy);
   refuse an artefact above ``--max-kb``.

The work folder (default ``~/.cache/langchain-emafusion/default-predictor``) keeps the outcome table, the call
cache, the splits and the full policy (with its training table) for ``benchmarks/synthesis.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from langchain_emafusion.evaluation.table import read_outcomes, split_outcomes, write_outcomes  # noqa: E402
from langchain_emafusion.evaluation.training import train_policy  # noqa: E402
from langchain_emafusion.pool.weights import cache_dir  # noqa: E402
from langchain_emafusion.routing.default_predictor import default_predictor_path  # noqa: E402
from langchain_emafusion.routing.encoder import PromptEncoder, default_embedding_cache_dir  # noqa: E402
from langchain_emafusion.tier1.features import FeatureConfig  # noqa: E402
from langchain_emafusion.tier1.predictor import CONFIG_FILE, WEIGHTS_FILE, TrainingConfig  # noqa: E402

POOL_YAML = """\
# The embedded pool with notional compute prices (US$ per million tokens), proportional to each model's
# measured seconds per token on a 2-core CPU, so that replay figures show a cost/quality trade-off.
# One thread each: on a shared 2-core machine two llama.cpp threads stall each other at every barrier.
models:
  - {name: smollm2-135m, type: llamacpp, embedded: smollm2-135m, input_price: 0.02, output_price: 0.08, kwargs: {n_threads: 1}}
  - {name: qwen2.5-coder-0.5b, type: llamacpp, embedded: qwen2.5-coder-0.5b, input_price: 0.06, output_price: 0.24, kwargs: {n_threads: 1}}
"""
# The opt-in larger member (``embedded-large`` extra): ~2.3x the 0.5B model's seconds per token on one thread.
LARGE_MEMBER_YAML = """\
  - {name: qwen2.5-coder-1.5b, type: llamacpp, embedded: qwen2.5-coder-1.5b, input_price: 0.15, output_price: 0.6, kwargs: {n_threads: 1}}
"""
PROVENANCE_FILE = "provenance.json"
# A few hundred training prompts need no 5 x 256-wide ensemble over 1,024 n-gram buckets (7.5 MB of float32):
# two narrow members over 256 buckets keep the networks small; most of the ~330 KB shipped are the training
# prompts' embeddings that the neighbour term reads.
SHIPPED_FEATURES = FeatureConfig(ngram_buckets=256)
SHIPPED_TRAINING = TrainingConfig(hidden=32, model_dim=32, n_members=2)


def default_work_dir() -> Path:
    """Where the run's tables, cache and full policy live (never in the repository)."""
    return cache_dir() / "default-predictor"


def synthesize(work: Path, *, n: int, seed: int, max_tokens: int, large: bool) -> dict[str, Any]:
    """Run ``emafusion synth`` (resumable) and return its summary."""
    pool = work / "pool.yaml"
    pool.write_text(POOL_YAML + (LARGE_MEMBER_YAML if large else ""), encoding="utf-8")
    command = [
        str(Path(sys.executable).with_name("emafusion")), "synth", "--pool", str(pool), "--n", str(n),
        "--seed", str(seed), "--max-tokens", str(max_tokens), "--concurrency", "1", "--timeout", "120",
        "--retries", "1", "--cache", str(work / "calls.jsonl"), "--out", str(work / "outcomes.jsonl"),
        "--summary", str(work / "synth_summary.json"),
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return json.loads((work / "synth_summary.json").read_text(encoding="utf-8"))


def main() -> None:
    """Run the pipeline and write the package's default predictor."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=264, help="prompts (22 starter templates: 264 = 12 each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--max-kb", type=int, default=400, help="largest acceptable artefact, in KB")
    parser.add_argument(
        "--no-large", action="store_true", help="leave out qwen2.5-coder-1.5b (the `embedded-large` extra)"
    )
    parser.add_argument(
        "--no-ship",
        action="store_true",
        help="leave the package's predictor alone (figures only: synthesize, split, train in the work folder)",
    )
    parser.add_argument(
        "--no-tier2", action="store_true", help="train tier 1 only (the replay then has no tier-2 row)"
    )
    args = parser.parse_args()
    work = args.work_dir or default_work_dir()
    work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    summary = synthesize(work, n=args.n, seed=args.seed, max_tokens=args.max_tokens, large=not args.no_large)
    table = read_outcomes(work / "outcomes.jsonl")
    train, test = split_outcomes(table, test_fraction=args.test_fraction, seed=args.seed)
    write_outcomes(train, work / "train.jsonl")
    write_outcomes(test, work / "test.jsonl")

    trained_at = time.perf_counter()
    encoder = PromptEncoder(cache_dir=default_embedding_cache_dir())
    manifest = train_policy(
        work / "train.jsonl",
        work / "policy",
        seed=args.seed,
        encoder=encoder,
        features=SHIPPED_FEATURES,
        training=SHIPPED_TRAINING,
        tier2=not args.no_tier2,
    )
    training_s = time.perf_counter() - trained_at
    done = (
        f"{table.n_prompts} prompts x {len(table.models)} models (synthesis wall time this run "
        f"{summary['wall_s']:.0f}s); trained on {train.n_prompts} in {training_s:.0f}s"
    )
    provenance = {
        "what": "tier-1 predictor trained on `emafusion synth` outcomes of the starter seed set (langchain_emafusion/seeds)",
        "regenerate": "python benchmarks/default_predictor.py",
        "pool": f"embedded: {', '.join(table.models)} (llama.cpp, greedy, one thread each)",
        "n_prompts": table.n_prompts,
        "n_train_prompts": train.n_prompts,
        "n_test_prompts": test.n_prompts,
        "test_fraction": args.test_fraction,
        "seed": args.seed,
        "max_tokens": args.max_tokens,
        "models": table.models,
        "train_table_sha256": train.content_hash(),
        "encoder": manifest["encoder"],
        "training_info": manifest["training_info"],
    }
    provenance_text = json.dumps(provenance, indent=2) + "\n"
    # The work folder keeps its own copy: benchmarks/synthesis.py reads the run's settings from it.
    (work / PROVENANCE_FILE).write_text(provenance_text, encoding="utf-8")
    if args.no_ship:
        print(
            f"{done}; policy in {work / 'policy'} (not shipped); total {time.perf_counter() - started:.0f}s"
        )
        return

    target = default_predictor_path()
    target.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        shutil.copyfile(work / "policy" / name, target / name)
    (target / PROVENANCE_FILE).write_text(provenance_text, encoding="utf-8")
    size_kb = sum(path.stat().st_size for path in target.iterdir() if path.is_file()) / 1024
    if size_kb > args.max_kb:
        raise SystemExit(f"the artefact is {size_kb:.0f} KB, above --max-kb {args.max_kb}")
    print(f"{done}; artefact {size_kb:.0f} KB in {target}; total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
