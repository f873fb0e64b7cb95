"""A phoenix-4.5 replica in a browser: its watermarked preview in the table, in the Conversations
picker, and its tuning failing live."""

from __future__ import annotations

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
    wait_idle,
    wait_until,
)

pytestmark = pytest.mark.e2e

# A long training clock keeps the seeded phoenix-4.5 replica ("Phoenix 4.5 — Tuning", a tenth
# of the way through) in its preview for the whole test: its tuning ends after 6000 s.
DEMO_APP = {"training_seconds": 6000}
SEEDED = "Phoenix 4.5 — Tuning"


def test_a_preview_is_marked_in_the_table_and_the_picker_and_its_tuning_can_fail(
        page: Page, demo_app: DemoApp) -> None:
    app, sim = demo_app.app, demo_app.simulator_url
    page.goto(f"{app.url}/replicas")
    wait_idle(page)
    wait_until(lambda: row_named(page, SEEDED) is not None, timeout=30,
               what="the seeded phoenix-4.5 replica")
    row = row_named(page, SEEDED)
    assert row["Status"] == "Preview (watermarked) · tuning", row
    assert row["Model"] == "phoenix-4.5" and row["Training"] == "100", row  # the bar's value
    counts = page.locator(".st-key-replica-counts")
    expect(counts).to_contain_text("Preview (watermarked) · tuning")
    shot(page, "preview-1-table")

    with TavusClient(sim, DEMO_API_KEY) as tavus:
        preview_id = next(r.replica_id for r in tavus.list_all_replicas(replica_type="user")
                          if r.replica_name == SEEDED)

    # The Conversations picker offers it, marked as watermarked.
    page.goto(f"{app.url}/conversations?replica={preview_id}")
    wait_idle(page)
    picker = page.get_by_role("combobox", name="Replica (ready ones, and watermarked previews)")
    expect(picker).to_have_value(f"{SEEDED} ({preview_id}) · preview, watermarked")
    expect(page.locator('[data-testid="stCaptionContainer"]',
                        has_text="Watermarked preview").first).to_be_visible()
    assert_no_exception(page)
    shot(page, "preview-2-picker")

    # Its tuning fails (the simulator's control): the open table says so, and a toast tells it.
    page.goto(f"{app.url}/replicas")
    wait_idle(page)
    wait_until(lambda: row_named(page, SEEDED) is not None, timeout=30, what="the table")
    httpx.post(f"{sim}/_sim/replicas/{preview_id}/finetune-fail").raise_for_status()
    toast = page.locator('[data-testid="stToast"]', has_text="tuning failed")
    toast.wait_for(timeout=30_000)
    expect(toast).to_contain_text("the watermarked preview stays usable")
    wait_until(lambda: (row_named(page, SEEDED) or {}).get("Status")
               == "Preview only — tuning failed", timeout=20, what="the failed tuning's label")
    assert_no_exception(page)
    shot(page, "preview-3-tuning-failed")
