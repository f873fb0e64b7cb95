"""Reading past and live conversations: why one ended, how long it ran, the list's order, and the
history table's rows and filter. Plain Python: no Streamlit imports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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


def newest_first(conversations: Iterable[Conversation]) -> list[Conversation]:
    """Newest created first, ties by id; no created_at sorts last. Tavus documents no list order,
    so the app sorts for itself."""
    ordered = sorted(conversations, key=lambda c: c.conversation_id)
    ordered.sort(key=lambda c: parse_time(c.created_at) or _EPOCH, reverse=True)
    return ordered


# --- The history table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryRow:
    conversation_id: str
    name: str
    replica_id: str
    replica_name: str  # "" when the replica is unknown (deleted, or not loaded yet)
    status: str
    started_at: datetime | None
    duration: timedelta | None  # how long it ran (ended) or has been running (live)
    shutdown_reason: str  # plain words, "" when not known (yet)
    started_by: str | None  # who started it from this app; None for calls started elsewhere
    preset_name: str | None

    @property
    def live(self) -> bool:
        return self.status.lower() != "ended"


def _attribute(record: Any, name: str) -> str | None:
    value = getattr(record, name, None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _duration(conversation: Conversation, now: datetime,
              ended_at: datetime | None) -> timedelta | None:
    started = parse_time(conversation.created_at)
    if started is None:
        return None
    until = now
    if (conversation.status or "").lower() == "ended":
        # The shutdown event says when it ended; updated_at is the next best thing (an ended
        # conversation's last change is its end), `now` only if Tavus sent neither.
        until = (ended_at or shutdown_time(conversation)
                 or parse_time(conversation.updated_at) or now)
    return max(timedelta(0), until - started)


def history_rows(
    conversations: Iterable[Conversation],
    *,
    replica_names: Mapping[str, str],
    reasons: Mapping[str, str],
    started: Mapping[str, Any],
    ended_at: Mapping[str, datetime] | None = None,
    now: datetime | None = None,
) -> list[HistoryRow]:
    """The history table, newest first.

    `reasons`: plain-words shutdown reasons by conversation id (SharedConversations keeps them;
    a reason in the conversation's own events is used otherwise). `started`: conversation id ->
    this app's record of the start, read by duck typing (`started_by`, `preset_name`), so calls
    started outside the app simply have neither. `ended_at`: end times by id, when known from a
    shutdown event. `now`: the clock for live durations (default: the current time).
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    ended_at = ended_at or {}
    rows = []
    for c in newest_first(conversations):
        cid = c.conversation_id
        record = started.get(cid)
        replica_id = c.replica_id or ""
        reason = reasons.get(cid) or shutdown_reason(c) or ""
        rows.append(HistoryRow(
            conversation_id=cid,
            name=c.conversation_name or "",
            replica_id=replica_id,
            replica_name=replica_names.get(replica_id, "") if replica_id else "",
            status=c.status or "",
            started_at=parse_time(c.created_at),
            duration=_duration(c, now, ended_at.get(cid)),
            shutdown_reason=reason,
            started_by=_attribute(record, "started_by"),
            preset_name=_attribute(record, "preset_name"),
        ))
    return rows


def filter_history(rows: Iterable[HistoryRow], search: str,
                   statuses: Sequence[str]) -> list[HistoryRow]:
    """Rows whose status is one of `statuses` (none chosen: all) and that hold every word of
    `search`, case-insensitively, in their name, id, replica, starter, preset or reason."""
    wanted = {s.strip().lower() for s in statuses if s.strip()}
    words = search.lower().split()
    kept = []
    for row in rows:
        if wanted and row.status.lower() not in wanted:
            continue
        if words:
            haystack = " ".join(part for part in (
                row.name, row.conversation_id, row.replica_id, row.replica_name,
                row.started_by, row.preset_name, row.shutdown_reason) if part).lower()
            if not all(word in haystack for word in words):
                continue
        kept.append(row)
    return kept
