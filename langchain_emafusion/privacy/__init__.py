"""Privacy building blocks: detect sensitive values, redact and restore them, decide who may see what, audit it.

- :class:`SensitivityDetector` finds e-mails, phone numbers, payment cards, IBANs, US SSNs, IP addresses,
  secrets, person names (NER backend, extra ``privacy-ner``), street addresses, dates of birth, keyword packs
  (``health``), and user-defined patterns and keywords;
- :class:`Redactor` replaces them with stable per-request placeholders and restores the model's answer;
- :class:`PrivacyPolicy` holds the configuration and the mode (``redact``, ``private_only``, ``allow``);
- :class:`AuditLog` writes one JSON line per member call (and one per routed request, the savings ledger's
  :class:`RequestRecord`), never the values themselves.

Recall/precision on presidio-evaluator templates filled by Faker: ``python benchmarks/privacy_ner.py``;
regression figures on the bundled, self-written set: ``python benchmarks/privacy.py``. Importing this package
loads neither phonenumbers, spaCy nor LangChain messages; they are loaded on first use.
"""

from langchain_emafusion.privacy.audit import (
    AuditLog,
    AuditRecord,
    MemberEstimate,
    RequestRecord,
    read_audit_log,
)
from langchain_emafusion.privacy.detectors import (
    ADDRESS,
    BUILTIN_KINDS,
    DATE_OF_BIRTH,
    DEFAULT_PHONE_REGIONS,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    KEYWORD_PACKS,
    PAYMENT_CARD,
    PERSON,
    PHONE,
    SECRET,
    US_SSN,
    Detection,
    SensitivityDetector,
)
from langchain_emafusion.privacy.errors import AuditLogError, PrivacyConfigError
from langchain_emafusion.privacy.policy import MemberAccess, PrivacyMode, PrivacyPolicy
from langchain_emafusion.privacy.redaction import Redactor, StreamRestorer, iter_restored

__all__ = [
    "ADDRESS",
    "BUILTIN_KINDS",
    "DATE_OF_BIRTH",
    "DEFAULT_PHONE_REGIONS",
    "EMAIL",
    "IBAN",
    "IP_ADDRESS",
    "KEYWORD_PACKS",
    "PAYMENT_CARD",
    "PERSON",
    "PHONE",
    "SECRET",
    "US_SSN",
    "AuditLog",
    "AuditLogError",
    "AuditRecord",
    "Detection",
    "MemberAccess",
    "MemberEstimate",
    "PrivacyConfigError",
    "PrivacyMode",
    "PrivacyPolicy",
    "Redactor",
    "RequestRecord",
    "SensitivityDetector",
    "StreamRestorer",
    "iter_restored",
    "read_audit_log",
]
