from __future__ import annotations

import subprocess
import sys
import time

import langchain_emafusion

EXPECTED_ALL = {
    "FusionChatModel",
    "ChatGGUF",
    "ModelCard",
    "ModelPool",
    "Capabilities",
    "Router",
    "RoutingDecision",
    "RoutingRequest",
    "get_router",
    "register_router",
    "EmaFusionError",
    "AllMembersFailedError",
    "InvalidInputError",
    "MissingModelPackageError",
    "ModelIntegrityError",
    "NoEligibleModelError",
    "PoolConfigError",
    "UnknownRouterError",
    "__version__",
}


def test_all_is_exactly_the_public_api() -> None:
    assert set(langchain_emafusion.__all__) == EXPECTED_ALL
    for name in langchain_emafusion.__all__:
        assert hasattr(langchain_emafusion, name)


def test_import_is_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import langchain_emafusion; "
        "print(time.perf_counter() - t); "
        "heavy = [m for m in ('torch', 'llama_cpp', 'sentence_transformers', 'faiss', 'sklearn', 'matplotlib') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[1] == "", f"import langchain_emafusion pulled in heavy modules: {out[1]}"
    assert float(out[0]) < 1.0, f"import took {out[0]}s"
    assert time.perf_counter() - started < 10


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files("langchain_emafusion").joinpath("py.typed").is_file()
