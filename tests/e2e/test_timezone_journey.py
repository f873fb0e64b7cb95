"""Two teammates, one in Los Angeles and one in Tokyo, on a server that runs on UTC: each reads
every time on their own clock (issue 15).

The browsers' zones are Playwright's `timezone_id`, which is what `st.context.timezone` reports to
the server. Expected texts are computed here from the UTC instants the simulator holds, with
zoneinfo: the Created time of a replica (details and table), the Replicas caption's "updated"
time, and a conversation's Started time in the history table and its debrief.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from lib.clock import local_time, parse_time
from tests.e2e.conftest import (
    ARTIFACTS,
    DemoApp,
    assert_no_exception,
    row_named,
    shot,
    table_rows,
    wait_idle,
    wait_until,
)

pytestmark = pytest.mark.e2e

# The server's own clock is UTC, as on Streamlit Community Cloud; neither viewer's is.
DEMO_APP = {"env": {"TZ": "UTC"}}
ZONES = ("America/Los_Angeles", "Asia/Tokyo")


@pytest.fixture
def viewers(browser: Browser, request: pytest.FixtureRequest) -> Iterator[dict[str, Page]]:
    """One browser context per zone, as two teammates' machines would be."""
    contexts = {zone: browser.new_context(viewport={"width": 1400, "height": 1000},
                                          timezone_id=zone) for zone in ZONES}
    pages = {}
    for zone, context in contexts.items():
        pages[zone] = context.new_page()
        pages[zone].set_default_timeout(30_000)
    yield pages
    ARTIFACTS.mkdir(exist_ok=True)
    for zone, page in pages.items():
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{zone.split('/')[1]}.png"),
                        full_page=True)
    for context in contexts.values():
        context.close()


def browser_zone(page: Page) -> str:
    return page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")


def clock(instant: datetime, zone: str) -> str:
    """HH:MM of a UTC instant in `zone`, straight from zoneinfo."""
    return f"{instant.astimezone(ZoneInfo(zone)):%H:%M}"


def table_cell(instant: datetime, zone: str) -> str:
    """The Replicas table's Created cell as the grid's accessible copy holds it: the instant in
    `zone`, with its offset ("2026-11-28 00:59:43-08:00"); the canvas draws it as
    "28 Nov 2026, 00:59" (see the screenshots)."""
    local = instant.astimezone(ZoneInfo(zone))
    minutes = int(local.utcoffset().total_seconds() // 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{local:%Y-%m-%d %H:%M:%S}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def caption_instant(caption: str, zone: str, now: datetime) -> datetime:
    """The UTC instant of the caption's "updated today 02:27:19" read on the clock of `zone`."""
    match = re.search(r"updated (today|yesterday) (\d\d):(\d\d):(\d\d)", caption)
    assert match, caption
    day: date = now.astimezone(ZoneInfo(zone)).date()
    if match[1] == "yesterday":
        day -= timedelta(days=1)
    local = datetime(day.year, day.month, day.day, int(match[2]), int(match[3]), int(match[4]),
                     tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


def details_created(page: Page) -> str:
    text = page.locator(".st-key-replica-details").inner_text()
    match = re.search(r"Created: (.+?) \(", text)
    assert match, text
    return match[1]


def test_each_teammate_reads_the_times_on_their_own_clock(viewers: dict[str, Page],
                                                         demo_app: DemoApp) -> None:
    url = demo_app.app.url
    first = viewers[ZONES[0]]
    first.goto(f"{url}/replicas")  # the first page view starts demo mode's stand-ins
    wait_idle(first)
    wait_until(lambda: row_named(first, "Demo — Ready") is not None, timeout=30,
               what="the seeded replicas")
    with demo_app.tavus() as tavus:
        replicas = {r.replica_name: r for r in tavus.list_all_replicas(replica_type="user")}
    ready = replicas["Demo — Ready"]
    created = parse_time(ready.created_at)
    assert created is not None

    seen: dict[str, dict[str, str]] = {}
    for zone, page in viewers.items():
        assert browser_zone(page) == zone
        page.goto(f"{url}/replicas?replica={ready.replica_id}")
        wait_idle(page)
        wait_until(lambda p=page: row_named(p, "Demo — Ready") is not None, timeout=30,
                   what="the seeded replicas")
        expect(page.locator(".st-key-replica-details")).to_contain_text("Created:")
        before = datetime.now(UTC)
        caption = page.locator(".st-key-replica-updated").inner_text()
        shown_created = details_created(page)
        rows = {r["Name"]: r for r in table_rows(page)}
        after = datetime.now(UTC)
        assert_no_exception(page)

        # The caption names the zone, and its "updated" time, read on that zone's clock, is a
        # moment of this run (the shared list ticks every 2 s, or once a minute when idle): on
        # the server's UTC clock it would be hours away in either zone.
        assert f"times in {zone}" in caption, caption
        updated = caption_instant(caption, zone, after)
        assert before - timedelta(minutes=2) <= updated <= after + timedelta(seconds=5), (
            caption, before, after)
        # The details' Created: the simulator's UTC instant on this zone's clock.
        assert clock(created, zone) in shown_created, (shown_created, zone)
        assert shown_created in {local_time(created, zone, now=now) for now in (before, after)}
        assert "UTC" not in shown_created and "T" not in shown_created
        # The table's Created column, formatted by the browser in the same zone.
        for name in ("Demo — Ready", "Demo — Failed", "Demo — Training"):
            instant = parse_time(replicas[name].created_at)
            assert rows[name]["Created"] == table_cell(instant, zone), (name, rows[name])
        seen[zone] = {"caption": caption, "created": shown_created,
                      "table": rows["Demo — Ready"]["Created"]}
        page.locator(".st-key-replica-details").scroll_into_view_if_needed()
        shot(page, f"timezone-1-replicas-{zone.split('/')[1]}")

    los_angeles, tokyo = (seen[zone] for zone in ZONES)
    assert los_angeles["created"] != tokyo["created"]
    assert los_angeles["table"] != tokyo["table"]
    # 17 hours apart (16 in the Californian summer): one instant, two clocks.
    assert clock(created, ZONES[0]) != clock(created, ZONES[1])


def test_the_history_and_the_debrief_read_on_each_clock(viewers: dict[str, Page],
                                                        demo_app: DemoApp) -> None:
    url = demo_app.app.url
    with demo_app.tavus() as tavus:
        ready = next(r for r in tavus.list_all_replicas(replica_type="user")
                     if r.replica_name == "Demo — Ready")
        call = tavus.create_conversation(replica_id=ready.replica_id, test_mode=True,
                                         conversation_name="Clock check")  # a dry run: ended
        started = parse_time(tavus.get_conversation(call.conversation_id).created_at)
    assert started is not None

    shown: dict[str, str] = {}
    for zone, page in viewers.items():
        page.goto(f"{url}/history?conversation={call.conversation_id}")
        wait_idle(page)
        wait_until(lambda p=page: any(r.get("Conversation") == "Clock check"
                                      for r in table_rows(p)), timeout=30,
                   what="the call in the history table")
        debrief = page.locator(".st-key-debrief")
        expect(debrief).to_contain_text("Started:")
        before = datetime.now(UTC)
        row = next(r for r in table_rows(page) if r.get("Conversation") == "Clock check")
        facts = debrief.inner_text()
        caption = page.locator('[data-testid="stCaptionContainer"]', has_text="conversations")
        caption_text = caption.first.inner_text()
        after = datetime.now(UTC)
        assert_no_exception(page)

        expected = {local_time(started, zone, now=now) for now in (before, after)}
        assert row["Started"] in expected, (row, expected)
        assert clock(started, zone) in row["Started"]
        match = re.search(r"Started: (.+?) \(", facts)
        assert match and match[1] in expected, facts
        assert f"times in {zone}" in caption_text, caption_text
        shown[zone] = row["Started"]
        debrief.scroll_into_view_if_needed()
        shot(page, f"timezone-2-history-{zone.split('/')[1]}")

    assert shown[ZONES[0]] != shown[ZONES[1]]
