"""Reading past and live conversations: why one ended, how long it ran, and the list's order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from lib.tavus.client import Conversation, parse_time

# Tavus's shutdown reasons, said the way a person would. Matched as substrings, so variants such as
# "end_conversation_endpoint_hit" or a prefixed "system.max_call_duration" still read well.
_REASONS: tuple[tuple[str, str], ...] = (
    ("max_call_duration", "the maximum call duration was reached"),
    ("participant_left", "everyone left"),
    ("participant_absent", "nobody joined"),
    ("end_conversation", "ended from the dashboard"),
    ("endpoint", "ended from the dashboard"),
    ("test_mode", "it was a dry run (test mode)"),
)


def _reason_in(fields: Any) -> str | None:
    """Tavus's contract names `reason`, its webhooks `shutdown_reason`: read both."""
    if isinstance(fields, Mapping):
        for key in ("reason", "shutdown_reason"):
            value = fields.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _raw_shutdown_reason(conversation: Conversation) -> str | None:
    events = conversation.events if isinstance(conversation.events, list) else []
    for event in reversed(events):
        # Events come from Tavus loosely typed: anything that is not a shutdown object is skipped.
        if not isinstance(event, Mapping) or event.get("event_type") != "system.shutdown":
            continue
        found = _reason_in(event.get("properties")) or _reason_in(event)
        if found is not None:
            return found
    # The contract also names a top-level shutdown_reason on the verbose answer.
    return _reason_in({"shutdown_reason": conversation.raw.get("shutdown_reason")})


def plain_reason(raw: str) -> str:
    """A Tavus shutdown code ("max_call_duration") in the words a person would use."""
    lowered = raw.lower()
    for needle, text in _REASONS:
        if needle in lowered:
            return text
    return " ".join(raw.replace("_", " ").split())


def shutdown_reason(conversation: Conversation) -> str | None:
    """Why it ended, readable; None when Tavus did not say (ask get_conversation(verbose=True))."""
    raw = _raw_shutdown_reason(conversation)
    return None if raw is None else plain_reason(raw)


def shutdown_time(conversation: Conversation) -> datetime | None:
    """When the shutdown event says the call ended (verbose answers only), else None."""
    events = conversation.events if isinstance(conversation.events, list) else []
    for event in reversed(events):
        if isinstance(event, Mapping) and event.get("event_type") == "system.shutdown":
            found = parse_time(event.get("timestamp"))
            if found is not None:
                return found
    return None


def elapsed(conversation: Conversation, now: datetime) -> timedelta | None:
    """How long it has been running: from created_at to `now`.

    An ended conversation stops its clock at updated_at (its last change, i.e. when it ended), so
    the list shows how long the call lasted rather than how long ago it started. Never negative.
    """
    started = parse_time(conversation.created_at)
    if started is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    until = now
    if (conversation.status or "").lower() == "ended":
        until = parse_time(conversation.updated_at) or now
    return max(timedelta(0), until - started)


_EPOCH = datetime.min.replace(tzinfo=UTC)


def sort_conversations(conversations: Iterable[Conversation]) -> list[Conversation]:
    """Active first, then newest created first, ties by id (so the order never jumps)."""
    ordered = sorted(conversations, key=lambda c: c.conversation_id)
    ordered.sort(key=lambda c: parse_time(c.created_at) or _EPOCH, reverse=True)
    ordered.sort(key=lambda c: (c.status or "").lower() != "active")
    return ordered
