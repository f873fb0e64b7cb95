"""The Replicas screen in a browser: live without reloads, explained, and acted upon."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from lib.demo import DEMO_API_KEY
from lib.tavus.client import TavusClient
from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    row_named,
    shot,
    table_rows,
    wait_idle,
    wait_until,
)
from tests.media import astronaut_png

pytestmark = pytest.mark.e2e


# A long training clock keeps the seeded replica training (so the table ticks fast); the test
# jumps the clock through the simulator's /_sim/advance control instead of waiting.
DEMO_APP = {"training_seconds": 600}


@pytest.fixture(scope="module")
def photo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A portrait on a plain HTTP server, for replicas made outside the app."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "portrait.png").write_bytes(astronaut_png())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/portrait.png"
    server.shutdown()


def click_row(page: Page, index: int) -> None:
    """Tick the selection checkbox of a visible row (the grid is drawn on a canvas)."""
    box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 * (index + 1) + 17)


def updated_caption(page: Page) -> str:
    return page.locator(".st-key-replica-updated").inner_text()


def details_text(page: Page) -> str:
    return page.locator(".st-key-replica-details").inner_text()


def test_live_table_filters_selection_toasts_rename_delete_and_deep_link(
        page: Page, demo_app: DemoApp, photo_url: str) -> None:
    app, sim = demo_app.app, demo_app.simulator_url
    page.goto(f"{app.url}/replicas")
    wait_idle(page)
    wait_until(lambda: row_named(page, "Demo — Failed") is not None, timeout=30,
               what="the seeded replicas")
    assert row_named(page, "Demo — Training")["Status"] == "Training"
    assert row_named(page, "Demo — Ready")["Status"] == "Ready"
    page.evaluate("window.__sameDocument = true")

    # Made elsewhere, straight through the simulator's API: it appears without a reload.
    with TavusClient(sim, DEMO_API_KEY) as tavus:
        elsewhere = tavus.create_replica_from_image(train_image_url=photo_url, voice_name="anna",
                                                    replica_name="Made Elsewhere").replica_id
    wait_until(lambda: row_named(page, "Made Elsewhere") is not None, timeout=30,
               what="the replica made elsewhere")
    shot(page, "replicas-1-elsewhere")

    # Filter, then select the failed replica: its reason, with a hint, in the details.
    page.get_by_role("textbox", name="Search").fill("Demo")
    page.get_by_role("textbox", name="Search").press("Enter")
    wait_until(lambda: {r.get("Name") for r in table_rows(page)} == {
        "Demo — Training", "Demo — Failed", "Demo — Ready"}, timeout=20, what="the filter")
    failed_index = [r.get("Name") for r in table_rows(page)].index("Demo — Failed")
    click_row(page, failed_index)
    page.wait_for_url(re.compile(r"replica=r"))
    failed_id = re.search(r"replica=(r[0-9a-f]+)", page.url)[1]
    # The panel draws element by element: wait for the reason, not just the box.
    details = page.locator(".st-key-replica-details")
    expect(details).to_contain_text("HeadNotFullyInFrameError")
    expect(details).to_contain_text(re.compile(r"crown to chin|whole head", re.IGNORECASE))

    # Three refresh ticks later, the filter, the selection and the details are all still there.
    seen = {updated_caption(page)}
    wait_until(lambda: seen.add(updated_caption(page)) or len(seen) >= 4, timeout=30,
               what="three refresh ticks")
    assert page.get_by_role("textbox", name="Search").input_value() == "Demo"
    assert {r.get("Name") for r in table_rows(page)} == {
        "Demo — Training", "Demo — Failed", "Demo — Ready"}
    assert f"replica={failed_id}" in page.url
    assert "Demo — Failed" in details_text(page)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    shot(page, "replicas-2-filtered-selected")

    # Training ends (the clock jumps): the rows turn Ready and a toast says so, once each.
    httpx.post(f"{sim}/_sim/advance", json={"seconds": 700}).raise_for_status()
    toast = page.locator('[data-testid="stToast"]', has_text="Demo — Training is ready")
    toast.wait_for(timeout=30_000)
    wait_until(lambda: (row_named(page, "Demo — Training") or {}).get("Status") == "Ready",
               timeout=20, what="Ready in the table")
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    shot(page, "replicas-3-toast")

    # Rename the failed one from its details panel.
    name_box = page.get_by_role("textbox", name="Name", exact=True)
    name_box.fill("Demo — Renamed")
    name_box.press("Enter")  # the value reaches the app, which enables Rename
    rename = page.get_by_role("button", name="Rename")
    wait_until(rename.is_enabled, timeout=30, what="Rename to be enabled")
    rename.click()
    wait_until(lambda: row_named(page, "Demo — Renamed") is not None, timeout=20,
               what="the new name in the table")
    assert row_named(page, "Demo — Failed") is None

    # Delete it (soft): gone from the table, details closed.
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    wait_until(lambda: row_named(page, "Demo — Renamed") is None, timeout=20,
               what="the deleted replica to leave the table")
    page.wait_for_url(lambda url: "replica=" not in url)
    with TavusClient(sim, DEMO_API_KEY) as tavus:
        assert failed_id not in {r.replica_id for r in tavus.list_all_replicas()}
    assert_no_exception(page)

    # Deep link to a replica opens its details; a hard delete needs its name typed.
    page.goto(f"{app.url}/replicas?replica={elsewhere}")
    wait_idle(page)
    expect(page.locator(".st-key-replica-details")).to_contain_text("Made Elsewhere")
    expect(page.locator(".st-key-replica-details")).to_contain_text(elsewhere)
    page.get_by_role("button", name="Delete…").click()
    permanently = page.get_by_role("button", name="Delete permanently")
    assert permanently.is_disabled()
    page.get_by_label("Type the name (Made Elsewhere) to confirm").fill("Made Elsewhere")
    page.get_by_label("Type the name (Made Elsewhere) to confirm").press("Enter")
    wait_until(permanently.is_enabled, timeout=30, what="the confirmed hard delete")
    permanently.click()
    wait_until(lambda: row_named(page, "Made Elsewhere") is None, timeout=20,
               what="the hard-deleted replica to go")
    assert_no_exception(page)
    shot(page, "replicas-4-deleted")
