"""Read seed template files (YAML) into validated :class:`SeedTemplate` objects; find the shipped starter set."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from langchain_emafusion.synthesis.errors import SeedTemplateError
from langchain_emafusion.synthesis.template import SeedTemplate

__all__ = ["load_seed_templates", "starter_seeds_dir", "seed_files"]


def starter_seeds_dir() -> Path:
    """The folder of the starter seed set shipped in the package (``langchain_emafusion/seeds``)."""
    return Path(__file__).resolve().parent.parent / "seeds"


def seed_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (a folder gives its ``*.yaml``/``*.yml`` files, sorted) into seed files.

    Raises:
        SeedTemplateError: A path does not exist or a folder holds no YAML file.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise SeedTemplateError(f"{path}: folder holds no seed file (*.yaml)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise SeedTemplateError(f"{path}: no such seed file or folder")
    return files


def _pydantic_message(error: ValidationError) -> str:
    parts = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"]) or "(template)"
        parts.append(f"field {field!r}: {detail['msg']}")
    return "; ".join(parts)


def load_seed_templates(paths: Iterable[str | os.PathLike[str]] | None = None) -> list[SeedTemplate]:
    """Load and validate seed templates from YAML files or folders (default: the starter set).

    Each file holds ``templates:``, a list of templates (see :class:`SeedTemplate`).

    Args:
        paths: Files or folders; None loads the shipped starter set.

    Returns:
        The templates, in file order.

    Raises:
        SeedTemplateError: A file is unreadable or not YAML, a template is invalid (the message names the file,
            the template and the field), or two templates share an id.
    """
    files = seed_files([starter_seeds_dir()] if paths is None else paths)
    templates: list[SeedTemplate] = []
    origin: dict[str, str] = {}
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise SeedTemplateError(f"{file}: cannot read seed file: {error}") from None
        except yaml.YAMLError as error:
            raise SeedTemplateError(f"{file}: not valid YAML: {error}") from None
        if (
            not isinstance(data, Mapping)
            or not isinstance(data.get("templates"), list)
            or not data["templates"]
        ):
            raise SeedTemplateError(f"{file}: expected a mapping with a non-empty 'templates' list")
        unknown = set(data) - {"templates"}
        if unknown:
            raise SeedTemplateError(f"{file}: unknown top-level field(s) {sorted(unknown)}")
        for index, raw in enumerate(data["templates"]):
            template = _validate(raw, file, index)
            if template.id in origin:
                raise SeedTemplateError(
                    f"{file}: template {template.id!r}: field 'id' repeats (first in {origin[template.id]})"
                )
            origin[template.id] = str(file)
            templates.append(template)
    return templates


def _validate(raw: Any, file: Path, index: int) -> SeedTemplate:
    name = raw.get("id") if isinstance(raw, Mapping) else None
    where = f"{file}: template {name!r} (templates[{index}])" if name else f"{file}: templates[{index}]"
    if not isinstance(raw, Mapping):
        raise SeedTemplateError(f"{where}: expected a mapping, got {type(raw).__name__}")
    try:
        return SeedTemplate.model_validate(dict(raw))
    except ValidationError as error:
        raise SeedTemplateError(f"{where}: {_pydantic_message(error)}") from None
