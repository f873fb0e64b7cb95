"""Conversations in a browser: start with a greeting and a 5-minute limit, open the room, scan
the QR code, end the call; and a dry run."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from lib.demo import DEMO_API_KEY
from lib.tavus.client import TavusClient
from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    shot,
    wait_idle,
    wait_until,
)
from tests.qr import decode_qr

pytestmark = pytest.mark.e2e


DEMO_APP = {}


def call_box(page: Page, conversation_id: str):
    return page.locator(f".st-key-call-{conversation_id}")


def test_start_open_scan_end_and_a_dry_run(page: Page, demo_app: DemoApp
                                           ) -> None:
    app, sim = demo_app.app, demo_app.simulator_url
    page.goto(app.url)  # the first page view starts demo mode's stand-ins
    wait_idle(page)
    with TavusClient(sim, DEMO_API_KEY) as tavus:
        ready = next(r for r in tavus.list_all_replicas(replica_type="user")
                     if r.replica_name == "Demo — Ready")

    page.goto(f"{app.url}/conversations?replica={ready.replica_id}")
    wait_idle(page)
    page.get_by_label("Custom greeting").fill("Hello from the journey")
    page.get_by_label("Custom greeting").press("Enter")
    minutes = page.get_by_label("Max call (minutes)")
    minutes.fill("5")
    minutes.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start conversation").click()
    result = page.locator(".st-key-conversation-result")
    result.wait_for()
    link = result.get_by_role("link", name="Open conversation")
    url = link.get_attribute("href")
    assert re.fullmatch(rf"{re.escape(sim)}/rooms/c[0-9a-f]+", url), url
    conversation_id = url.rsplit("/", 1)[1]
    shot(page, "calls-1-started")

    # The QR code on the page decodes to the same link.
    qr_src = result.locator('[data-testid="stImage"] img').first.get_attribute("src")
    png = httpx.get(qr_src if qr_src.startswith("http") else app.url + qr_src).content
    assert decode_qr(png) == url

    # Tavus got the greeting and the 5-minute limit.
    with TavusClient(sim, DEMO_API_KEY) as tavus:
        stored = tavus.get_conversation(conversation_id)
    assert stored.status == "active" and stored.replica_id == ready.replica_id
    sent = httpx.get(f"{sim}/_sim/conversations/{conversation_id}/request").json()["request"]
    assert sent["custom_greeting"] == "Hello from the journey"
    assert sent["properties"]["max_call_duration"] == 300
    assert sent["properties"]["language"] == "english"

    # The room opens in a new tab and names the replica.
    with page.expect_popup() as popup:
        link.click()
    room = popup.value
    room.wait_for_load_state()
    assert "Demo — Ready" in room.locator("h1").inner_text()
    room.close()

    # Listed as active, with its limit; End turns it ended.
    box = call_box(page, conversation_id)
    box.wait_for()
    expect(box).to_contain_text("active")
    expect(box).to_contain_text("of 5 min")
    box.get_by_role("button", name="End").click()
    wait_until(lambda: "active" not in call_box(page, conversation_id).inner_text(),
               timeout=20, what="the conversation to end")
    expect(call_box(page, conversation_id)).to_contain_text("Ended")  # drawn after the status
    with TavusClient(sim, DEMO_API_KEY) as tavus:
        assert tavus.get_conversation(conversation_id).status == "ended"
    shot(page, "calls-2-ended")

    # A dry run creates an ended conversation and bills nothing.
    page.get_by_role("button", name="Start another").click()
    page.locator(".st-key-conversation-result").wait_for(state="detached")
    page.get_by_text("Dry run (test mode)").click()
    page.get_by_role("button", name="Start dry run").click()
    dry = page.locator(".st-key-conversation-result")
    dry.wait_for()
    expect(dry).to_contain_text("Dry run created")
    dry_id = dry.get_by_role("link", name="Open conversation").get_attribute(
        "href").rsplit("/", 1)[1]
    assert dry_id != conversation_id
    with TavusClient(sim, DEMO_API_KEY) as tavus:
        assert tavus.get_conversation(dry_id).status == "ended"
        assert tavus.list_conversations(status="active").total_count == 0
    assert_no_exception(page)
    shot(page, "calls-3-dry-run")
