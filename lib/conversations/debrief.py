"""After a call: the transcript, perception notes, shutdown reason and recording of a conversation.

`debrief_from` reads the `events` of `get_conversation(verbose=True)` (tavus-api.md, "After a
conversation: the debrief") into a `Debrief`. Tavus's events are loosely specified, so nothing in
them is trusted: whatever cannot be read is skipped and described in `Debrief.problems`, in plain
words, instead of raising. The system prompt (role `system` in the transcript) is never kept: it
holds the persona's instructions, which are not for a visitor's eyes nor for an export.

Plain Python: no Streamlit imports.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from lib.clock import date_time, zone
from lib.conversations.history import shutdown_reason
from lib.tavus.client import Conversation, parse_time

__all__ = [
    "TRANSCRIPT_WAIT",
    "Debrief",
    "Recording",
    "Turn",
    "debrief_from",
    "markdown_literal",
    "page_of",
    "transcript_json",
    "transcript_markdown",
]

# Tavus says the transcript comes "around the end of the call"; past this we stop refreshing and
# say it did not come, rather than poll forever for a call that produced none.
TRANSCRIPT_WAIT = timedelta(minutes=5)

JOINED = "system.replica_joined"
TRANSCRIPT = "application.transcription_ready"
PERCEPTION = "application.perception_analysis"
SHUTDOWN = "system.shutdown"
RECORDING = "application.recording_ready"

# Tavus's transcript roles, named for the people on the page.
_ROLES = {"assistant": "replica", "replica": "replica", "user": "visitor", "visitor": "visitor"}
SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class Turn:
    role: str  # "replica", "visitor", or Tavus's own word for anything else ("tool", …)
    text: str
    seconds_from_start: float | None = None
    duration: float | None = None
    timestamp: float | None = None  # epoch seconds, as Tavus sends it


@dataclass(frozen=True)
class Recording:
    bucket_name: str
    s3_key: str
    duration: float | None = None


@dataclass(frozen=True)
class Debrief:
    conversation_id: str
    status: str | None
    turns: tuple[Turn, ...] = ()  # never the system entries
    perception: str | None = None  # the analysis as received (Markdown bullets, shown as text)
    shutdown_reason: str | None = None  # plain words
    recording: Recording | None = None
    joined: bool = False  # the replica joined the room
    transcript_ready: bool = False
    problems: tuple[str, ...] = ()  # what could not be read, in plain words
    ended_at: datetime | None = None  # the shutdown event's time, else updated_at once ended

    @property
    def ended(self) -> bool:
        return (self.status or "").strip().lower() == "ended" or self.ended_at is not None

    def waiting_for_transcript(self, now: datetime) -> bool:
        """Worth refreshing for the transcript: the call is live, or it ended less than
        TRANSCRIPT_WAIT ago and the replica had joined. A call the replica never joined (test
        mode, nobody there) has nothing to transcribe, and one whose end time is unknown would
        otherwise be polled forever, so neither waits."""
        if self.transcript_ready:
            return False
        if not self.ended:
            return True
        if not self.joined or self.ended_at is None:
            return False
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now - self.ended_at < TRANSCRIPT_WAIT

    def waiting_for_recording(self, now: datetime, *, allowed: bool) -> bool:
        """Worth refreshing for a recording: this app allowed one, none is reported yet, and the
        call is live or ended less than TRANSCRIPT_WAIT ago (Tavus reports it after the end)."""
        if not allowed or self.recording is not None:
            return False
        if not self.ended:
            return True
        if self.ended_at is None:
            return False
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now - self.ended_at < TRANSCRIPT_WAIT

    def waiting(self, now: datetime, *, recording_allowed: bool) -> bool:
        """Worth refreshing: for the transcript, or for a recording that was allowed."""
        return (self.waiting_for_transcript(now)
                or self.waiting_for_recording(now, allowed=recording_allowed))


# --- Reading the events ---------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric string; anything else -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _event_time(value: Any) -> datetime | None:
    """Event timestamps are ISO strings in the contract; epoch seconds are accepted too."""
    if isinstance(value, str):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    number = _number(value)
    if number is None:
        return None
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class _Problems:
    """Counts of what was skipped, said once each ("3 transcript entries without text …")."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._notes: list[str] = []

    def count(self, singular: str, plural: str) -> None:
        self._counts[(singular, plural)] += 1

    def note(self, text: str) -> None:
        if text not in self._notes:
            self._notes.append(text)

    def lines(self) -> tuple[str, ...]:
        counted = [
            f"1 {singular}" if n == 1 else f"{n:,} {plural}"
            for (singular, plural), n in self._counts.items()
        ]
        return (*self._notes, *counted)


def _turns(transcript: list[Any], problems: _Problems) -> tuple[Turn, ...]:
    turns: list[Turn] = []
    for entry in transcript:
        if not isinstance(entry, dict):
            problems.count("transcript entry that was not an object was skipped",
                           "transcript entries that were not objects were skipped")
            continue
        raw_role = entry.get("role")
        role = raw_role.strip().lower() if isinstance(raw_role, str) else ""
        if role == SYSTEM_ROLE:
            continue  # the system prompt: never shown, never exported
        content = entry.get("content")
        if content is not None and not isinstance(content, str):
            problems.count("transcript entry whose text was not text was skipped",
                           "transcript entries whose text was not text were skipped")
            continue
        text = (content or "").strip()
        if not text:
            problems.count("transcript entry without text was skipped",
                           "transcript entries without text were skipped")
            continue
        if not role:
            problems.count("transcript entry without a speaker is shown as “unknown”",
                           "transcript entries without a speaker are shown as “unknown”")
            role = "unknown"
        times = [entry.get(k) for k in ("seconds_from_start", "duration", "timestamp")]
        numbers = [_number(value) for value in times]
        if any(v is not None and n is None for v, n in zip(times, numbers, strict=True)):
            problems.count("transcript entry had a time that could not be read",
                           "transcript entries had times that could not be read")
        turns.append(Turn(_ROLES.get(role, role), text, *numbers))
    return tuple(turns)


def _recording(props: Mapping[str, Any], problems: _Problems) -> Recording | None:
    bucket, key = _text(props.get("bucket_name")), _text(props.get("s3_key"))
    if bucket is None or key is None:
        # Newer docs add storage_uri ("s3://bucket/key"): enough to find the file without them.
        uri = _text(props.get("storage_uri"))
        if uri is not None and uri.lower().startswith("s3://"):
            uri_bucket, _, uri_key = uri[5:].partition("/")
            bucket, key = bucket or _text(uri_bucket), key or _text(uri_key)
    if bucket is None or key is None:
        problems.note("A recording was reported without saying where it is stored.")
        return None
    return Recording(bucket, key, _number(props.get("duration")))


def debrief_from(conversation: Conversation) -> Debrief:
    """The debrief of a conversation fetched with `get_conversation(verbose=True)`.

    Never raises on what Tavus sent: events that are not a list, entries that are not objects,
    missing or mistyped fields. The last transcript, perception and recording events win (a
    re-sent transcript replaces the first). Cost: none, it reads what was fetched.
    """
    problems = _Problems()
    # The raw answer still holds entries Conversation.from_api dropped (non-objects): count them.
    raw = conversation.raw if isinstance(conversation.raw, Mapping) else {}
    events: Any = raw.get("events", conversation.events)
    if events is None:
        events = []  # not fetched verbose, or nothing happened yet: nothing to report
    elif not isinstance(events, list):
        problems.note("Tavus sent this call's events in a form that could not be read.")
        events = []

    turns: tuple[Turn, ...] = ()
    transcript_ready = joined = False
    perception: str | None = None
    recording: Recording | None = None
    ended_at: datetime | None = None
    for event in events:
        if not isinstance(event, dict):
            problems.count("event that was not an object was skipped",
                           "events that were not objects were skipped")
            continue
        kind = event.get("event_type")
        if not isinstance(kind, str) or not kind.strip():
            problems.count("event without a type was skipped", "events without a type were skipped")
            continue
        kind = kind.strip()
        props = event.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            problems.note(f"A “{kind}” event had details that could not be read.")
            props = {}
        if kind == JOINED:
            joined = True
        elif kind == TRANSCRIPT:
            transcript = props.get("transcript")
            if isinstance(transcript, list):
                turns, transcript_ready = _turns(transcript, problems), True
            else:
                problems.note("The transcript arrived without its turns.")
        elif kind == PERCEPTION:
            analysis = props.get("analysis")
            if isinstance(analysis, str) and analysis.strip():
                perception = analysis.strip()
            else:
                problems.note("The perception analysis arrived without its text.")
        elif kind == SHUTDOWN:
            ended_at = _event_time(event.get("timestamp")) or ended_at
        elif kind == RECORDING:
            recording = _recording(props, problems) or recording

    status = conversation.status if isinstance(conversation.status, str) else None
    if ended_at is None and (status or "").strip().lower() == "ended":
        ended_at = parse_time(conversation.updated_at)
    try:
        reason = shutdown_reason(conversation)
    except Exception:  # a hand-built Conversation with odd events must still debrief
        reason = None
    return Debrief(
        conversation_id=conversation.conversation_id,
        status=status,
        turns=turns,
        perception=perception,
        shutdown_reason=reason,
        recording=recording,
        joined=joined or transcript_ready,  # a transcript means someone was in the room
        transcript_ready=transcript_ready,
        problems=problems.lines(),
        ended_at=ended_at,
    )


# --- Exports --------------------------------------------------------------------------------------
# Backslash before ASCII punctuation makes it literal text in CommonMark (and so in st.markdown):
# emphasis, code, links, images, HTML tags and entities, tables, strikethrough, and `$` (Streamlit
# renders $…$ as LaTeX). `.`, `-`, `+`, `)` and `=` only mean something at the start of a line,
# where _BLOCK_START handles them, so ordinary sentences stay readable in the downloaded file.
_INLINE = re.compile(r"([\\`*_\[\]{}<>()#!|~$&])")
_BLOCK_START = re.compile(r"^(\d+)([.)])|^([-+=])")


def markdown_literal(text: str) -> str:
    """Text that renders as itself in Markdown: no markup, no HTML, no LaTeX, one paragraph.

    Line breaks inside a turn become Markdown hard breaks; leading spaces are dropped (four of
    them would start a code block)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        line = _INLINE.sub(r"\\\1", line)
        line = _BLOCK_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", line)
        lines.append(line)
    return "\\\n".join(lines)


# The export is read as text (an e-mail, a ticket) as often as it is rendered: escape only what
# would change the meaning in a Markdown reader, so "Hello! Thanks (really)." stays as said.
# Emphasis and code: `*` and backticks always, `_` at a word's edge (inside a word it is literal
# in CommonMark), a pair of `~`; links and images: `[` and `]`; HTML: `<` before a tag's first
# character; entities: `&` when it starts one; a table's `|`; a backslash before punctuation.
_READABLE = re.compile(r"\\(?=[!-/:-@\[-`{-~])|[*`\[\]|]|(?<!\w)_|_(?!\w)|~(?=~)|(?<=~)~"
                       r"|<(?=[A-Za-z/!?])|&(?=#?\w+;)")
_READABLE_START = re.compile(r"^(\d{1,9})([.)])(?=\s|$)|^([#>]|[-+=](?=[\s\-+=]|$))")


def markdown_readable(text: str) -> str:
    """Text that a Markdown reader renders as itself and a person reads as said: like
    `markdown_literal`, but only what would change the meaning is escaped, and a turn's lines
    are joined with Markdown's invisible hard break (two spaces). For downloads and the copy
    box; the page itself renders `markdown_literal` (Streamlit reads more: `$`, `:icons:`)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        line = _READABLE.sub(lambda m: "\\" + m.group(), line)
        # A line's start can open a block: a heading, a quote, a list, a rule or an underline.
        line = _READABLE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}",
                                   line)
        lines.append(line)
    return "  \n".join(lines)


def clock_time(seconds: float | None) -> str:
    """mm:ss from the start of the call (h:mm:ss past an hour); unknown -> "--:--"."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _speaker(role: str) -> str:
    return role[:1].upper() + role[1:]


def when_line(started_at: datetime | None, ended_at: datetime | None,
              tz: str | tzinfo | None) -> str:
    """"Started 30 Nov 2026, 02:27 (America/Los_Angeles) · ended 02:35": full dates on the
    reader's clock with the zone named (a download is read later, elsewhere); the end's date is
    left out when it is the start's. "" when neither time is known."""
    parts = []
    if started_at is not None:
        parts.append(f"Started {date_time(started_at, tz)}")
    if ended_at is not None:
        local_end, same_day = ended_at.astimezone(zone(tz)), False
        if started_at is not None:
            same_day = started_at.astimezone(zone(tz)).date() == local_end.date()
        parts.append(f"ended {local_end:%H:%M}" if same_day else
                     f"{'ended' if parts else 'Ended'} {date_time(ended_at, tz)}")
    return " · ".join(parts)


def transcript_markdown(debrief: Debrief, *, title: str, started_at: datetime | None = None,
                        tz: str | tzinfo | None = None) -> str:
    """The dialogue as Markdown for a download or the copy box, one paragraph per turn:
    `**Replica** · 00:05` then the words; under the title, when the call started and ended, on
    the clock of the zone `tz` (the viewer's; UTC, said so, when None), when `started_at` is
    given.

    Everything that came from Tavus or the user (title, roles, words) is escaped where Markdown
    would read it as markup (`markdown_readable`), so it renders as the characters that were
    said and reads naturally as plain text too."""
    when = when_line(started_at, debrief.ended_at, tz) if started_at is not None else ""
    return (f"# {markdown_readable(title) or 'Transcript'}\n\n"
            + (f"*{when}*\n\n" if when else "")
            + (_dialogue(debrief.turns, markdown_readable, "  \n") if debrief.turns
               else "*No transcript.*") + "\n")


def dialogue_markdown(turns: Iterable[Turn]) -> str:
    """The turns as Markdown paragraphs for the page (st.markdown), `**Replica** · 00:05` then
    the words, escaped for Streamlit's renderer (`markdown_literal`)."""
    return _dialogue(turns, markdown_literal, "\\\n")


def _dialogue(turns: Iterable[Turn], escape: Callable[[str], str], line_break: str) -> str:
    parts = []
    for turn in turns:
        header = f"**{escape(_speaker(turn.role))}** · {clock_time(turn.seconds_from_start)}"
        parts.append(f"{header}{line_break}{escape(turn.text)}")
    return "\n\n".join(parts)


def transcript_json(debrief: Debrief) -> str:
    """The turns as a JSON list (never the system prompt), for a download. `timestamp` is ISO
    8601 in UTC with its offset (`2026-11-30T10:27:05.200+00:00`): machine-readable, and its
    zone said; `seconds_from_start` and `duration` are seconds."""
    def exported(turn: Turn) -> dict[str, object]:
        row = asdict(turn)
        row["timestamp"] = _iso_utc(turn.timestamp)
        return row

    return json.dumps([exported(turn) for turn in debrief.turns], ensure_ascii=False, indent=2)


def _iso_utc(epoch: float | None) -> str | None:
    if epoch is None or not math.isfinite(epoch):
        return None
    try:
        moment = datetime.fromtimestamp(epoch, tz=UTC)
    except (OverflowError, OSError, ValueError):  # far outside any call's lifetime
        return None
    return moment.isoformat(timespec="milliseconds")


def page_of(turns: Sequence[Turn] | Iterable[Turn], page: int,
            per_page: int = 200) -> tuple[tuple[Turn, ...], int]:
    """One page of turns (1-based, clamped into range) and the number of pages (at least 1), so a
    10,000-turn transcript is drawn 200 turns at a time."""
    items = turns if isinstance(turns, Sequence) else tuple(turns)
    per_page = max(1, int(per_page))
    pages = max(1, math.ceil(len(items) / per_page))
    page = min(max(1, int(page)), pages)
    start = (page - 1) * per_page
    return tuple(items[start:start + per_page]), pages
