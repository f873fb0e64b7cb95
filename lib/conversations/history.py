"""Reading past and live conversations: why one ended, how long it ran, and the list's order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

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


def _raw_shutdown_reason(conversation: Conversation) -> str | None:
    for event in reversed(conversation.events or []):
        if event.get("event_type") != "system.shutdown":
            continue
        props = event.get("properties")
        if isinstance(props, dict):
            for key in ("reason", "shutdown_reason"):
                value = props.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
    # The contract also names a top-level shutdown_reason on the verbose answer.
    value = conversation.raw.get("shutdown_reason")
    return value.strip() if isinstance(value, str) and value.strip() else None


def shutdown_reason(conversation: Conversation) -> str | None:
    """Why it ended, readable; None when Tavus did not say (ask get_conversation(verbose=True))."""
    raw = _raw_shutdown_reason(conversation)
    if raw is None:
        return None
    lowered = raw.lower()
    for needle, text in _REASONS:
        if needle in lowered:
            return text
    return " ".join(raw.replace("_", " ").split())


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
