from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import langchain_emafusion

EXPECTED_ALL = {
    "FusionChatModel",
    "FusionMiddleware",
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
    assert set(langchain_emafusion._EXPORTS) == EXPECTED_ALL - {"__version__"}
    for name in langchain_emafusion.__all__:
        assert hasattr(langchain_emafusion, name)


def test_import_is_light() -> None:
    # Import time itself is measured by benchmarks/import_time.py (timings do not belong in unit tests).
    code = (
        "import sys; import langchain_emafusion; "
        "heavy = [m for m in ('torch', 'llama_cpp', 'sentence_transformers', 'faiss', 'sklearn', 'matplotlib', "
        "'langchain_core') if m in sys.modules]; print(','.join(heavy)); "
        "from langchain_emafusion import FusionChatModel; FusionChatModel(); "
        "heavy = [m for m in ('torch', 'llama_cpp', 'sentence_transformers', 'faiss', 'sklearn', 'matplotlib') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    after_import, after_init = out.split("\n")[:2]
    assert after_import == "", f"import langchain_emafusion pulled in: {after_import}"
    assert after_init == "", f"FusionChatModel() pulled in: {after_init}"


def test_predictor_folder_router_loads_nothing_at_init(tmp_path: Path) -> None:
    (tmp_path / "tier1.json").write_text("{}")  # checked for presence only; loaded on the first call
    code = (
        "import sys; from langchain_emafusion import FusionChatModel; "
        f"FusionChatModel(router={str(tmp_path)!r}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files("langchain_emafusion").joinpath("py.typed").is_file()
