"""Small slot-value generators for seed templates (``slots: {name: {generator: NAME, args: {...}}}``).

Each generator takes a seeded :class:`random.Random` and keyword arguments and returns one value, so that
expansion is reproducible. A template may also name any callable by dotted path (``package.module:function``
or ``package.module.function``) with the same signature.
"""

from __future__ import annotations

import datetime as dt
import importlib
import random
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["GENERATORS", "resolve_generator"]

_FIRST_NAMES = (
    "Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Lena",
    "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Yara",
)  # fmt: skip
_LAST_NAMES = (
    "Andersen", "Bauer", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
    "Laurent", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka", "Varga", "Weber", "Zhang",
)  # fmt: skip
_COMPANIES = (
    "Acme Logistics", "Brightline Foods", "Cobalt Systems", "Delta Textiles", "Evergreen Clinics",
    "Fjord Analytics", "Granite Insurance", "Helix Pharma", "Ionic Energy", "Juniper Retail", "Keystone Legal",
    "Lumen Robotics", "Meridian Travel", "Northwind Traders", "Orbit Telecom", "Pioneer Bank",
)  # fmt: skip


def _int(rng: random.Random, *, min: int, max: int, step: int = 1) -> int:  # noqa: A002 - YAML argument names
    return rng.randrange(min, max + 1, step)


def _decimal(rng: random.Random, *, min: float, max: float, places: int = 2) -> float:  # noqa: A002
    return round(rng.uniform(min, max), places)


def _date(rng: random.Random, *, start: str, end: str) -> str:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return (first + dt.timedelta(days=rng.randint(0, (last - first).days))).isoformat()


def _sample(rng: random.Random, *, values: Sequence[Any], k: int) -> list[Any]:
    return rng.sample(list(values), k)


def _person(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    return {"first": first, "last": last, "full": f"{first} {last}"}


def _company(rng: random.Random) -> str:
    return rng.choice(_COMPANIES)


def _code(rng: random.Random, *, prefix: str = "", digits: int = 5) -> str:
    return prefix + "".join(rng.choice("0123456789") for _ in range(digits))


GENERATORS: dict[str, Callable[..., Any]] = {
    "int": _int,
    "decimal": _decimal,
    "date": _date,
    "sample": _sample,
    "person": _person,
    "company": _company,
    "code": _code,
}
"""Built-in generators: ``int`` (min, max, step), ``decimal`` (min, max, places), ``date`` (start, end, ISO),
``sample`` (values, k: k distinct items), ``person`` (first/last/full name), ``company``, ``code`` (prefix,
digits: an id such as ``INV-04711``)."""


def resolve_generator(name: str) -> Callable[..., Any]:
    """Return a built-in generator, or import a callable named by dotted path.

    Raises:
        ValueError: Neither a built-in name nor an importable callable.
    """
    if name in GENERATORS:
        return GENERATORS[name]
    module_name, separator, attribute = name.partition(":") if ":" in name else name.rpartition(".")
    if not separator or not module_name or not attribute:
        raise ValueError(
            f"unknown generator {name!r}: use one of {', '.join(GENERATORS)} or a dotted path 'package.module:function'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"generator {name!r}: cannot import {module_name!r}: {error}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"generator {name!r}: {attribute!r} is not a callable of {module_name!r}")
    return function
