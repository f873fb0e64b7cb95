"""Faults in a browser: Tavus going down under an open table, and two people creating at once."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from lib.demo import DEMO_API_KEY
from lib.tavus.client import TavusClient
from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    row_named,
    shot,
    upload,
    wait_idle,
    wait_until,
)
from tests.media import astronaut_jpeg, astronaut_png

pytestmark = pytest.mark.e2e


DEMO_APP = {"training_seconds": 3600}


def test_tavus_down_then_back_while_the_table_is_open(
        page: Page, demo_app: DemoApp) -> None:
    app, sim = demo_app.app, demo_app.simulator_url
    page.goto(f"{app.url}/replicas")
    wait_idle(page)
    wait_until(lambda: row_named(page, "Demo — Ready") is not None, timeout=30,
               what="the table")
    page.evaluate("window.__sameDocument = true")

    httpx.post(f"{sim}/_sim/faults", json={"kind": "500", "count": 100000,
                                           "path_prefix": "/v2/"}).raise_for_status()
    try:
        stale = page.get_by_text("Stale since")
        stale.wait_for(timeout=30_000)
        wait_until(lambda: row_named(page, "Demo — Ready") is not None, timeout=30,
                   what="the last good table to stay on screen")
        assert page.locator('[data-testid="stException"]').count() == 0
        shot(page, "faults-1-stale")
    finally:
        httpx.delete(f"{sim}/_sim/faults").raise_for_status()
    stale.wait_for(state="detached", timeout=30_000)  # recovers with no user action
    wait_until(lambda: row_named(page, "Demo — Ready") is not None, timeout=30,
               what="the table after recovery")
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert_no_exception(page)


def test_two_people_creating_at_the_same_time_each_get_their_own(
        browser: Browser, demo_app: DemoApp, tmp_path: Path) -> None:
    app, sim = demo_app.app, demo_app.simulator_url
    photos = {"Alice Parallel": ("alice.png", astronaut_png()),
              "Bruno Parallel": ("bruno.jpg", astronaut_jpeg())}
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in photos]
    pages = [context.new_page() for context in contexts]
    try:
        for page, (name, (filename, data)) in zip(pages, photos.items(), strict=True):
            path = tmp_path / filename
            path.write_bytes(data)
            page.goto(app.url)
            wait_idle(page)
            upload(page, path)
            page.locator(".st-key-photo-verdict").wait_for()
            # The run that fills in the file's name must end first, or it overwrites the typing.
            wait_idle(page)
            page.get_by_label("Replica name").fill(name)
            page.get_by_label("Replica name").press("Enter")
            wait_idle(page)
            expect(page.get_by_label("Replica name")).to_have_value(name)
        for page in pages:  # both clicks go out before either answer comes back
            page.get_by_role("button", name="Create replica").click()
        ids = []
        for page in pages:
            result = page.locator(".st-key-create-result")
            result.wait_for()
            ids.append(result.locator("code").first.inner_text())
            assert_no_exception(page)
        assert len(set(ids)) == 2
        with TavusClient(sim, DEMO_API_KEY) as tavus:
            names = {r.replica_id: r.replica_name for r in tavus.list_all_replicas()}
        assert {names[i] for i in ids} == set(photos)

        keys = demo_app.bucket_keys()
        uploaded = [k for k in keys if not k.endswith(".json")]
        assert len(uploaded) == 2 and any(k.endswith("-alice.png") for k in uploaded)
        assert any(k.endswith("-bruno.jpg") for k in uploaded)
        shot(pages[1], "faults-2-parallel")
    finally:
        for context in contexts:
            context.close()
