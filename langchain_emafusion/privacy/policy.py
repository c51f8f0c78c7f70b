"""The privacy policy: what may leave the building, and how sensitive requests are treated.

Modes (``PrivacyPolicy.mode``):

- ``"redact"`` (default): private members (``private=True``: local or self-hosted) see the raw text; public
  members see the text with every detected value replaced by a placeholder, and their answer is restored before
  the caller sees it. No detected value reaches a public member.
- ``"private_only"``: a request (or subtask) in which anything was detected may only go to private members; if
  none is eligible the request fails with a typed error, it never silently falls back to a public member.
- ``"allow"``: nothing changes, every member sees the raw text; detections are still recorded in the audit log.

A request with no detection is sent unchanged to any member whatever the mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from langchain_emafusion.privacy.detectors import (
    DEFAULT_PHONE_REGIONS,
    Detection,
    SensitivityDetector,
    validate_phone_regions,
)
from langchain_emafusion.privacy.errors import PrivacyConfigError
from langchain_emafusion.privacy.redaction import Redactor

__all__ = ["MemberAccess", "PrivacyMode", "PrivacyPolicy"]

PrivacyMode = Literal["redact", "private_only", "allow"]
MemberAccess = Literal["raw", "redacted", "forbidden"]
"""What one member may see of one request: the raw text, the redacted text, or nothing at all."""

_DetectorKey = tuple[
    tuple[str, ...] | None,
    tuple[tuple[str, str], ...],
    tuple[tuple[str, tuple[str, ...]], ...],
    tuple[str, ...],
    bool,
    tuple[str, ...],
]


@lru_cache(maxsize=64)
def _cached_detector(key: _DetectorKey) -> SensitivityDetector:
    enabled_kinds, custom_patterns, keywords, phone_regions, ner, keyword_packs = key
    return SensitivityDetector(
        enabled_kinds=enabled_kinds,
        custom_patterns=dict(custom_patterns),
        keywords=dict(keywords),
        phone_regions=phone_regions,
        use_ner=ner,
        keyword_packs=keyword_packs,
    )


class PrivacyPolicy(BaseModel):
    """How a fusion model treats requests that contain sensitive values (see the module notes for the modes).

    Build it in Python (``PrivacyPolicy(mode="private_only", keywords={"codename": ["Falcon"]})``, which raises a
    pydantic ``ValidationError`` on bad input) or from a YAML mapping with :meth:`from_config` (which raises
    :class:`PrivacyConfigError`)::

        privacy:
          mode: redact
          enabled_kinds: [email, phone, payment_card, iban, us_ssn, ip_address, secret, person, address,
                          date_of_birth]
          phone_regions: [US, GB, DE, FR]
          ner: true              # person names via spaCy (the privacy-ner extra); false: rules only
          keyword_packs: [health]
          custom_patterns:
            employee_id: 'EMP-[0-9]{6}'
          keywords:
            codename: [Project Falcon, Bluebird]
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: PrivacyMode = "redact"
    enabled_kinds: tuple[str, ...] | None = Field(
        default=None, description="Built-in detector kinds to run; None runs them all."
    )
    custom_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="Kind name -> regular expression (a named group 'value' marks the value).",
    )
    keywords: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Kind name -> words or phrases, matched case-insensitively as whole words.",
    )
    phone_regions: tuple[str, ...] = Field(
        default=DEFAULT_PHONE_REGIONS,
        description="ISO 3166-1 regions whose national phone formats are recognised.",
    )
    ner: bool = Field(
        default=True,
        description=(
            "Run the NER backend (spaCy, extra 'privacy-ner') for person names and to extend addresses; loaded on "
            "first use, a warning once if not installed. False: rule-based finders only."
        ),
    )
    keyword_packs: tuple[str, ...] = Field(
        default=(),
        description="Curated keyword lists to switch on, each reported as its own kind: 'health'.",
    )

    @field_validator("phone_regions", mode="before")
    @classmethod
    def _normalise_regions(cls, value: Any) -> Any:
        return validate_phone_regions(value)

    @model_validator(mode="after")
    def _check_detector_config(self) -> PrivacyPolicy:
        self.detector()  # builds (and caches) the detector: bad patterns, kinds or keywords fail here
        return self

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> PrivacyPolicy:
        """Build a policy from a mapping such as the ``privacy:`` section of a pool YAML file.

        Args:
            config: The mapping; ``None`` or an empty mapping gives the default policy (``mode="redact"``).

        Raises:
            PrivacyConfigError: The mapping is not a mapping, has unknown keys or bad values; the message names
                each offending field.
        """
        if config is None:
            return cls()
        if not isinstance(config, Mapping):
            raise PrivacyConfigError(f"privacy: expected a mapping, got {type(config).__name__}")
        try:
            return cls.model_validate(dict(config))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or 'privacy'}: {problem['msg']}"
                for problem in error.errors(include_url=False)
            )
            raise PrivacyConfigError(f"invalid privacy policy: {problems}") from None

    def to_config(self) -> dict[str, Any]:
        """The policy as a plain mapping (lists, not tuples) that :meth:`from_config` reads back, for YAML."""
        return self.model_dump(mode="json")

    def detector(self) -> SensitivityDetector:
        """The detector this policy configures; built once per distinct configuration and shared."""
        key: _DetectorKey = (
            self.enabled_kinds,
            tuple(self.custom_patterns.items()),
            tuple(self.keywords.items()),
            self.phone_regions,
            self.ner,
            self.keyword_packs,
        )
        return _cached_detector(key)

    def detect(self, text: str) -> list[Detection]:
        """Shortcut for ``self.detector().detect(text)``."""
        return self.detector().detect(text)

    def redactor(self) -> Redactor:
        """A fresh redactor for one request (placeholders are numbered per request)."""
        return Redactor(self.detector())

    def access_for(self, *, private: bool, sensitive: bool) -> MemberAccess:
        """What a member may see of a request under this policy.

        Args:
            private: Whether the member is private (local or self-hosted).
            sensitive: Whether anything was detected in the request (or subtask).

        Returns:
            ``"raw"``, ``"redacted"`` (send the redacted text and restore the answer) or ``"forbidden"`` (do not
            send it to this member at all).
        """
        if not sensitive or private or self.mode == "allow":
            return "raw"
        return "redacted" if self.mode == "redact" else "forbidden"
