"""Sensitivity detection: e-mails, phones, cards, IBANs, SSNs, IP addresses, secrets, people and custom terms.

:class:`SensitivityDetector` runs the enabled built-in finders plus user-defined regular expressions and keyword
lists over a text and returns non-overlapping :class:`Detection` spans, sorted by start. Person names come from
the NER backend (:mod:`langchain_emafusion.privacy.ner`, the ``privacy-ner`` extra), loaded on first use;
addresses and dates of birth from rules that NER extends.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from langchain_emafusion.privacy import _finders, ner
from langchain_emafusion.privacy.errors import PrivacyConfigError

__all__ = [
    "BUILTIN_KINDS",
    "ADDRESS",
    "DATE_OF_BIRTH",
    "DEFAULT_PHONE_REGIONS",
    "EMAIL",
    "KEYWORD_PACKS",
    "IBAN",
    "IP_ADDRESS",
    "PAYMENT_CARD",
    "PERSON",
    "PHONE",
    "SECRET",
    "US_SSN",
    "Detection",
    "SensitivityDetector",
]

EMAIL = "email"
PHONE = "phone"
PAYMENT_CARD = "payment_card"
IBAN = "iban"
US_SSN = "us_ssn"
IP_ADDRESS = "ip_address"
SECRET = "secret"
DATE_OF_BIRTH = "date_of_birth"
ADDRESS = "address"
PERSON = "person"

# Also the tie-break order when two kinds claim the same span: the more specific, more validated kind first.
BUILTIN_KINDS: tuple[str, ...] = (
    SECRET, IBAN, PAYMENT_CARD, US_SSN, EMAIL, IP_ADDRESS, PHONE, DATE_OF_BIRTH, ADDRESS, PERSON,
)  # fmt: skip
# Named keyword lists a policy can switch on (``keyword_packs=["health"]``); each reports its own kind.
KEYWORD_PACKS: dict[str, tuple[str, ...]] = {ner.HEALTH_PACK: ner.health_terms()}
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR")

DETECTION_CACHE_SIZE = 512
"""How many texts' detections a detector keeps (least recently used dropped first)."""

_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True, slots=True)
class Detection:
    """One sensitive value found in a text.

    Attributes:
        kind: What was found: a built-in kind (``"email"``, ``"phone"``...) or a user-defined kind name.
        start: Offset of the first character of the value in the text.
        end: Offset one past the last character (``text[start:end] == value``).
        value: The sensitive value itself. Never log it.
    """

    kind: str
    start: int
    end: int
    value: str


def validate_kind_name(kind: object, *, field: str) -> str:
    """Return ``kind`` if it is a usable kind name (lower snake case, at most 40 characters).

    Raises:
        PrivacyConfigError: ``kind`` is not a string of that shape.
    """
    if not isinstance(kind, str) or not _KIND_NAME.match(kind):
        raise PrivacyConfigError(
            f"{field}: kind name {kind!r} must be lower snake case (a-z, 0-9, _), start with a letter, "
            "and be at most 40 characters"
        )
    return kind


def _compile_custom_pattern(kind: str, pattern: object) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise PrivacyConfigError(
            f"custom_patterns[{kind!r}]: the pattern must be a non-empty string, got {pattern!r}"
        )
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise PrivacyConfigError(
            f"custom_patterns[{kind!r}]: invalid regular expression {pattern!r}: {error}"
        ) from error
    if compiled.fullmatch("") is not None:
        raise PrivacyConfigError(
            f"custom_patterns[{kind!r}]: the regular expression {pattern!r} matches the empty string; "
            "it would flag nothing useful and everything in between"
        )
    return compiled


def _compile_keywords(kind: str, keywords: object) -> re.Pattern[str]:
    if isinstance(keywords, str) or not isinstance(keywords, Iterable):
        raise PrivacyConfigError(f"keywords[{kind!r}]: expected a list of strings, got {keywords!r}")
    words = list(keywords)
    if not words:
        raise PrivacyConfigError(f"keywords[{kind!r}]: the keyword list is empty")
    for word in words:
        if not isinstance(word, str) or not word.strip():
            raise PrivacyConfigError(f"keywords[{kind!r}]: keyword {word!r} must be a non-empty string")
    # Longest first so that "Project Falcon X" wins over "Project Falcon"; inner whitespace matches any run.
    alternatives = [
        r"\s+".join(re.escape(part) for part in word.split())
        for word in sorted(set(words), key=len, reverse=True)
    ]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


class SensitivityDetector:
    r"""Finds sensitive values in text.

    Overlapping candidates are resolved deterministically: the longest span wins; on equal length, a
    user-defined kind beats a built-in one (custom patterns before keywords, each in configuration order), and
    built-ins follow :data:`BUILTIN_KINDS` order (secret, iban, payment_card, us_ssn, email, ip_address,
    phone, date_of_birth, address, person); then the earlier start wins. Rules run first for what they do
    well (keys, IBANs, cards, e-mails...); a person name the NER backend finds inside such a span loses to it.

    A custom pattern may mark the sensitive part with a named group ``value`` (``r"emp(?:loyee)? id:?
    (?P<value>E\d{6})"``); otherwise the whole match is the value. Keywords match case-insensitively as whole
    words. Custom regular expressions run as given: keep them linear (no nested quantifiers) since a
    catastrophically backtracking pattern stalls every request.

    Example:
        >>> detector = SensitivityDetector(keywords={"codename": ["Project Falcon"]})
        >>> [(d.kind, d.value) for d in detector.detect("Mail bob@acme.com about project falcon")]
        [('email', 'bob@acme.com'), ('codename', 'project falcon')]
    """

    def __init__(
        self,
        *,
        enabled_kinds: Iterable[str] | None = None,
        custom_patterns: Mapping[str, str] | None = None,
        keywords: Mapping[str, Sequence[str]] | None = None,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
        use_ner: bool = True,
        keyword_packs: Sequence[str] = (),
    ) -> None:
        """Build a detector.

        Args:
            enabled_kinds: Built-in kinds to run; ``None`` runs all of :data:`BUILTIN_KINDS`.
            custom_patterns: Kind name → regular expression, for organisation-specific ids.
            keywords: Kind name → words or phrases (customer names, project codenames...).
            phone_regions: ISO 3166-1 region codes whose national number formats count as phone numbers
                (international ``+CC`` numbers are recognised whatever the list).
            use_ner: Run the NER backend (spaCy, the ``privacy-ner`` extra) for person names and to extend
                addresses. It is loaded on the first :meth:`detect`, not here; if it is not installed a warning
                says so once and the rule-based finders keep working. ``False`` runs the rules only.
            keyword_packs: Names from :data:`KEYWORD_PACKS` (``"health"``): curated keyword lists, each
                reported as its own kind.

        Raises:
            PrivacyConfigError: An unknown built-in kind, a bad kind name, an invalid or empty-matching regular
                expression, an empty keyword list, an unknown keyword pack, or an unknown phone region; the message
                names the culprit.
        """
        if enabled_kinds is None:
            enabled = set(BUILTIN_KINDS)
        else:
            if isinstance(enabled_kinds, str):
                raise PrivacyConfigError(
                    f"enabled_kinds: expected a list of kinds, got the string {enabled_kinds!r}"
                )
            enabled = set(enabled_kinds)
            unknown = sorted(str(kind) for kind in enabled - set(BUILTIN_KINDS))
            if unknown:
                raise PrivacyConfigError(
                    f"enabled_kinds: unknown built-in kind(s) {unknown}; known: {list(BUILTIN_KINDS)} "
                    "(user-defined kinds come from custom_patterns and keywords)"
                )
        self._phone_regions = validate_phone_regions(phone_regions)
        finders: dict[str, Callable[[str], list[tuple[int, int]]]] = {
            EMAIL: _finders.find_emails,
            PHONE: partial(_finders.find_phones, regions=self._phone_regions),
            PAYMENT_CARD: _finders.find_payment_cards,
            IBAN: _finders.find_ibans,
            US_SSN: _finders.find_us_ssns,
            IP_ADDRESS: _finders.find_ip_addresses,
            SECRET: _finders.find_secrets,
            DATE_OF_BIRTH: ner.find_dates_of_birth,
            ADDRESS: ner.find_addresses,
            PERSON: ner.find_titled_names,
        }
        self._use_ner = bool(use_ner)
        self._builtin = [(kind, finders[kind]) for kind in BUILTIN_KINDS if kind in enabled]

        self._custom: list[tuple[str, re.Pattern[str]]] = []
        for kind, pattern in (custom_patterns or {}).items():
            self._custom.append(
                (self._user_kind(kind, "custom_patterns"), _compile_custom_pattern(kind, pattern))
            )
        for kind, words in (keywords or {}).items():
            self._custom.append((self._user_kind(kind, "keywords"), _compile_keywords(kind, words)))
        if isinstance(keyword_packs, str):
            raise PrivacyConfigError(f"keyword_packs: expected a list of pack names, got {keyword_packs!r}")
        for pack in keyword_packs:
            if pack not in KEYWORD_PACKS:
                raise PrivacyConfigError(
                    f"keyword_packs: unknown pack {pack!r}; known: {sorted(KEYWORD_PACKS)}"
                )
            self._custom.append((pack, _compile_keywords(pack, KEYWORD_PACKS[pack])))

        self._rank: dict[str, int] = {}
        for rank, (kind, _) in enumerate(self._custom):
            self._rank.setdefault(kind, rank)
        for rank, kind in enumerate(BUILTIN_KINDS):
            self._rank.setdefault(kind, len(self._custom) + rank)

        self._cache: OrderedDict[str, tuple[Detection, ...]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @staticmethod
    def _user_kind(kind: object, field: str) -> str:
        validate_kind_name(kind, field=field)
        if kind in BUILTIN_KINDS:
            raise PrivacyConfigError(
                f"{field}: {kind!r} is a built-in kind; give the user-defined detector its own name "
                "(the built-in is switched with enabled_kinds)"
            )
        assert isinstance(kind, str)
        return kind

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every kind this detector can report: enabled built-ins, then user-defined kinds."""
        user_kinds = tuple(dict.fromkeys(kind for kind, _ in self._custom))
        return tuple(kind for kind, _ in self._builtin) + user_kinds

    @property
    def use_ner(self) -> bool:
        """Whether the NER backend runs (when installed) for person names and addresses."""
        return self._use_ner

    @property
    def phone_regions(self) -> tuple[str, ...]:
        """The regions whose national phone formats are recognised."""
        return self._phone_regions

    def detect(self, text: str) -> list[Detection]:
        """Find the sensitive values in ``text``.

        The last :data:`DETECTION_CACHE_SIZE` texts' detections are kept: a conversation's earlier messages,
        sent again with every turn of an agent loop, are scanned once.

        Args:
            text: Any string.

        Returns:
            Non-overlapping detections sorted by start, with ``text[d.start:d.end] == d.value``.
        """
        if not text:
            return []
        with self._cache_lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return list(cached)
        found = self._detect(text)
        with self._cache_lock:
            self._cache[text] = tuple(found)
            if len(self._cache) > DETECTION_CACHE_SIZE:
                self._cache.popitem(last=False)
        return found

    def _detect(self, text: str) -> list[Detection]:
        candidates: list[tuple[str, int, int]] = []
        for kind, pattern in self._custom:
            for match in pattern.finditer(text):
                start, end = match.span("value") if "value" in pattern.groupindex else match.span()
                if end > start:
                    candidates.append((kind, start, end))
        phone_finder = None
        for kind, finder in self._builtin:
            if kind == PHONE:
                phone_finder = finder
            else:
                candidates.extend((kind, start, end) for start, end in finder(text))
        enabled = {kind for kind, _ in self._builtin}
        if self._use_ner and (PERSON in enabled or ADDRESS in enabled):
            backend = ner.get_backend()
            entities = backend.entities(text)
            if ADDRESS in enabled:
                candidates.extend(
                    (ADDRESS, start, end) for start, end in ner.find_unnumbered_streets(text, backend.lexicon)
                )
            if PERSON in enabled:
                people = ner.people(entities, text, backend.lexicon)
                people += backend.known_names(text, entities)
                # A name's later mentions by a part of it ("early Táborská") have no cue of their own; a span an
                # address holds ("Lundgren Valley Street") lends none.
                held = [(start, end) for kind, start, end in candidates if kind != PERSON]
                named = [
                    span
                    for span in people + [(start, end) for kind, start, end in candidates if kind == PERSON]
                    if not any(s <= span[0] and span[1] <= e for s, e in held)
                ]
                people += ner.repeated_names(text, named, backend.lexicon)
                candidates.extend((PERSON, start, end) for start, end in people)
            if ADDRESS in enabled:
                addresses = [(start, end) for kind, start, end in candidates if kind == ADDRESS]
                candidates.extend(
                    (ADDRESS, start, end) for start, end in ner.places_next_to(entities, text, addresses)
                )
        if phone_finder is not None:
            # libphonenumber reads "+44 20 7946 0958 4111 1111 1111 1111" as one over-long number and finds
            # nothing; blanking what other detectors found (same length, so offsets hold) separates them.
            masked = list(text)
            for _, start, end in candidates:
                masked[start:end] = "|" * (end - start)
            candidates.extend((PHONE, start, end) for start, end in phone_finder("".join(masked)))
        return [
            Detection(kind, start, end, text[start:end]) for kind, start, end in self._resolve(candidates)
        ]

    def _resolve(self, candidates: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
        """Greedy interval selection: longest first, then kind rank, then earliest start."""
        ordered = sorted(set(candidates), key=lambda c: (-(c[2] - c[1]), self._rank[c[0]], c[1], c[0]))
        starts: list[int] = []
        chosen: list[tuple[str, int, int]] = []  # kept sorted by start, pairwise disjoint
        for candidate in ordered:
            _, start, end = candidate
            index = bisect.bisect_left(starts, start)
            if index > 0 and chosen[index - 1][2] > start:
                continue
            if index < len(chosen) and chosen[index][1] < end:
                continue
            starts.insert(index, start)
            chosen.insert(index, candidate)
        return chosen


def validate_phone_regions(regions: object) -> tuple[str, ...]:
    """Return ``regions`` as a tuple of upper-case region codes libphonenumber supports.

    Raises:
        PrivacyConfigError: ``regions`` is not a list of supported ISO 3166-1 alpha-2 codes.
    """
    if isinstance(regions, str) or not isinstance(regions, Iterable):
        raise PrivacyConfigError(
            f"phone_regions: expected a list of region codes such as ['US', 'DE'], got {regions!r}"
        )
    from phonenumbers import SUPPORTED_REGIONS  # imported here: loading phonenumbers is not free

    normalised: list[str] = []
    for region in regions:
        code = region.upper() if isinstance(region, str) else region
        if code not in SUPPORTED_REGIONS:
            raise PrivacyConfigError(
                f"phone_regions: {region!r} is not a region libphonenumber knows (use ISO 3166-1 alpha-2 codes "
                "such as 'US', 'GB', 'DE')"
            )
        normalised.append(code)
    return tuple(dict.fromkeys(normalised))
