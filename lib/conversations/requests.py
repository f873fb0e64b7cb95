"""Starting a conversation: a validated request, started once per click, and plain refusals.

Plain Python, no Streamlit: the page builds a `ConversationForm`, keeps a `ConversationAttempt` in
its session so a rerun or double click never starts (and bills) a second conversation, and shows
what `refusal_advice` says when Tavus refuses.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib.actions.board import Action
from lib.config import RecordingStorage
from lib.tavus.client import Conversation, TavusClient, TavusError

__all__ = [
    "DEFAULT_MAX_CALL_MINUTES",
    "LANGUAGES",
    "MAX_CALL_MINUTES",
    "MAX_CONTEXT_LENGTH",
    "MAX_GREETING_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_TIMEOUT_SECONDS",
    "MIN_CALL_MINUTES",
    "MIN_TIMEOUT_SECONDS",
    "RETRIEVAL_STRATEGIES",
    "ConversationAttempt",
    "ConversationForm",
    "ConversationFormError",
    "conversation_request",
    "form_digest",
    "recording_properties",
    "refusal_advice",
    "start_conversation",
    "start_work",
]

# Tavus wants FULL language names (two-letter codes are refused); "multilingual" lets it detect the
# speaker's language. A suggestion list for the picker, not a whitelist: Tavus's own list is longer.
LANGUAGES: tuple[str, ...] = (
    "english",
    "multilingual",
    "spanish",
    "french",
    "german",
    "italian",
    "portuguese",
    "dutch",
    "polish",
    "japanese",
    "korean",
    "chinese",
    "hindi",
    "arabic",
    "turkish",
    "russian",
    "swedish",
)

# A demo is short: ten minutes by default (Tavus's own default is 3600 s). Capped at four hours so
# a forgotten tab cannot keep billing for a day; anything longer is not a demo.
DEFAULT_MAX_CALL_MINUTES = 10
MIN_CALL_MINUTES = 1
MAX_CALL_MINUTES = 240
# Under 10 s nobody can even open the link; over an hour an empty room just bills.
MIN_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 3600
MAX_NAME_LENGTH = 120
MAX_GREETING_LENGTH = 500
MAX_CONTEXT_LENGTH = 10_000
# How Tavus searches the documents during a call: faster answers or better ones.
RETRIEVAL_STRATEGIES = ("speed", "balanced", "quality")

# Lowercase letters only, at least three: "en", "en-US" and "english!" all fail, which is the point.
_LANGUAGE_RE = re.compile(r"[a-z]{3,}")
_LANGUAGE_CODE_RE = re.compile(r"[A-Za-z]{2}([-_][A-Za-z]{2})?")


class ConversationFormError(ValueError):
    """A form value that would be refused (by Tavus or by us); the text says what to fix."""


@dataclass(frozen=True)
class ConversationForm:
    replica_id: str
    persona_id: str | None = None  # None or blank: Tavus uses its default persona
    conversation_name: str = ""
    custom_greeting: str = ""
    conversational_context: str = ""
    language: str = "english"
    max_call_minutes: int = DEFAULT_MAX_CALL_MINUTES
    participant_absent_timeout: int = 300  # seconds until it ends if nobody joins
    participant_left_timeout: int = 60  # seconds until it ends after everyone left
    require_auth: bool = False  # private room: the join link needs the meeting token
    enable_closed_captions: bool = False
    test_mode: bool = False  # dry run: the replica never joins, nothing is billed
    record: bool = False  # allow recording in the room (someone there still has to start it)
    # Knowledge for this call, on top of the persona's (Tavus: ready documents only).
    document_ids: tuple[str, ...] = ()
    document_tags: tuple[str, ...] = ()
    document_retrieval_strategy: str | None = None  # None: Tavus's default ("balanced")


# --- The request ---------------------------------------------------------------------------------
def _whole_number(value: object) -> int | None:
    """An int (or a float with no fraction, as number inputs sometimes give); bools are not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _language(raw: str) -> str:
    text = (raw or "").strip()
    if _LANGUAGE_CODE_RE.fullmatch(text):
        raise ConversationFormError(
            f'Language "{text}" looks like a language code, which Tavus refuses: use the full '
            'name such as "english", or "multilingual".'
        )
    # Case does not matter to a person typing it; Tavus's examples are all lowercase.
    language = text.lower()
    if not _LANGUAGE_RE.fullmatch(language):
        raise ConversationFormError(
            f'Language "{text}" is not a plain language name: use the full name such as '
            '"english", or "multilingual".'
        )
    return language


def _seconds(value: object, field: str, what: str) -> int:
    seconds = _whole_number(value)
    if seconds is None or not MIN_TIMEOUT_SECONDS <= seconds <= MAX_TIMEOUT_SECONDS:
        raise ConversationFormError(
            f"{field} ({what}) must be a whole number of seconds from {MIN_TIMEOUT_SECONDS} to "
            f"{MAX_TIMEOUT_SECONDS}; got {value!r}."
        )
    return seconds


def _text(value: str | None, limit: int, *, one_line: bool = False) -> str:
    text = (value or "").strip()
    if one_line:  # a pasted name may carry newlines or tabs; a title should not
        text = " ".join(text.split())
    return text[:limit].rstrip()


def recording_properties(recording: RecordingStorage | None) -> dict[str, Any]:
    """`properties` entries that let the room record into the team bucket.

    Only identifiers are sent: Tavus assumes the role, so no key or secret ever leaves the app.
    """
    if recording is None:
        raise ConversationFormError(
            "Recording is not set up: set RECORDING_ROLE_ARN to an IAM role Tavus may assume to "
            "write to S3_BUCKET (and RECORDING_EXTERNAL_ID if its trust policy requires one), "
            "or turn recording off."
        )
    storage = {
        "provider": "s3",
        "bucket_name": recording.bucket_name,
        "bucket_region": recording.bucket_region,
        "assume_role_arn": recording.assume_role_arn,
    }
    if recording.external_id:
        storage["external_id"] = recording.external_id
    return {"enable_recording": True, "recording_storage": storage}


def conversation_request(
    form: ConversationForm, recording: RecordingStorage | None = None
) -> dict[str, Any]:
    """Validated keyword arguments for `TavusClient.create_conversation`.

    Blank text is left out (so Tavus applies its own defaults) rather than sent as "". Raises
    ConversationFormError naming the field to fix. `recording` (from `lib.config.
    recording_storage`) is used only when the form asks to record, and required then.
    """
    replica_id = (form.replica_id or "").strip()
    if not replica_id:
        raise ConversationFormError("replica_id is missing: pick a ready replica first.")
    minutes = _whole_number(form.max_call_minutes)
    if minutes is None or not MIN_CALL_MINUTES <= minutes <= MAX_CALL_MINUTES:
        raise ConversationFormError(
            f"max_call_minutes must be a whole number from {MIN_CALL_MINUTES} to "
            f"{MAX_CALL_MINUTES} (a demo, not an all-day call; Tavus's default is 60); "
            f"got {form.max_call_minutes!r}."
        )
    properties: dict[str, Any] = {
        "max_call_duration": minutes * 60,
        "participant_absent_timeout": _seconds(
            form.participant_absent_timeout, "participant_absent_timeout", "when nobody joins"
        ),
        "participant_left_timeout": _seconds(
            form.participant_left_timeout, "participant_left_timeout", "after everyone left"
        ),
        "language": _language(form.language),
    }
    if form.enable_closed_captions:
        properties["enable_closed_captions"] = True
    if form.record:
        properties.update(recording_properties(recording))

    request: dict[str, Any] = {"replica_id": replica_id}
    persona_id = (form.persona_id or "").strip()
    if persona_id:
        request["persona_id"] = persona_id
    texts = {
        "conversation_name": _text(form.conversation_name, MAX_NAME_LENGTH, one_line=True),
        "custom_greeting": _text(form.custom_greeting, MAX_GREETING_LENGTH),
        "conversational_context": _text(form.conversational_context, MAX_CONTEXT_LENGTH),
    }
    request.update({name: text for name, text in texts.items() if text})
    document_ids = tuple(dict.fromkeys(d.strip() for d in form.document_ids if d.strip()))
    document_tags = tuple(dict.fromkeys(t.strip() for t in form.document_tags if t.strip()))
    if document_ids:
        request["document_ids"] = document_ids
    if document_tags:
        request["document_tags"] = document_tags
    strategy = (form.document_retrieval_strategy or "").strip().lower()
    if strategy:
        if strategy not in RETRIEVAL_STRATEGIES:
            raise ConversationFormError(
                f"Document retrieval must be one of {', '.join(RETRIEVAL_STRATEGIES)}; got "
                f"{form.document_retrieval_strategy!r}.")
        request["document_retrieval_strategy"] = strategy
    request["test_mode"] = bool(form.test_mode)
    request["require_auth"] = bool(form.require_auth)
    request["properties"] = properties
    return request


# --- Starting one, once --------------------------------------------------------------------------
@dataclass
class ConversationAttempt:
    """One click on "Start": kept in the session so reruns reuse its conversation."""

    form: ConversationForm
    conversation: Conversation | None = None


def start_conversation(
    tavus: TavusClient, attempt: ConversationAttempt, recording: RecordingStorage | None = None
) -> Conversation:
    """The attempt's conversation, created on the first call only.

    A second call (rerun, double click, retry after a display error) returns the stored one
    without calling Tavus: each conversation bills and counts toward the concurrency limit. The
    client itself retries a create only on 429, so a timeout never turns into two either.
    """
    if attempt.conversation is not None:
        return attempt.conversation
    request = conversation_request(attempt.form, recording)  # validate before anything is sent
    conversation = tavus.create_conversation(**request)
    attempt.conversation = conversation
    return conversation


def start_work(
    tavus: TavusClient,
    attempt: ConversationAttempt,
    recording: RecordingStorage | None = None,
    *,
    after: Callable[[Conversation], None] = lambda conversation: None,
) -> Callable[[Action], Conversation]:
    """The start as work for the server's action board: `start_conversation`, then `after`
    (the team's call record, fresh lists) once the conversation exists, even if the page that
    asked is gone by then. Run again, it returns the same conversation."""

    def work(action: Action) -> Conversation:
        action.report(step="starting")
        fresh = attempt.conversation is None
        conversation = start_conversation(tavus, attempt, recording)
        if fresh:
            after(conversation)
        return conversation

    return work


def form_digest(form: ConversationForm, preset_name: str | None = None) -> str:
    """Identifies one start request (the form, and the preset it came from) for its action."""
    return hashlib.sha256(repr((form, preset_name)).encode()).hexdigest()[:16]


# --- Refusals ------------------------------------------------------------------------------------
def refusal_advice(error: TavusError) -> str | None:
    """What to do about a refusal Tavus explains; None when there is nothing specific to say."""
    if error.status_code is None:  # no answer from Tavus: nothing to read
        return None
    said = (error.message or "").lower()
    if "concurrent" in said:
        return (
            "End a conversation that is still active (list below), or wait for one to time out, "
            "then try again."
        )
    if "not ready" in said or "training status" in said:
        return (
            "This replica has not finished training (or failed): pick a replica marked Ready "
            "or a watermarked preview, or wait until training completes."
        )
    if "replica_id" in said or "replica id" in said:
        return (
            "Tavus does not know this replica (it may have been deleted): refresh the replica "
            "list and pick another."
        )
    if "persona_id" in said or "persona id" in said:
        return (
            "Tavus does not know this persona: pick another one, or none to use Tavus's default "
            "persona."
        )
    if "language" in said:
        return (
            'Tavus refused the language: use its full name in lowercase, such as "english", or '
            '"multilingual".'
        )
    return None
