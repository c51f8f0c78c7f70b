"""Privacy building blocks: detect sensitive values, redact and restore them, decide who may see what, audit it.

- :class:`SensitivityDetector` finds e-mails, phone numbers, payment cards, IBANs, US SSNs, IP addresses,
  secrets, and user-defined patterns and keywords;
- :class:`Redactor` replaces them with stable per-request placeholders and restores the model's answer;
- :class:`PrivacyPolicy` holds the configuration and the mode (``redact``, ``private_only``, ``allow``);
- :class:`AuditLog` writes one JSON line per member call, never the values themselves.

Precision/recall on the bundled labelled set: ``python benchmarks/privacy.py``
(:mod:`langchain_emafusion.privacy.evaluation`). Importing this package loads neither phonenumbers nor
LangChain messages; they are loaded on first use.
"""

from langchain_emafusion.privacy.audit import AuditLog, AuditRecord, read_audit_log
from langchain_emafusion.privacy.detectors import (
    BUILTIN_KINDS,
    DEFAULT_PHONE_REGIONS,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    PAYMENT_CARD,
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
    "BUILTIN_KINDS",
    "DEFAULT_PHONE_REGIONS",
    "EMAIL",
    "IBAN",
    "IP_ADDRESS",
    "PAYMENT_CARD",
    "PHONE",
    "SECRET",
    "US_SSN",
    "AuditLog",
    "AuditLogError",
    "AuditRecord",
    "Detection",
    "MemberAccess",
    "PrivacyConfigError",
    "PrivacyMode",
    "PrivacyPolicy",
    "Redactor",
    "SensitivityDetector",
    "StreamRestorer",
    "iter_restored",
    "read_audit_log",
]
