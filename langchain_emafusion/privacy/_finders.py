r"""The built-in finders: one function per sensitive kind, each returning candidate ``(start, end)`` spans.

Every finder pairs a cheap regular expression with a real validator (Luhn, mod-97, the SSA's invalid ranges,
:mod:`ipaddress`, :mod:`phonenumbers`) and a little context, because precision matters as much as recall here:
a false positive redacts an order id and confuses the model, a false negative leaks a value.

Finders may return overlapping spans; :class:`~langchain_emafusion.privacy.detectors.SensitivityDetector`
resolves overlaps. Digits are matched as ``[0-9]`` on purpose: ``\d`` would also take other scripts' digits.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Sequence

Span = tuple[int, int]

__all__ = [
    "find_emails",
    "find_ibans",
    "find_ip_addresses",
    "find_payment_cards",
    "find_phones",
    "find_secrets",
    "find_us_ssns",
    "iban_is_valid",
    "luhn_is_valid",
]

# ---------------------------------------------------------------------------------------------------- e-mail

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])"
    r"[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24})"
    r"(?![A-Za-z0-9\-])"
)
# Asset names such as ``icon@2x.png`` have the shape of an address; no real top-level domain is a file type.
_FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp bmp ico tif tiff css js json xml yml yaml html htm txt csv pdf".split()
)


def find_emails(text: str) -> list[Span]:
    """E-mail addresses, except credentials in URLs (``scheme://user:pw@host``) and SSH remotes (``git@host:repo``)."""
    spans: list[Span] = []
    for match in _EMAIL.finditer(text):
        if match.group("tld").lower() in _FILE_EXTENSIONS:
            continue
        start, end = match.span()
        token_start = (
            max(text.rfind(" ", 0, start), text.rfind("\n", 0, start), text.rfind("\t", 0, start)) + 1
        )
        if "://" in text[token_start:start]:
            continue  # the userinfo of a URL, e.g. a token or password before '@host'
        if text[end : end + 1] == ":" and text[end + 1 : end + 2] not in ("", " ", "\n", "\t", "\r"):
            continue  # git@github.com:org/repo.git
        spans.append((start, end))
    return spans


# ---------------------------------------------------------------------------------------------------- phone

# Words that, just before a number, say it is a phone number, or that it is something else.
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|mobil|mob|cell|call|calls|called|fax|sms|text|whatsapp|signal|contact|"
    r"dial|hotline|helpdesk|switchboard|line|number|reach|ph|telefon|handy|rückruf|ruf|appelez|appeler|"
    r"téléphone|portable|standard|callback|caller id)\b[^0-9\n]{0,20}$"
)
_NON_PHONE_CONTEXT = re.compile(
    r"(?i)(?:\b(?:order|orders|ord|invoice|inv|po|ref|reference|ticket|case|id|isbn|issn|sku|part|pn|serial|"
    r"tracking|account|acct|iban|lot|build|version|ver|kernel|batch|run|zip|ean|upc|gtin|quote|item|nr|no|"
    r"timestamp|seed|rerun|row)\b[^0-9\n]{0,6}|#\s?)$"
)
_PHONE_SEPARATORS = frozenset(" -.()/\u00a0")
# libphonenumber keeps an extension in the match; the span is the number as dialled, the extension stays.
_PHONE_EXTENSION = re.compile(r"(?i)[\s,;]*(?:ext\.?|extension|x|#|poste|durchwahl|dw\.?)\s*[0-9]{1,6}$")


def _phone_in_context(text: str, start: int, end: int) -> bool:
    raw = text[start:end]
    if re.fullmatch(r"[0-9]+\.[0-9]+", raw):
        return False  # a decimal number (0.621371, 31000.00); dotted phone numbers have two dots or more
    before = text[start - 1 : start]
    after = text[end : end + 1]
    # A phone number is a token of its own, not a piece of ``ORD-2023-558812`` or ``5.15.0-1045``.
    if (
        before.isalnum()
        or before in ("_", "#")
        or (before in "-/." and before and text[start - 2 : start - 1].isalnum())
    ):
        return False
    if after.isalnum() or after == "_" or (after in "-/." and after and text[end + 1 : end + 2].isdigit()):
        return False
    window = text[max(0, start - 40) : start]
    if _PHONE_CONTEXT.search(window):
        return True
    if _NON_PHONE_CONTEXT.search(window):
        return False
    if raw.startswith("+") or raw.startswith("00"):
        return True  # international format is deliberate
    # A bare run of digits is far more often an id or an amount than a phone number; formatting says phone.
    return any(character in _PHONE_SEPARATORS for character in raw)


def find_phones(text: str, regions: Sequence[str]) -> list[Span]:
    """Phone numbers valid in one of ``regions`` (ISO 3166 codes) per libphonenumber, in a phone-like context.

    libphonenumber alone takes many ids for numbers (in Germany almost any digit run is dialable), so a match
    also needs international format, visible phone formatting or a phone word before it, and no id word.
    """
    if sum(character.isdigit() for character in text) < 6:
        return []
    import phonenumbers  # imported here: its metadata takes a noticeable moment to load

    spans: set[Span] = set()
    for region in regions:
        matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
        for match in matcher:
            extension = _PHONE_EXTENSION.search(match.raw_string)
            spans.add((match.start, match.end - (len(extension.group()) if extension else 0)))
    found = {span for span in spans if _phone_in_context(text, *span)}
    return sorted(found.union(_find_labelled_phones(text)))


# A number that libphonenumber does not validate (a short local number, a made-up area code) still is a phone
# number where the text says so right before it ("call me at", "Mobile:") or right after it ("office", "-Fax").
_LOOSE_PHONE = re.compile(
    r"(?<![0-9A-Za-z_+.,])(?:\+[0-9]{1,3}[ .\-]?|00[0-9]{1,3}[ .\-])?(?:\((?:0|[0-9]{1,4})\)[ .\-]?)?"
    r"[0-9]{2,12}(?:[ .\-][0-9]{2,5}){0,4}(?:[ ]?(?:x|ext\.?)[ ]?[0-9]{1,5})?(?![0-9A-Za-z_])"
)
_PHONE_BEFORE = re.compile(
    r"(?i)(?:\b(?:phone|tel|telephone|mobile|cell|fax|desk|office|home|work|sms|text|whatsapp|call|call me|"
    r"call me at|call me on|reach me at|reach me on|contact me at|contact number|phone number|number is|"
    r"messages to|answering at|registered|dial|hotline)\b[ :.]*\n?[ ]*|\b(?:at|on)\s+(?=\+))$"
)
_PHONE_AFTER = re.compile(r"(?i)^[ \-]*(?:\(?(?:office|fax|mobile|cell|home|work|desk|direct)\)?)\b")


def _find_labelled_phones(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in _LOOSE_PHONE.finditer(text):
        start, end = match.span()
        digits = sum(character.isdigit() for character in match.group())
        if not 6 <= digits <= 15:
            continue
        if _PHONE_BEFORE.search(text[max(0, start - 30) : start]) or _PHONE_AFTER.match(text[end : end + 12]):
            spans.append((start, end))
    return spans


# ---------------------------------------------------------------------------------------------------- cards

# Runs of digits with single, consistent spaces or dashes between groups; split into groups afterwards.
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z_])[0-9]+(?:[ \-][0-9]+)*(?![0-9A-Za-z_])")
_GROUP_SPLIT = re.compile(r"[ \-]")


def luhn_is_valid(digits: str) -> bool:
    """Whether an all-digit string passes the Luhn (mod 10) check."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = ord(character) - 48
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _plausible_card_prefix(digits: str) -> bool:
    """Whether the issuer prefix (IIN) and the length fit a card network that issues such numbers."""
    length = len(digits)
    two, three, four = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":  # Visa
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return length == 16
    if two in (34, 37):  # American Express
        return length == 15
    if 2200 <= four <= 2204:  # Mir
        return 16 <= length <= 19
    if four == 6011 or 644 <= three <= 649 or two == 65:  # Discover
        return length in (16, 19)
    if two == 35:  # JCB (3528-3589 today; the wider 35 range still circulates in test data and old cards)
        return 16 <= length <= 19
    if four in (2131, 1800):  # JCB's older 15-digit numbers
        return length == 15
    if 300 <= three <= 305 or four == 3095 or two in (36, 38, 39):  # Diners Club
        return 14 <= length <= 19
    if four == 604:  # Maestro's legacy 0604 range
        return 12 <= length <= 19
    if two == 50 or 56 <= two <= 69:  # Maestro (12 to 19 digits), UnionPay (62), RuPay (60, 65)
        return 12 <= length <= 19
    return False


def _card_group_shape_ok(groups: Sequence[str]) -> bool:
    if len(groups) == 1:
        return True
    lengths = tuple(len(group) for group in groups)
    if lengths in ((4, 6, 5), (4, 6, 4)):  # Amex, Diners
        return True
    return all(length == 4 for length in lengths[:-1]) and 1 <= lengths[-1] <= 4


def find_payment_cards(text: str) -> list[Span]:
    """Card numbers: 12-19 digits, optionally in groups, Luhn-valid, with a plausible network prefix and length."""
    spans: list[Span] = []
    for match in _DIGIT_RUN.finditer(text):
        run = match.group()
        if len(run) < 12:
            continue
        separators = _GROUP_SPLIT.findall(run)
        groups = _GROUP_SPLIT.split(run)
        offsets = [match.start()]
        for group in groups[:-1]:
            offsets.append(offsets[-1] + len(group) + 1)
        # The card may be a window of a longer run ("4111 1111 1111 1111 12/27", or a card followed by an SSN):
        # try each window of groups joined by one and the same separator.
        for first in range(len(groups)):
            digits = ""
            for last in range(first, len(groups)):
                if last > first and separators[last - 1] != separators[first]:
                    break
                digits += groups[last]
                if len(digits) > 19:
                    break
                if len(digits) < 12 or not _card_group_shape_ok(groups[first : last + 1]):
                    continue
                if len(digits) == 12 and (first > 0 or last < len(groups) - 1):
                    continue  # a 12-digit Maestro number stands alone, not as a window of a longer run
                if luhn_is_valid(digits) and _plausible_card_prefix(digits):
                    spans.append((offsets[first], offsets[last] + len(groups[last])))
    return spans


# ---------------------------------------------------------------------------------------------------- IBAN

# Registry lengths (SWIFT IBAN registry) of the countries most likely to appear in enterprise text.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31,
    "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?=[ ]?[A-Z0-9])")


def iban_is_valid(compact: str) -> bool:
    """Whether an IBAN without spaces has its country's length and a valid ISO 7064 mod-97 checksum."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isascii() or not compact.isalnum():
        return False
    if not 2 <= int(compact[2:4]) <= 98:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(character, 36)) for character in rearranged)) % 97 == 1


def find_ibans(text: str) -> list[Span]:
    """IBANs, compact or printed in groups separated by single spaces; upper case only, as printed by banks."""
    spans: list[Span] = []
    for match in _IBAN_START.finditer(text):
        expected = IBAN_LENGTHS.get(match.group()[:2])
        if expected is None:
            continue
        compact = [match.group()]
        count = 4
        position = match.end()
        while count < expected and position < len(text):
            character = text[position]
            if "A" <= character <= "Z" or "0" <= character <= "9":
                count += 1
                compact.append(character)
            elif not (character == " " and text[position - 1] != " "):
                break
            position += 1
        if count != expected or text[position : position + 1].isalnum():
            continue
        if iban_is_valid("".join(compact)):
            spans.append((match.start(), position))
    return spans


# ---------------------------------------------------------------------------------------------------- US SSN

_SSN = re.compile(
    r"(?<![0-9A-Za-z_\-])(?P<area>[0-9]{3})(?P<sep>[\- ])(?P<group>[0-9]{2})(?P=sep)(?P<serial>[0-9]{4})"
    r"(?![0-9A-Za-z_]|-[0-9])"
)


def find_us_ssns(text: str) -> list[Span]:
    """US Social Security numbers ``AAA-GG-SSSS`` (or with spaces), minus the ranges the SSA never issues."""
    spans: list[Span] = []
    for match in _SSN.finditer(text):
        area = match.group("area")
        if area in ("000", "666") or area.startswith("9"):
            continue
        if match.group("group") == "00" or match.group("serial") == "0000":
            continue
        spans.append(match.span())
    return spans


# ---------------------------------------------------------------------------------------------------- IP

_IPV4 = re.compile(r"(?<![0-9A-Za-z_.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9A-Za-z_]|\.[0-9])")
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"
    r"(?![0-9A-Za-z_:]|\.[0-9])"
)
# A dotted quad after one of these words is a version or a section number, not an address.
_VERSION_CONTEXT = re.compile(
    r"(?i)\b(?:v|ver|version|versions|build|release|rel|sdk|firmware|fw|rev|revision|patch|section|sec|"
    r"chapter|clause|item|step|figure|fig|table|§)\.?\s*$"
)


def find_ip_addresses(text: str) -> list[Span]:
    """IPv4 and IPv6 addresses validated by :mod:`ipaddress`; version strings and section numbers are skipped."""
    spans: list[Span] = []
    for match in _IPV4.finditer(text):
        start = match.start()
        if _VERSION_CONTEXT.search(text[max(0, start - 20) : start]):
            continue
        try:
            ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        spans.append(match.span())
    for match in _IPV6.finditer(text):
        candidate = match.group()
        # '::' alone and hex-only words such as 'Abc::Def' validate too; real addresses carry a digit.
        if candidate.strip(":") == "" or not any(character.isdigit() for character in candidate):
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        spans.append(match.span())
    return spans


# ---------------------------------------------------------------------------------------------------- secrets

# Token formats with a fixed, documented prefix: the whole match is the secret.
_TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    # OpenAI (sk-, sk-proj-...) and Anthropic (sk-ant-)
    re.compile(r"(?<![A-Za-z0-9_\-])sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe secret / restricted
    # AWS access key ids (long-term AKIA, temporary ASIA, and the other documented unique-id prefixes)
    re.compile(
        r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    ),
    re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])"),  # GitHub classic tokens
    re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}"),  # GitHub fine-grained tokens
    re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"),  # Google API keys
    re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"),  # JWT
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|(?:\s*[A-Za-z0-9+/=]{16,})*)"
)
_BEARER = re.compile(r"\bBearer\s+(?P<value>[A-Za-z0-9\-._~+/]{16,}=*)")
# ``password = "..."``, ``api_key: ...``, ``--password=...``: the key must END with a secret-like word, so
# ``max_tokens: 4096``, ``token_type: bearer`` or ``password_hash: ...`` do not match.
_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])[A-Za-z0-9_.\-]*?"
    r"(?:password|passwd|pwd|passphrase|secret|secret[_.\-]?key|api[_.\-]?key|apikey|access[_.\-]?key|"
    r"private[_.\-]?key|signing[_.\-]?key|encryption[_.\-]?key|token|credentials?)"
    r"[\"']?\s*(?:=>|=|:)\s*"
    r"(?:\"(?P<dq>[^\"\r\n]+)\"|'(?P<sq>[^'\r\n]+)'|(?P<bare>[^\s\"'`,;)}\]]+))"
)
# "my password is Hunter2024!" in chat or tickets.
_PROSE_PASSWORD = re.compile(
    r"(?i)\b(?:password|passphrase|passcode|pwd)\s+(?:is|was|=)\s*:?\s+[\"']?(?P<value>[^\s\"']+?)[\"']?(?=[.,;]?(?:\s|$))"
)
_URL_PASSWORD = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:(?P<value>[^\s/@]+)@")
# Values that stand for a secret rather than being one.
_PLACEHOLDER_MARKERS = (
    "your", "example", "xxxx", "placeholder", "redacted", "dummy", "changeme", "change_me", "replace", "<", ">",
    "${", "{{", "%(", "...", "***", "environ", "getenv", "process.env", "secrets.", "vault:", "null", "none",
)  # fmt: skip


def _shannon_bits_per_character(value: str) -> float:
    counts = Counter(value)
    return -sum(count / len(value) * math.log2(count / len(value)) for count in counts.values())


def _looks_like_secret_value(value: str, *, min_length: int) -> bool:
    """A concrete value of reasonable entropy, not a placeholder, an env reference or a plain word."""
    if len(value) < min_length:
        return False
    lowered = value.lower()
    if value.startswith("$") or any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return False
    classes = sum(
        (
            any(character.islower() for character in value),
            any(character.isupper() for character in value),
            any(character.isdigit() for character in value),
            any(not character.isalnum() for character in value),
        )
    )
    return classes >= 2 and _shannon_bits_per_character(value) >= 2.5


def _token_is_concrete(value: str) -> bool:
    lowered = value.lower()
    if any(marker in lowered for marker in ("your", "example", "xxxx", "placeholder", "redacted", "dummy")):
        return False
    return any(character.isdigit() for character in value) and any(character.isalpha() for character in value)


def find_secrets(text: str) -> list[Span]:
    """API keys and tokens of known formats, private key blocks, bearer tokens and secret-looking assignments."""
    spans: list[Span] = []
    for pattern in _TOKEN_PATTERNS:
        for match in pattern.finditer(text):
            if _token_is_concrete(match.group()):
                spans.append(match.span())
    spans.extend(match.span() for match in _PRIVATE_KEY.finditer(text))
    for match in _BEARER.finditer(text):
        if _looks_like_secret_value(match.group("value"), min_length=16):
            spans.append(match.span("value"))
    for match in _ASSIGNMENT.finditer(text):
        group = next(name for name in ("dq", "sq", "bare") if match.group(name) is not None)
        if _looks_like_secret_value(match.group(group), min_length=8):
            spans.append(match.span(group))
    for match in _PROSE_PASSWORD.finditer(text):
        if _looks_like_secret_value(match.group("value"), min_length=8):
            spans.append(match.span("value"))
    for match in _URL_PASSWORD.finditer(text):
        if _looks_like_secret_value(match.group("value"), min_length=6):
            spans.append(match.span("value"))
    return spans
