"""The one Tavus API client: typed results, one retry policy, no secret leaks.

Every Tavus path lives in this module (see the path constants below), so the 2026 rename to
/v2/faces and /v2/pals is one edit here. Plain Python: no Streamlit imports.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from lib.clock import parse_time  # re-exported: Tavus's ISO times, as aware UTC

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_VOICE_NAMES",
    "MODELS",
    "PREVIEW_MODEL",
    "Conversation",
    "ConversationPage",
    "CreatedReplica",
    "Document",
    "DocumentPage",
    "DocumentStatus",
    "ImageValidation",
    "Persona",
    "PersonaPage",
    "Replica",
    "ReplicaPage",
    "ReplicaStatus",
    "TavusClient",
    "TavusError",
    "ValidationCheck",
    "Voice",
    "conversation_body",
    "document_status",
    "item_id",
    "parse_progress",
    "parse_time",
    "replica_status",
]

logger = logging.getLogger("replica_studio.tavus")
T = TypeVar("T")

# The six stock voices named in Tavus's docs; only a fallback for when GET /v2/voices fails.
KNOWN_VOICE_NAMES = ("benjamin", "james", "liam", "anna", "julia", "ivy")
DEFAULT_MODEL = "phoenix-4"
MODELS = ("phoenix-4", "phoenix-3", "phoenix-4.5")

# --- Paths: the only place Tavus URLs are spelled out. -------------------------------------------
API_PREFIX = "/v2"
REPLICAS_PATH = f"{API_PREFIX}/replicas"
IMAGE_VALIDATION_PATH = f"{REPLICAS_PATH}/image-validation"
VOICES_PATH = f"{API_PREFIX}/voices"
CONVERSATIONS_PATH = f"{API_PREFIX}/conversations"
PERSONAS_PATH = f"{API_PREFIX}/personas"
DOCUMENTS_PATH = f"{API_PREFIX}/documents"


def _item_path(collection: str, item_id: str, *rest: str) -> str:
    """`collection/<id>[/rest…]`; the id is escaped so a stray '/' or '?' cannot change the call."""
    if not item_id:
        raise ValueError("An id is required")
    return "/".join([collection, quote(item_id, safe=""), *rest])


# --- Defaults ------------------------------------------------------------------------------------
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Tavus may ask for a long Retry-After; a dashboard user should not stare at a spinner for minutes,
# so we wait at most this long per retry and let the final 429 surface if it keeps refusing.
MAX_RETRY_AFTER_SECONDS = 30.0
# How many list pages are read at once on a full walk; a 429 halves it for the rest of the walk.
PAGES_IN_FLIGHT = 8
MAX_THROTTLED_RETRIES = 6  # 429s on one page before the walk gives up
# The image-validation call accepts a request body of at most 30 MiB.
MAX_VALIDATION_BODY_BYTES = 30 * 1024 * 1024

# Transport failures worth another try on a safe call: nothing durable happened, or it is harmless
# to repeat. LocalProtocolError / UnsupportedProtocol are our own bugs, so they are not retried.
_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


# --- Status and progress -------------------------------------------------------------------------
# The one model with a preview stage (tavus-api.md, "Phoenix-4.5 stages").
PREVIEW_MODEL = "phoenix-4.5"


class ReplicaStatus(StrEnum):
    READY = "ready"  # done: phoenix-4/3 completed, or phoenix-4.5 tuned (no watermark)
    PREVIEW = "preview"  # phoenix-4.5: the watermarked preview is usable, tuning is under way
    PREVIEW_ONLY = "preview_only"  # phoenix-4.5: tuning failed; the watermarked preview stays
    TRAINING = "training"  # not usable yet
    FAILED = "failed"  # not usable, and never will be

    @property
    def usable(self) -> bool:
        """Can join a conversation (a preview can, watermarked)."""
        return self in _USABLE

    @property
    def still_changing(self) -> bool:
        """Tavus will move it on by itself: worth refreshing until it settles."""
        return self in _STILL_CHANGING


_USABLE = frozenset({ReplicaStatus.READY, ReplicaStatus.PREVIEW, ReplicaStatus.PREVIEW_ONLY})
_STILL_CHANGING = frozenset({ReplicaStatus.TRAINING, ReplicaStatus.PREVIEW})


def _lowered(value: object) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def replica_status(
    item_or_status: Mapping[str, Any] | object,
    finetune_status: object = None,
    model_name: object = None,
) -> ReplicaStatus:
    """THE one status mapping: a Tavus replica object as received, or its raw fields.

    Given a mapping, its `status`, `finetune_status` and `model_name` are read (the other two
    arguments are then ignored). `status`: the API says "completed", the webhook "ready", others
    "training"; "error" is a failure; anything else is still training.

    Only phoenix-4.5 has a preview stage, so only there does a completed status depend on
    `finetune_status`: "completed" -> READY (tuned), "errored" -> PREVIEW_ONLY (tuning failed,
    the watermarked preview stays usable), anything else, null included -> PREVIEW (tuning under
    way). For every other model (phoenix-4 sends finetune_status null) completed is READY: an
    absent or unknown model must not leave a finished replica looking unfinished forever.
    """
    # Type checks in order of likelihood: this runs for every row of a 10,000-replica load.
    kind = type(item_or_status)
    if kind is not str and (kind is dict or isinstance(item_or_status, Mapping)):
        get = item_or_status.get
        raw, finetune_status, model_name = get("status"), get("finetune_status"), get("model_name")
    else:
        raw = item_or_status
    normalized = raw.strip().lower() if type(raw) is str else ""
    if normalized in ("completed", "ready"):
        if model_name != PREVIEW_MODEL and (
            type(model_name) is not str or model_name.strip().lower() != PREVIEW_MODEL
        ):
            return ReplicaStatus.READY
        tuning = _lowered(finetune_status)
        if tuning == "completed":
            return ReplicaStatus.READY
        if tuning == "errored":
            return ReplicaStatus.PREVIEW_ONLY
        return ReplicaStatus.PREVIEW
    if normalized == "error":
        return ReplicaStatus.FAILED
    return ReplicaStatus.TRAINING


def parse_progress(raw: str | None) -> int | None:
    """'42/100' -> 42, '3/4' -> 75 (percent, clamped to 0..100); anything unreadable -> None."""
    if not isinstance(raw, str) or "/" not in raw:
        return None
    done_text, _, total_text = raw.partition("/")
    try:
        done, total = float(done_text), float(total_text)
    except ValueError:
        return None
    if total <= 0 or not math.isfinite(done) or not math.isfinite(total):
        return None
    # Floor, so a replica never shows 100 % before Tavus itself says 100/100.
    return max(0, min(100, math.floor(done * 100 / total)))


class DocumentStatus(StrEnum):
    STARTED = "started"  # accepted, not yet processing
    PROCESSING = "processing"  # downloading, reading, indexing (with progress 0-100)
    READY = "ready"  # a persona or a conversation can use it
    ERROR = "error"  # failed: error_message holds Tavus's code
    RECRAWLING = "recrawling"  # a website fetched again; the last content stays usable

    @property
    def still_changing(self) -> bool:
        """Tavus will move it on by itself: worth refreshing until it settles."""
        return self in (DocumentStatus.STARTED, DocumentStatus.PROCESSING,
                        DocumentStatus.RECRAWLING)


def document_status(raw: object) -> DocumentStatus:
    """THE one document status mapping: Tavus's string as received. Anything unknown is still
    processing (a new status must not look finished, nor failed)."""
    normalized = raw.strip().lower() if isinstance(raw, str) else ""
    try:
        return DocumentStatus(normalized)
    except ValueError:
        return DocumentStatus.PROCESSING


# --- Errors --------------------------------------------------------------------------------------
class TavusError(Exception):
    """A Tavus call that did not succeed. `str()` is fit to show a user; it never holds the key."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
        summary: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.response = response
        self.retry_after = retry_after
        # Only the readable summary goes into args, so repr()/tracebacks stay short and key-free.
        super().__init__(summary or message)

    def __str__(self) -> str:
        return str(self.args[0])


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date; anything else is ignored."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _tavus_text(response: httpx.Response) -> str | None:
    """Tavus's own words: {"error": ...} for 400/404, {"message": ...} for 401."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        for key in ("error", "message"):
            text = body.get(key)
            if isinstance(text, str) and text.strip():
                return text.strip()
    return None


# --- Result types --------------------------------------------------------------------------------
def _opt_str(value: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _str(value: Any) -> str:
    return value if type(value) is str else ("" if value is None else str(value))


def item_id(item: Mapping[str, Any]) -> str:
    """The replica_id of a Tavus list item as received, read as `Replica.from_api` reads it."""
    return _str(item.get("replica_id"))


def _dicts(value: Any) -> list[dict]:
    """A list of JSON objects, skipping anything else Tavus might put in there."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _strs(value: Any) -> list[str]:
    """A list of strings, skipping anything else."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    return None


def _total(d: Mapping[str, Any], fallback: int) -> int:
    value = d.get("total_count")
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


@dataclass(frozen=True)
class Replica:
    replica_id: str
    replica_name: str
    status: str  # Tavus's raw string; use .state for the mapped value
    training_progress: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    error_message: str | None = None
    replica_type: str | None = None
    model_name: str | None = None
    thumbnail_video_url: str | None = None
    finetune_status: str | None = None  # phoenix-4.5's tuning; see replica_status
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Replica:
        # The hot path of a 10,000-replica load (bench/): the instance's fields are set in one
        # __dict__ update instead of a frozen __init__'s object.__setattr__ per field. Every
        # field is set here; the instance is frozen like any other afterwards.
        get = d.get
        replica = object.__new__(cls)
        replica.__dict__.update(
            replica_id=_str(get("replica_id")),
            replica_name=_str(get("replica_name")),
            status=_str(get("status")),
            training_progress=_opt_str(get("training_progress")),
            created_at=_opt_str(get("created_at")),
            updated_at=_opt_str(get("updated_at")),
            error_message=_opt_str(get("error_message")),
            replica_type=_opt_str(get("replica_type")),
            model_name=_opt_str(get("model_name")),
            thumbnail_video_url=_opt_str(get("thumbnail_video_url")),
            finetune_status=_opt_str(get("finetune_status")),
            # A freshly parsed JSON object is ours to keep; copy only what someone else owns.
            raw=d if type(d) is dict else dict(d),
        )
        return replica

    # Cached: a 10,000-row table asks every replica for these several times per refresh.
    # (cached_property writes the instance __dict__ directly, so it works on a frozen class.)
    @cached_property
    def state(self) -> ReplicaStatus:
        return replica_status(self.status, self.finetune_status, self.model_name)

    @property
    def usable(self) -> bool:
        """Can join a conversation now (READY, or a phoenix-4.5 preview)."""
        return self.state.usable

    @property
    def still_changing(self) -> bool:
        """Still training or tuning: Tavus will change it without anyone asking."""
        return self.state.still_changing

    @cached_property
    def progress(self) -> int | None:
        return parse_progress(self.training_progress)

    def as_item(self) -> dict[str, str | None]:
        """This replica as a Tavus list item (from its fields, not `raw`: see ReplicaPage)."""
        return {name: getattr(self, name) for name in _ITEM_FIELDS}


_ITEM_FIELDS = tuple(f.name for f in fields(Replica) if f.name != "raw")


@dataclass(frozen=True)
class ReplicaPage:
    """One page of `GET /v2/replicas`.

    `items` are Tavus's objects as received (JSON objects only), for callers that read thousands
    (the table builds its columns straight from them); `replicas` makes `Replica` objects of
    them on first use.
    """

    items: list[dict[str, Any]]
    total_count: int

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> ReplicaPage:
        items = _dicts(d.get("data"))
        return cls(items=items, total_count=_total(d, len(items)))

    @cached_property
    def replicas(self) -> list[Replica]:
        return [Replica.from_api(item) for item in self.items]


@dataclass(frozen=True)
class CreatedReplica:
    replica_id: str
    status: str
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> CreatedReplica:
        return cls(replica_id=_str(d.get("replica_id")), status=_str(d.get("status")), raw=dict(d))


@dataclass(frozen=True)
class Voice:
    voice_name: str
    replica_id: str | None = None
    audio_url: str | None = None
    tags: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Voice:
        # Tags arrive as [{"tag_name": ...}]; accept bare strings too rather than drop them.
        tags: list[str] = []
        for tag in d.get("tags") or []:
            name = tag.get("tag_name") if isinstance(tag, dict) else tag
            if isinstance(name, str) and name:
                tags.append(name)
        return cls(
            voice_name=_str(d.get("voice_name")),
            replica_id=_opt_str(d.get("replica_id")),
            audio_url=_opt_str(d.get("audio_url")),
            tags=tags,
            raw=dict(d),
        )


@dataclass(frozen=True)
class ValidationCheck:
    id: str
    label: str
    passed: bool

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> ValidationCheck:
        return cls(id=_str(d.get("id")), label=_str(d.get("label")), passed=d.get("passed") is True)


@dataclass(frozen=True)
class ImageValidation:
    passed: bool
    checks: list[ValidationCheck] = field(default_factory=list)
    details: Any = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> ImageValidation:
        return cls(
            # Only an explicit true passes: a missing verdict must not look like a green light.
            passed=d.get("passed") is True,
            checks=[ValidationCheck.from_api(c) for c in _dicts(d.get("checks"))],
            details=d.get("details"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    conversation_name: str | None = None
    conversation_url: str | None = None
    status: str | None = None
    replica_id: str | None = None
    persona_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    callback_url: str | None = None
    # A join credential for a private room: keep it out of repr() and so out of logs.
    meeting_token: str | None = field(default=None, repr=False)
    events: list[dict] | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Conversation:
        events = d.get("events")
        return cls(
            conversation_id=_str(d.get("conversation_id")),
            conversation_name=_opt_str(d.get("conversation_name")),
            conversation_url=_opt_str(d.get("conversation_url")),
            status=_opt_str(d.get("status")),
            replica_id=_opt_str(d.get("replica_id")),
            persona_id=_opt_str(d.get("persona_id")),
            created_at=_opt_str(d.get("created_at")),
            updated_at=_opt_str(d.get("updated_at")),
            callback_url=_opt_str(d.get("callback_url")),
            meeting_token=_opt_str(d.get("meeting_token")),
            events=_dicts(events) if isinstance(events, list) else None,
            raw=dict(d),
        )


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[Conversation]
    total_count: int

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> ConversationPage:
        items = [Conversation.from_api(item) for item in _dicts(d.get("data"))]
        return cls(conversations=items, total_count=_total(d, len(items)))


@dataclass(frozen=True)
class Persona:
    persona_id: str
    persona_name: str | None = None
    default_replica_id: str | None = None
    system_prompt: str | None = None
    document_ids: tuple[str, ...] = ()
    document_tags: tuple[str, ...] = ()
    persona_type: str | None = None  # "user" or "system" (stock) where Tavus says it
    created_at: str | None = None
    updated_at: str | None = None
    # The whole object as Tavus sent it (layers included, which may hold a custom LLM's key:
    # never shown, never logged; kept out of repr()).
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Persona:
        return cls(
            persona_id=_str(d.get("persona_id")),
            persona_name=_opt_str(d.get("persona_name")),
            default_replica_id=_opt_str(d.get("default_replica_id")) or None,
            system_prompt=_opt_str(d.get("system_prompt")),
            document_ids=tuple(_strs(d.get("document_ids"))),
            document_tags=tuple(_strs(d.get("document_tags"))),
            persona_type=_opt_str(d.get("persona_type")),
            created_at=_opt_str(d.get("created_at")),
            updated_at=_opt_str(d.get("updated_at")),
            raw=dict(d),
        )

    @property
    def layers(self) -> dict:
        value = self.raw.get("layers")
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class PersonaPage:
    personas: list[Persona]
    total_count: int

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> PersonaPage:
        items = [Persona.from_api(item) for item in _dicts(d.get("data"))]
        return cls(personas=items, total_count=_total(d, len(items)))


@dataclass(frozen=True)
class Document:
    """A knowledge-base document (a file or a website) as Tavus reports it."""

    document_id: str
    document_name: str | None = None
    document_url: str | None = field(default=None, repr=False)  # may be a presigned URL
    status: str = ""  # Tavus's raw string; use .state for the mapped value
    progress: int | None = None
    error_message: str | None = None
    tags: tuple[str, ...] = ()
    created_at: str | None = None
    updated_at: str | None = None
    crawl_depth: int | None = None
    crawl_max_pages: int | None = None
    crawled_urls: tuple[str, ...] = ()
    last_crawled_at: str | None = None
    crawl_count: int | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Document:
        crawl = d.get("crawl_config") if isinstance(d.get("crawl_config"), dict) else {}
        return cls(
            document_id=_str(d.get("document_id")),
            document_name=_opt_str(d.get("document_name")),
            document_url=_opt_str(d.get("document_url")),
            status=_str(d.get("status")),
            progress=_opt_int(d.get("progress")),
            error_message=_opt_str(d.get("error_message")) or None,
            tags=tuple(_strs(d.get("tags"))),
            created_at=_opt_str(d.get("created_at")),
            updated_at=_opt_str(d.get("updated_at")),
            crawl_depth=_opt_int(crawl.get("depth")),
            crawl_max_pages=_opt_int(crawl.get("max_pages")),
            crawled_urls=tuple(_strs(d.get("crawled_urls"))),
            last_crawled_at=_opt_str(d.get("last_crawled_at")),
            crawl_count=_opt_int(d.get("crawl_count")),
            raw=dict(d),
        )

    @property
    def state(self) -> DocumentStatus:
        return document_status(self.status)

    @property
    def crawled(self) -> bool:
        """A website crawled from a starting URL (Tavus reports its crawl settings)."""
        return self.crawl_depth is not None or self.crawl_max_pages is not None


@dataclass(frozen=True)
class DocumentPage:
    documents: list[Document]
    total_count: int

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> DocumentPage:
        items = [Document.from_api(item) for item in _dicts(d.get("data"))]
        return cls(documents=items, total_count=_total(d, len(items)))


# --- The client ----------------------------------------------------------------------------------
def _query(**params: Any) -> dict[str, Any]:
    """Drop unset parameters: httpx would otherwise send `name=` for None."""
    return {name: value for name, value in params.items() if value is not None}


def conversation_body(
    *,
    replica_id: str,
    persona_id: str | None = None,
    conversation_name: str | None = None,
    conversational_context: str | None = None,
    custom_greeting: str | None = None,
    callback_url: str | None = None,
    test_mode: bool = False,
    require_auth: bool = False,
    max_participants: int | None = None,
    properties: Mapping[str, Any] | None = None,
    document_ids: Sequence[str] | None = None,
    document_tags: Sequence[str] | None = None,
    document_retrieval_strategy: str | None = None,
) -> dict[str, Any]:
    """The exact POST /v2/conversations body `create_conversation` sends (a rehearsal shows it)."""
    return _query(
        replica_id=replica_id,
        persona_id=persona_id,
        conversation_name=conversation_name,
        conversational_context=conversational_context,
        custom_greeting=custom_greeting,
        callback_url=callback_url,
        test_mode=test_mode,
        require_auth=require_auth,
        max_participants=max_participants,
        properties=dict(properties) if properties is not None else None,
        document_ids=list(document_ids) if document_ids else None,
        document_tags=list(document_tags) if document_tags else None,
        document_retrieval_strategy=document_retrieval_strategy,
    )


class TavusClient:
    """Synchronous Tavus client over one httpx.Client (thread-safe, so one per app is enough).

    Retry policy: safe calls (GETs, validate_image, rename, delete, end_conversation) retry up to
    `max_retries` times on 429, 5xx, timeouts and connection failures. Creates retry only on 429:
    after a 5xx or a timeout the replica/conversation may exist, and a blind retry would make a
    second one (a second bill). Other 4xx are never retried. Waits honour Retry-After (at most
    MAX_RETRY_AFTER_SECONDS), otherwise exponential backoff with jitter capped at
    `max_backoff_seconds`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # A pasted key often carries a trailing newline, which is not a legal header value.
        api_key = (api_key or "").strip()
        if not api_key:
            raise ValueError("A Tavus API key is required")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max(0, max_retries)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._api_key = api_key  # kept only to scrub it from any text we pass on
        self._sleep = sleep
        self._random = random.Random()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"x-api-key": api_key, "accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"TavusClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TavusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Replicas --------------------------------------------------------------------------------
    def list_replicas(
        self,
        *,
        page: int = 1,
        limit: int = 100,
        verbose: bool = True,
        replica_type: str | None = None,
        replica_ids: Sequence[str] | None = None,
        model_name: str | None = None,
    ) -> ReplicaPage:
        if replica_ids is not None and not isinstance(replica_ids, str):
            replica_ids = ",".join(replica_ids)
        params = _query(
            page=page,
            limit=limit,
            verbose=verbose,
            replica_type=replica_type,
            replica_ids=replica_ids,
            model_name=model_name,
        )
        return ReplicaPage.from_api(self._get_json(REPLICAS_PATH, params))

    def list_all_replicas(
        self,
        *,
        page_size: int = 100,
        replica_type: str | None = None,
        model_name: str | None = None,
        verbose: bool = True,
        concurrency: int = PAGES_IN_FLIGHT,
    ) -> list[Replica]:
        """Every matching replica: page 1, then the other pages `concurrency` at a time."""

        def fetch(page: int) -> tuple[list[Replica], int]:
            result = self.list_replicas(
                page=page,
                limit=page_size,
                verbose=verbose,
                replica_type=replica_type,
                model_name=model_name,
            )
            return result.replicas, result.total_count

        return walk_pages(fetch, key=lambda replica: replica.replica_id,
                          concurrency=concurrency)[0]

    def get_replica(self, replica_id: str, *, verbose: bool = True) -> Replica:
        path = _item_path(REPLICAS_PATH, replica_id)
        return Replica.from_api(self._get_json(path, {"verbose": verbose}))

    def create_replica_from_image(
        self,
        *,
        train_image_url: str,
        voice_name: str,
        replica_name: str | None = None,
        auto_fix_training_image: bool = True,
        callback_url: str | None = None,
        model_name: str = DEFAULT_MODEL,
        background_green_screen: bool | None = None,
    ) -> CreatedReplica:
        return self._create_replica(
            {
                "train_image_url": train_image_url,
                "voice_name": voice_name,
                "auto_fix_training_image": auto_fix_training_image,
            },
            replica_name=replica_name,
            callback_url=callback_url,
            model_name=model_name,
            background_green_screen=background_green_screen,
        )

    def create_replica_from_video(
        self,
        *,
        train_video_url: str,
        consent_video_url: str | None = None,
        replica_name: str | None = None,
        model_name: str = DEFAULT_MODEL,
        callback_url: str | None = None,
        background_green_screen: bool = False,
    ) -> CreatedReplica:
        """Train from a recording. Tavus clones the voice from it, so no voice_name is sent (one
        sent anyway would still be validated, and could fail the create for nothing). Without a
        consent_video_url the training clip itself must open with the consent statement."""
        return self._create_replica(
            {"train_video_url": train_video_url, "consent_video_url": consent_video_url},
            replica_name=replica_name,
            callback_url=callback_url,
            model_name=model_name,
            background_green_screen=background_green_screen,
        )

    def _create_replica(
        self,
        source: Mapping[str, Any],
        *,
        replica_name: str | None,
        callback_url: str | None,
        model_name: str,
        background_green_screen: bool | None,
    ) -> CreatedReplica:
        """POST /v2/replicas: the training source's fields plus the options both paths share."""
        body = _query(
            **source,
            replica_name=replica_name,
            callback_url=callback_url,
            model_name=model_name,
        )
        if background_green_screen is not None:
            body["properties"] = {"background_green_screen": background_green_screen}
        response = self._request("POST", REPLICAS_PATH, json=body, safe=False)
        created = CreatedReplica.from_api(self._json_object(response))
        if not created.replica_id:
            # Without an id we could never poll it; say so instead of tracking a ghost.
            raise self._unreadable(response, "no replica_id in the answer")
        return created

    def rename_replica(self, replica_id: str, replica_name: str) -> None:
        path = _item_path(REPLICAS_PATH, replica_id, "name")
        self._request("PATCH", path, json={"replica_name": replica_name})

    def delete_replica(self, replica_id: str, *, hard: bool = False) -> None:
        """Soft delete by default; hard=True also erases training assets, irreversibly."""
        path = _item_path(REPLICAS_PATH, replica_id)
        self._request("DELETE", path, params={"hard": True} if hard else None)

    def validate_image(
        self, image: bytes, mime_type: str, *, model: str = DEFAULT_MODEL
    ) -> ImageValidation:
        """Ask Tavus whether an image suits training. A 200 means the check ran; read `.passed`."""
        body = {
            "imageBase64": base64.b64encode(image).decode("ascii"),  # no data: prefix
            "mimeType": mime_type,
            "model": model,
        }
        if len(body["imageBase64"]) > MAX_VALIDATION_BODY_BYTES:
            raise ValueError("Image too large for Tavus's validation call (30 MiB limit)")
        response = self._request("POST", IMAGE_VALIDATION_PATH, json=body)
        return ImageValidation.from_api(self._json_object(response))

    # --- Voices ----------------------------------------------------------------------------------
    def list_voices(self) -> list[Voice]:
        """All stock voices, every page (Tavus caps a page at 100)."""

        def fetch(page: int) -> tuple[list[Voice], int]:
            d = self._get_json(VOICES_PATH, {"page": page, "limit": 100})
            voices = [Voice.from_api(item) for item in _dicts(d.get("data"))]
            return voices, _total(d, len(voices))

        return walk_pages(fetch, key=lambda voice: voice.voice_name)[0]

    # --- Conversations ---------------------------------------------------------------------------
    def create_conversation(self, **request: Any) -> Conversation:
        """Start a conversation (arguments: `conversation_body`'s). It bills and counts toward
        concurrency until ended (a `test_mode` one does neither: the replica does not join)."""
        body = conversation_body(**request)
        response = self._request("POST", CONVERSATIONS_PATH, json=body, safe=False)
        conversation = Conversation.from_api(self._json_object(response))
        if not conversation.conversation_id:
            raise self._unreadable(response, "no conversation_id in the answer")
        return conversation

    def list_conversations(
        self, *, page: int = 1, limit: int = 25, status: str | None = None
    ) -> ConversationPage:
        params = _query(page=page, limit=limit, status=status)
        return ConversationPage.from_api(self._get_json(CONVERSATIONS_PATH, params))

    def list_all_conversations(
        self,
        *,
        page_size: int = 100,
        status: str | None = None,
        concurrency: int = PAGES_IN_FLIGHT,
    ) -> tuple[list[Conversation], int]:
        """Every conversation of the account (or of one status) and the list's total_count: page
        1, then the other pages `concurrency` at a time. Tavus's list order is undocumented:
        sort the result yourself."""

        def fetch(page: int) -> tuple[list[Conversation], int]:
            result = self.list_conversations(page=page, limit=page_size, status=status)
            return result.conversations, result.total_count

        return walk_pages(fetch, key=lambda c: c.conversation_id, concurrency=concurrency)

    def get_conversation(self, conversation_id: str, *, verbose: bool = False) -> Conversation:
        path = _item_path(CONVERSATIONS_PATH, conversation_id)
        return Conversation.from_api(self._get_json(path, {"verbose": verbose}))

    def end_conversation(self, conversation_id: str) -> None:
        # Ending twice is harmless, so this counts as a safe (retried) call.
        self._request("POST", _item_path(CONVERSATIONS_PATH, conversation_id, "end"))

    def delete_conversation(self, conversation_id: str, *, hard: bool = False) -> None:
        path = _item_path(CONVERSATIONS_PATH, conversation_id)
        self._request("DELETE", path, params={"hard": True} if hard else None)

    # --- Personas --------------------------------------------------------------------------------
    def list_personas(
        self, *, page: int = 1, limit: int = 100, persona_type: str | None = None
    ) -> PersonaPage:
        params = _query(page=page, limit=limit, persona_type=persona_type)
        return PersonaPage.from_api(self._get_json(PERSONAS_PATH, params))

    def list_all_personas(
        self, *, persona_type: str | None = None, page_size: int = 100,
        concurrency: int = PAGES_IN_FLIGHT,
    ) -> tuple[list[Persona], int]:
        """Every persona of the account (or of one type: "user", "system") and total_count."""

        def fetch(page: int) -> tuple[list[Persona], int]:
            result = self.list_personas(page=page, limit=page_size, persona_type=persona_type)
            return result.personas, result.total_count

        return walk_pages(fetch, key=lambda p: p.persona_id, concurrency=concurrency)

    def get_persona(self, persona_id: str) -> Persona:
        """One persona, whole (Tavus answers `{"data": [persona]}`; a bare object is read too)."""
        body = self._get_json(_item_path(PERSONAS_PATH, persona_id))
        items = _dicts(body.get("data"))
        found = Persona.from_api(items[0] if items else body)
        if not found.persona_id:
            raise TavusError(f"Tavus did not return persona {persona_id}.", status_code=404)
        return found

    def create_persona(self, body: Mapping[str, Any]) -> Persona:
        """Create a persona from the request body (lib/personas builds it). Not retried."""
        response = self._request("POST", PERSONAS_PATH, json=dict(body), safe=False)
        made = Persona.from_api(self._json_object(response))
        if not made.persona_id:
            raise self._unreadable(response, "no persona_id in the answer")
        return made

    def patch_persona(self, persona_id: str, operations: Sequence[Mapping[str, Any]]) -> bool:
        """Apply a JSON Patch (RFC 6902) to a persona; False when Tavus made no change (304).
        A patch replaces the same values whenever it is sent, so it is safe to retry."""
        path = _item_path(PERSONAS_PATH, persona_id)
        response = self._request("PATCH", path, json=[dict(op) for op in operations])
        return response.status_code != 304

    def delete_persona(self, persona_id: str) -> None:
        self._request("DELETE", _item_path(PERSONAS_PATH, persona_id))

    # --- Documents (knowledge base) --------------------------------------------------------------
    def create_document(
        self,
        *,
        document_url: str,
        document_name: str | None = None,
        tags: Sequence[str] | None = None,
        callback_url: str | None = None,
        crawl_depth: int | None = None,
        crawl_max_pages: int | None = None,
    ) -> Document:
        """Add a document from a URL Tavus downloads (a presigned GET) or a website (crawled
        with `crawl_depth`/`crawl_max_pages`). Processing runs at Tavus; follow its status."""
        crawl = _query(depth=crawl_depth, max_pages=crawl_max_pages) or None
        body = _query(document_url=document_url, document_name=document_name,
                      tags=list(tags) if tags else None, callback_url=callback_url, crawl=crawl)
        response = self._request("POST", DOCUMENTS_PATH, json=body, safe=False)
        made = Document.from_api(self._json_object(response))
        if not made.document_id:
            raise self._unreadable(response, "no document_id in the answer")
        return made

    def list_documents(
        self,
        *,
        page: int = 0,
        limit: int = 100,
        sort: str | None = None,
        status: str | None = None,
        name_or_uuid: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> DocumentPage:
        """One page of documents. Tavus numbers these pages from 0 (unlike replicas)."""
        params = _query(page=page, limit=limit, sort=sort, status=status,
                        name_or_uuid=name_or_uuid, tags=",".join(tags) if tags else None)
        return DocumentPage.from_api(self._get_json(DOCUMENTS_PATH, params))

    def list_all_documents(
        self, *, status: str | None = None, page_size: int = 100,
        concurrency: int = PAGES_IN_FLIGHT,
    ) -> tuple[list[Document], int]:
        """Every document of the account (or of one status) and the list's total_count."""

        def fetch(page: int) -> tuple[list[Document], int]:
            # walk_pages counts from 1; the documents list from 0.
            result = self.list_documents(page=page - 1, limit=page_size, status=status,
                                         sort="descending")
            return result.documents, result.total_count

        return walk_pages(fetch, key=lambda d: d.document_id, concurrency=concurrency)

    def get_document(self, document_id: str) -> Document:
        return Document.from_api(self._get_json(_item_path(DOCUMENTS_PATH, document_id)))

    def update_document(
        self, document_id: str, *, document_name: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> Document:
        """Rename and/or retag (the tags sent replace the document's tags)."""
        body = _query(document_name=document_name, tags=list(tags) if tags is not None else None)
        response = self._request("PATCH", _item_path(DOCUMENTS_PATH, document_id), json=body)
        if not response.content.strip():
            return self.get_document(document_id)
        return Document.from_api(self._json_object(response))

    def delete_document(self, document_id: str) -> None:
        self._request("DELETE", _item_path(DOCUMENTS_PATH, document_id))

    def recrawl_document(self, document_id: str) -> None:
        """Fetch a crawled website again (Tavus allows one recrawl an hour per document)."""
        self._request("POST", _item_path(DOCUMENTS_PATH, document_id, "recrawl"), safe=False)

    # --- Plumbing --------------------------------------------------------------------------------
    def _get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._json_object(self._request("GET", path, params=params))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        safe: bool = True,
    ) -> httpx.Response:
        """One Tavus call with the retry policy applied. Returns a 2xx response or raises."""
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.warning(
                    "%s %s -> %s (%.0f ms)", method, path, type(exc).__name__, elapsed_ms
                )
                retryable = safe and isinstance(exc, _RETRYABLE_TRANSPORT_ERRORS)
                if retryable and attempt < self.max_retries:
                    self._wait(method, path, attempt, None)
                    attempt += 1
                    continue
                raise self._transport_error(exc, safe=safe) from exc

            elapsed_ms = (time.perf_counter() - started) * 1000
            # Path only: never the query string, headers or bodies.
            logger.info("%s %s -> %d (%.0f ms)", method, path, response.status_code, elapsed_ms)
            status = response.status_code
            if status < 400:
                return response
            retry_after = _parse_retry_after(response.headers.get("retry-after"))
            retryable = status == 429 or (safe and status >= 500)
            if retryable and attempt < self.max_retries:
                self._wait(method, path, attempt, retry_after if status == 429 else None)
                attempt += 1
                continue
            raise self._status_error(response, retry_after if status == 429 else None)

    def _wait(self, method: str, path: str, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, MAX_RETRY_AFTER_SECONDS)
        else:
            # Exponential backoff with "equal jitter": half fixed, half random, so a crowd of
            # clients does not come back in lockstep.
            ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
            delay = ceiling / 2 + self._random.uniform(0, ceiling / 2)
        logger.info(
            "%s %s: retrying in %.2f s (retry %d of %d)",
            method,
            path,
            delay,
            attempt + 1,
            self.max_retries,
        )
        self._sleep(delay)

    def _scrub(self, text: str) -> str:
        """Belt and braces: whatever Tavus or httpx says, the key never leaves in our text."""
        return text.replace(self._api_key, "[redacted]")

    def _status_error(self, response: httpx.Response, retry_after: float | None) -> TavusError:
        status = response.status_code
        text = _tavus_text(response)
        if text is not None:
            text = self._scrub(text)
            summary = f"Tavus answered {status}: {text}"
            message = text
        else:
            message = summary = f"Tavus answered {status} {response.reason_phrase}".rstrip()
        return TavusError(
            message,
            status_code=status,
            response=response,
            retry_after=retry_after,
            summary=summary,
        )

    @staticmethod
    def _transport_error(exc: httpx.TransportError, *, safe: bool) -> TavusError:
        if isinstance(exc, httpx.TimeoutException):
            reason = "timed out"
        elif isinstance(exc, httpx.ConnectError):
            reason = "connection failed"
        elif isinstance(exc, httpx.RemoteProtocolError):
            reason = "the connection closed without an answer"
        else:
            reason = type(exc).__name__
        message = f"Could not reach Tavus: {reason}"
        if not safe and not isinstance(exc, httpx.ConnectError):
            # The request may have landed: the user should look before creating a second one.
            message += " (the request may still have gone through; check before trying again)"
        return TavusError(message, status_code=None, response=None)

    def _unreadable(self, response: httpx.Response, why: str) -> TavusError:
        return TavusError(
            f"Tavus sent an unreadable answer ({why}).",
            status_code=response.status_code,
            response=response,
        )

    def _json_object(self, response: httpx.Response) -> dict[str, Any]:
        if not response.content.strip():
            raise self._unreadable(response, "empty body")
        try:
            body = response.json()
        except ValueError:
            raise self._unreadable(response, "not valid JSON") from None
        if not isinstance(body, dict):
            raise self._unreadable(response, "expected a JSON object")
        return body


def walk_pages(
    fetch: Callable[[int], tuple[list[T], int]],
    *,
    key: Callable[[T], str],
    concurrency: int = 1,
    on_page: Callable[[list[T], int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[T], int]:
    """Every item of a Tavus list and the list's total_count: the one paging function of the app.

    `fetch(page)` returns one page's items and total_count (pages are 1-based). Page 1 comes
    first and tells how many pages there are; the rest are read `concurrency` at a time (round
    trips, not pages, make the cost at internet latency). Items are de-duplicated by `key`: a
    create between two reads shifts items onto the next page, so when the pages fall short of
    total_count the walk goes on past the last page until a page brings nothing new. A page that
    brings nothing new before the end also stops further pages: a server ignoring `page` cannot
    loop us. A 429 slows the walk down instead of failing it: that page waits Retry-After (or
    1 s) and goes again, with half as many pages in flight from then on.

    `on_page(new_items, total_count)` is called, from the calling thread, as each page arrives.
    """
    collected: dict[str, T] = {}
    by_page: dict[int, list[T]] = {}  # what each page brought first, to return pages in order
    total_count = 0

    def take(page: int, items: list[T], total: int) -> bool:
        nonlocal total_count
        total_count = total
        new = [item for item in items if key(item) not in collected]
        collected.update((key(item), item) for item in new)
        by_page[page] = new
        if on_page is not None and new:
            on_page(new, total)
        return bool(new)

    def in_page_order() -> list[T]:
        return [item for page in sorted(by_page) for item in by_page[page]]

    throttled = 0

    def throttle(error: TavusError) -> None:
        nonlocal throttled
        throttled += 1
        if throttled > MAX_THROTTLED_RETRIES:
            raise error
        wait = min(error.retry_after if error.retry_after is not None else 1.0,
                   MAX_RETRY_AFTER_SECONDS)
        logger.info("list paging throttled (429): waiting %.1f s", wait)
        sleep(wait)

    def fetch_patiently(page: int) -> tuple[list[T], int]:
        while True:
            try:
                return fetch(page)
            except TavusError as error:
                if error.status_code != 429:
                    raise
                throttle(error)

    first, total = fetch_patiently(1)
    if not take(1, first, total) or len(collected) >= total:
        return in_page_order(), total_count
    page_size = len(first)
    last_page = max(1, math.ceil(total / page_size))
    waiting = list(range(2, last_page + 1))
    in_flight_limit = max(1, concurrency)
    stopped = False  # a page brought nothing new: no further pages are started
    if waiting:
        with ThreadPoolExecutor(max_workers=in_flight_limit,
                                thread_name_prefix="tavus-pages") as pool:
            running: dict[Future, int] = {}
            try:
                while running or (waiting and not stopped):
                    while waiting and not stopped and len(running) < in_flight_limit:
                        page = waiting.pop(0)
                        running[pool.submit(fetch, page)] = page
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in sorted(done, key=running.__getitem__):
                        page = running.pop(future)
                        try:
                            items, total = future.result()
                        except TavusError as error:
                            if error.status_code != 429:
                                raise
                            waiting.insert(0, page)
                            in_flight_limit = max(1, in_flight_limit // 2)
                            throttle(error)
                            continue
                        if not take(page, items, total) and page < last_page:
                            stopped = True
            finally:
                for future in running:
                    future.cancel()
    # Short of total_count (items shifted by creates during the walk): read on, one at a time.
    page = last_page
    while not stopped and len(collected) < total_count:
        page += 1
        if not take(page, *fetch_patiently(page)):
            break
    return in_page_order(), total_count
