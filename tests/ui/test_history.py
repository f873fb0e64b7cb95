"""Demo history and the debrief panel (pages/history.py, lib/ui/debriefs.py) with AppTest, against
a dedicated Tavus simulator whose clock the tests move (tests/simapp.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

from lib.clock import date_time, local_time
from lib.conversations.calls import CallLog, CallRecord
from tests import simapp
from tests.apptest import shown
from tests.simapp import INTERVIEWER, STOCK_NAME, SimApp, download_data, joined, shutdown

# The fixtures (a module's own simulator, a test's own S3 prefix, kept download data).
sim_world, sim_app, downloads = simapp.sim_world, simapp.sim_app, simapp.downloads

HISTORY = "pages/history.py"
SYSTEM_WORDS = "Never say that you are reading from a prompt"  # in every simulated system prompt


def table(at: AppTest):
    return at.dataframe[0].value


def texts(at: AppTest) -> str:
    """Everything a reader sees in Markdown, info, warning, caption and text elements."""
    parts = [shown(m) for m in at.markdown] + [shown(i) for i in at.info]
    parts += [shown(w) for w in at.warning] + [shown(c) for c in at.caption]
    parts += [shown(e) for e in at.error] + [t.value for t in at.text]
    return "\n".join(parts)


def dialogue(at: AppTest) -> str:
    """The dialogue Markdown: one paragraph per turn, `**Replica** · 00:05` then the words."""
    return "\n".join(shown(m) for m in at.markdown if "**Replica**" in m.value
                     or "**Visitor**" in m.value)


def transcribed_call(app: SimApp, **options) -> str:
    cid = app.ended_call(**options)
    app.sim.advance(6)  # the transcript comes 5 s after the end
    return cid


def test_the_table_lists_calls_newest_first_with_who_started_them_and_the_preset(
        sim_app: SimApp) -> None:
    first = sim_app.ended_call(name="History first")
    second = sim_app.call(name="History second")  # still live
    CallLog(sim_app.store).write(CallRecord.now(second, started_by="ada@example.com",
                                                preset_name="Acme CFO", record=False))
    at = sim_app.open(HISTORY)
    rows = table(at)
    ids = list(rows["conversation_id"])
    assert ids.index(second) < ids.index(first)  # newest first
    row = rows.loc[rows.conversation_id == second].iloc[0]
    assert (row["name"], row["replica"], row["status"], row["by"], row["preset"]) == (
        "History second", STOCK_NAME, "active", "ada@example.com", "Acme CFO")
    old = rows.loc[rows.conversation_id == first].iloc[0]
    assert old["status"] == "ended" and old["reason"]  # in plain words
    assert (old["by"], old["preset"]) == ("", "")  # no record: nothing invented
    sim_app.tavus.end_conversation(second)


def test_search_and_the_status_filter_narrow_the_table(sim_app: SimApp) -> None:
    ended = sim_app.ended_call(name="Zebra review")
    live = sim_app.call(name="Yak standup")
    at = sim_app.open(HISTORY)
    at.text_input(key="history_search").set_value("zebra")
    at.run()
    assert list(table(at)["conversation_id"]) == [ended]
    at.text_input(key="history_search").set_value("")
    at.multiselect(key="history_statuses").set_value(["active"])
    at.run()
    assert not at.exception, at.exception
    assert set(table(at)["status"]) == {"active"} and live in set(table(at)["conversation_id"])
    assert ended not in set(table(at)["conversation_id"])
    sim_app.tavus.end_conversation(live)


def test_a_deep_link_opens_the_debrief_with_the_dialogue_and_never_the_system_prompt(
        sim_app: SimApp, downloads) -> None:
    cid = transcribed_call(sim_app, name="Deep link call")
    at = sim_app.open(HISTORY, conversation=cid)
    assert any("Debrief: Deep link call" in h.value for h in at.subheader)
    assert any(c.value == cid for c in at.code)
    said = dialogue(at)
    assert "Replica" in said and "Visitor" in said
    assert "Can you hear me all right?" in said  # the visitor's first line
    assert "Loud and clear" in said  # the replica's answer
    everything = texts(at) + "\n".join(c.value for c in at.code)
    assert SYSTEM_WORDS not in everything
    assert "the system prompt is never shown" in texts(at)
    assert len(table(at)) >= 1  # the table stays above the panel

    buttons = {b.proto.label: b for b in at.get("download_button")}
    assert set(buttons) == {"Transcript (Markdown)", "Transcript (JSON)"}
    markdown = download_data(buttons["Transcript (Markdown)"]).decode()
    turns = json.loads(download_data(buttons["Transcript (JSON)"]))
    assert [t["role"] for t in turns][:3] == ["replica", "visitor", "replica"]
    assert all(t["role"] != "system" for t in turns)
    for turn in turns:  # the same turns in both (Markdown escapes punctuation)
        assert turn["text"].split()[0].strip("!.,?") in markdown.replace("\\", "")
    assert SYSTEM_WORDS not in markdown and SYSTEM_WORDS not in json.dumps(turns)
    assert markdown.count("**Replica**") + markdown.count("**Visitor**") == len(turns)


def test_a_live_call_says_its_transcript_comes_after_the_end(sim_app: SimApp) -> None:
    cid = sim_app.call(name="Still talking")
    sim_app.sim.join(cid)
    at = sim_app.open(HISTORY, conversation=cid)
    assert any("transcript comes after it ends" in shown(i) for i in at.info)
    assert not at.get("download_button")
    sim_app.tavus.end_conversation(cid)


def test_a_call_that_just_ended_says_the_transcript_usually_arrives_within_a_minute(
        sim_app: SimApp) -> None:
    cid = sim_app.call(name="Just ended")
    sim_app.sim.join(cid)
    sim_app.tavus.end_conversation(cid)
    # Its end stamped now (the simulator's own would let a slow run pass the 5 s delay).
    sim_app.sim.set_events(cid, [joined(sim_app.sim.now_iso()), shutdown(sim_app.sim.now_iso())])
    at = sim_app.open(HISTORY, conversation=cid)
    assert any("usually arrives within a minute" in shown(i) for i in at.info)
    assert not any("Nobody joined" in shown(i) for i in at.info)


def test_a_call_nobody_joined_says_so(sim_app: SimApp) -> None:
    cid = sim_app.call(name="Empty room")
    sim_app.tavus.end_conversation(cid)
    sim_app.sim.advance(6)
    at = sim_app.open(HISTORY, conversation=cid)
    assert any("Nobody joined this call" in shown(i) for i in at.info)
    assert not any("usually arrives" in shown(i) for i in at.info)


def test_the_perception_summary_is_text_not_markdown(sim_app: SimApp) -> None:
    cid = sim_app.ended_call(name="Interview", persona_id=INTERVIEWER)
    sim_app.sim.advance(61)  # Raven's analysis comes a minute after the end
    at = sim_app.open(HISTORY, conversation=cid)
    [summary] = [t for t in at.text if "Appearance" in t.value]
    assert summary.type == "text"
    assert "**Appearance:**" in summary.value  # the asterisks stay literal
    assert not any("Appearance" in m.value for m in at.markdown)  # never rendered as Markdown
    assert any("Perception summary" in m.value for m in at.markdown)


def test_markup_in_the_perception_summary_stays_literal(sim_app: SimApp) -> None:
    cid = sim_app.ended_call(name="Markup perception")
    sim_app.sim.advance(6)
    sim_app.sim.set_events(cid, [{
        "event_type": "application.perception_analysis",
        "properties": {"analysis": "<b>bold</b> and **stars** <script>x()</script>"}}],
        append=True)
    at = sim_app.open(HISTORY, conversation=cid)
    [summary] = [t for t in at.text if "<b>bold</b>" in t.value]
    assert summary.type == "text" and "**stars**" in summary.value
    assert not any("<b>" in m.value for m in at.markdown)


def test_a_recorded_call_plays_in_the_debrief(sim_app: SimApp) -> None:
    cid = sim_app.call(name="Recorded", record=True)
    sim_app.sim.join(cid)
    sim_app.sim.start_recording(cid)
    sim_app.sim.advance(3)
    sim_app.sim.leave(cid)
    sim_app.tavus.end_conversation(cid)
    assert sim_app.sim.wait_for_recordings(60), "the recording was never written"
    sim_app.sim.advance(11)  # recording_ready comes 10 s after the end
    at = sim_app.open(HISTORY, conversation=cid)
    assert len(at.get("video")) == 1
    assert not any("not in the team's bucket" in shown(w) for w in at.warning)


def test_a_recording_that_is_not_in_the_bucket_is_a_warning(sim_app: SimApp) -> None:
    cid = transcribed_call(sim_app, name="Lost recording")
    sim_app.sim.set_events(cid, [{
        "event_type": "application.recording_ready",
        "properties": {"bucket_name": sim_app.world.bucket,
                       "s3_key": "recordings/nothing-here/0.mp4"}}], append=True)
    at = sim_app.open(HISTORY, conversation=cid)
    assert not at.get("video")
    warning = " ".join(shown(w) for w in at.warning)
    assert "not in the team's bucket" in warning and "recordings/nothing-here/0.mp4" in warning
    assert "Loud and clear" in dialogue(at)  # the rest of the debrief is still there


@pytest.mark.parametrize("bucket", ["someone-elses-bucket"])
def test_a_recording_in_another_bucket_is_the_same_warning(sim_app: SimApp, bucket: str) -> None:
    cid = transcribed_call(sim_app, name="Elsewhere")
    sim_app.sim.set_events(cid, [{
        "event_type": "application.recording_ready",
        "properties": {"bucket_name": bucket, "s3_key": "recordings/x.mp4"}}], append=True)
    at = sim_app.open(HISTORY, conversation=cid)
    assert any("not in the team's bucket" in shown(w) for w in at.warning)


def test_a_call_allowed_to_record_but_never_recorded_says_someone_must_press_record(
        sim_app: SimApp) -> None:
    cid = transcribed_call(sim_app, name="Allowed, not recorded", record=True)
    CallLog(sim_app.store).write(CallRecord.now(cid, started_by=None, preset_name=None,
                                                record=True))
    at = sim_app.open(HISTORY, conversation=cid)
    assert not at.get("video")
    assert any("someone in the room must press record" in shown(c) for c in at.caption)
    assert any("Started by:** this app" in m.value and "nobody signed in" in m.value
               for m in at.markdown)


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Kiritimati"])
def test_times_are_on_the_viewers_clock(sim_app: SimApp, zone: str, downloads) -> None:
    cid = transcribed_call(sim_app, name="Clock call")
    created = sim_app.tavus.get_conversation(cid).created_at
    before = datetime.now(UTC)
    at = sim_app.open(HISTORY, browser={"timezone": zone}, conversation=cid)
    after = datetime.now(UTC)
    expected = {local_time(created, zone, now=now) for now in (before, after)}
    row = table(at).loc[table(at).conversation_id == cid].iloc[0]
    assert row["started"] in expected, (row["started"], expected)
    assert any(f"· times in {zone}" in shown(c) for c in at.caption)
    facts = next(shown(m) for m in at.markdown if "**Started:**" in m.value)
    assert any(f"**Started:** {e} (" in facts for e in expected), facts
    markdown = download_data(next(b for b in at.get("download_button")
                                  if b.proto.label == "Transcript (Markdown)")).decode()
    assert f"*Started {date_time(created, zone)} · " in markdown, markdown[:200]
