import re
from pathlib import Path

import pytest

from lib.config import (
    CONFIG_NAMES,
    DEMO_RECORDING_ROLE_ARN,
    ConfigError,
    RecordingStorage,
    S3Settings,
    load_settings,
    read_raw,
    recording_storage,
)

REAL = {"TAVUS_API_KEY": "tk-123", "S3_BUCKET": "photos"}


def test_no_settings_at_all_is_demo_mode_with_defaults() -> None:
    settings = load_settings(read_raw(None, {}))
    assert settings.demo_mode is True
    assert settings.tavus_api_key is None
    assert settings.presign_ttl_hours == 72
    assert settings.refresh_seconds == 15
    assert settings.simulator_training_seconds == 120.0
    assert settings.tavus_api_url == "https://tavusapi.com"


def test_a_key_and_a_bucket_is_real_mode() -> None:
    settings = load_settings(read_raw(None, REAL))
    assert settings.demo_mode is False
    assert settings.tavus_api_key == "tk-123"
    assert settings.s3 is not None and settings.s3.bucket == "photos"
    assert settings.s3.prefix == "replica-studio/"


def test_demo_mode_forced_even_with_a_key() -> None:
    settings = load_settings(read_raw(None, {**REAL, "DEMO_MODE": "1"}))
    assert settings.demo_mode is True
    assert settings.tavus_api_key is None


def test_secrets_win_over_environment_and_blank_secrets_do_not() -> None:
    raw = read_raw({"REFRESH_SECONDS": 30, "S3_REGION": "  "},
                   {"REFRESH_SECONDS": "5", "S3_REGION": "eu-west-1"})
    assert raw["REFRESH_SECONDS"] == "30"
    assert raw["S3_REGION"] == "eu-west-1"


@pytest.mark.parametrize("ttl", ["23", "169", "0", "-5", "abc", "72.5"])
def test_presign_ttl_outside_24_to_168_hours_is_refused(ttl: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"PRESIGN_TTL_HOURS": ttl})
    assert any("PRESIGN_TTL_HOURS" in p for p in caught.value.problems)


@pytest.mark.parametrize("ttl", ["24", "168", "72"])
def test_presign_ttl_inside_range_is_kept(ttl: str) -> None:
    assert load_settings({"PRESIGN_TTL_HOURS": ttl}).presign_ttl_hours == int(ttl)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"TAVUS_API_KEY": "k", "REFRESH_SECONDS": "1", "DEMO_MODE": "maybe",
                       "AWS_ACCESS_KEY_ID": "id-only", "TAVUS_API_URL": "tavusapi.com"})
    text = " ".join(caught.value.problems)
    for name in ("REFRESH_SECONDS", "DEMO_MODE", "S3_BUCKET", "AWS_SECRET_ACCESS_KEY",
                 "TAVUS_API_URL"):
        assert name in text


def test_secrets_never_appear_in_settings_repr_or_errors() -> None:
    settings = load_settings({**REAL, "AWS_ACCESS_KEY_ID": "AKIA1",
                              "AWS_SECRET_ACCESS_KEY": "very-secret-value",
                              "AWS_SESSION_TOKEN": "session-token-value"})
    text = repr(settings)
    for secret in ("tk-123", "very-secret-value", "session-token-value"):
        assert secret not in text
    assert settings.s3 is not None and settings.s3.temporary_credentials
    with pytest.raises(ConfigError) as caught:
        load_settings({"TAVUS_API_KEY": "tk-secret-999", "PRESIGN_TTL_HOURS": "1"})
    assert "tk-secret-999" not in str(caught.value)


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table_names = set(re.findall(r"^\| `([A-Z0-9_]+)`", readme, flags=re.MULTILINE))
    assert set(CONFIG_NAMES) <= table_names
    example = (Path(__file__).parent.parent / ".streamlit/secrets.toml.example").read_text()
    for name in CONFIG_NAMES:
        assert name in example


# --- Recording -----------------------------------------------------------------------------------
ROLE = "arn:aws:iam::123456789012:role/TavusRecording"


def test_without_a_role_recording_is_not_offered() -> None:
    settings = load_settings(REAL)
    assert settings.s3 is not None
    assert recording_storage(settings, settings.s3) is None


def test_a_role_offers_recording_into_the_team_bucket_and_region() -> None:
    settings = load_settings({**REAL, "S3_REGION": "eu-north-1", "RECORDING_ROLE_ARN": ROLE,
                              "RECORDING_EXTERNAL_ID": "tavus"})
    assert settings.s3 is not None
    assert recording_storage(settings, settings.s3) == RecordingStorage(
        bucket_name="photos", bucket_region="eu-north-1", assume_role_arn=ROLE, external_id="tavus")


def test_demo_mode_always_offers_recording_with_a_placeholder_role() -> None:
    settings = load_settings({})
    demo_s3 = S3Settings(bucket="replica-studio-demo", region="us-east-1")
    storage = recording_storage(settings, demo_s3)
    assert storage == RecordingStorage("replica-studio-demo", "us-east-1", DEMO_RECORDING_ROLE_ARN)
    # The placeholder passes the same check a real role must.
    assert load_settings({"RECORDING_ROLE_ARN": DEMO_RECORDING_ROLE_ARN}).recording_role_arn


@pytest.mark.parametrize("arn", [
    ROLE,
    "arn:aws:iam::123456789012:role/service-role/Tavus.Writer@team",
])
def test_role_arns_in_iams_form_are_kept(arn: str) -> None:
    assert load_settings({**REAL, "RECORDING_ROLE_ARN": arn}).recording_role_arn == arn


@pytest.mark.parametrize("arn", [
    "TavusRecording",
    "arn:aws:iam::12345:role/TavusRecording",  # the account id has 12 digits
    "arn:aws:iam::123456789012:user/jane",  # a user, not a role
    "arn:aws:s3:::photos",
    "arn:aws:iam::123456789012:role/",
    "arn:aws:iam::123456789012:role/Tävus",
])
def test_anything_else_as_role_arn_is_refused_by_name(arn: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**REAL, "RECORDING_ROLE_ARN": arn})
    assert any("RECORDING_ROLE_ARN" in p and "arn:aws:iam::" in p for p in caught.value.problems)


def test_an_external_id_needs_a_role_and_a_valid_form() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**REAL, "RECORDING_EXTERNAL_ID": "tavus"})
    assert any("RECORDING_ROLE_ARN" in p for p in caught.value.problems)
    with pytest.raises(ConfigError) as caught:
        load_settings({**REAL, "RECORDING_ROLE_ARN": ROLE, "RECORDING_EXTERNAL_ID": "has space"})
    assert any("RECORDING_EXTERNAL_ID" in p for p in caught.value.problems)


@pytest.mark.parametrize(("name", "default"), [("SIMULATOR_TRAINING_SECONDS", 120.0),
                                               ("SIMULATOR_DOCUMENT_SECONDS", 8.0)])
@pytest.mark.parametrize(("value", "kept"), [("3", 3.0), ("0.5", 0.5), ("21600", 21600.0)])
def test_demo_durations_in_range_are_kept(name: str, default: float, value: str,
                                          kept: float) -> None:
    settings = load_settings({name: value})
    field = name.lower().removeprefix("simulator_").replace("_seconds", "")
    assert getattr(settings, f"simulator_{field}_seconds") == kept


@pytest.mark.parametrize("name", ["SIMULATOR_TRAINING_SECONDS", "SIMULATOR_DOCUMENT_SECONDS"])
@pytest.mark.parametrize("value", ["0", "-2", "soon", "nan", "99999"])
def test_demo_durations_out_of_range_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({name: value})
    assert any(name in problem and "above 0" in problem for problem in refused.value.problems)
