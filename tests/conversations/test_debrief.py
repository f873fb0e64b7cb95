"""lib.conversations.debrief: reading a verbose conversation's events, and the transcript exports.

Mostly pure parsing, so the events are built by hand in the shapes tavus-api.md describes
(and in shapes it does not, to prove nothing raises). Times are fixed datetimes, never the wall
clock. The last test reads a call the simulator ran, over HTTP, with the events it emits today.

No Markdown renderer is among the pinned dependencies, so the escaping tests check the CommonMark
rule the export relies on directly: a backslash before ASCII punctuation makes it literal, so text
whose every markup character is backslash-escaped renders as itself; undoing the escapes must give
back exactly what was said.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from markdown_it import MarkdownIt

from lib.conversations.debrief import (
    TRANSCRIPT_WAIT,
    Debrief,
    Recording,
    Turn,
    debrief_from,
    dialogue_markdown,
    markdown_literal,
    markdown_readable,
    page_of,
    transcript_json,
    transcript_markdown,
)
from lib.tavus.client import Conversation, TavusClient
from lib.tavus.simulator.server import TavusSimulator

ENDED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
SYSTEM_PROMPT = "You are Anna. SECRET persona instructions: never reveal the discount code."


def entry(role: str, content: Any, at: float | None = 0.0, **extra: Any) -> dict[str, Any]:
    out = {"role": role, "content": content, "timestamp": 1_772_368_200.0 + (at or 0),
           "seconds_from_start": at, "duration": 1.5}
    out.update(extra)
    return out


def transcript_event(turns: Any) -> dict[str, Any]:
    return {"event_type": "application.transcription_ready", "timestamp": "2026-03-01T12:30:00Z",
            "properties": {"transcript": turns}}


JOINED = {"event_type": "system.replica_joined", "timestamp": "2026-03-01T12:00:01Z"}


def shutdown(**props: Any) -> dict[str, Any]:
    return {"event_type": "system.shutdown", "timestamp": "2026-03-01T12:30:00.000Z",
            "properties": props}


def conversation(events: Any, *, status: str = "ended", **fields: Any) -> Conversation:
    body = {"conversation_id": "c123", "status": status, "created_at": "2026-03-01T12:00:00Z",
            "updated_at": "2026-03-01T12:30:00Z", "events": events, **fields}
    return Conversation.from_api(body)


def normal_call() -> Conversation:
    return conversation([
        JOINED,
        transcript_event([
            entry("system", SYSTEM_PROMPT),
            entry("assistant", "Hi, I'm Anna. How can I help?", 0.0),
            entry("user", "What does it cost?", 4.2),
            entry("tool", "lookup_price(plan='pro')", 6.0),
            entry("assistant", "The pro plan is $49 a month.", 7.9),
        ]),
        {"event_type": "application.perception_analysis", "timestamp": "2026-03-01T12:33:00Z",
         "properties": {"analysis": "- The visitor smiled\n- Office background"}},
        shutdown(reason="participant_left_timeout"),
        {"event_type": "application.recording_ready", "timestamp": "2026-03-01T12:31:00Z",
         "properties": {"bucket_name": "studio-recordings", "s3_key": "rec/c123.mp4",
                        "duration": 1794, "storage_uri": "s3://studio-recordings/rec/c123.mp4"}},
    ])


# --- Reading -------------------------------------------------------------------------------------
def test_a_normal_call_reads_whole_and_without_the_system_prompt() -> None:
    d = debrief_from(normal_call())
    assert [(t.role, t.text) for t in d.turns] == [
        ("replica", "Hi, I'm Anna. How can I help?"),
        ("visitor", "What does it cost?"),
        ("tool", "lookup_price(plan='pro')"),
        ("replica", "The pro plan is $49 a month."),
    ]
    assert d.turns[1].seconds_from_start == 4.2 and d.turns[1].duration == 1.5
    assert d.turns[1].timestamp == pytest.approx(1_772_368_204.2)
    assert d.perception == "- The visitor smiled\n- Office background"
    assert d.shutdown_reason == "everyone left"
    assert d.recording == Recording("studio-recordings", "rec/c123.mp4", 1794.0)
    assert d.joined and d.transcript_ready and d.ended
    assert d.ended_at == ENDED
    assert d.problems == ()
    for export in (transcript_markdown(d, title="Call"), transcript_json(d)):
        assert "SECRET" not in export and "system" not in export.lower()


def test_every_system_entry_is_dropped_wherever_it_stands() -> None:
    d = debrief_from(conversation([transcript_event([
        entry("system", SYSTEM_PROMPT), entry("user", "hello", 1),
        entry(" System ", "a second system note, mid-call", 2), entry("assistant", "hi", 3)])]))
    assert [t.text for t in d.turns] == ["hello", "hi"]
    assert d.problems == ()


@pytest.mark.parametrize("props, expected", [
    ({"reason": "max_call_duration"}, "the maximum call duration was reached"),
    ({"shutdown_reason": "participant_absent_timeout"}, "nobody joined"),
    ({"reason": "", "shutdown_reason": "end_conversation_endpoint_hit"},
     "ended from the dashboard"),
    ({"reason": "daily_room_expired"}, "daily room expired"),  # unknown code: words, not code
])
def test_the_shutdown_reason_is_read_from_either_field(props, expected) -> None:
    assert debrief_from(conversation([shutdown(**props)])).shutdown_reason == expected


def test_the_shutdown_reason_is_read_from_the_event_itself_too() -> None:
    event = {"event_type": "system.shutdown", "timestamp": "2026-03-01T12:30:00Z",
             "shutdown_reason": "max_call_duration"}
    assert debrief_from(conversation([event])).shutdown_reason == (
        "the maximum call duration was reached")


def test_a_recording_without_bucket_and_key_is_found_from_its_storage_uri() -> None:
    event = {"event_type": "application.recording_ready",
             "properties": {"storage_uri": "s3://bucket-a/calls/c123/rec.mp4", "duration": "61.5"}}
    assert debrief_from(conversation([event])).recording == Recording(
        "bucket-a", "calls/c123/rec.mp4", 61.5)


def test_a_recording_nobody_can_find_is_a_problem_not_a_crash() -> None:
    event = {"event_type": "application.recording_ready", "properties": {"s3_key": "x.mp4"}}
    d = debrief_from(conversation([event]))
    assert d.recording is None
    assert d.problems == ("A recording was reported without saying where it is stored.",)


MALFORMED: list[tuple[str, Any, str]] = [
    ("events not a list", {"event_type": "system.shutdown"}, "form that could not be read"),
    ("events a string", "oops", "form that could not be read"),
    ("event not an object", [42, "x", None], "3 events that were not objects were skipped"),
    ("event without type", [{"properties": {}}], "1 event without a type was skipped"),
    ("event type not a string", [{"event_type": 7}], "1 event without a type was skipped"),
    ("properties not an object", [{"event_type": "system.shutdown", "properties": [1]}],
     "“system.shutdown” event had details that could not be read"),
    ("transcript missing", [{"event_type": "application.transcription_ready"}],
     "The transcript arrived without its turns."),
    ("transcript not a list", [transcript_event({"role": "user"})],
     "The transcript arrived without its turns."),
    ("entry not an object", [transcript_event(["hello", 3])],
     "2 transcript entries that were not objects were skipped"),
    ("content missing", [transcript_event([{"role": "user"}])],
     "1 transcript entry without text was skipped"),
    ("content blank", [transcript_event([entry("user", "   ")])],
     "1 transcript entry without text was skipped"),
    ("content not a string", [transcript_event([entry("user", {"text": "hi"}), entry("user", 5)])],
     "2 transcript entries whose text was not text were skipped"),
    ("role missing", [transcript_event([{"content": "who said this?"}])],
     "1 transcript entry without a speaker is shown as “unknown”"),
    ("times not numbers", [transcript_event([entry("user", "hi", seconds_from_start="soon",
                                                   duration=[1], timestamp=True)])],
     "1 transcript entry had a time that could not be read"),
    ("perception not text", [{"event_type": "application.perception_analysis",
                              "properties": {"analysis": {"mood": "happy"}}}],
     "The perception analysis arrived without its text."),
]


@pytest.mark.parametrize("name, events, problem", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_events_never_raise_and_are_described(name, events, problem) -> None:
    d = debrief_from(conversation(events))
    assert any(problem in line for line in d.problems), d.problems
    # Whatever was skipped, the rest still renders and exports.
    transcript_markdown(d, title=name)
    json.loads(transcript_json(d))


def test_a_hand_built_conversation_with_junk_events_still_debriefs() -> None:
    # Conversation.from_api filters events; a Conversation built another way may not.
    odd = Conversation(conversation_id="c9", status="ended", events=["x", 5, {"event_type": None}])
    d = debrief_from(odd)
    assert d.turns == () and d.shutdown_reason is None
    assert "2 events that were not objects were skipped" in d.problems


def test_good_turns_survive_around_bad_ones() -> None:
    d = debrief_from(conversation([transcript_event([
        entry("assistant", "one", 0), None, entry("user", 12), entry("user", "two", 2.0),
        {"role": "assistant", "content": "three", "seconds_from_start": float("nan")}])]))
    assert [t.text for t in d.turns] == ["one", "two", "three"]
    assert d.turns[2].seconds_from_start is None
    assert len(d.problems) == 3


def test_ten_thousand_turns_read_and_show_in_pages() -> None:
    turns = [entry("system", SYSTEM_PROMPT)] + [
        entry("assistant" if i % 2 else "user", f"turn {i}", float(i)) for i in range(10_000)]
    d = debrief_from(conversation([transcript_event(turns)]))
    assert len(d.turns) == 10_000 and d.problems == ()
    first, pages = page_of(d.turns, 1)
    assert pages == 50 and len(first) == 200 and first[0].text == "turn 0"
    last, _ = page_of(d.turns, 50)
    assert last[-1].text == "turn 9999"
    assert page_of(d.turns, 999)[0] == last  # past the end: the last page
    assert page_of(d.turns, -3)[0] == first
    assert page_of(d.turns, 2, per_page=3_000)[1] == 4
    assert page_of((), 1) == ((), 1)


# --- Waiting for the transcript ------------------------------------------------------------------
def test_a_call_that_just_ended_waits_for_its_transcript_for_a_few_minutes() -> None:
    d = debrief_from(conversation([JOINED, shutdown(reason="participant_left")]))
    assert not d.transcript_ready
    assert d.waiting_for_transcript(ENDED + timedelta(seconds=30))
    assert d.waiting_for_transcript(ENDED + TRANSCRIPT_WAIT - timedelta(seconds=1))
    assert not d.waiting_for_transcript(ENDED + TRANSCRIPT_WAIT)


def test_a_live_call_waits_and_a_transcribed_one_does_not() -> None:
    live = debrief_from(conversation([JOINED], status="active"))
    assert live.waiting_for_transcript(ENDED + timedelta(days=1))
    assert not debrief_from(normal_call()).waiting_for_transcript(ENDED)


def test_a_transcribed_call_that_allowed_recording_waits_for_the_recording_a_few_minutes(
        ) -> None:
    events = normal_call().events[:-1]  # transcribed; the recording not reported yet
    d = debrief_from(conversation(events))
    assert d.recording is None and not d.waiting_for_transcript(ENDED)
    assert not debrief_from(normal_call()).waiting_for_recording(ENDED, allowed=True)
    assert d.waiting_for_recording(ENDED + timedelta(seconds=10), allowed=True)
    assert d.waiting(ENDED + timedelta(seconds=10), recording_allowed=True)
    assert not d.waiting_for_recording(ENDED + TRANSCRIPT_WAIT, allowed=True)
    assert not d.waiting_for_recording(ENDED, allowed=False)  # nobody allowed one here
    assert not d.waiting(ENDED, recording_allowed=False)


def test_a_call_the_replica_never_joined_does_not_wait() -> None:
    dry_run = debrief_from(conversation([], status="ended"))  # test mode: nobody ever joins
    assert dry_run.ended_at is not None
    assert not dry_run.waiting_for_transcript(ENDED + timedelta(seconds=5))


def test_the_end_time_falls_back_to_updated_at() -> None:
    d = debrief_from(conversation([JOINED], updated_at="2026-03-01T12:29:00Z"))
    assert d.ended_at == ENDED - timedelta(minutes=1)
    assert d.waiting_for_transcript(ENDED)  # naive `now` is read as UTC too
    assert d.waiting_for_transcript(ENDED.replace(tzinfo=None))


# --- Exports -------------------------------------------------------------------------------------
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: backslash + ASCII punctuation


def unescape(markdown: str) -> str:
    return _ESCAPED.sub(r"\1", markdown)


def assert_literal(escaped: str, original: str) -> None:
    """Renders as exactly `original`: every markup character is escaped, and unescaping the
    (single-line) text gives the original back."""
    unescaped_markup = [m.group() for m in re.finditer(r"(?<!\\)(?:\\\\)*[`*_\[\]<>&|~$#]",
                                                       _ESCAPED.sub("", escaped))]
    assert not unescaped_markup, f"unescaped markup {unescaped_markup} in {escaped!r}"
    assert unescape(escaped) == original


HOSTILE = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "**bold** and _italic_ and `code` and ~~gone~~",
    "[click](https://evil.example) ![img](x.png)",
    "&lt;already an entity&gt; &amp; more",
    "| a | b |",
    "price $5 to $10",  # Streamlit would render $…$ as LaTeX
    "# not a heading",
    "> not a quote",
    "- not a list",
    "1. not a list either",
    "back\\slash",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_markup_said_in_a_call_stays_literal_text(text) -> None:
    escaped = markdown_literal(text)
    assert_literal(escaped, text)
    # Block markers at the start of a line are escaped too (they would start a heading or list).
    assert not re.match(r"(#|>|-|\+|=|\d+[.)])", escaped)


def rendered(markdown: str) -> str:
    """HTML as a CommonMark reader with GitHub's tables and strikethrough renders it."""
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def as_paragraph(text: str) -> str:
    return "<p>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;") + "</p>\n"


NATURAL = ["Hello! Thanks for joining.", "It costs $49 (per month), or $490 a year.",
           "Call me at 555-0100 — or e-mail ada@example.com.", "2024 was good; 2025 better.",
           "We use snake_case names and C# too.", "a < b, and b > c.", "Rock & roll!",
           "-5 degrees outside", "Q&A at 3:30?", "~approximately~ ten"]


@pytest.mark.parametrize("text", HOSTILE + NATURAL)
def test_the_export_renders_as_what_was_said(text: str) -> None:
    # No markup, link, image, HTML or block can open in a Markdown reader.
    assert rendered(markdown_readable(text)) == as_paragraph(text)


@pytest.mark.parametrize("text", NATURAL)
def test_natural_text_reads_as_said_without_backslashes(text: str) -> None:
    assert markdown_readable(text) == text


def test_the_markdown_export_escapes_every_turn_and_the_title() -> None:
    d = Debrief("c1", "ended", turns=tuple(Turn("visitor", text, float(i), None, None)
                                           for i, text in enumerate(HOSTILE)))
    md = transcript_markdown(d, title="<b>Demo</b> *call*")
    html = rendered(md)
    assert html.startswith("<h1>&lt;b&gt;Demo&lt;/b&gt; *call*</h1>")
    for text in HOSTILE:
        # Each turn renders as its header, a line break, and the words as said.
        body = as_paragraph(text)[3:-5]
        assert f"<br />\n{body}</p>" in html, text
    assert "<a " not in html and "<img" not in html and "<script" not in html


def test_the_markdown_export_reads_as_a_dialogue_with_times() -> None:
    d = debrief_from(normal_call())
    md = transcript_markdown(d, title="Anna and a visitor")
    assert md.startswith("# Anna and a visitor\n\n**Replica** · 00:00  \nHi, I'm Anna.")
    assert "**Visitor** · 00:04  \nWhat does it cost?" in md
    assert "**Tool** · 00:06" in md
    assert "The pro plan is $49 a month." in md
    assert "\\" not in md  # nothing in this call needs an escape: none is there


def test_the_page_still_escapes_for_streamlit() -> None:
    # st.markdown reads $…$ as LaTeX and :name: as icons: the page's rendering escapes more.
    assert dialogue_markdown([Turn("replica", "It is $5 to $10.", 0.0, None, None)]) == (
        "**Replica** · 00:00\\\nIt is \\$5 to \\$10.")


def test_the_json_export_says_the_zone_of_its_times() -> None:
    d = debrief_from(normal_call())
    turns = json.loads(transcript_json(d))
    stamps = [t["timestamp"] for t in turns if t["timestamp"] is not None]
    assert stamps
    for stamp in stamps:
        moment = datetime.fromisoformat(stamp)
        assert moment.utcoffset() == timedelta(0) and stamp.endswith("+00:00")
    first = next(t for t in d.turns if t.timestamp is not None)
    assert datetime.fromisoformat(turns[d.turns.index(first)]["timestamp"]).timestamp() == \
        pytest.approx(first.timestamp, abs=0.001)


def test_long_calls_and_unknown_times_format_readably() -> None:
    d = Debrief("c1", "ended", turns=(Turn("replica", "late", 3725.9, None, None),
                                      Turn("visitor", "when?", None, None, None),
                                      Turn("visitor", "a\n\n    indented\nthird", 61, None, None)))
    md = transcript_markdown(d, title="t")
    assert "· 1:02:05" in md and "· --:--" in md
    # Lines of one turn stay one paragraph (hard breaks), and no line becomes a code block.
    assert "· 01:01  \na  \nindented  \nthird" in md


def test_the_markdown_export_says_when_on_the_readers_clock_with_the_zone_named() -> None:
    d = Debrief("c1", "ended", turns=(Turn("replica", "Hi", 0.0, None, None),),
                ended_at=datetime(2026, 11, 30, 10, 35, tzinfo=UTC))
    started = datetime(2026, 11, 30, 10, 27, tzinfo=UTC)
    la = transcript_markdown(d, title="Call", started_at=started, tz="America/Los_Angeles")
    assert la.startswith("# Call\n\n*Started 30 Nov 2026, 02:27 (America/Los_Angeles) · "
                         "ended 02:35*\n\n**Replica** · 00:00")
    tokyo = transcript_markdown(d, title="Call", started_at=started, tz="Asia/Tokyo")
    assert "*Started 30 Nov 2026, 19:27 (Asia/Tokyo) · ended 19:35*" in tokyo
    # No zone from the browser: UTC, said so. Across midnight, the end has its own date.
    late = Debrief("c1", "ended", ended_at=datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    md = transcript_markdown(late, title="t", started_at=datetime(2026, 11, 30, 23, 50,
                                                                  tzinfo=UTC))
    assert "*Started 30 Nov 2026, 23:50 UTC · ended 1 Dec 2026, 00:05 UTC*" in md
    # Without a start time the export is as before: title, then the dialogue.
    assert transcript_markdown(d, title="Call").startswith("# Call\n\n**Replica** · 00:00")


def test_an_empty_transcript_says_so() -> None:
    assert "No transcript" in transcript_markdown(Debrief("c1", "active"), title="t")
    assert transcript_json(Debrief("c1", "active")) == "[]"


def test_the_json_export_is_the_turns_exactly() -> None:
    d = debrief_from(normal_call())
    turns = json.loads(transcript_json(d))
    assert turns[0] == {"role": "replica", "text": "Hi, I'm Anna. How can I help?",
                        "seconds_from_start": 0.0, "duration": 1.5,
                        "timestamp": "2026-03-01T12:30:00.000+00:00"}
    assert [t["role"] for t in turns] == ["replica", "visitor", "tool", "replica"]
    # Non-ASCII stays readable in the file.
    d2 = Debrief("c", "ended", turns=(Turn("visitor", "Grüße 👋", 1.0, None, None),))
    assert "Grüße 👋" in transcript_json(d2)


# --- Against the simulator, over HTTP -------------------------------------------------------------
def test_a_simulated_call_debriefs_from_its_verbose_answer() -> None:
    key = "debrief-test-key-0123456789"
    with TavusSimulator(key, seed_demo_data=False) as sim, TavusClient(sim.base_url, key) as tavus:
        (replica_id,) = sim.add_replicas(1)
        cid = tavus.create_conversation(replica_id=replica_id, custom_greeting="Hello <there>",
                                        ).conversation_id
        sim.join(cid)  # someone opened the room
        sim.advance(5)
        live = debrief_from(tavus.get_conversation(cid, verbose=True))
        assert live.joined and not live.ended and live.turns == ()
        assert live.waiting_for_transcript(ENDED)  # live: the page keeps refreshing
        tavus.end_conversation(cid)
        ended = debrief_from(tavus.get_conversation(cid, verbose=True))
        assert ended.ended and not ended.transcript_ready  # it arrives a few seconds later
        assert ended.waiting_for_transcript(ended.ended_at)
        sim.advance(6)
        done = debrief_from(tavus.get_conversation(cid, verbose=True))
    assert done.ended and done.transcript_ready and done.problems == ()
    assert [t.role for t in done.turns][:2] == ["replica", "visitor"]
    assert done.turns[0].text == "Hello <there>"
    assert all("You are " not in t.text for t in done.turns)  # never the system prompt
    assert done.shutdown_reason == "ended from the dashboard"
    assert done.ended_at is not None and not done.waiting_for_transcript(done.ended_at)
    assert "Hello \\<there>" in transcript_markdown(done, title="Sim")
