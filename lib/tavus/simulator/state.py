"""The simulator's in-memory Tavus world: replicas, voices, personas, documents, conversations.

Everything here is plain data plus the rules Tavus applies to it. Time comes from a `SimClock`
(real monotonic time plus an offset that tests push forward), and training progress, document
processing and conversation timeouts are computed lazily from it on every read, so nothing needs
to tick. All public methods take `SimState.lock`; the HTTP layer never touches the dicts directly.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from . import jsonpatch, transcript
from .documents import (
    DOCUMENT_PROCESSING_FAILED,
    WEBSITE_PROCESSING_FAILED,
    Crawl,
    DocumentFacts,
)
from .errors import ApiError
from .personas import PIPELINE_MODES, check_layers, perception_model, str_list
from .recording import RecordingJob, clip_seconds

log = logging.getLogger("replica_studio.simulator")

MODELS = ("phoenix-3", "phoenix-4", "phoenix-4.5")
DEFAULT_MODEL = "phoenix-4"
PREVIEW_MODEL = "phoenix-4.5"  # the one model with a watermarked preview before it is tuned
# A phoenix-4.5 preview is usable after 1/60 of the training time, at most a minute (Tavus's
# "about a minute" against its hours of tuning); tuning then runs to the full training time.
PREVIEW_FRACTION = 1 / 60
PREVIEW_CAP_SECONDS = 60.0
# From a video the preview takes "minutes" rather than about a minute: five times as long.
VIDEO_PREVIEW_FACTOR = 5.0
# finetune_status values. Tavus documents "completed" and "errored"; what it says while tuning
# runs is not documented ("null or anything but completed/errored"): the simulator says
# "in_progress", so clients meet a value that is neither null nor one of the two.
FINETUNE_IN_PROGRESS = "in_progress"
FINETUNE_COMPLETED = "completed"
FINETUNE_ERRORED = "errored"
DEFAULT_MAX_CALL_DURATION = 3600
DEFAULT_PARTICIPANT_ABSENT_TIMEOUT = 300.0  # Tavus's default: nobody joined within 5 minutes
DEFAULT_PARTICIPANT_LEFT_TIMEOUT = 0.0  # the call ends as soon as the last person leaves
# After a joined call ends, simulated seconds until each debrief event is reported.
DEFAULT_TRANSCRIPT_DELAY = 5.0
DEFAULT_PERCEPTION_DELAY = 60.0
DEFAULT_RECORDING_DELAY = 10.0
PERCEPTION_MODELS = ("raven-1", "raven-0")  # "off" (or none) means no perception analysis
# Knowledge-base documents: simulated seconds from create to ready (Tavus: "may take a few
# minutes"). The first tenth of it a new document waits "started" (queued), then "processing".
DEFAULT_DOCUMENT_SECONDS = 5.0
DOCUMENT_QUEUE_FRACTION = 0.1
DOCUMENT_STATUSES = ("started", "processing", "ready", "error", "recrawling")
RECRAWL_COOLDOWN = 3600.0  # "a 1-hour cooldown between recrawls of the same document"
MAX_CRAWL_DOCUMENTS = 100  # "at most 100 crawl documents per user"
MAX_CONCURRENT_CRAWLS = 5  # "at most 5 concurrent crawls at any time"
# The contract gives no defaults for a crawl object sent without depth or max_pages.
DEFAULT_CRAWL_DEPTH = 1
DEFAULT_CRAWL_MAX_PAGES = 10
RETRIEVAL_STRATEGIES = ("speed", "quality", "balanced")
# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a
# letter or digit.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")

# A two-letter (or xx-YY) language code: Tavus wants the full name ("english") instead.
_LANGUAGE_CODE_RE = re.compile(r"^[A-Za-z]{2}([-_][A-Za-z]{2})?$")


# ------------------------------------------------------------------------------------------------
# clock
# ------------------------------------------------------------------------------------------------
class SimClock:
    """Monotonic time plus an offset that `advance` increases; wall time follows the same offset."""

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = time.time()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:  # also refuses NaN
            raise ValueError("advance() needs a number of seconds >= 0")
        with self._lock:
            self._offset += float(seconds)

    @property
    def offset(self) -> float:
        return self._offset

    def wall(self, t: float) -> float:
        """Simulated monotonic time -> simulated UTC epoch seconds."""
        return self._wall0 + (t - self._mono0)

    def iso(self, t: float) -> str:
        stamp = dt.datetime.fromtimestamp(self.wall(t), tz=dt.UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------------
# records
# ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Replica:
    replica_id: str
    replica_name: str
    replica_type: str  # "user" | "system"
    model_name: str
    created: float  # simulated clock
    updated: float
    train_duration: float
    train_start: float | None = None  # None while the training file is downloaded and judged
    failed_at: float | None = None
    failed_progress: int = 0
    error_message: str | None = None
    voice_name: str | None = None
    train_image_url: str | None = None  # never shown: it may be a presigned URL
    train_video_url: str | None = None  # never shown either
    consent_video_url: str | None = None
    callback_url: str | None = None
    auto_fix_training_image: bool = False
    background_green_screen: bool | None = None
    tuning_failed_at: float | None = None  # phoenix-4.5: when its tuning was made to fail
    # The create body as received, URLs without their query (a presigned credential), so that
    # tests can see what a client sent (GET /_sim/replicas/<id>/request).
    request: dict[str, Any] = field(default_factory=dict)

    def preview_seconds(self) -> float:
        """phoenix-4.5: seconds of training before the watermarked preview is usable."""
        factor = VIDEO_PREVIEW_FACTOR if self.train_video_url else 1.0
        return factor * min(PREVIEW_CAP_SECONDS, max(0.0, self.train_duration) * PREVIEW_FRACTION)

    def phase(self, now: float) -> tuple[str, int, float, str | None]:
        """-> (status, progress percent, last change time, finetune_status) at `now`.

        phoenix-4.5 goes started -> completed with finetune_status "in_progress" (the preview)
        -> finetune_status "completed" (tuned) or "errored" (tuning failed; still completed).
        Other models go started -> completed, and their finetune_status stays None.
        """
        if self.error_message is not None:
            return "error", self.failed_progress, max(self.updated, self.failed_at or 0.0), None
        if self.train_start is None:
            return "started", 0, self.updated, None
        elapsed = max(0.0, now - self.train_start)
        duration = max(0.0, self.train_duration)
        if self.model_name == PREVIEW_MODEL:
            preview = self.preview_seconds()
            if elapsed >= preview:
                if self.tuning_failed_at is not None:
                    changed = max(self.updated, self.tuning_failed_at)
                    return "completed", 100, changed, FINETUNE_ERRORED
                if elapsed >= duration:
                    changed = max(self.updated, self.train_start + duration)
                    return "completed", 100, changed, FINETUNE_COMPLETED
                changed = max(self.updated, self.train_start + preview)
                return "completed", 100, changed, FINETUNE_IN_PROGRESS
            duration = preview  # training progress runs up to the preview
        if elapsed >= duration:
            return "completed", 100, max(self.updated, self.train_start + duration), None
        progress = min(99, int(100 * elapsed / duration)) if duration > 0 else 100
        return "started", progress, max(self.updated, now), None


@dataclass(slots=True)
class Voice:
    voice_name: str
    replica_id: str
    tags: tuple[str, ...]
    pitch_hz: float


@dataclass(slots=True)
class Persona:
    persona_id: str
    persona_name: str
    persona_type: str  # "user" | "system" (stock: cannot be patched or deleted)
    default_replica_id: str | None
    system_prompt: str | None  # None: an echo persona made without one
    created: float
    updated: float
    layers: dict[str, Any] = field(default_factory=dict)  # as sent (declared fields only)
    document_ids: list[str] = field(default_factory=list)
    document_tags: list[str] = field(default_factory=list)
    pipeline_mode: str = "full"
    # Kept as sent but never shown: GET's contract has no such fields.
    context: str | None = None
    objectives_id: str | None = None
    guardrails_id: str | None = None

    @property
    def perception_model(self) -> str:
        return perception_model(self.layers)


@dataclass(frozen=True)
class DocumentJob:
    """What a create or a recrawl leaves to do in the background: download and judge the URL
    (crawl a website), as Tavus does after answering. `run` tells a stale result from a fresh
    one."""

    document_id: str
    run: int
    url: str
    crawl: Crawl | None
    website: bool


@dataclass(slots=True)
class Document:
    """A knowledge-base document. A run (the create, or a recrawl) is: download and judge in the
    background, then queued ("started", or "recrawling" at 0) until DOCUMENT_QUEUE_FRACTION of
    `duration` has passed, then "processing" ("recrawling") with progress rising, then "ready".
    Status and progress are computed from the clock on every read, like a replica's training."""

    document_id: str
    document_name: str
    document_url: str  # shown as sent (the contract shows it); never logged: it may be presigned
    created: float
    updated: float
    seq: int
    duration: float  # simulated seconds of the current run
    run_start: float
    tags: list[str] = field(default_factory=list)
    callback_url: str | None = None
    crawl: Crawl | None = None  # as created
    run_crawl: Crawl | None = None  # the current run's (a recrawl may override it)
    run: int = 0
    recrawl: bool = False  # the current run is a recrawl
    fetched_at: float | None = None  # the download and judging ended (None: still in flight)
    website: bool = False
    run_urls: tuple[str, ...] | None = None  # the pages the current run's crawl read
    settled: bool = False  # the current run's results are committed (see settle)
    crawled_urls: list[str] | None = None
    last_crawled_at: float | None = None
    crawl_count: int | None = None
    error_message: str | None = None
    failed_at: float | None = None

    def span(self) -> tuple[float, float] | None:
        """-> (processing start, ready time) of the current run once judged, else None."""
        if self.fetched_at is None:
            return None
        start = max(self.fetched_at, self.run_start + DOCUMENT_QUEUE_FRACTION * self.duration)
        return start, start + (1 - DOCUMENT_QUEUE_FRACTION) * self.duration

    def phase(self, now: float) -> tuple[str, int | None, float]:
        """-> (status, progress, last change time) at `now`. progress is null while queued
        and once complete (the contract), an integer 0-99 while processing."""
        if self.error_message is not None:
            return "error", None, max(self.updated, self.failed_at or 0.0)
        span = self.span()
        if span is None or now < span[0]:
            if self.recrawl:  # the last crawl's content stays served: progress is shown
                return "recrawling", 0, self.updated
            return "started", None, self.updated
        start, end = span
        if now >= end:
            return "ready", None, max(self.updated, end)
        progress = min(99, int(100 * (now - start) / (end - start)))
        busy = "recrawling" if self.recrawl else "processing"
        return busy, progress, max(self.updated, start)

    def settle(self, now: float) -> None:
        """Commit the current run once the clock has passed its end: a crawl's pages, count and
        time (the contract: they change "when the recrawl completes")."""
        span = self.span()
        if self.settled or self.error_message is not None or span is None or now < span[1]:
            return
        self.settled = True
        if self.run_urls is not None:
            self.crawled_urls = list(self.run_urls)
            self.crawl_count = (self.crawl_count or 0) + 1
            self.last_crawled_at = span[1]

    def usable(self, now: float) -> bool:
        """Can a conversation read it? Ready, or recrawling with a finished crawl's content."""
        status = self.phase(now)[0]
        return status == "ready" or (status == "recrawling" and bool(self.crawl_count))


@dataclass(slots=True)
class Conversation:
    conversation_id: str
    conversation_name: str
    replica_id: str
    replica_name: str
    persona_id: str | None
    callback_url: str | None
    created: float
    updated: float
    seq: int
    test_mode: bool
    require_auth: bool
    meeting_token: str | None
    max_call_duration: float
    custom_greeting: str | None
    request: dict[str, Any] = field(
        default_factory=dict
    )  # the rest of the create body, kept as sent
    ended_at: float | None = None
    shutdown_reason: str | None = None
    participant_absent_timeout: float = DEFAULT_PARTICIPANT_ABSENT_TIMEOUT
    participant_left_timeout: float = DEFAULT_PARTICIPANT_LEFT_TIMEOUT
    # What the replica ran with, for the transcript: the whole system prompt and the greeting.
    system_prompt: str = ""
    perception: bool = False  # the persona uses Raven perception
    joined_at: float | None = None  # a person opened the room (or the join hook was called)
    left_at: float | None = None  # the person pressed Leave
    # Recording: allowed by enable_recording, started from the room, written on the end.
    enable_recording: bool = False
    recording_bucket: str | None = None  # recording_storage.bucket_name (s3 only)
    recording_since: float | None = None  # recording now, since then
    recorded_seconds: float = 0.0
    ever_recorded: bool = False
    recording_state: str | None = None  # None | "pending" | "ready" | "failed"
    recording_result: dict[str, Any] | None = None  # the recording_ready properties
    # Test hook: raw events that replace (events_replaced) or follow the generated ones.
    events_replaced: bool = False
    events_raw: Any = None
    events_extra: list[Any] = field(default_factory=list)

    def settle(self, now: float) -> bool:
        """Apply the automatic shutdowns the simulated clock has passed: max_call_duration,
        participant_absent_timeout (nobody joined) and participant_left_timeout (after Leave).
        True when this call ended the conversation."""
        if self.ended_at is not None:
            return False
        candidates = [(self.created + self.max_call_duration, "max_call_duration")]
        if self.joined_at is None:
            candidates.append(
                (self.created + self.participant_absent_timeout, "participant_absent_timeout")
            )
        if self.left_at is not None:
            candidates.append(
                (self.left_at + self.participant_left_timeout, "participant_left_timeout")
            )
        at, reason = min(candidates)
        if now < at:
            return False
        self.finish(at, reason)
        return True

    def finish(self, at: float, reason: str) -> None:
        self.ended_at = at
        self.updated = at
        self.shutdown_reason = reason
        if self.recording_since is not None:
            self.recorded_seconds += max(0.0, at - self.recording_since)
            self.recording_since = None

    @property
    def recording(self) -> bool:
        return self.recording_since is not None

    @property
    def status(self) -> str:
        return "active" if self.ended_at is None else "ended"


# ------------------------------------------------------------------------------------------------
# seed data
# ------------------------------------------------------------------------------------------------
# (replica_id, name, model, voice slug or None, tags, voice pitch, age in days)
_SYSTEM_REPLICAS: tuple[tuple[str, str, str, str | None, tuple[str, ...], float, int], ...] = (
    (
        "r1af0c2b8d3e",
        "Anna - Office",
        "phoenix-4",
        "anna",
        ("female", "american", "business"),
        220.0,
        30,
    ),
    ("r2b7e4d9a0c1", "Benjamin - Studio", "phoenix-4", "benjamin", ("male", "british"), 130.0, 31),
    ("r3c9d1e5f7a2", "James - Living Room", "phoenix-4", "james", ("male", "american"), 115.0, 32),
    ("r4d0e6f8b1c3", "Liam - Outdoors", "phoenix-4", "liam", ("male", "australian"), 145.0, 33),
    (
        "r5e1f7a9c2d4",
        "Julia - Office",
        "phoenix-4",
        "julia",
        ("female", "british", "business"),
        240.0,
        34,
    ),
    ("r6f2a8b0d3e5", "Ivy - Bookshelf", "phoenix-4", "ivy", ("female", "american"), 262.0, 35),
    ("r7a3b9c1e4f6", "Carter - Classic", "phoenix-3", None, ("male", "american"), 0.0, 200),
)

# (persona_id, name, default replica, system prompt, age in days); the first is the default persona
_SYSTEM_PERSONAS = (
    (
        "p1a2b3c4d5e6",
        "Tavus Assistant",
        "r1af0c2b8d3e",
        "You are a friendly, concise assistant who answers questions about the product.",
        40,
    ),
    (
        "p2b3c4d5e6f7",
        "Sales Coach",
        "r2b7e4d9a0c1",
        "You are a sales coach. Role-play a customer and give feedback on the user's pitch.",
        41,
    ),
    (
        "p3c4d5e6f7a8",
        "Interviewer",
        "r5e1f7a9c2d4",
        "You are a job interviewer. Ask one question at a time and listen carefully.",
        42,
    ),
)
# Stock personas whose perception layer runs Raven (the others have perception "off").
_PERCEPTION_PERSONAS = {"p3c4d5e6f7a8": "raven-1"}

DAY = 86400.0


def new_id(prefix: str) -> str:
    """Tavus-style id: a letter and 11 hex characters, e.g. r90bbd427f71."""
    return prefix + secrets.token_hex(6)[:11]


# ------------------------------------------------------------------------------------------------
# query helpers
# ------------------------------------------------------------------------------------------------
def int_param(
    query: dict[str, str], name: str, default: int, lo: int = 1, hi: int | None = None
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ApiError(400, f"{name} must be an integer {bound}")
    return value


def bool_param(query: dict[str, str], name: str) -> bool:
    raw = query.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ApiError(400, f"{name} must be true or false")


def choice_param(query: dict[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise ApiError(400, f"{name} must be one of: {', '.join(choices)}")
    return raw


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    return value


def _opt_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be a boolean")
    return value


def _is_http_url(value: str) -> bool:
    return value.startswith(("http://", "https://")) and len(value) > len("https://")


def _without_query(url: str) -> str:
    try:
        return urlsplit(url)._replace(query="", fragment="").geturl()
    except ValueError:
        return "<unreadable URL>"


def _seconds_prop(props: dict[str, Any], name: str, default: float, *, positive: bool) -> float:
    value = props.get(name, default)
    if value is None:
        return default
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or value != value  # NaN
        or (value <= 0 if positive else value < 0)
    ):
        kind = "a positive" if positive else "a non-negative"
        raise ApiError(400, f"properties.{name} must be {kind} number of seconds")
    return float(value)


def _recording_bucket(props: dict[str, Any]) -> str | None:
    """Validate the recording properties as Tavus would; -> the S3 bucket to write to, if any.

    `recording_storage` = {provider: s3|gcs|azure_blob, ...}; for s3, bucket_name is required and
    bucket_region / assume_role_arn / external_id are checked when given. The deprecated flat
    `recording_s3_bucket_name` (with `recording_s3_bucket_region`, `aws_assume_role_arn`) still
    works. gcs and azure_blob are accepted but the simulator writes only to S3.
    """
    _opt_bool(props, "enable_recording")
    storage = props.get("recording_storage")
    if storage is None:
        flat = props.get("recording_s3_bucket_name")
        if flat is None:
            return None
        storage = {
            "provider": "s3",
            "bucket_name": flat,
            "bucket_region": props.get("recording_s3_bucket_region"),
            "assume_role_arn": props.get("aws_assume_role_arn") or None,
        }
        where = "properties.recording_s3_bucket_name"
    else:
        where = "properties.recording_storage"
    if not isinstance(storage, dict):
        raise ApiError(400, "properties.recording_storage must be an object")
    provider = storage.get("provider")
    if provider is None:
        raise ApiError(400, "properties.recording_storage.provider is required (s3, gcs or "
                            "azure_blob)")
    if provider not in ("s3", "gcs", "azure_blob"):
        raise ApiError(400, f"Invalid recording storage provider {provider!r}: use s3, gcs or "
                            "azure_blob")
    for name, value in storage.items():
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"properties.recording_storage.{name} must be a string")
    if provider != "s3":
        return None
    bucket = storage.get("bucket_name")
    if not bucket:
        raise ApiError(400, "properties.recording_storage.bucket_name is required when provider "
                            "is s3")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise ApiError(400, f"Invalid S3 bucket name {bucket!r} in {where}: use 3-63 lowercase "
                            "letters, digits, dots and hyphens")
    region = storage.get("bucket_region")
    if region and not _REGION_RE.match(region):
        raise ApiError(400, f"Invalid bucket_region {region!r}: use an AWS region such as "
                            "us-east-1")
    arn = storage.get("assume_role_arn")
    if arn and not _ROLE_ARN_RE.match(arn):
        raise ApiError(400, f"Invalid assume_role_arn {arn!r}: expected "
                            "arn:aws:iam::<12-digit account>:role/<name>")
    return bucket


def _tags(body: dict[str, Any]) -> list[str] | None:
    """A document's optional tags: an array of strings (None when absent)."""
    value = body.get("tags")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ApiError(400, "Invalid request: tags must be an array of strings")
    return list(dict.fromkeys(t.strip() for t in value if t.strip()))


def _crawl(value: Any) -> Crawl | None:
    """A crawl object: depth 1-10, max_pages 1-100 (the contract's bounds)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid request: crawl must be an object")
    other = sorted(set(value) - {"depth", "max_pages"})
    if other:
        raise ApiError(400, f"Invalid request: unknown crawl field {other[0]!r}")
    out = {"depth": DEFAULT_CRAWL_DEPTH, "max_pages": DEFAULT_CRAWL_MAX_PAGES}
    for name, hi in (("depth", 10), ("max_pages", 100)):
        n = value.get(name)
        if n is None:
            continue
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= hi:
            raise ApiError(400, f"Invalid request: crawl.{name} must be an integer between 1 "
                                f"and {hi}")
        out[name] = n
    return Crawl(**out)


def _default_document_name(url: str) -> str:
    """Tavus: "If not provided, a default name will be generated": the file's name, else the
    site's host, else the URL itself."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url[:100]
    name = unquote(PurePosixPath(parts.path).name)
    return name or parts.hostname or url[:100]


# What a JSON Patch may leave in a persona: GET's fields, and the create fields GET does not show.
_PERSONA_PATCHABLE = frozenset({
    "persona_id", "persona_name", "system_prompt", "default_replica_id", "document_ids",
    "document_tags", "layers", "created_at", "updated_at", "pipeline_mode", "context",
    "objectives_id", "guardrails_id",
})

_URL_FIELDS = ("train_image_url", "train_video_url", "consent_video_url", "callback_url")


@dataclass(frozen=True)
class TrainingJob:
    """What a create leaves to do in the background before training starts: fetch and judge
    the training file (and, for a video, its consent clip), as Tavus does after answering."""

    replica_id: str
    kind: str  # "image" | "video"
    url: str
    consent_url: str | None = None
    model_name: str = DEFAULT_MODEL


# ------------------------------------------------------------------------------------------------
# the state
# ------------------------------------------------------------------------------------------------
class SimState:
    def __init__(
        self,
        clock: SimClock,
        *,
        training_seconds: float,
        max_concurrent_conversations: int,
        seed_demo_data: bool,
        transcript_delay: float = DEFAULT_TRANSCRIPT_DELAY,
        perception_delay: float = DEFAULT_PERCEPTION_DELAY,
        recording_delay: float = DEFAULT_RECORDING_DELAY,
        document_seconds: float = DEFAULT_DOCUMENT_SECONDS,
    ) -> None:
        for name, value in (
            ("transcript_delay", transcript_delay),
            ("perception_delay", perception_delay),
            ("recording_delay", recording_delay),
            ("document_seconds", document_seconds),
        ):
            if not value >= 0:  # also refuses NaN
                raise ValueError(f"{name} must be >= 0")
        self.clock = clock
        self.transcript_delay = float(transcript_delay)
        self.perception_delay = float(perception_delay)
        self.recording_delay = float(recording_delay)
        # Called (under the lock: it must only start work elsewhere) when a recorded call ends.
        self.on_recording: Callable[[RecordingJob], None] | None = None
        self.training_seconds = float(training_seconds)
        self.document_seconds = float(document_seconds)
        self.max_concurrent_conversations = int(max_concurrent_conversations)
        self.lock = threading.RLock()
        self.replicas: dict[str, Replica] = {}
        self.voices: dict[str, Voice] = {}
        self.personas: dict[str, Persona] = {}
        self.conversations: dict[str, Conversation] = {}
        self.documents: dict[str, Document] = {}
        self._doc_seq = 0
        self._order: list[Replica] | None = None  # newest-first cache, dropped on add/delete
        self._conv_seq = 0
        self._seed(seed_demo_data)

    # -- seeding --------------------------------------------------------------------------------
    def _seed(self, demo: bool) -> None:
        now = self.clock.now()
        for rid, name, model, voice, tags, pitch, age in _SYSTEM_REPLICAS:
            t = now - age * DAY
            self._put(Replica(rid, name, "system", model, t, t, 0.0, train_start=t))
            if voice:
                self.voices[voice] = Voice(voice, rid, tags, pitch)
        for pid, name, replica_id, prompt, age in _SYSTEM_PERSONAS:
            t = now - age * DAY
            self.personas[pid] = Persona(
                pid,
                name,
                "system",
                replica_id,
                prompt,
                t,
                t,
                layers={"perception": {"perception_model": _PERCEPTION_PERSONAS.get(pid, "off")}},
            )
        if not demo:
            return
        ts = self.training_seconds
        ready = Replica(
            new_id("r"),
            "Demo — Ready",
            "user",
            DEFAULT_MODEL,
            now - 2 * DAY,
            now - 2 * DAY,
            ts,
            train_start=now - 2 * DAY,
            voice_name="anna",
        )
        # created so that it is about 40% through training right now
        training = Replica(
            new_id("r"),
            "Demo — Training",
            "user",
            DEFAULT_MODEL,
            now - 0.4 * ts,
            now - 0.4 * ts,
            ts,
            train_start=now - 0.4 * ts,
            voice_name="julia",
        )
        failed = Replica(
            new_id("r"),
            "Demo — Failed",
            "user",
            DEFAULT_MODEL,
            now - DAY,
            now - DAY,
            ts,
            train_start=now - DAY,
            voice_name="benjamin",
            failed_at=now - DAY + 600,
            failed_progress=12,
            error_message=(
                "HeadNotFullyInFrameError: the whole head, from crown to chin, must be visible "
                "in the training image."
            ),
        )
        # phoenix-4.5 a tenth of the way through: past its preview, tuning for the rest of ts.
        # (No "Demo" in its name: tests search the three classic seeds by that word.)
        preview = Replica(
            new_id("r"),
            "Phoenix 4.5 — Tuning",
            "user",
            PREVIEW_MODEL,
            now - 0.1 * ts,
            now - 0.1 * ts,
            ts,
            train_start=now - 0.1 * ts,
            voice_name="ivy",
        )
        for r in (ready, training, failed, preview):
            self._put(r)

    def _put(self, replica: Replica) -> None:
        self.replicas[replica.replica_id] = replica
        self._order = None

    def _ordered(self) -> list[Replica]:
        """Newest first by created time; ties broken by id so that pages are stable."""
        if self._order is None:
            items = sorted(self.replicas.values(), key=lambda r: r.replica_id)
            items.sort(key=lambda r: r.created, reverse=True)
            self._order = items
        return self._order

    # -- rendering ------------------------------------------------------------------------------
    def _thumbnail(self, base_url: str, r: Replica) -> str:
        return f"{base_url}/thumbnails/{r.replica_id}.mp4"

    def _render_replica(
        self, r: Replica, base_url: str, *, verbose: bool, detail: bool, now: float
    ) -> dict[str, Any]:
        status, progress, updated, finetune = r.phase(now)
        out: dict[str, Any] = {
            "replica_id": r.replica_id,
            "replica_name": r.replica_name,
            "thumbnail_video_url": self._thumbnail(base_url, r),
            "training_progress": f"{progress}/100",
            "status": status,
            "created_at": self.clock.iso(r.created),
        }
        if detail:
            out["updated_at"] = self.clock.iso(updated)
            out["error_message"] = r.error_message if status == "error" else None
        if verbose:
            out["replica_type"] = r.replica_type
        out["model_name"] = r.model_name
        if r.model_name == PREVIEW_MODEL:  # other models' items stay as they were
            out["finetune_status"] = finetune
        return out

    # -- replicas -------------------------------------------------------------------------------
    def list_replicas(self, query: dict[str, str], base_url: str) -> dict[str, Any]:
        limit = int_param(query, "limit", 10, 1, 10_000)
        page = int_param(query, "page", 1)
        verbose = bool_param(query, "verbose")
        rtype = choice_param(query, "replica_type", ("user", "system"))
        model = query.get("model_name") or None
        wanted = None
        if query.get("replica_ids"):
            wanted = {x.strip() for x in query["replica_ids"].split(",") if x.strip()}
        with self.lock:
            now = self.clock.now()
            if rtype is None and model is None and wanted is None:
                matches = self._ordered()
            else:
                matches = [
                    r
                    for r in self._ordered()
                    if (rtype is None or r.replica_type == rtype)
                    and (model is None or r.model_name == model)
                    and (wanted is None or r.replica_id in wanted)
                ]
            start = (page - 1) * limit
            data = [
                self._render_replica(r, base_url, verbose=verbose, detail=False, now=now)
                for r in matches[start : start + limit]
            ]
            return {"data": data, "total_count": len(matches)}

    def _replica(self, replica_id: str) -> Replica:
        r = self.replicas.get(replica_id)
        if r is None:
            raise ApiError(400, "Invalid replica_id")
        return r

    def get_replica(self, replica_id: str, query: dict[str, str], base_url: str) -> dict[str, Any]:
        verbose = bool_param(query, "verbose")
        with self.lock:
            r = self._replica(replica_id)
            return self._render_replica(
                r, base_url, verbose=verbose, detail=True, now=self.clock.now()
            )

    def create_replica(self, body: Any) -> tuple[dict[str, Any], TrainingJob]:
        """-> (answer, the download-and-judge job that must run before training starts).

        Like Tavus, a video create needs no voice_name (the voice is cloned from the clip), but
        a voice_name sent anyway is still validated. A consent_video_url sent with an image is
        ignored: image training needs no consent, and refusing what Tavus may accept would hide
        nothing worth finding.
        """
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        image = _opt_str(body, "train_image_url")
        video = _opt_str(body, "train_video_url")
        if image and video:
            raise ApiError(400, "Provide only one of train_video_url or train_image_url.")
        if not image and not video:
            raise ApiError(400, "Either train_video_url or train_image_url must be provided.")
        url = image or video or ""
        if not _is_http_url(url):
            which = "train_image_url" if image else "train_video_url"
            raise ApiError(400, f"{which} must be an http(s) URL.")
        consent = _opt_str(body, "consent_video_url") if video else None
        if consent is not None and not _is_http_url(consent):
            raise ApiError(400, "consent_video_url must be an http(s) URL.")
        voice_name = _opt_str(body, "voice_name")
        if image and not voice_name:
            raise ApiError(400, "voice_name is required when train_image_url is provided.")
        model = _opt_str(body, "model_name") or DEFAULT_MODEL
        if model not in MODELS:
            raise ApiError(400, f"Invalid model_name: use one of {', '.join(MODELS)}.")
        name = _opt_str(body, "replica_name")
        callback = _opt_str(body, "callback_url")
        auto_fix = _opt_bool(body, "auto_fix_training_image") or False
        props = body.get("properties")
        if props is not None and not isinstance(props, dict):
            raise ApiError(400, "properties must be an object")
        green = _opt_bool(props or {}, "background_green_screen")
        with self.lock:
            voice = None
            if voice_name:
                voice = self.voices.get(voice_name.strip().lower())
                if voice is None:
                    raise ApiError(
                        400,
                        f"Invalid voice_name {voice_name!r}: use a slug from GET /v2/voices, "
                        "such as anna.",
                    )
            rid = new_id("r")
            while rid in self.replicas:
                rid = new_id("r")
            now = self.clock.now()
            r = Replica(
                rid,
                name if name and name.strip() else f"Replica {rid}",
                "user",
                model,
                now,
                now,
                self.training_seconds,
                voice_name=voice.voice_name if voice else None,
                train_image_url=image,
                train_video_url=video,
                consent_video_url=consent,
                callback_url=callback,
                auto_fix_training_image=auto_fix,
                background_green_screen=green,
                request={
                    k: _without_query(v) if k in _URL_FIELDS and isinstance(v, str) else v
                    for k, v in body.items()
                },
            )
            self._put(r)
        job = TrainingJob(rid, "image" if image else "video", url, consent, model)
        return {"replica_id": rid, "status": "started"}, job

    def replica_request(self, replica_id: str) -> dict[str, Any]:
        """The create body a replica came from (URLs without their query); KeyError if unknown."""
        with self.lock:
            r = self.replicas.get(replica_id)
            if r is None:
                raise KeyError(replica_id)
            return dict(r.request)

    def finish_download(self, replica_id: str, error_message: str | None) -> None:
        """The background download and judging ended: start training, or fail with Tavus's kind
        of message."""
        with self.lock:
            r = self.replicas.get(replica_id)
            if r is None or r.train_start is not None or r.error_message is not None:
                return  # deleted meanwhile
            now = self.clock.now()
            if error_message:
                r.error_message = error_message
                r.failed_at = now
            else:
                r.train_start = now
            r.updated = now

    def rename_replica(self, replica_id: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        name = body.get("replica_name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "replica_name is required")
        with self.lock:
            r = self._replica(replica_id)
            if r.replica_type == "system":
                raise ApiError(400, "System replicas cannot be renamed")
            r.replica_name = name.strip()
            r.updated = self.clock.now()

    def delete_replica(self, replica_id: str, query: dict[str, str]) -> None:
        bool_param(query, "hard")  # validated; a hard delete is the same thing here
        with self.lock:
            r = self._replica(replica_id)
            if r.replica_type == "system":
                raise ApiError(400, "System replicas cannot be deleted")
            del self.replicas[replica_id]
            self._order = None

    def add_replicas(
        self,
        n: int,
        *,
        training: int = 0,
        model_name: str = DEFAULT_MODEL,
        training_seconds: float | None = None,
    ) -> list[str]:
        """Bulk user replicas for benchmarks: n - training completed, then `training` fresh ones.

        The fresh ones train for `training_seconds` (default: the simulator's training time).
        """
        if n < 0 or training < 0 or training > n:
            raise ValueError("need 0 <= training <= n")
        if model_name not in MODELS:
            raise ValueError(f"model_name must be one of {MODELS}")
        if training_seconds is not None and not training_seconds >= 0:  # also refuses NaN
            raise ValueError("training_seconds must be >= 0")
        fresh_seconds = self.training_seconds if training_seconds is None else training_seconds
        ids: list[str] = []
        with self.lock:
            now = self.clock.now()
            done = n - training
            for i in range(n):
                rid = new_id("r")
                while rid in self.replicas:
                    rid = new_id("r")
                if i < done:  # spread over the past so that the order is well defined
                    t = now - (done - i) - 1.0
                    r = Replica(
                        rid,
                        f"Bulk replica {i + 1:05d}",
                        "user",
                        model_name,
                        t,
                        t,
                        0.0,
                        train_start=t,
                    )
                else:
                    r = Replica(
                        rid,
                        f"Bulk replica {i + 1:05d}",
                        "user",
                        model_name,
                        now,
                        now,
                        fresh_seconds,
                        train_start=now,
                    )
                self.replicas[rid] = r
                ids.append(rid)
            self._order = None
        return ids

    def fail_tuning(self, replica_id: str) -> None:
        """Make a phoenix-4.5 replica's tuning fail now: finetune_status "errored" from here on,
        its watermarked preview still usable. Only while it is tuning (KeyError: unknown id)."""
        with self.lock:
            r = self.replicas.get(replica_id)
            if r is None:
                raise KeyError(replica_id)
            if r.model_name != PREVIEW_MODEL:
                raise ValueError(f"{replica_id} is {r.model_name}: only {PREVIEW_MODEL} tunes")
            now = self.clock.now()
            status, _, _, finetune = r.phase(now)
            if (status, finetune) != ("completed", FINETUNE_IN_PROGRESS):
                raise ValueError(
                    f"{replica_id} is not tuning (status {status}, finetune_status {finetune})"
                )
            r.tuning_failed_at = now
            r.updated = now

    # -- voices and personas ------------------------------------------------------------------
    def list_voices(self, query: dict[str, str], base_url: str) -> dict[str, Any]:
        limit = int_param(query, "limit", 10, 1, 100)
        page = int_param(query, "page", 1)
        sort = choice_param(query, "sort", ("asc", "desc")) or "asc"
        search = (query.get("search") or "").lower()
        tag = (query.get("tag") or "").lower()
        with self.lock:
            voices = sorted(
                self.voices.values(), key=lambda v: v.voice_name, reverse=sort == "desc"
            )
        voices = [
            v
            for v in voices
            if search in v.voice_name.lower() and (not tag or tag in (t.lower() for t in v.tags))
        ]
        start = (page - 1) * limit
        data = [
            {
                "voice_name": v.voice_name,
                "replica_id": v.replica_id,
                "audio_url": f"{base_url}/audio/{v.voice_name}.wav",
                "tags": [{"tag_name": t} for t in v.tags],
            }
            for v in voices[start : start + limit]
        ]
        return {"data": data, "total_count": len(voices), "page": page, "limit": limit}

    def voice(self, name: str) -> Voice | None:
        with self.lock:
            return self.voices.get(name)

    def _render_persona(self, p: Persona) -> dict[str, Any]:
        """A persona as GET shows it (the contract's fields only). The contract types
        system_prompt and default_replica_id as strings, never null: without one they are left
        out."""
        out: dict[str, Any] = {"persona_id": p.persona_id, "persona_name": p.persona_name}
        if p.system_prompt is not None:
            out["system_prompt"] = p.system_prompt
        if p.default_replica_id is not None:
            out["default_replica_id"] = p.default_replica_id
        out["document_ids"] = list(p.document_ids)
        out["document_tags"] = list(p.document_tags)
        out["layers"] = copy.deepcopy(p.layers)
        out["created_at"] = self.clock.iso(p.created)
        out["updated_at"] = self.clock.iso(p.updated)
        return out

    def list_personas(self, query: dict[str, str]) -> dict[str, Any]:
        limit = int_param(query, "limit", 10, 1, 1000)
        page = int_param(query, "page", 1)
        ptype = choice_param(query, "persona_type", ("user", "system"))
        with self.lock:
            items = sorted(self.personas.values(), key=lambda p: (-p.created, p.persona_id))
            items = [p for p in items if ptype is None or p.persona_type == ptype]
            start = (page - 1) * limit
            data = [self._render_persona(p) for p in items[start : start + limit]]
            return {"data": data, "total_count": len(items)}

    def _persona(self, persona_id: str) -> Persona:
        p = self.personas.get(persona_id)
        if p is None:
            raise ApiError(400, "Invalid persona_id")
        return p

    def _persona_fields(self, body: dict[str, Any], had: Persona | None = None) -> dict[str, Any]:
        """Validate a persona's writable fields (a create body, or a patched persona `had`);
        -> them. Call under the lock: replica, document ids and tags are looked up (only the
        ones a patch adds: a document deleted since must not block every later patch)."""
        pipeline = _opt_str(body, "pipeline_mode") or "full"
        if pipeline not in PIPELINE_MODES:
            raise ApiError(400, f"Invalid pipeline_mode {pipeline!r}: use full or echo")
        prompt = _opt_str(body, "system_prompt")
        if pipeline != "echo" and not (prompt and prompt.strip()):
            raise ApiError(400, "system_prompt is required unless pipeline_mode is echo")
        replica_id = _opt_str(body, "default_replica_id")
        if replica_id is not None and replica_id not in self.replicas and not (
                had and replica_id == had.default_replica_id):
            raise ApiError(400, "Invalid replica_uuid")
        document_ids = str_list(body, "document_ids") or []
        for did in document_ids:
            if did not in self.documents and not (had and did in had.document_ids):
                raise ApiError(400, f"Invalid document_ids: document {did} does not exist")
        document_tags = str_list(body, "document_tags") or []
        self._check_tags([t for t in document_tags if not (had and t in had.document_tags)])
        layers = body.get("layers")
        return {
            "persona_name": _opt_str(body, "persona_name"),
            "system_prompt": prompt,
            "pipeline_mode": pipeline,
            "default_replica_id": replica_id,
            "document_ids": document_ids,
            "document_tags": document_tags,
            "layers": {} if layers is None else check_layers(layers),
            "context": _opt_str(body, "context"),
            "objectives_id": _opt_str(body, "objectives_id"),
            "guardrails_id": _opt_str(body, "guardrails_id"),
        }

    def _check_tags(self, tags: list[str]) -> None:
        """The contract: a tag can be passed "as soon as one document has the tag"."""
        known = {t for d in self.documents.values() for t in d.tags}
        for tag in tags:
            if tag not in known:
                raise ApiError(400, f"Invalid document_tags: no document has the tag {tag!r}")

    def create_persona(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        with self.lock:
            fields = self._persona_fields(body)
            pid = new_id("p")
            while pid in self.personas:
                pid = new_id("p")
            now = self.clock.now()
            name = fields.pop("persona_name")
            p = Persona(
                pid,
                name if name and name.strip() else f"Persona {pid}",
                "user",
                created=now,
                updated=now,
                **fields,
            )
            self.personas[pid] = p
            return {
                "persona_id": pid,
                "persona_name": p.persona_name,
                "created_at": self.clock.iso(now),
            }

    def get_persona(self, persona_id: str) -> dict[str, Any]:
        """The contract wraps the one persona in a `data` array."""
        with self.lock:
            return {"data": [self._render_persona(self._persona(persona_id))]}

    def patch_persona(self, persona_id: str, patch: Any) -> bool:
        """Apply an RFC 6902 JSON Patch to the persona as GET shows it; -> False when it
        changes nothing (Tavus's 304). A malformed patch is the contract's 422; a patched
        persona that breaks the create rules is a 400 and changes nothing."""
        if not isinstance(patch, list):
            raise ApiError(422, "Invalid JSON patch format: the body must be an array of "
                                "operations", key="message")
        with self.lock:
            p = self._persona(persona_id)
            if p.persona_type == "system":
                raise ApiError(400, "System personas cannot be modified: duplicate one instead")
            before = self._render_persona(p)
            try:
                after = jsonpatch.apply(before, patch)
            except jsonpatch.PatchError as e:
                raise ApiError(422, f"Invalid JSON patch format: {e}", key="message") from None
            if after == before:
                return False
            if not isinstance(after, dict):
                raise ApiError(400, "The patched persona must be an object")
            for name in ("persona_id", "created_at", "updated_at"):
                if after.get(name) != before[name]:
                    raise ApiError(400, f"{name} cannot be changed")
            unknown = sorted(set(after) - _PERSONA_PATCHABLE)
            if unknown:
                raise ApiError(400, f"Unknown persona field {unknown[0]!r}")
            # Fields GET does not show keep their values unless the patch added them.
            hidden = {"pipeline_mode": p.pipeline_mode, "context": p.context,
                      "objectives_id": p.objectives_id, "guardrails_id": p.guardrails_id}
            fields = self._persona_fields({**hidden, **after}, had=p)
            name = fields.pop("persona_name")
            p.persona_name = name if name and name.strip() else f"Persona {p.persona_id}"
            for key, value in fields.items():
                setattr(p, key, value)
            p.updated = self.clock.now()
            return True

    def delete_persona(self, persona_id: str) -> None:
        with self.lock:
            p = self._persona(persona_id)
            if p.persona_type == "system":
                raise ApiError(400, "System personas cannot be deleted")
            del self.personas[persona_id]

    # -- knowledge-base documents ---------------------------------------------------------------
    def _render_document(self, d: Document, now: float) -> dict[str, Any]:
        """A document as the contract shows it. callback_url is typed as a string, never null:
        left out when none was given; the crawl fields are nullable and always present."""
        status, progress, changed = d.phase(now)
        out: dict[str, Any] = {
            "document_id": d.document_id,
            "document_name": d.document_name,
            "document_url": d.document_url,
            "status": status,
            "progress": progress,
            "error_message": d.error_message if status == "error" else None,
            "created_at": self.clock.iso(d.created),
            "updated_at": self.clock.iso(changed),
        }
        if d.callback_url is not None:
            out["callback_url"] = d.callback_url
        out["tags"] = list(d.tags)
        crawl = d.run_crawl if status == "recrawling" else d.crawl
        out["crawl_config"] = (
            {"depth": crawl.depth, "max_pages": crawl.max_pages} if crawl else None
        )
        out["crawled_urls"] = list(d.crawled_urls) if d.crawled_urls is not None else None
        out["last_crawled_at"] = (
            self.clock.iso(d.last_crawled_at) if d.last_crawled_at is not None else None
        )
        out["crawl_count"] = d.crawl_count
        return out

    def _document(self, document_id: str, now: float) -> Document:
        d = self.documents.get(document_id)
        if d is None:
            raise ApiError(404, "Document not found", key="message")  # the contract's 404
        d.settle(now)
        return d

    def _crawling(self, now: float) -> int:
        """Crawls running now: runs with crawl settings not yet ready or failed."""
        return sum(
            1
            for d in self.documents.values()
            if d.run_crawl is not None and d.phase(now)[0] in ("started", "processing",
                                                               "recrawling")
        )

    def create_document(self, body: Any) -> tuple[dict[str, Any], DocumentJob]:
        """-> (answer, the download-and-judge job). Like Tavus, a URL that cannot be fetched
        is no refusal: the document is created and fails with an error code."""
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        url = body.get("document_url")
        if url is None or (isinstance(url, str) and not url.strip()):
            raise ApiError(400, "Invalid request: document_url is required")
        if not isinstance(url, str):
            raise ApiError(400, "Invalid request: document_url must be a string")
        url = url.strip()
        name = _opt_str(body, "document_name")
        callback = _opt_str(body, "callback_url")
        if callback is not None and not _is_http_url(callback):
            raise ApiError(400, "Invalid request: callback_url must be an http(s) URL")
        tags = _tags(body)
        crawl = _crawl(body.get("crawl"))
        with self.lock:
            now = self.clock.now()
            if crawl is not None:
                crawls = sum(1 for d in self.documents.values() if d.crawl is not None)
                if crawls >= MAX_CRAWL_DOCUMENTS:
                    raise ApiError(429, f"Crawl document limit reached ({MAX_CRAWL_DOCUMENTS}). "
                                        "Contact support@tavus.io to increase your limit.")
                if self._crawling(now) >= MAX_CONCURRENT_CRAWLS:
                    raise ApiError(429, "Concurrent crawl limit reached "
                                        f"({MAX_CONCURRENT_CRAWLS}): wait for a running crawl "
                                        "to finish.")
            did = new_id("d")
            while did in self.documents:
                did = new_id("d")
            self._doc_seq += 1
            d = Document(
                did,
                name.strip() if name and name.strip() else _default_document_name(url),
                url,
                now,
                now,
                self._doc_seq,
                self.document_seconds,
                now,
                tags=tags or [],
                callback_url=callback,
                crawl=crawl,
                run_crawl=crawl,
                website=crawl is not None,
            )
            self.documents[did] = d
            job = DocumentJob(did, d.run, url, crawl, d.website)
            return self._render_document(d, now), job

    def finish_document(self, job: DocumentJob, facts: DocumentFacts | None,
                        error: str | None) -> None:
        """The background download and judging of a run ended: process on the clock from now,
        or fail with Tavus's error code."""
        with self.lock:
            d = self.documents.get(job.document_id)
            if d is None or d.run != job.run or d.fetched_at is not None:
                return  # deleted meanwhile, or a stale run
            if d.error_message is not None:
                return
            now = self.clock.now()
            if error is not None or facts is None:
                d.error_message = error or DOCUMENT_PROCESSING_FAILED
                d.failed_at = now
                d.website = d.website or error == WEBSITE_PROCESSING_FAILED
            else:
                d.fetched_at = now
                d.website = facts.kind == "website"
                # Only a crawl lists its pages; a single-page snapshot shows none.
                crawled = d.website and d.run_crawl is not None
                d.run_urls = facts.crawled_urls if crawled else None
            d.updated = now

    def list_documents(self, query: dict[str, str]) -> dict[str, Any]:
        """The contract: pages are 0-based (default 0), sort is by creation, ascending by
        default; tags match any of the comma-separated ones; name_or_uuid matches a part of the
        name (any case) or the whole id."""
        limit = int_param(query, "limit", 10, 1)
        page = int_param(query, "page", 0, 0)
        sort = query.get("sort") or "ascending"
        if sort not in ("ascending", "descending", "asc", "desc"):
            raise ApiError(400, "Invalid request: sort must be ascending or descending")
        status = choice_param(query, "status", DOCUMENT_STATUSES)
        needle = (query.get("name_or_uuid") or "").strip()
        tags = {t.strip() for t in (query.get("tags") or "").split(",") if t.strip()}
        with self.lock:
            now = self.clock.now()
            docs = sorted(self.documents.values(), key=lambda d: (d.created, d.seq),
                          reverse=sort.startswith("desc"))
            for d in docs:
                d.settle(now)
            docs = [
                d
                for d in docs
                if (status is None or d.phase(now)[0] == status)
                and (not needle or needle == d.document_id
                     or needle.lower() in d.document_name.lower())
                and (not tags or tags & set(d.tags))
            ]
            start = page * limit
            data = [self._render_document(d, now) for d in docs[start : start + limit]]
            return {"data": data, "total_count": len(docs), "page": page, "limit": limit}

    def get_document(self, document_id: str) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            return self._render_document(self._document(document_id, now), now)

    def update_document(self, document_id: str, body: Any) -> dict[str, Any]:
        """Only document_name and tags can change (tags are replaced, not merged)."""
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        other = sorted(set(body) - {"document_name", "tags"})
        if other:
            raise ApiError(400, f"Invalid request: {other[0]} cannot be updated; only "
                                "document_name and tags can")
        name = _opt_str(body, "document_name")
        if name is not None and not name.strip():
            raise ApiError(400, "Invalid request: document_name must not be empty")
        tags = _tags(body)
        with self.lock:
            now = self.clock.now()
            d = self._document(document_id, now)
            if name is not None:
                d.document_name = name.strip()
            if tags is not None:
                d.tags = tags
            d.updated = now
            return self._render_document(d, now)

    def delete_document(self, document_id: str) -> None:
        with self.lock:
            self._document(document_id, self.clock.now())
            del self.documents[document_id]

    def recrawl_document(self, document_id: str, body: Any) -> tuple[dict[str, Any],
                                                                       DocumentJob]:
        """Start a recrawl of a website document: the contract's 409 unless ready or error,
        400 for a file or without crawl settings, 429 within the hour since its last crawl
        began or past the concurrent-crawl limit."""
        if body is not None and not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        override = _crawl((body or {}).get("crawl"))
        with self.lock:
            now = self.clock.now()
            d = self._document(document_id, now)
            status = d.phase(now)[0]
            if status not in ("ready", "error"):
                raise ApiError(409, "Document must be in 'ready' or 'error' state to recrawl, "
                                    f"current status: {status}")
            if not d.website:
                raise ApiError(400, "Only website documents can be recrawled")
            crawl = override or d.crawl
            if crawl is None:
                raise ApiError(400, "Document was not created with crawl configuration")
            wait = d.run_start + RECRAWL_COOLDOWN - now
            if wait > 0:
                minutes = max(1, math.ceil(wait / 60))
                raise ApiError(429, f"Recrawl cooldown: please wait {minutes} minutes before "
                                    "recrawling this document.")
            if self._crawling(now) >= MAX_CONCURRENT_CRAWLS:
                raise ApiError(429, f"Concurrent crawl limit reached ({MAX_CONCURRENT_CRAWLS}): "
                                    "wait for a running crawl to finish.")
            d.run += 1
            d.recrawl = True
            d.run_crawl = crawl
            d.run_start = now
            d.duration = self.document_seconds
            d.fetched_at = None
            d.run_urls = None
            d.settled = False
            d.error_message = None
            d.failed_at = None
            d.updated = now
            out = self._render_document(d, now)
            out["crawl_count"] = d.crawl_count or 0  # the 202's crawl_count is never null
            return out, DocumentJob(d.document_id, d.run, d.document_url, crawl, True)

    # -- conversations --------------------------------------------------------------------------
    def _settle(self, c: Conversation, now: float) -> None:
        if c.settle(now):
            self._ended(c)

    def _settled_conversations(self, now: float) -> list[Conversation]:
        convs = list(self.conversations.values())
        for c in convs:
            self._settle(c, now)
        return convs

    def _conversation(self, conversation_id: str, now: float) -> Conversation:
        c = self.conversations.get(conversation_id)
        if c is None:
            raise ApiError(400, "Invalid conversation_id")
        self._settle(c, now)
        return c

    def _ended(self, c: Conversation) -> None:
        """A conversation has just ended (any path): hand a recording over to be written."""
        if not c.ever_recorded or c.test_mode:
            return
        if not c.recording_bucket:
            c.recording_state = "failed"
            log.info("conversation %s was recorded but names no S3 bucket", c.conversation_id)
            return
        assert c.ended_at is not None
        seconds = clip_seconds(c.recorded_seconds)
        key = f"recordings/{c.conversation_id}/{int(self.clock.wall(c.ended_at))}.mp4"
        c.recording_state = "pending"
        job = RecordingJob(c.conversation_id, c.replica_name, c.recording_bucket, key, seconds)
        if self.on_recording is None:
            c.recording_state = "failed"
            log.info("conversation %s: no recording writer", c.conversation_id)
            return
        self.on_recording(job)

    def finish_recording(self, job: RecordingJob, ok: bool) -> None:
        """The recording writer is done (ok: the object is in the bucket)."""
        with self.lock:
            c = self.conversations.get(job.conversation_id)
            if c is None:
                return
            if not ok:
                c.recording_state = "failed"
                return
            c.recording_state = "ready"
            c.recording_result = {
                "bucket_name": job.bucket_name,
                "s3_key": job.s3_key,
                "duration": job.seconds,
                "storage_uri": f"s3://{job.bucket_name}/{job.s3_key}",
            }

    def _render_conversation(self, c: Conversation, base_url: str, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "conversation_id": c.conversation_id,
            "conversation_name": c.conversation_name,
            "conversation_url": f"{base_url}/rooms/{c.conversation_id}",
            "status": c.status,
        }
        if c.callback_url is not None:  # the contract types it as a string, never null
            out["callback_url"] = c.callback_url
        if full:
            out["replica_id"] = c.replica_id
            if c.persona_id is not None:
                out["persona_id"] = c.persona_id
        out["created_at"] = self.clock.iso(c.created)
        if full:
            out["updated_at"] = self.clock.iso(c.updated)
        return out

    def _events(self, c: Conversation, now: float) -> Any:
        """The verbose events at `now`, in time order.

        Only a joined call has a replica_joined, a transcript, a perception analysis (Raven
        personas) and a recording; every ended call has a shutdown with properties.reason (the
        contract's name; webhooks say shutdown_reason). The transcript, the analysis and the
        recording are reported `transcript_delay`, `perception_delay` and `recording_delay`
        simulated seconds after the end (the recording only once it is in the bucket).
        """
        if c.events_replaced:
            return c.events_raw
        if c.test_mode:
            return list(c.events_extra)  # the replica never joins a test-mode conversation
        timed: list[tuple[float, int, dict[str, Any]]] = []
        if c.joined_at is not None:
            timed.append(
                (
                    c.joined_at,
                    0,
                    {
                        "event_type": "system.replica_joined",
                        "timestamp": self.clock.iso(c.joined_at),
                    },
                )
            )
        end = c.ended_at
        if end is not None:
            timed.append(
                (
                    end,
                    2,
                    {
                        "event_type": "system.shutdown",
                        "timestamp": self.clock.iso(end),
                        "properties": {"reason": c.shutdown_reason or "unknown"},
                    },
                )
            )
        if end is not None and c.joined_at is not None:
            at = end + self.transcript_delay
            if now >= at:
                greeting = c.custom_greeting or transcript.default_greeting(c.replica_name)
                turns = transcript.transcript(
                    replica_name=c.replica_name,
                    system=c.system_prompt,
                    greeting=greeting,
                    start_wall=self.clock.wall(c.joined_at),
                    call_seconds=end - c.joined_at,
                )
                timed.append(
                    (
                        at,
                        3,
                        {
                            "event_type": "application.transcription_ready",
                            "timestamp": self.clock.iso(at),
                            "properties": {"transcript": turns},
                        },
                    )
                )
            at = end + self.recording_delay
            if c.recording_state == "ready" and c.recording_result and now >= at:
                timed.append(
                    (
                        at,
                        4,
                        {
                            "event_type": "application.recording_ready",
                            "timestamp": self.clock.iso(at),
                            "properties": dict(c.recording_result),
                        },
                    )
                )
            at = end + self.perception_delay
            if c.perception and now >= at:
                timed.append(
                    (
                        at,
                        5,
                        {
                            "event_type": "application.perception_analysis",
                            "timestamp": self.clock.iso(at),
                            "properties": {
                                "analysis": transcript.perception_analysis(c.replica_name)
                            },
                        },
                    )
                )
        timed.sort(key=lambda item: (item[0], item[1]))
        return [event for _, _, event in timed] + list(c.events_extra)

    def create_conversation(self, body: Any, base_url: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        replica_id = _opt_str(body, "replica_id")
        persona_id = _opt_str(body, "persona_id")
        name = _opt_str(body, "conversation_name")
        callback = _opt_str(body, "callback_url")
        greeting = _opt_str(body, "custom_greeting")
        context = _opt_str(body, "conversational_context")
        test_mode = _opt_bool(body, "test_mode") or False
        _opt_bool(body, "audio_only")
        document_ids = str_list(body, "document_ids") or []
        document_tags = str_list(body, "document_tags") or []
        strategy = _opt_str(body, "document_retrieval_strategy")
        if strategy is not None and strategy not in RETRIEVAL_STRATEGIES:
            raise ApiError(400, f"Invalid document_retrieval_strategy {strategy!r}: use "
                                f"{', '.join(RETRIEVAL_STRATEGIES)}")
        props = body.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise ApiError(400, "properties must be an object")
        require_auth = bool(_opt_bool(body, "require_auth") or _opt_bool(props, "require_auth"))
        max_participants = body.get("max_participants")
        if max_participants is not None and (
            not isinstance(max_participants, int)
            or isinstance(max_participants, bool)
            or max_participants < 2
        ):
            raise ApiError(
                400,
                "max_participants must be an integer of at least 2 "
                "(the replica counts as one participant)",
            )
        duration = props.get("max_call_duration", DEFAULT_MAX_CALL_DURATION)
        if not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
            raise ApiError(400, "properties.max_call_duration must be a positive number of seconds")
        absent = _seconds_prop(
            props, "participant_absent_timeout", DEFAULT_PARTICIPANT_ABSENT_TIMEOUT, positive=True
        )
        left = _seconds_prop(
            props, "participant_left_timeout", DEFAULT_PARTICIPANT_LEFT_TIMEOUT, positive=False
        )
        recording_bucket = _recording_bucket(props)
        enable_recording = bool(props.get("enable_recording"))
        language = props.get("language")
        if language is not None:
            if not isinstance(language, str) or not language.strip():
                raise ApiError(400, "properties.language must be a language name")
            if _LANGUAGE_CODE_RE.match(language.strip()):
                raise ApiError(
                    400,
                    f"Invalid language {language!r}: provide the full language name (e.g. "
                    "'english'), not a two-letter code, or 'multilingual'.",
                )
        with self.lock:
            now = self.clock.now()
            persona = None
            if persona_id:
                persona = self.personas.get(persona_id)
                if persona is None:
                    raise ApiError(400, "Invalid persona_id")
            if not replica_id:
                if persona is None or not persona.default_replica_id:
                    raise ApiError(
                        400,
                        "replica_id is required: pass one, or a persona_id whose "
                        "persona has a default replica",
                    )
                replica_id = persona.default_replica_id
            replica = self.replicas.get(replica_id)
            if replica is None:
                raise ApiError(400, "Invalid replica_id")
            status = replica.phase(now)[0]
            if status != "completed":
                raise ApiError(
                    400, f"Replica {replica_id} is not ready: its training status is {status}"
                )
            self._check_conversation_documents(document_ids, document_tags, now)
            if persona is None:  # without a persona Tavus uses its default one
                persona = next(iter(self.personas.values()), None)
            if not test_mode:
                active = sum(1 for c in self._settled_conversations(now) if c.ended_at is None)
                if active >= self.max_concurrent_conversations:
                    raise ApiError(400, "User has reached maximum concurrent conversations")
            cid = new_id("c")
            while cid in self.conversations:
                cid = new_id("c")
            self._conv_seq += 1
            c = Conversation(
                cid,
                name if name and name.strip() else f"Conversation with {replica.replica_name}",
                replica_id,
                replica.replica_name,
                persona.persona_id if persona else None,
                callback,
                now,
                now,
                self._conv_seq,
                test_mode,
                require_auth,
                secrets.token_urlsafe(24) if require_auth else None,
                float(duration),
                greeting,
                request={k: v for k, v in body.items() if k not in ("replica_id", "persona_id")},
                participant_absent_timeout=absent,
                participant_left_timeout=left,
                system_prompt=transcript.system_prompt(
                    replica.replica_name,
                    persona.persona_name if persona else None,
                    persona.system_prompt if persona else None,
                    context,
                ),
                perception=bool(persona and persona.perception_model in PERCEPTION_MODELS),
                enable_recording=enable_recording,
                recording_bucket=recording_bucket,
            )
            if test_mode:
                c.finish(now, "test_mode")
            self.conversations[cid] = c
            out = self._render_conversation(c, base_url, full=False)
            if c.meeting_token:
                out["meeting_token"] = c.meeting_token
            return out

    def _check_conversation_documents(self, ids: list[str], tags: list[str], now: float) -> None:
        """A conversation's own documents must exist and be ready (a recrawling one still
        serves its last crawl); its tags must be on some document."""
        for did in ids:
            d = self.documents.get(did)
            if d is None:
                raise ApiError(400, f"Invalid document_ids: document {did} does not exist")
            d.settle(now)
            if not d.usable(now):
                raise ApiError(400, f"Document {did} is not ready: its status is "
                                    f"{d.phase(now)[0]}")
        self._check_tags(tags)

    def list_conversations(self, query: dict[str, str], base_url: str) -> dict[str, Any]:
        limit = int_param(query, "limit", 10, 1, 1000)
        page = int_param(query, "page", 1)
        status = choice_param(query, "status", ("active", "ended"))
        with self.lock:
            convs = self._settled_conversations(self.clock.now())
            convs.sort(key=lambda c: (c.created, c.seq), reverse=True)
            convs = [c for c in convs if status is None or c.status == status]
            start = (page - 1) * limit
            data = [
                self._render_conversation(c, base_url, full=True)
                for c in convs[start : start + limit]
            ]
            return {"data": data, "total_count": len(convs)}

    def get_conversation(
        self, conversation_id: str, query: dict[str, str], base_url: str
    ) -> dict[str, Any]:
        verbose = bool_param(query, "verbose")
        with self.lock:
            now = self.clock.now()
            c = self._conversation(conversation_id, now)
            out = self._render_conversation(c, base_url, full=True)
            if verbose:
                out["events"] = self._events(c, now)
            return out

    def end_conversation(self, conversation_id: str) -> None:
        with self.lock:
            now = self.clock.now()
            c = self._conversation(conversation_id, now)
            if c.ended_at is None:  # ending an ended one is a no-op, so retries are safe
                c.finish(now, "end_conversation_endpoint_hit")
                self._ended(c)

    def delete_conversation(self, conversation_id: str, query: dict[str, str]) -> None:
        bool_param(query, "hard")
        with self.lock:
            if conversation_id not in self.conversations:
                raise ApiError(400, "Invalid conversation_id")
            del self.conversations[conversation_id]

    def room(self, conversation_id: str) -> Conversation | None:
        """The conversation for the room page, timeouts applied (None when unknown)."""
        with self.lock:
            c = self.conversations.get(conversation_id)
            if c is not None:
                self._settle(c, self.clock.now())
            return c

    # -- what happens in the room (the room page and the /_sim hooks) ---------------------------
    def _live(self, conversation_id: str) -> tuple[Conversation, float]:
        """-> the conversation and now; KeyError when unknown."""
        c = self.conversations.get(conversation_id)
        if c is None:
            raise KeyError(conversation_id)
        now = self.clock.now()
        self._settle(c, now)
        return c, now

    def join(self, conversation_id: str) -> bool:
        """A person joins the room (the first join counts). False when the call has ended or is
        a test-mode one; KeyError when unknown."""
        with self.lock:
            c, now = self._live(conversation_id)
            if c.ended_at is not None or c.test_mode:
                return False
            if c.joined_at is None:
                c.joined_at = now
                c.updated = now
            return True

    def leave(self, conversation_id: str) -> None:
        """The person leaves: the call ends participant_left_timeout later (default at once)."""
        with self.lock:
            c, now = self._live(conversation_id)
            if c.ended_at is not None:
                return
            if c.joined_at is None:
                c.joined_at = now
            c.left_at = now
            self._settle(c, now)

    def set_recording(self, conversation_id: str, on: bool) -> None:
        """Start or stop recording in the room (ValueError when the call cannot record)."""
        with self.lock:
            c, now = self._live(conversation_id)
            if not c.enable_recording:
                raise ValueError("Recording is not enabled for this conversation")
            if c.ended_at is not None:
                raise ValueError("The conversation has ended")
            if c.joined_at is None:  # whoever presses Record is in the room
                c.joined_at = now
            if on and c.recording_since is None:
                c.recording_since = now
                c.ever_recorded = True
            elif not on and c.recording_since is not None:
                c.recorded_seconds += max(0.0, now - c.recording_since)
                c.recording_since = None

    def set_events(self, conversation_id: str, events: Any, *, append: bool) -> None:
        """Test hook: serve `events` raw, instead of the generated ones or after them."""
        with self.lock:
            c = self.conversations.get(conversation_id)
            if c is None:
                raise KeyError(conversation_id)
            if append:
                if not isinstance(events, list):
                    raise ValueError("events to append must be a list")
                c.events_extra.extend(events)
            else:
                c.events_replaced = True
                c.events_raw = events
