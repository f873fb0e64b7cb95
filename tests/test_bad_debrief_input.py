"""The debrief's bad-input matrix: every malformed thing Tavus could send after a call, and a deep
link that leads nowhere. Each case: no exception, a clear message, and the rest of the page (the
history table, the debrief's frame, the downloads when there is a transcript) still there.

The app runs under AppTest against a dedicated Tavus simulator (tests/simapp.py) whose verbose
events each case replaces with its malformed ones (`sim.set_events`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests import simapp
from tests.apptest import shown
from tests.simapp import SimApp, joined, shutdown, transcript_event

sim_world, sim_app = simapp.sim_world, simapp.sim_app
HISTORY = "pages/history.py"


def turn(role: Any = "user", content: Any = "Hello there", at: float = 1.0) -> dict[str, Any]:
    entry = {"seconds_from_start": at, "duration": 1.0, "timestamp": 1767225600 + at}
    if role is not None:
        entry["role"] = role
    if content is not None:
        entry["content"] = content
    return entry


GOOD = [turn("system", "SECRET PERSONA PROMPT"), turn("assistant", "Welcome aboard", 0.5),
        turn("user", "Thanks, glad to be here", 3.0)]
MARKUP = "<b>bold</b> **stars** [link](https://evil.example) <script>alert(1)</script> $x$"


def call_with(*events: Any) -> list[Any]:
    return [joined(), shutdown(), *events]


def everything(at: AppTest) -> str:
    parts = [shown(e) for kind in (at.markdown, at.info, at.warning, at.error, at.caption)
             for e in kind]
    return "\n".join(parts + [t.value for t in at.text])


def dialogue(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "**Replica**" in m.value or "**Visitor**" in m.value
            or "**Unknown**" in m.value]


@dataclass(frozen=True)
class Case:
    id: str
    events: Any
    message: str  # what the reader is told (in a message, caption or fact)
    transcript: bool = True  # the downloads are offered
    check: Callable[[AppTest], None] | None = field(default=None, compare=False)


def _literal_markup(at: AppTest) -> None:
    [said] = dialogue(at)
    assert "<b>" not in said and "<script>" not in said  # escaped: never HTML
    assert "\\*\\*stars\\*\\*" in said  # never bold
    assert MARKUP.replace(" ", "") in shown_text(said)


def shown_text(markdown: str) -> str:
    """The escaped Markdown as read: backslashes and line-break markers gone, no spaces."""
    return markdown.replace("\\", "").replace(" ", "").replace("\n", "")


def _good_turns_survive(at: AppTest) -> None:
    [said] = dialogue(at)
    assert "Welcome aboard" in said and "glad to be here" in said
    assert "SECRET PERSONA PROMPT" not in everything(at)


def _ten_thousand(at: AppTest) -> None:
    [page] = at.number_input
    assert (page.value, page.max) == (1, 50) and "of 50" in page.label
    [said] = dialogue(at)
    assert said.count("**Visitor**") + said.count("**Replica**") == 200
    assert "Turn number 0 " in said.replace("\\", "") and "Turn number 200" not in said
    page.set_value(50)
    at.run()
    assert not at.exception, at.exception
    [last] = dialogue(at)
    assert "Turn number 9999" in last and "Turn number 9799" not in last


def _reason_shown(at: AppTest) -> None:
    assert any("Why it ended:" in shown(m) for m in at.markdown)


CASES = [
    Case("events-not-a-list", {"event_type": "system.shutdown"},
         "events in a form that could not be read", transcript=False),
    Case("events-a-string", "<html>502 Bad Gateway</html>",
         "events in a form that could not be read", transcript=False),
    Case("event-not-an-object", call_with("junk", 42, None, transcript_event(GOOD)),
         "3 events that were not objects were skipped", check=_good_turns_survive),
    Case("event-without-a-type", call_with({"properties": {}}, transcript_event(GOOD)),
         "1 event without a type was skipped", check=_good_turns_survive),
    Case("event-details-not-an-object",
         call_with({"event_type": "application.transcription_ready", "properties": ["x"]}),
         "details that could not be read", transcript=False),
    Case("transcript-not-a-list", call_with(transcript_event("Hello, this is the text")),
         "The transcript arrived without its turns", transcript=False),
    Case("entry-not-an-object", call_with(transcript_event([*GOOD, "stray", 7])),
         "2 transcript entries that were not objects were skipped", check=_good_turns_survive),
    Case("entry-without-a-role", call_with(transcript_event([*GOOD, turn(None, "Who am I")])),
         "shown as “unknown”", check=lambda at: any("Who am I" in d for d in dialogue(at))),
    Case("entry-without-content", call_with(transcript_event([*GOOD, turn("user", None)])),
         "1 transcript entry without text was skipped", check=_good_turns_survive),
    Case("content-not-a-string",
         call_with(transcript_event([*GOOD, turn("user", {"text": "hi"}), turn("user", 42)])),
         "2 transcript entries whose text was not text were skipped",
         check=_good_turns_survive),
    Case("time-not-a-number",
         call_with(transcript_event([*GOOD, {"role": "user", "content": "When?",
                                             "seconds_from_start": "soon"}])),
         "1 transcript entry had a time that could not be read"),
    Case("empty-transcript", call_with(transcript_event([])), "nothing was said"),
    Case("only-the-system-prompt", call_with(transcript_event(GOOD[:1])), "nothing was said",
         check=lambda at: "SECRET PERSONA PROMPT" not in everything(at)),
    Case("ten-thousand-turns",
         call_with(transcript_event([turn("user" if i % 2 else "assistant",
                                          f"Turn number {i} of many", float(i))
                                     for i in range(10_000)])),
         "10,000 turns", check=_ten_thousand),
    Case("markup-in-turns", call_with(transcript_event([turn("user", MARKUP)])),
         "1 turns", check=_literal_markup),
    Case("perception-not-text",
         call_with(transcript_event(GOOD), {"event_type": "application.perception_analysis",
                                            "properties": {"analysis": ["not", "text"]}}),
         "The perception analysis arrived without its text", check=_good_turns_survive),
    Case("recording-without-a-key",
         call_with(transcript_event(GOOD), {"event_type": "application.recording_ready",
                                            "properties": {"bucket_name": "team"}}),
         "A recording was reported without saying where it is stored",
         check=lambda at: not at.get("video")),
    Case("recording-key-not-in-the-bucket",
         call_with(transcript_event(GOOD), {"event_type": "application.recording_ready",
                                            "properties": {"bucket_name": "<team>",
                                                           "s3_key": "recordings/gone.mp4"}}),
         "not in the team's bucket", check=lambda at: not at.get("video")),
    Case("reason-only-in-shutdown_reason",
         [joined(), {"event_type": "system.shutdown", "timestamp": "2026-01-01T00:00:05Z",
                     "properties": {"shutdown_reason": "participant_left_timeout"}},
          transcript_event(GOOD)],
         "everyone left", check=_reason_shown),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_debrief_input_is_explained_and_the_page_stays(case: Case,
                                                                 sim_app: SimApp) -> None:
    cid = sim_app.ended_call(name=f"Bad {case.id}")
    events = case.events
    if case.id == "recording-key-not-in-the-bucket":  # the team's own bucket, a missing key
        events = [e if not (isinstance(e, dict) and e.get("properties", {}).get("bucket_name")
                            == "<team>") else {**e, "properties": {
                                **e["properties"], "bucket_name": sim_app.world.bucket}}
                  for e in events]
    sim_app.sim.set_events(cid, events)
    at = sim_app.open(HISTORY, conversation=cid)
    assert case.message in everything(at), everything(at)
    # The rest of the page: the table, the debrief's frame and id, the downloads.
    assert cid in set(at.dataframe[0].value["conversation_id"])
    assert any(shown(h) == f"Debrief: Bad {case.id}" for h in at.subheader)
    assert any(c.value == cid for c in at.code)
    labels = {b.proto.label for b in at.get("download_button")}
    assert labels == ({"Transcript (Markdown)", "Transcript (JSON)"} if case.transcript
                      else set())
    if case.check:
        case.check(at)


@pytest.mark.parametrize("link", ["c000000000000", "../../etc/passwd", "<b>x</b>"],
                         ids=["unknown-id", "path-traversal", "markup"])
def test_a_deep_link_to_no_conversation_says_so_and_the_table_stays(link: str,
                                                                    sim_app: SimApp) -> None:
    known = sim_app.ended_call(name="Still listed")
    at = sim_app.open(HISTORY, conversation=link)
    assert at.error, "no message for a link that leads nowhere"
    assert any("could not be opened" in shown(c) and link in shown(c) for c in at.caption)
    assert known in set(at.dataframe[0].value["conversation_id"])
    assert not at.subheader or not any(h.value.startswith("Debrief") for h in at.subheader)
    assert not any("<b>" in m.value for m in [*at.markdown, *at.caption])


def test_every_case_id_is_unique_and_the_matrix_is_wide_enough() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 12
