"""The Create screen in a browser: photo checks, voice preview, Tavus's check, one replica per
click burst, and the team ledger record in the local S3."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lib.demo import DEMO_BUCKET
from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    shot,
    upload,
    wait_idle,
    wait_until,
)
from tests.media import astronaut_png, cat, encode

pytestmark = pytest.mark.e2e


DEMO_APP = {"training_seconds": 30}


def create_button(page: Page):
    return page.get_by_role("button", name="Create replica")


def test_checks_preview_tavus_check_and_exactly_one_replica_with_its_ledger_record(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    app = demo.app
    page.goto(app.url)
    wait_idle(page)

    # The cat: no face, Create blocked.
    cat_path = tmp_path / "chelsea-cat.png"
    cat_path.write_bytes(encode(cat()))
    upload(page, cat_path)
    wait_idle(page)
    checks = page.locator(".st-key-photo-checks")
    checks.wait_for()
    expect(checks).to_contain_text("No face found")
    assert create_button(page).is_disabled()
    shot(page, "create-1-cat-blocked")

    # The astronaut, dropped over the cat: checks pass, overlay shown, Create enabled.
    astro_path = tmp_path / "astronaut-portrait.png"
    astro_path.write_bytes(astronaut_png())
    upload(page, astro_path)
    wait_idle(page)
    verdict = page.locator(".st-key-photo-verdict")
    verdict.filter(has_text="Ready").wait_for()
    wait_idle(page)  # the verdict is drawn before the form beside it is redrawn
    assert page.locator('[data-testid="stFileChipName"]').count() == 1
    overlay = page.locator('[data-testid="stImage"] img').first
    # The <img> is in the page before its bytes have arrived: wait for it to load.
    wait_until(lambda: overlay.evaluate("img => img.complete && img.naturalWidth") > 0,
               timeout=15, what="the overlay image to load")
    assert page.get_by_label("Replica name").get_attribute("placeholder") == "astronaut portrait"
    assert create_button(page).is_enabled()

    # Pick a voice and play its preview.
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Voice").click()
    page.get_by_role("option", name="julia", exact=True).click()
    wait_idle(page)
    # Play the preview and watch its clock move. A rerun can swap the <audio> element (which
    # stops it), so each try takes the element on the page at that moment.
    attempts = []
    for _ in range(3):
        wait_idle(page)
        audio = page.locator("audio").first
        audio.wait_for(state="attached")
        played = audio.evaluate("""a => a.play().then(() => new Promise(resolve => {
            const started = performance.now();
            const look = () => (a.currentTime > 0 || performance.now() - started > 2000)
                ? resolve({time: a.currentTime, duration: a.duration, src: a.currentSrc})
                : setTimeout(look, 50);
            look();
        }))""")
        attempts.append(played)
        if played["time"] > 0:
            break
    assert played["time"] > 0 and played["duration"] > 0, attempts

    # Tavus's own check, beside the local ones.
    page.get_by_role("button", name="Check with Tavus").click()
    expect(page.locator(".st-key-tavus-check")).to_contain_text("passed")
    page.get_by_label("Replica name").fill("Double Click Astro")
    page.get_by_text("More options").click()
    page.get_by_label("Notes for the team").fill("Client demo, take 1")
    shot(page, "create-2-astronaut-ready")

    # Two quick clicks: exactly one replica.
    create_button(page).dblclick()
    page.locator(".st-key-create-result").wait_for()
    wait_idle(page)
    replica_id = re.search(r"\br[0-9a-f]{6,}\b",
                           page.locator(".st-key-create-result").inner_text())[0]
    assert_no_exception(page)
    shot(page, "create-3-created")
    with demo.tavus() as tavus:
        mine = [r for r in tavus.list_all_replicas(replica_type="user")
                if r.replica_name == "Double Click Astro"]
    assert [r.replica_id for r in mine] == [replica_id]

    # The ledger record sits beside the photo in the local S3.
    s3 = demo.s3()
    def records_for_replica() -> list[dict]:
        found = [json.loads(s3.get_object(Bucket=DEMO_BUCKET, Key=k)["Body"].read())
                 for k in object_keys() if k.endswith(".json")]
        return [r for r in found if r["replica_id"] == replica_id]

    object_keys = demo.bucket_keys

    # The record is written in the background, a moment after the result shows.
    wait_until(lambda: bool(records_for_replica()), timeout=30, what="the team record")
    keys = object_keys()
    mine_records = records_for_replica()
    assert len(mine_records) == 1
    record = mine_records[0]
    assert record["voice_name"] == "julia" and record["notes"] == "Client demo, take 1"
    assert record["photo_key"] in keys and record["check_score"] >= 80
    assert len([k for k in keys if k == record["photo_key"]]) == 1

    # "Create another" gives a clean form.
    page.get_by_role("button", name="Create another").click()
    page.locator(".st-key-create-result").wait_for(state="detached")
    wait_idle(page)
    assert page.locator('[data-testid="stFileChipName"]').count() == 0
    assert page.get_by_label("Replica name").input_value() == ""


def test_a_refused_value_keeps_every_field_and_says_what_to_do(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    app = demo.app
    page.goto(app.url)
    wait_idle(page)
    path = tmp_path / "keep.png"
    path.write_bytes(astronaut_png())
    upload(page, path)
    page.locator(".st-key-photo-verdict").wait_for()
    wait_idle(page)  # the run that reads the photo must end before typing, or it overwrites it
    page.get_by_label("Replica name").fill("Keep <b>me</b> **as text**")
    page.get_by_text("More options").click()
    page.get_by_role("textbox", name="Callback URL (optional, https)").fill("http://example.com/hook")
    page.get_by_label("Notes for the team").fill("notes survive")
    create_button(page).click()
    alert = page.locator('[data-testid="stAlertContentError"]').last
    alert.wait_for()
    expect(alert).to_contain_text("https://")
    assert page.get_by_label("Replica name").input_value() == "Keep <b>me</b> **as text**"
    assert page.get_by_label("Notes for the team").input_value() == "notes survive"
    assert page.locator('[data-testid="stFileChipName"]').count() == 1
    assert page.locator(".st-key-create-result").count() == 0
    with demo.tavus() as tavus:
        assert not [r for r in tavus.list_all_replicas() if "Keep" in (r.replica_name or "")]
    assert_no_exception(page)
    shot(page, "create-refused-callback")
