"""Debriefs in a browser: start a saved preset, hold the call in the room (recording it), end it,
read the dialogue and its Markdown download, play the recording; and a debrief opened while the
transcript is on its way fills in by itself."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    shot,
    table_rows,
    wait_idle,
    wait_until,
)

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 5}

GREETING = "Hello Acme, thanks for joining the CFO demo"
PRESET = "Acme — CFO demo"
SYSTEM_PROMPT_START = "You are "
# Markdown's backslash escapes, as lib.text.escape_markdown writes them.
UNESCAPE = re.compile(r"\\(.)", re.S)


def conversation_posts(sim: str) -> list[dict]:
    requests = httpx.get(f"{sim}/_sim/requests").json()["requests"]
    return [r for r in requests if r["method"] == "POST" and r["path"] == "/v2/conversations"]


def screen_turns(page: Page) -> list[tuple[str, str, str]]:
    """(speaker, clock, words) of each turn in the debrief's dialogue, read in one go."""
    raw = page.locator(".st-key-debrief-dialogue").evaluate("""box =>
        [...box.querySelectorAll('[data-testid="stMarkdownContainer"] p')].map(p => {
            const speaker = p.querySelector('strong')?.innerText.trim() ?? '';
            const [head, ...rest] = p.innerText.split('\\n');
            return [speaker, head.trim(), rest.join('\\n').trim()];
        })""")
    turns = []
    for speaker, head, words in raw:
        clock = head.split("·", 1)[1].strip() if "·" in head else ""
        turns.append((speaker, clock, words))
    return turns


def markdown_turns(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The title and the (speaker, clock, words) turns of a transcript_markdown download."""
    title, _, body = text.partition("\n\n")
    if body.startswith("*Started "):  # when it happened, on the reader's clock
        body = body.partition("\n\n")[2]
    turns = []
    for paragraph in body.strip().split("\n\n"):
        # The header, Markdown's invisible hard break (two spaces), the words.
        match = re.fullmatch(r"\*\*(.+?)\*\* · (\S+)  \n(.*)", paragraph, re.S)
        assert match, f"not a turn: {paragraph!r}"
        speaker, clock, words = match.groups()
        turns.append((UNESCAPE.sub(r"\1", speaker), clock, UNESCAPE.sub(r"\1", words).strip()))
    return title.removeprefix("# "), turns


def history_row(page: Page, name: str) -> dict[str, str] | None:
    # By its name: the grid exposes only the columns in view, and the id is the last one.
    return next((r for r in table_rows(page) if r.get("Conversation") == name), None)


def test_preset_call_debrief_download_and_recording(page: Page, browser: Browser,
                                                    demo_app: DemoApp) -> None:
    app, sim = demo_app.app, demo_app.simulator_url
    page.goto(f"{app.url}/conversations")  # the first page view starts demo mode's stand-ins
    wait_idle(page)

    # Set a conversation up, with recording allowed, and save it as a preset.
    page.get_by_label("Conversation name").fill("Acme CFO")
    page.get_by_label("Conversation name").press("Enter")
    page.get_by_label("Custom greeting").fill(GREETING)
    page.get_by_label("Custom greeting").press("Enter")
    wait_idle(page)
    page.get_by_text("Record this call").click()
    wait_idle(page)
    page.get_by_label("Preset name").fill(PRESET)
    page.get_by_label("Preset name").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Save as preset").click()
    presets = page.locator(".st-key-presets")
    expect(presets).to_contain_text(PRESET)
    expect(presets).to_contain_text("records")
    wait_idle(page)
    presets.scroll_into_view_if_needed()
    shot(page, "debrief-1-preset-saved")

    # Start it in one click: exactly one conversation is created.
    httpx.delete(f"{sim}/_sim/requests").raise_for_status()
    presets.get_by_role("button", name="Start").first.click()
    link = page.locator(".st-key-conversation-result").get_by_role("link",
                                                                   name="Open conversation")
    link.wait_for()
    wait_idle(page)
    assert len(conversation_posts(sim)) == 1, conversation_posts(sim)
    url = link.get_attribute("href")
    conversation_id = url.rsplit("/", 1)[1]

    # The room (opening it joins): record a second, then leave, which ends the call.
    room = browser.new_page(viewport={"width": 1000, "height": 700})
    try:
        room.goto(url)
        assert room.get_by_test_id("sim-room").get_attribute(
            "data-conversation-id") == conversation_id
        room.get_by_test_id("sim-room-record").click()
        expect(room.get_by_test_id("sim-room-recording")).to_have_attribute(
            "data-recording-state", re.compile("recording"))
        # A second of recording on the simulator's clock (which the recording is measured on).
        httpx.post(f"{sim}/_sim/advance", json={"seconds": 1}).raise_for_status()
        shot(room, "debrief-2-room-recording")
        with room.expect_navigation():
            room.get_by_test_id("sim-room-leave").click()
        room.get_by_test_id("sim-room").wait_for()
    finally:
        room.close()
    assert len(conversation_posts(sim)) == 1  # no second call on the way

    # The call ends "End after everyone leaves" (60 s, the form's default) after the leave; the
    # transcript follows 5 s and the recording 10 s after the end: move the clock past all three.
    httpx.post(f"{sim}/_sim/advance", json={"seconds": 60 + 15}).raise_for_status()

    # The ended call's Debrief link, in Recent conversations.
    call = page.locator(f".st-key-call-{conversation_id}")
    debrief_link = call.get_by_role("link", name="Debrief")
    debrief_link.wait_for(timeout=30_000)  # the list ticks while a call is live
    debrief_link.click()
    page.wait_for_url(re.compile(rf"/history\?conversation={conversation_id}"))
    wait_idle(page)
    dialogue = page.locator(".st-key-debrief-dialogue")
    dialogue.wait_for()
    expect(dialogue).to_contain_text(GREETING)
    expect(dialogue).to_contain_text("Replica")
    expect(dialogue).to_contain_text("Visitor")
    debrief = page.locator(".st-key-debrief")
    expect(debrief).to_contain_text("Debrief: Acme CFO")
    expect(debrief).to_contain_text(f"preset {PRESET}")
    assert SYSTEM_PROMPT_START not in debrief.inner_text()
    turns = screen_turns(page)
    assert turns[0][0] == "Replica" and GREETING in turns[0][2], turns
    assert {speaker for speaker, _, _ in turns} == {"Replica", "Visitor"}, turns
    assert_no_exception(page)
    shot(page, "debrief-3-dialogue")

    # The Markdown download holds the same turns, and no system prompt either.
    with page.expect_download() as download_info:
        debrief.get_by_role("button", name="Transcript (Markdown)").click()
    download = download_info.value
    assert download.suggested_filename == "Acme CFO.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    title, downloaded = markdown_turns(text)
    assert title == "Acme CFO"
    assert text.split("\n\n")[1].startswith("*Started "), text[:200]
    assert SYSTEM_PROMPT_START not in text
    assert downloaded == turns

    # The history's row names the preset it was started from.
    wait_until(lambda: history_row(page, "Acme CFO") is not None, timeout=20,
               what="the call in the history table")
    row = history_row(page, "Acme CFO")
    assert row["Preset"] == PRESET, row
    assert row["Conversation"] == "Acme CFO" and row["Status"] == "ended", row

    # The recording plays: Chromium decodes the demo's H.264/AAC mp4 far enough to show a frame.
    video = page.locator(".st-key-debrief-recording video")
    video.wait_for()
    video.scroll_into_view_if_needed()
    try:
        page.wait_for_function(
            "v => v.readyState >= 2", arg=video.element_handle(), timeout=30_000)
    except Exception:
        state = video.evaluate(
            "v => ({ready: v.readyState, network: v.networkState, "
            "error: v.error && [v.error.code, v.error.message], "
            "h264: v.canPlayType('video/mp4; codecs=\"avc1.42E01E, mp4a.40.2\"')})")
        raise AssertionError(f"the recording does not play: {state}") from None
    assert video.evaluate("v => v.videoWidth > 0 && v.duration > 0"), "no picture"
    assert_no_exception(page)
    shot(page, "debrief-4-recording")


def test_a_debrief_opened_early_fills_in_by_itself(page: Page, browser: Browser,
                                                   demo_app: DemoApp) -> None:
    app, sim = demo_app.app, demo_app.simulator_url
    page.goto(f"{app.url}/conversations")
    wait_idle(page)
    page.get_by_label("Conversation name").fill("Early debrief")
    page.get_by_label("Conversation name").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start conversation").click()
    link = page.locator(".st-key-conversation-result").get_by_role("link",
                                                                   name="Open conversation")
    link.wait_for()
    url = link.get_attribute("href")
    conversation_id = url.rsplit("/", 1)[1]
    room = browser.new_page()
    room.goto(url)  # someone joins, so a transcript will follow the end
    room.get_by_test_id("sim-room").wait_for()
    room.close()

    # End it from the app, and open its debrief at once: the transcript is on its way. Its
    # delay is set long (simulated seconds, the clock also runs in real time) so that a busy
    # machine cannot race past the notice; the test then moves the clock past it.
    delays = httpx.post(f"{sim}/_sim/delays", json={}).json()  # as they are, to put back
    httpx.post(f"{sim}/_sim/delays", json={"transcript_delay": 120}).raise_for_status()
    try:
        debrief_filled_in_by_itself(page, sim, conversation_id)
    finally:  # the module's other journeys expect the usual delays, in whatever order they run
        httpx.post(f"{sim}/_sim/delays", json=delays).raise_for_status()


def debrief_filled_in_by_itself(page: Page, sim: str, conversation_id: str) -> None:
    call = page.locator(f".st-key-call-{conversation_id}")
    call.get_by_role("button", name="End").click()
    debrief_link = call.get_by_role("link", name="Debrief")
    debrief_link.wait_for(timeout=20_000)
    debrief_link.click()
    page.wait_for_url(re.compile(rf"/history\?conversation={conversation_id}"))
    debrief = page.locator(".st-key-debrief")
    expect(debrief).to_contain_text("usually arrives within a minute", timeout=20_000)
    assert page.locator(".st-key-debrief-dialogue").count() == 0
    page.evaluate("window.__sameDocument = true")
    shot(page, "debrief-5-waiting")

    # The transcript arrives: the panel, looking again every 5 s, shows it without a reload.
    httpx.post(f"{sim}/_sim/advance", json={"seconds": 121}).raise_for_status()
    page.locator(".st-key-debrief-dialogue").wait_for(timeout=30_000)
    expect(page.locator(".st-key-debrief-dialogue")).to_contain_text("Replica")
    expect(debrief).not_to_contain_text("usually arrives within a minute")
    assert SYSTEM_PROMPT_START not in debrief.inner_text()
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert_no_exception(page)
    shot(page, "debrief-6-filled-in")
