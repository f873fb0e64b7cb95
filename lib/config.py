"""Configuration: every setting's name, default and rule, in one place.

Values come from Streamlit secrets when a secrets file exists, else from the environment.
This module does not import Streamlit: `lib/ui` hands it the secrets as a plain mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.access import parse_list

# Name -> one-line description. The README's configuration table documents the same names
# (a test checks that every name here appears there).
CONFIG_NAMES: dict[str, str] = {
    "TAVUS_API_KEY": "Tavus API key. Absent: demo mode.",
    "TAVUS_API_URL": "Tavus base URL, without /v2.",
    "S3_BUCKET": "Bucket that holds the training photos.",
    "S3_REGION": "Region of the bucket.",
    "S3_ENDPOINT_URL": "Custom S3 endpoint (R2, MinIO, a local server).",
    "S3_PREFIX": "Key prefix for uploaded photos.",
    "AWS_ACCESS_KEY_ID": "Access key id for S3.",
    "AWS_SECRET_ACCESS_KEY": "Secret key for S3.",
    "AWS_SESSION_TOKEN": "Session token when the AWS credentials are temporary.",
    "PRESIGN_TTL_HOURS": "Lifetime of the training-photo URL given to Tavus, 24-168 hours.",
    "REFRESH_SECONDS": "Replica table auto-refresh interval.",
    "DEMO_MODE": "1 forces demo mode even with a key.",
    "SIMULATOR_TRAINING_SECONDS": "Demo mode: how long a simulated training takes.",
    "SIMULATOR_DOCUMENT_SECONDS": "Demo mode: how long a knowledge-base document takes to process.",
    "SIMULATOR_PORT": "Demo mode: fixed loopback port for the Tavus simulator (0 = any free port).",
    "DEMO_S3_PORT": "Demo mode: fixed loopback port for the local S3 server (0 = any free port).",
    "ALLOWED_EMAILS": "With st.login: e-mail addresses allowed in (comma-separated).",
    "ALLOWED_DOMAINS": "With st.login: e-mail domains allowed in (comma-separated).",
    "PRIVATE_APP": "1 when Community Cloud's viewer allow-list protects the app.",
    "RECORDING_ROLE_ARN": "IAM role Tavus assumes to write recordings to S3_BUCKET; set: offered.",
    "RECORDING_EXTERNAL_ID": "ExternalId the recording role's trust policy requires, if any.",
}

DEFAULT_TAVUS_API_URL = "https://tavusapi.com"
DEFAULT_S3_REGION = "us-east-1"
DEFAULT_S3_PREFIX = "replica-studio/"
DEFAULT_PRESIGN_TTL_HOURS = 72
# Tavus downloads the photo for up to 24 h after the create call; SigV4 URLs live at most 7 days.
MIN_PRESIGN_TTL_HOURS = 24
MAX_PRESIGN_TTL_HOURS = 168
DEFAULT_REFRESH_SECONDS = 15
MIN_REFRESH_SECONDS = 2
MAX_REFRESH_SECONDS = 600
DEFAULT_SIMULATOR_TRAINING_SECONDS = 120.0
DEFAULT_SIMULATOR_DOCUMENT_SECONDS = 8.0
MAX_SIMULATED_SECONDS = 6 * 3600


def _simulated_seconds(raw: Mapping[str, str], name: str, default: float,
                       problems: list[str]) -> float:
    """A demo-mode duration: seconds above 0, at most six hours."""
    text = raw.get(name)
    if text is None:
        return default
    try:
        value = float(text)
        if not 0 < value <= MAX_SIMULATED_SECONDS:  # also refuses NaN
            raise ValueError
    except ValueError:
        problems.append(f"{name} must be a number of seconds above 0 and at most "
                        f"{MAX_SIMULATED_SECONDS}; got {text!r}.")
        return default
    return value
# Demo mode always offers recording: the simulator writes to the demo bucket and assumes nothing,
# so the role is a placeholder in the reserved-looking account 000000000000.
DEMO_RECORDING_ROLE_ARN = "arn:aws:iam::000000000000:role/demo-recording"
# IAM's own rules: a 12-digit account, then role/[path/]name of [\w+=,.@-] (name up to 64).
_ROLE_ARN_RE = re.compile(r"arn:aws:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}",
                          re.ASCII)
# sts:AssumeRole's ExternalId: 2-1224 characters of [\w+=,.@:/-].
_EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """One or more settings are invalid; `problems` holds one sentence per setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid configuration: " + " ".join(problems))


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    region: str = DEFAULT_S3_REGION
    endpoint_url: str | None = None
    prefix: str = DEFAULT_S3_PREFIX
    access_key_id: str | None = None
    # repr=False: settings objects end up in logs and error reports; secrets must not.
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @property
    def temporary_credentials(self) -> bool:
        return bool(self.session_token)


@dataclass(frozen=True)
class Settings:
    demo_mode: bool
    tavus_api_url: str
    tavus_api_key: str | None = field(repr=False)
    s3: S3Settings | None  # None in demo mode: the local S3 server supplies its own
    presign_ttl_hours: int
    refresh_seconds: int
    simulator_training_seconds: float
    simulator_port: int
    # Seconds, not Tavus's "few minutes": long enough to see "processing", short to wait out.
    simulator_document_seconds: float = 8.0
    demo_s3_port: int = 0
    allowed_emails: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()
    private_app: bool = False
    recording_role_arn: str | None = None  # the real role; None: recording not offered
    recording_external_id: str | None = None


@dataclass(frozen=True)
class RecordingStorage:
    """Where Tavus puts a conversation's recording: identifiers only, never a credential
    (Tavus assumes the role; the bucket owner's trust policy decides whether it may)."""

    bucket_name: str
    bucket_region: str
    assume_role_arn: str
    external_id: str | None = None


def recording_storage(settings: Settings, s3: S3Settings) -> RecordingStorage | None:
    """Recording settings for the team bucket `s3`, or None when recording is not offered.

    `s3` is passed in because demo mode has no S3 settings of its own: the local server's come
    from lib.demo. The bucket is always the team bucket, never a separate one.
    """
    if settings.demo_mode:
        return RecordingStorage(s3.bucket, s3.region, DEMO_RECORDING_ROLE_ARN)
    if not settings.recording_role_arn:
        return None
    return RecordingStorage(s3.bucket, s3.region, settings.recording_role_arn,
                            settings.recording_external_id)


def read_raw(secrets: Mapping[str, Any] | None, environ: Mapping[str, str]) -> dict[str, str]:
    """Merge the sources for every known name: secrets win over the environment.

    Blank values count as unset, so an empty line in secrets.toml does not override a default.
    """
    raw: dict[str, str] = {}
    for name in CONFIG_NAMES:
        value: Any = None
        if secrets is not None and name in secrets:
            value = secrets[name]
        if isinstance(value, list | tuple):  # a TOML array, e.g. ALLOWED_EMAILS = ["a@x.com"]
            value = ",".join(str(item) for item in value)
        if value is None or str(value).strip() == "":
            value = environ.get(name)
        if value is not None and str(value).strip() != "":
            raw[name] = str(value).strip()
    return raw


def _int_in_range(raw: Mapping[str, str], name: str, default: int, low: int, high: int,
                  why: str, problems: list[str]) -> int:
    text = raw.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        problems.append(f"{name} must be a whole number between {low} and {high}; got {text!r}.")
        return default
    if not low <= value <= high:
        problems.append(f"{name} must be between {low} and {high} ({why}); got {value}.")
    return value


def load_settings(raw: Mapping[str, str]) -> Settings:
    """Validate the merged values; raise ConfigError naming every bad setting at once."""
    problems: list[str] = []

    demo_text = raw.get("DEMO_MODE", "").lower()
    if demo_text not in _TRUE | _FALSE:
        problems.append(f"DEMO_MODE must be 1 or 0; got {raw['DEMO_MODE']!r}.")
    private_text = raw.get("PRIVATE_APP", "").lower()
    if private_text not in _TRUE | _FALSE:
        problems.append(f"PRIVATE_APP must be 1 or 0; got {raw['PRIVATE_APP']!r}.")
    emails = parse_list(raw.get("ALLOWED_EMAILS"))
    domains = parse_list(raw.get("ALLOWED_DOMAINS"), domains=True)
    bad = sorted(e for e in emails if e.count("@") != 1 or e.startswith("@")) + sorted(
        d for d in domains if "@" in d or "." not in d)
    if bad:
        problems.append("ALLOWED_EMAILS holds whole addresses (jane@example.com) and "
                        "ALLOWED_DOMAINS bare domains (example.com); these do not fit: "
                        + ", ".join(bad) + ".")
    key = raw.get("TAVUS_API_KEY")
    demo_mode = demo_text in _TRUE or not key

    url = raw.get("TAVUS_API_URL", DEFAULT_TAVUS_API_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        problems.append(f"TAVUS_API_URL must start with https:// (or http:// for a local server); "
                        f"got {url!r}.")
    if url.endswith("/v2"):
        problems.append("TAVUS_API_URL must not end with /v2: the app adds it.")

    ttl = _int_in_range(raw, "PRESIGN_TTL_HOURS", DEFAULT_PRESIGN_TTL_HOURS, MIN_PRESIGN_TTL_HOURS,
                        MAX_PRESIGN_TTL_HOURS,
                        "Tavus needs the photo for 24 h; SigV4 URLs last at most 7 days", problems)
    refresh = _int_in_range(raw, "REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS, MIN_REFRESH_SECONDS,
                            MAX_REFRESH_SECONDS, "seconds between table refreshes", problems)
    port = _int_in_range(raw, "SIMULATOR_PORT", 0, 0, 65535, "a TCP port, 0 for any", problems)
    s3_port = _int_in_range(raw, "DEMO_S3_PORT", 0, 0, 65535, "a TCP port, 0 for any", problems)

    training = _simulated_seconds(raw, "SIMULATOR_TRAINING_SECONDS",
                                  DEFAULT_SIMULATOR_TRAINING_SECONDS, problems)
    document_seconds = _simulated_seconds(raw, "SIMULATOR_DOCUMENT_SECONDS",
                                          DEFAULT_SIMULATOR_DOCUMENT_SECONDS, problems)

    role_arn = raw.get("RECORDING_ROLE_ARN")
    if role_arn and not _ROLE_ARN_RE.fullmatch(role_arn):
        problems.append("RECORDING_ROLE_ARN must be an IAM role ARN such as "
                        f"arn:aws:iam::123456789012:role/TavusRecording; got {role_arn!r}.")
    external_id = raw.get("RECORDING_EXTERNAL_ID")
    if external_id and not _EXTERNAL_ID_RE.fullmatch(external_id):
        problems.append("RECORDING_EXTERNAL_ID must be 2-1224 letters, digits or +=,.@:/-_ "
                        "(what the role's trust policy names as sts:ExternalId).")
    if external_id and not role_arn and not demo_mode:
        problems.append("RECORDING_EXTERNAL_ID is set without RECORDING_ROLE_ARN: set the role "
                        "Tavus should assume too, or remove the external id.")

    s3: S3Settings | None = None
    if not demo_mode:
        bucket = raw.get("S3_BUCKET")
        if not bucket:
            problems.append("S3_BUCKET is required when TAVUS_API_KEY is set: the photo must be "
                            "uploaded somewhere Tavus can download it.")
        endpoint = raw.get("S3_ENDPOINT_URL")
        if endpoint and not endpoint.startswith(("http://", "https://")):
            problems.append("S3_ENDPOINT_URL must start with https:// or http://; "
                            f"got {endpoint!r}.")
        has_id, has_secret = "AWS_ACCESS_KEY_ID" in raw, "AWS_SECRET_ACCESS_KEY" in raw
        if has_id != has_secret:
            problems.append("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together.")
        prefix = raw.get("S3_PREFIX", DEFAULT_S3_PREFIX).lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        s3 = S3Settings(
            bucket=bucket or "",
            region=raw.get("S3_REGION", DEFAULT_S3_REGION),
            endpoint_url=endpoint,
            prefix=prefix,
            access_key_id=raw.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=raw.get("AWS_SECRET_ACCESS_KEY"),
            session_token=raw.get("AWS_SESSION_TOKEN"),
        )

    if problems:
        raise ConfigError(problems)
    return Settings(
        demo_mode=demo_mode,
        tavus_api_url=url,
        tavus_api_key=None if demo_mode else key,
        s3=s3,
        presign_ttl_hours=ttl,
        refresh_seconds=refresh,
        simulator_training_seconds=training,
        simulator_document_seconds=document_seconds,
        simulator_port=port,
        demo_s3_port=s3_port,
        allowed_emails=emails,
        allowed_domains=domains,
        private_app=private_text in _TRUE,
        recording_role_arn=role_arn,
        recording_external_id=external_id,
    )
