"""The shipped default predictor: small, trained on the starter seeds only, registered lazily as "emafusion-default"."""

from __future__ import annotations

import json
import subprocess
import sys

from langchain_emafusion.chat_models import FusionChatModel
from langchain_emafusion.pool.card import ModelCard
from langchain_emafusion.pool.pool import ModelPool
from langchain_emafusion.routing.base import RoutingRequest
from langchain_emafusion.routing.default_predictor import DefaultPredictorRouter, default_predictor_path
from langchain_emafusion.routing.registry import available_routers, get_router
from langchain_emafusion.synthesis import load_seed_templates

from ..fakes import ScriptedChatModel

EMBEDDED = ["smollm2-135m", "qwen2.5-coder-0.5b"]
# The predictor also knows the opt-in member of the `embedded-large` extra (synthesized with all three).
KNOWN = [*EMBEDDED, "qwen2.5-coder-1.5b"]


def test_artefact_is_small_and_comes_from_the_starter_seed_set() -> None:
    folder = default_predictor_path()
    files = {path.name: path.stat().st_size for path in folder.iterdir() if path.is_file()}
    assert {"tier1.json", "tier1.safetensors", "provenance.json"} <= set(files)
    assert sum(files.values()) < 400 * 1024
    config = json.loads((folder / "tier1.json").read_text())
    assert config["models"] == KNOWN
    starter_tasks = {template.task for template in load_seed_templates()}
    assert set(config["task_labels"]) <= starter_tasks
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["models"] == KNOWN and provenance["n_train_prompts"] > 0


def test_registration_loads_nothing_until_the_first_route() -> None:
    assert "emafusion-default" in available_routers()
    code = (
        "import sys; from langchain_emafusion import FusionChatModel; from langchain_emafusion.routing.registry "
        "import get_router; router = get_router('emafusion-default'); FusionChatModel(router='emafusion-default'); "
        "print(router.is_loaded, [m for m in ('torch', 'sentence_transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False []"


def test_routes_free_members_by_predicted_quality() -> None:
    pool = ModelPool([ModelCard(name=name, model=ScriptedChatModel(reply=name)) for name in EMBEDDED])
    router = get_router("emafusion-default")
    assert isinstance(router, DefaultPredictorRouter) and not router.is_loaded
    decision = router.route(
        RoutingRequest(prompt="Classify this ticket: refund please", input_tokens=8), pool
    )
    assert router.is_loaded and decision.router == "emafusion-default"
    assert sorted(decision.models) == sorted(EMBEDDED)
    assert all(0.0 <= decision.scores[name] <= 1.0 for name in EMBEDDED)
    # Both members are free: the first is the one with the higher predicted quality.
    assert decision.scores[decision.models[0]] >= decision.scores[decision.models[1]]

    message = FusionChatModel(pool=pool, router="emafusion-default").invoke("What is 12 times 7?")
    fusion = message.response_metadata["fusion"]
    assert fusion["router"] == "emafusion-default" and message.content == fusion["models"][0]
