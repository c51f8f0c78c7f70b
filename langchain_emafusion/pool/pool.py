"""`ModelPool`: the validated set of members a `FusionChatModel` may route to, from Python or YAML."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langchain_emafusion.errors import PoolConfigError
from langchain_emafusion.pool.card import Capabilities, ModelCard

if TYPE_CHECKING:
    from langchain_emafusion.privacy.policy import PrivacyPolicy

__all__ = ["ModelPool"]


class _EntryBase(BaseModel):
    """Fields every YAML entry shares; they become the `ModelCard`'s static facts."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    input_price: float | None = Field(default=None, ge=0)
    output_price: float | None = Field(default=None, ge=0)
    latency_hint_s: float | None = Field(default=None, ge=0)
    private: bool | None = None
    capabilities: Capabilities | None = None
    tags: list[str] = Field(default_factory=list)
    runs: str | None = Field(default=None, min_length=1)


class _OpenAIEntry(_EntryBase):
    type: Literal["openai"]
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)


class _LlamaCppEntry(_EntryBase):
    type: Literal["llamacpp"]
    # Exactly one of `embedded` (a shipped model's name) or `path` (a local GGUF file).
    embedded: str | None = None
    path: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)


class _ImportEntry(_EntryBase):
    type: Literal["import"]
    class_path: str = Field(alias="class", min_length=1)
    kwargs: dict[str, Any] = Field(default_factory=dict)


_ENTRY_TYPES: dict[str, type[_EntryBase]] = {
    "openai": _OpenAIEntry,
    "llamacpp": _LlamaCppEntry,
    "import": _ImportEntry,
}


def _format_validation_error(where: str, error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(entry)"
        parts.append(f"field {field!r}: {item['msg']}")
    return f"{where}: " + "; ".join(parts)


class ModelPool:
    """An ordered, validated collection of `ModelCard`s with unique names.

    Build one from cards in Python, or from a YAML file with :meth:`from_yaml`. Nothing is loaded when a
    pool is built: members whose `model` is a factory are built on their first call.

    Example:
        .. code-block:: python

            from langchain_emafusion import ModelCard, ModelPool

            pool = ModelPool([ModelCard(name="a", model=model_a), ModelCard(name="b", model=model_b)])
            pool = ModelPool.from_yaml("pool.yaml")
    """

    def __init__(
        self,
        cards: Iterable[ModelCard],
        *,
        privacy: PrivacyPolicy | None = None,
        router: str | None = None,
    ) -> None:
        """Validate and hold the cards.

        Args:
            cards: The members, in order of preference for ties.
            privacy: The pool's privacy policy, used by a ``FusionChatModel`` that sets none of its own.
            router: The pool's router (a registered name or a trained or onboarded predictor folder, e.g. the
                profile ``emafusion onboard`` writes), used by a ``FusionChatModel`` that sets none of its own.

        Raises:
            PoolConfigError: When the pool is empty, an item is not a `ModelCard`, or two cards share a name.
        """
        card_list = list(cards)
        if not card_list:
            raise PoolConfigError("a pool needs at least one ModelCard")
        seen: set[str] = set()
        for index, card in enumerate(card_list):
            if not isinstance(card, ModelCard):
                raise PoolConfigError(f"pool item {index} is a {type(card).__name__}, expected a ModelCard")
            if card.name in seen:
                raise PoolConfigError(f"pool member names must be unique: field 'name' {card.name!r} repeats")
            seen.add(card.name)
        self._cards: dict[str, ModelCard] = {card.name: card for card in card_list}
        self.privacy = privacy
        self.router = router

    # --- collection protocol -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[ModelCard]:
        return iter(self._cards.values())

    def __len__(self) -> int:
        return len(self._cards)

    def __contains__(self, name: object) -> bool:
        return name in self._cards

    def __getitem__(self, name: str) -> ModelCard:
        try:
            return self._cards[name]
        except KeyError:
            raise PoolConfigError(
                f"unknown pool member {name!r}; members are: {', '.join(self._cards)}"
            ) from None

    def __repr__(self) -> str:
        return f"ModelPool({list(self._cards)!r})"

    @property
    def names(self) -> list[str]:
        """Member names, in pool order."""
        return list(self._cards)

    @property
    def cards(self) -> list[ModelCard]:
        """Member cards, in pool order."""
        return list(self._cards.values())

    # --- construction from configuration ---------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ModelPool:
        """Build a pool from a YAML file.

        The file holds a ``models:`` list; each entry has a ``name``, a ``type`` and the card fields
        (``input_price``, ``output_price``, ``latency_hint_s``, ``private``, ``capabilities``, ``tags``, and
        ``runs``, what the member runs, filled in from ``embedded:`` and ``model:`` when not given):

        .. code-block:: yaml

            models:
              - name: gpt-4o-mini
                type: openai            # langchain-openai ChatOpenAI
                model: gpt-4o-mini
                base_url: https://api.example.com/v1   # optional, any OpenAI-compatible server
                api_key_env: MY_API_KEY                 # the key is read from this env var
                input_price: 0.15
                output_price: 0.60
              - name: smollm2
                type: llamacpp          # a local GGUF: `embedded: <name>` or `path: /file.gguf`
                embedded: smollm2-135m
              - name: custom
                type: import            # any BaseChatModel by dotted path, with kwargs
                class: langchain_core.language_models.fake_chat_models.FakeListChatModel
                kwargs: {responses: ["hi"]}
            privacy:                  # optional: the pool's privacy policy (see PrivacyPolicy)
              mode: private_only
              keywords: {project: ["Project Falcon"]}
            router: pool-profile/     # optional: a router name or a predictor folder (relative to this file),
                                      # e.g. the profile `emafusion onboard --pool pool.yaml` writes

        Args:
            path: The YAML file.

        Raises:
            PoolConfigError: When the file is missing, is not valid YAML, or an entry is invalid; the message
                names the entry and the field.
        """
        file_path = Path(path)
        try:
            text = file_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PoolConfigError(f"cannot read pool file {file_path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise PoolConfigError(
                f"pool file {file_path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML"
            ) from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PoolConfigError(f"pool file {file_path} is not valid YAML: {exc}") from exc
        return cls.from_config(data, source=str(file_path), base_dir=file_path.parent)

    @classmethod
    def from_config(
        cls, data: Any, *, source: str = "pool config", base_dir: str | os.PathLike[str] | None = None
    ) -> ModelPool:
        """Build a pool from already-parsed configuration (the structure :meth:`from_yaml` documents).

        Args:
            data: A mapping with a ``models`` list.
            source: Where the data came from, for error messages.
            base_dir: The folder a relative ``router:`` folder is read from (the YAML file's; default: the
                working directory).

        Raises:
            PoolConfigError: When the structure or an entry is invalid.
        """
        if not isinstance(data, Mapping) or "models" not in data:
            raise PoolConfigError(f"{source}: expected a mapping with a 'models' list at the top level")
        unknown_top = set(data) - {"models", "privacy", "router"}
        if unknown_top:
            raise PoolConfigError(f"{source}: unknown top-level field(s) {sorted(unknown_top)}")
        entries = data["models"]
        if not isinstance(entries, list) or not entries:
            raise PoolConfigError(f"{source}: field 'models' must be a non-empty list")
        cards = [_card_from_entry(raw, index, source) for index, raw in enumerate(entries)]
        return cls(
            cards,
            privacy=_privacy_section(data.get("privacy"), source),
            router=_router_section(data.get("router"), source, base_dir),
        )


def _router_section(raw: Any, source: str, base_dir: str | os.PathLike[str] | None) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise PoolConfigError(
            f"{source}: field 'router' must be a router name or a predictor folder, got {raw!r}"
        )
    # A folder next to the pool file is read from there; anything else is kept as given (a registered name,
    # or an absolute path), and FusionChatModel checks it at construction.
    relative = Path(base_dir or ".") / raw
    return str(relative) if not Path(raw).is_absolute() and relative.is_dir() else raw


def _privacy_section(raw: Any, source: str) -> PrivacyPolicy | None:
    if raw is None:
        return None
    from langchain_emafusion.privacy.errors import PrivacyConfigError
    from langchain_emafusion.privacy.policy import PrivacyPolicy

    try:
        return PrivacyPolicy.from_config(raw)
    except PrivacyConfigError as exc:
        raise PoolConfigError(f"{source}: section 'privacy': {exc}") from exc


def _card_from_entry(raw: Any, index: int, source: str) -> ModelCard:
    where = f"{source}: models[{index}]"
    if not isinstance(raw, Mapping):
        raise PoolConfigError(f"{where}: each entry must be a mapping, got {type(raw).__name__}")
    if isinstance(raw.get("name"), str):
        where += f" ({raw['name']})"
    entry_type = raw.get("type")
    if not isinstance(entry_type, str) or entry_type not in _ENTRY_TYPES:
        raise PoolConfigError(
            f"{where}: field 'type' must be one of {sorted(_ENTRY_TYPES)}, got {entry_type!r}"
        )
    try:
        entry = _ENTRY_TYPES[entry_type].model_validate(dict(raw))
    except ValidationError as exc:
        raise PoolConfigError(_format_validation_error(where, exc)) from exc

    defaults: dict[str, Any]
    if isinstance(entry, _OpenAIEntry):
        factory, defaults = _openai_factory(entry, where)
    elif isinstance(entry, _LlamaCppEntry):
        factory, defaults = _llamacpp_factory(entry, where)
    else:
        assert isinstance(entry, _ImportEntry)
        factory, defaults = _import_factory(entry, where)

    card_fields: dict[str, Any] = {**defaults}
    for field in ("input_price", "output_price", "latency_hint_s", "private", "capabilities", "runs"):
        value = getattr(entry, field)
        if value is not None:
            card_fields[field] = value
    tags = list(dict.fromkeys([*defaults.get("tags", []), *entry.tags]))
    card_fields["tags"] = tags
    try:
        return ModelCard(name=entry.name, model=factory, **card_fields)
    except ValidationError as exc:
        raise PoolConfigError(_format_validation_error(where, exc)) from exc


def _openai_factory(entry: _OpenAIEntry, where: str) -> tuple[Any, dict[str, Any]]:
    if entry.api_key_env is not None and not entry.api_key_env.strip():
        raise PoolConfigError(f"{where}: field 'api_key_env' must name an environment variable")

    def build() -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        kwargs: dict[str, Any] = {"model": entry.model, **entry.kwargs}
        if entry.base_url:
            kwargs["base_url"] = entry.base_url
        if entry.api_key_env:
            key = os.environ.get(entry.api_key_env)
            if not key:
                raise PoolConfigError(
                    f"{where}: environment variable {entry.api_key_env!r} (field 'api_key_env') is not set"
                )
            kwargs["api_key"] = key
        return ChatOpenAI(**kwargs)

    defaults = {
        "capabilities": Capabilities(tools=True, structured_output=True, context_window=128_000),
        "tags": ["openai"],
        "runs": entry.model,
    }
    return build, defaults


def _llamacpp_factory(entry: _LlamaCppEntry, where: str) -> tuple[Any, dict[str, Any]]:
    from langchain_emafusion.pool.weights import EMBEDDED_MODELS, embedded_card_defaults

    if (entry.embedded is None) == (entry.path is None):
        raise PoolConfigError(
            f"{where}: give exactly one of field 'embedded' (a shipped model) or 'path' (a GGUF)"
        )
    if entry.embedded is not None:
        if entry.embedded not in EMBEDDED_MODELS:
            raise PoolConfigError(
                f"{where}: field 'embedded' is {entry.embedded!r}; known embedded models: "
                f"{', '.join(EMBEDDED_MODELS)}"
            )
        spec = EMBEDDED_MODELS[entry.embedded]
        defaults = embedded_card_defaults(spec)

        def build_embedded() -> BaseChatModel:
            from langchain_emafusion.pool.llamacpp import ChatGGUF

            return ChatGGUF.from_embedded(spec.name, **entry.kwargs)

        return build_embedded, defaults

    gguf_path = Path(str(entry.path)).expanduser()
    if gguf_path.suffix.lower() != ".gguf":
        raise PoolConfigError(f"{where}: field 'path' must point to a .gguf file, got {str(gguf_path)!r}")
    context_window = entry.kwargs.get("n_ctx", 4096)
    if isinstance(context_window, bool) or not isinstance(context_window, int) or context_window <= 0:
        raise PoolConfigError(
            f"{where}: field 'kwargs.n_ctx' must be a positive whole number of tokens, got {context_window!r}"
        )

    def build_path() -> BaseChatModel:
        from langchain_emafusion.pool.llamacpp import ChatGGUF

        if not gguf_path.is_file():
            raise PoolConfigError(f"{where}: field 'path': no file at {gguf_path}")
        return ChatGGUF(model_path=str(gguf_path), model_name=entry.name, **entry.kwargs)

    defaults = {
        "private": True,
        "capabilities": Capabilities(tools=False, structured_output=True, context_window=context_window),
        "tags": ["local"],
    }
    return build_path, defaults


def _import_factory(entry: _ImportEntry, where: str) -> tuple[Any, dict[str, Any]]:
    module_name, _, attr = entry.class_path.rpartition(".")
    if not module_name or not attr or module_name.startswith("."):
        raise PoolConfigError(
            f"{where}: field 'class' must be an absolute dotted path like 'package.module.Class', "
            f"got {entry.class_path!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except (ImportError, ValueError) as exc:  # ValueError: a malformed name, e.g. with a NUL character
        raise PoolConfigError(f"{where}: field 'class': cannot import module {module_name!r}: {exc}") from exc
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseChatModel)):
        raise PoolConfigError(
            f"{where}: field 'class': {entry.class_path!r} is not a langchain_core BaseChatModel subclass"
        )

    def build() -> BaseChatModel:
        try:
            return cls(**entry.kwargs)
        except (ValidationError, TypeError) as exc:
            raise PoolConfigError(f"{where}: field 'kwargs' rejected by {entry.class_path}: {exc}") from exc

    return build, {}
