from __future__ import annotations

import pydantic
import pytest
import yaml

from langchain_emafusion.privacy import PrivacyConfigError, PrivacyPolicy


def test_default_policy_redacts_and_never_gives_public_members_raw_sensitive_text() -> None:
    policy = PrivacyPolicy()
    assert policy.mode == "redact"
    assert policy.access_for(private=False, sensitive=True) == "redacted"
    assert policy.access_for(private=True, sensitive=True) == "raw"
    assert policy.access_for(private=False, sensitive=False) == "raw"


def test_private_only_forbids_public_members_and_allow_allows() -> None:
    private_only = PrivacyPolicy(mode="private_only")
    assert private_only.access_for(private=False, sensitive=True) == "forbidden"
    assert private_only.access_for(private=True, sensitive=True) == "raw"
    assert private_only.access_for(private=False, sensitive=False) == "raw"
    assert PrivacyPolicy(mode="allow").access_for(private=False, sensitive=True) == "raw"


def test_from_yaml_config_and_back() -> None:
    config = yaml.safe_load(
        """
        mode: private_only
        enabled_kinds: [email, secret]
        phone_regions: [us, de]
        custom_patterns:
          employee_id: 'EMP-[0-9]{6}'
        keywords:
          codename: [Project Falcon]
        """
    )
    policy = PrivacyPolicy.from_config(config)
    assert policy.phone_regions == ("US", "DE")
    assert [(d.kind, d.value) for d in policy.detect("EMP-123456 on project falcon, 10.0.0.1, a@b.io")] == [
        ("employee_id", "EMP-123456"),
        ("codename", "project falcon"),
        ("email", "a@b.io"),
    ]
    assert PrivacyPolicy.from_config(yaml.safe_load(yaml.safe_dump(policy.to_config()))) == policy
    assert PrivacyPolicy.from_config(None) == PrivacyPolicy()


def test_detector_is_cached_per_configuration_and_redactor_is_fresh() -> None:
    policy = PrivacyPolicy(keywords={"codename": ["Falcon"]})
    assert policy.detector() is policy.detector()
    assert PrivacyPolicy(keywords={"codename": ["Falcon"]}).detector() is policy.detector()
    assert PrivacyPolicy().detector() is not policy.detector()
    first, second = policy.redactor(), policy.redactor()
    first.redact("Falcon")
    assert second.mapping == {} and first.mapping == {"[CODENAME_1]": "Falcon"}


@pytest.mark.parametrize(
    ("config", "message_part"),
    [
        ({"mode": "paranoid"}, "mode"),
        ({"custom_patterns": {"ticket": "T-[0-9"}}, "T-[0-9"),
        ({"keywords": {"codename": []}}, "empty"),
        ({"enabled_kinds": ["passport"]}, "passport"),
        ({"phone_regions": ["ZZ"]}, "ZZ"),
        ({"redaction": "on"}, "redaction"),
    ],
)
def test_bad_config_gives_a_typed_error_naming_the_field(config: dict, message_part: str) -> None:
    with pytest.raises(PrivacyConfigError) as caught:
        PrivacyPolicy.from_config(config)
    assert message_part in str(caught.value)


def test_from_config_rejects_non_mappings_and_direct_construction_validates() -> None:
    with pytest.raises(PrivacyConfigError, match="mapping"):
        PrivacyPolicy.from_config(["redact"])  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="invalid regular expression"):
        PrivacyPolicy(custom_patterns={"ticket": "("})
