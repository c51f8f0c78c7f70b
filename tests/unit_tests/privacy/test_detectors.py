from __future__ import annotations

import pytest

from langchain_emafusion.privacy import (
    BUILTIN_KINDS,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    PAYMENT_CARD,
    PHONE,
    SECRET,
    US_SSN,
    Detection,
    PrivacyConfigError,
    SensitivityDetector,
)
from langchain_emafusion.privacy._finders import iban_is_valid, luhn_is_valid

DETECTOR = SensitivityDetector()


def found(text: str, detector: SensitivityDetector = DETECTOR) -> list[tuple[str, str]]:
    return [(d.kind, d.value) for d in detector.detect(text)]


POSITIVES = [
    (EMAIL, "Contact anna.schmidt@firma-beispiel.de today", "anna.schmidt@firma-beispiel.de"),
    (EMAIL, "fixture user test@example.com", "test@example.com"),
    (PHONE, "Call +1 (212) 555-0187 please", "+1 (212) 555-0187"),
    (PHONE, "Tel: 089 2180 1234", "089 2180 1234"),
    (PHONE, "Rappelez-moi au 01 44 55 66 77", "01 44 55 66 77"),
    (PHONE, "mobile 07700 900461", "07700 900461"),
    (PAYMENT_CARD, "card 4000 0000 0000 0002 expired", "4000 0000 0000 0002"),
    (PAYMENT_CARD, "amex 378734493671000", "378734493671000"),
    (IBAN, "IBAN GB33BUKB20201555555555 please", "GB33BUKB20201555555555"),
    (IBAN, "auf DE75 5121 0800 1245 1261 99 bitte", "DE75 5121 0800 1245 1261 99"),
    (US_SSN, "ssn 219-09-9999 on file", "219-09-9999"),
    (IP_ADDRESS, "from 192.0.2.200 port 22", "192.0.2.200"),
    (IP_ADDRESS, "v6 2001:db8::ff00:42:8329 up", "2001:db8::ff00:42:8329"),
    (
        SECRET,
        "key sk-ant-api03-AbCdEf0123456789GhIjKl0123456789 leaked",
        "sk-ant-api03-AbCdEf0123456789GhIjKl0123456789",
    ),
    (SECRET, "OPENAI_API_KEY=sk-9Xb2Lq7Zt4Wv1Mn8Pr3Ks6Jd", "sk-9Xb2Lq7Zt4Wv1Mn8Pr3Ks6Jd"),
    (SECRET, "id AKIAZ7Q3M9X2L5T8W1PB in env", "AKIAZ7Q3M9X2L5T8W1PB"),
    (SECRET, "token ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 ok", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    (SECRET, "xoxp-99887766-11223344-aa11bb22cc33dd44", "xoxp-99887766-11223344-aa11bb22cc33dd44"),
    (SECRET, "maps key AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    (SECRET, "Authorization: Bearer 7fA9kQ2mX8vL4pR1wZ6nB3cY5tH0", "7fA9kQ2mX8vL4pR1wZ6nB3cY5tH0"),
    (SECRET, 'config = {"password": "G7v#pQ2!xLm9"}', "G7v#pQ2!xLm9"),
    (SECRET, "my password is Zebra-42-Quilt, keep it", "Zebra-42-Quilt"),
]


@pytest.mark.parametrize(("kind", "text", "value"), POSITIVES)
def test_builtin_kinds_find_their_values(kind: str, text: str, value: str) -> None:
    assert found(text) == [(kind, value)]


NEAR_MISSES = [
    "Luhn-invalid 4000 0000 0000 0003 in the form",
    "IIN 9 is not a network: 9000 0000 0000 0008",
    "order 7012345678 shipped, invoice INV-88-2024",
    "year 2024, amount 12,345.67 EUR, ticket #558812",
    "ISBN 978-1-4028-9462-6 and SKU 300-4400-129",
    "SSN-like 900-12-3456, 666-01-2345, 123-00-4567, 123-45-0000",
    "IBAN with bad checksum GB34BUKB20201555555555",
    "version 10.2.3.4.5 and v1.2.3 and release 10.0; build 4.1.0.2",
    "invalid 300.1.2.3 and 1.2.3",
    "time 12:30:45 and MAC 00:1B:44:11:3A:B7",
    "prose about sk-learn and the sk- prefix",
    "OPENAI_API_KEY=YOUR_API_KEY and api_key: <your-key>",
    "password: ${DB_PASSWORD} and token_type: bearer and max_tokens: 2048",
    "npm i lodash@4.17.21, icon@2x.png, @mention",
    "Bearer authentication per RFC 6750",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_do_not_fire(text: str) -> None:
    assert found(text) == []


def test_luhn_and_iban_validators() -> None:
    assert luhn_is_valid("4111111111111111") and not luhn_is_valid("4111111111111112")
    assert iban_is_valid("DE89370400440532013000") and not iban_is_valid("DE89370400440532013001")
    assert not iban_is_valid("DE8937040044053201300")  # one character short for DE


def test_private_key_block_is_one_span() -> None:
    block = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----"
    assert found(f"key:\n{block}\nend") == [(SECRET, block)]


def test_jwt_inside_bearer_is_reported_once() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhYmMxMjMifQ.c2lnbmF0dXJlMTIzNDU2"
    assert found(f"Authorization: Bearer {jwt}") == [(SECRET, jwt)]


def test_detections_are_sorted_non_overlapping_and_exact() -> None:
    text = "a@b.io then 4111 1111 1111 1111 then 10.0.0.1 then a@b.io"
    detections = DETECTOR.detect(text)
    assert [d.start for d in detections] == sorted(d.start for d in detections)
    for left, right in zip(detections, detections[1:], strict=False):
        assert left.end <= right.start
    assert all(text[d.start : d.end] == d.value for d in detections)
    assert [d.kind for d in detections] == [EMAIL, PAYMENT_CARD, IP_ADDRESS, EMAIL]


def test_overlap_longest_wins_then_user_kind_beats_builtin() -> None:
    detector = SensitivityDetector(
        custom_patterns={"card_ref": r"4111 1111", "whole_card": r"4111 1111 1111 1111"},
    )
    # The built-in card and "whole_card" have the same span: the user-defined kind wins the tie;
    # "card_ref" is shorter and overlaps, so it loses.
    assert found("pay with 4111 1111 1111 1111", detector) == [("whole_card", "4111 1111 1111 1111")]
    longer = SensitivityDetector(custom_patterns={"order": r"ORDER-[0-9]+-10\.0\.0\.1"})
    assert found("see ORDER-7-10.0.0.1", longer) == [("order", "ORDER-7-10.0.0.1")]
    assert found("see ORDER-7-10.0.0.1") == [(IP_ADDRESS, "10.0.0.1")]


def test_custom_pattern_value_group_and_keywords() -> None:
    detector = SensitivityDetector(
        custom_patterns={"employee_id": r"employee (?P<value>E[0-9]{6})"},
        keywords={"codename": ["Project Falcon", "Bluebird"]},
    )
    text = "employee E123456 works on PROJECT   falcon, not bluebirds or Bluebird."
    assert found(text, detector) == [
        ("employee_id", "E123456"),
        ("codename", "PROJECT   falcon"),
        ("codename", "Bluebird"),
    ]
    assert detector.kinds == (*BUILTIN_KINDS, "employee_id", "codename")


def test_enabled_kinds_switch_builtins_off() -> None:
    only_email = SensitivityDetector(enabled_kinds=[EMAIL])
    assert found("a@b.io 10.0.0.1 4111111111111111", only_email) == [(EMAIL, "a@b.io")]
    assert SensitivityDetector(enabled_kinds=[]).detect("a@b.io") == []


def test_phone_regions_change_national_formats() -> None:
    french = "appelez le 01 44 55 66 77"
    assert found(french) == [(PHONE, "01 44 55 66 77")]
    assert found(french, SensitivityDetector(phone_regions=["US"])) == []
    # International numbers are recognised whatever the regions.
    assert found("call +33 1 44 55 66 77", SensitivityDetector(phone_regions=["us"])) == [
        (PHONE, "+33 1 44 55 66 77")
    ]


@pytest.mark.parametrize(
    ("kwargs", "message_part"),
    [
        ({"custom_patterns": {"ticket": "TICK-[0-9"}}, "TICK-[0-9"),
        ({"custom_patterns": {"ticket": "[0-9]*"}}, "matches the empty string"),
        ({"custom_patterns": {"ticket": ""}}, "non-empty"),
        ({"custom_patterns": {"Bad Kind": "x"}}, "Bad Kind"),
        ({"custom_patterns": {"email": "x+"}}, "built-in kind"),
        ({"keywords": {"codename": []}}, "empty"),
        ({"keywords": {"codename": "Falcon"}}, "list of strings"),
        ({"keywords": {"codename": ["ok", "  "]}}, "non-empty string"),
        ({"enabled_kinds": ["email", "passport"]}, "passport"),
        ({"enabled_kinds": "email"}, "string"),
        ({"phone_regions": ["US", "XX"]}, "XX"),
    ],
)
def test_bad_configuration_raises_a_typed_error_naming_the_culprit(kwargs: dict, message_part: str) -> None:
    with pytest.raises(PrivacyConfigError, match=None) as caught:
        SensitivityDetector(**kwargs)
    assert message_part in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_detection_is_frozen() -> None:
    detection = Detection(EMAIL, 0, 6, "a@b.io")
    with pytest.raises(AttributeError):
        detection.value = "x"  # type: ignore[misc]


def test_a_text_seen_again_is_not_scanned_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_emafusion.privacy import detectors

    detector = SensitivityDetector(enabled_kinds=["email"])
    scans: list[str] = []
    real = detector._detect  # noqa: SLF001 - counting the scans under the cache
    monkeypatch.setattr(detector, "_detect", lambda text: scans.append(text) or real(text))
    first = detector.detect("mail ann@acme.com")
    again = detector.detect("mail ann@acme.com")
    assert first == again == [Detection("email", 5, 17, "ann@acme.com")] and scans == ["mail ann@acme.com"]
    again.clear()  # callers get their own list
    assert detector.detect("mail ann@acme.com") == first
    monkeypatch.setattr(detectors, "DETECTION_CACHE_SIZE", 2)
    for text in ("a", "b", "c"):
        detector.detect(text)
    detector.detect("mail ann@acme.com")  # dropped as least recently used
    assert scans.count("mail ann@acme.com") == 2
