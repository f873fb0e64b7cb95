"""The replica path end to end in a browser: photo, S3, Tavus, live table, conversation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    row_named,
    shot,
    start_demo_app,
    stop_app,
    upload,
    wait_idle,
    wait_until,
)
from tests.media import astronaut_png, small_png

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 10}


def test_photo_to_replica_to_conversation(page: Page, demo_app: DemoApp,
                                          tmp_path: Path) -> None:
    photo = tmp_path / "astronaut-headshot.png"
    photo.write_bytes(astronaut_png())

    # Create: upload, name, submit.
    page.goto(demo_app.app.url)
    wait_idle(page)
    assert "Demo mode" in page.locator(".st-key-demo-banner").inner_text()
    upload(page, photo)
    page.get_by_label("Replica name").fill("Astro Journey")
    page.get_by_role("button", name="Create replica").click()
    result = page.locator(".st-key-create-result")
    result.wait_for()
    replica_id = re.search(r"\br[0-9a-f]{6,}\b", result.inner_text())[0]
    assert_no_exception(page)
    shot(page, "journey-1-created")

    # Replicas: the new replica trains, then turns ready, without the page reloading.
    page.get_by_role("link", name="Watch it train").click()
    page.wait_for_url(re.compile(r"/replicas\?replica="))
    wait_idle(page)
    page.evaluate("window.__sameDocument = true")  # a reload would wipe this
    wait_until(lambda: row_named(page, "Astro Journey") is not None, timeout=30,
               what="the new replica in the table")
    first = row_named(page, "Astro Journey")
    assert first["Status"] == "Training", first
    assert first["Replica id"] == replica_id
    shot(page, "journey-2-training")
    wait_until(lambda: (row_named(page, "Astro Journey") or {}).get("Status") == "Ready",
               timeout=60, what="the replica to turn Ready")
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert_no_exception(page)
    shot(page, "journey-3-ready")

    # Conversations: pick the replica, start, open the room.
    page.locator('[data-testid="stPageLink-NavLink"]', has_text="Conversations").click()
    page.wait_for_url(re.compile(r"/conversations"))
    wait_idle(page)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=re.compile("Astro Journey")).click()
    wait_idle(page)
    page.get_by_role("button", name="Start conversation").click()
    link = page.get_by_role("link", name="Open conversation")
    link.wait_for()
    url = link.get_attribute("href")
    assert url and url.startswith("http://127.0.0.1:") and "/rooms/c" in url
    shot(page, "journey-4-conversation")
    with page.expect_popup() as popup_info:
        link.click()
    room = popup_info.value
    room.wait_for_load_state()
    assert "Astro Journey" in room.locator("h1").inner_text()
    shot(room, "journey-5-room")
    assert_no_exception(page)


def test_too_small_photo_is_explained_and_create_is_blocked(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    photo = tmp_path / "tiny.png"
    photo.write_bytes(small_png(256))
    page.goto(demo_app.app.url)
    wait_idle(page)
    upload(page, photo)
    checks = page.locator(".st-key-photo-checks")
    checks.wait_for()
    expect(checks).to_contain_text("512")
    expect(page.locator(".st-key-photo-verdict")).to_contain_text("Will likely fail")
    wait_idle(page)  # the verdict is drawn before the form beside it is redrawn
    assert page.get_by_role("button", name="Create replica").is_disabled()
    assert page.get_by_label("Replica name").get_attribute("placeholder") == "tiny"
    assert page.locator(".st-key-create-result").count() == 0
    assert_no_exception(page)
    shot(page, "too-small-photo")


def test_cold_deep_link_to_replicas_shows_the_whole_frame(page: Page) -> None:
    """A fresh server whose first request is /replicas runs pages/replicas.py alone."""
    app = start_demo_app("cold-deep-link", training_seconds=10).app
    try:
        page.goto(f"{app.url}/replicas")
        wait_idle(page)
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        assert "Demo mode" in page.locator(".st-key-demo-banner").inner_text()
        assert page.locator("h1").first.inner_text().strip() == "Replicas"
        links = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]')
        # The link text also holds the icon's ligature name ("add_a_photo"): take the last line.
        nav = [link.inner_text().strip().splitlines()[-1] for link in links.all()]
        assert nav == ["Create", "Create from video", "Replicas", "Conversations", "Demo history",
                       "Personas", "Knowledge"]
        # Streamlit's automatic page list (which would name files) must not be drawn.
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert page.title().startswith("Replicas")
        assert_no_exception(page)
        shot(page, "cold-deep-link")
    finally:
        stop_app(app)
