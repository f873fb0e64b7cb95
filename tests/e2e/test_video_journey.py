"""Create from a video in a browser: the clip goes from Chromium straight to the local S3, is
checked from there, converted when only the file is wrong, and trains a replica with exactly one
POST carrying a presigned train_video_url (and consent_video_url for a separate consent clip)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    row_named,
    shot,
    wait_idle,
    wait_until,
)
from tests.video_media import Clip, copy_clip

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 30}
GOOD = Clip(seconds=64)  # 720p30 H.264/AAC: the statement and a script, then ~29 s of quiet


def open_video_page(page: Page, demo: DemoApp) -> None:
    page.goto(f"{demo.app.url}/create_video")
    wait_idle(page)
    expect(page.get_by_test_id("videoUploaderInput").first).to_be_attached()


def choose_clip(page: Page, path: Path, which: int = 0) -> None:
    page.get_by_test_id("videoUploaderInput").nth(which).set_input_files(str(path))
    expect(page.get_by_test_id("videoUploaderStatus").nth(which)).to_have_text(
        "Uploaded ✓", timeout=60_000)
    wait_idle(page)


def create_button(page: Page):
    return page.get_by_role("button", name="Create replica")


def replica_posts(demo: DemoApp) -> list[dict]:
    requests = httpx.get(f"{demo.simulator_url}/_sim/requests").json()["requests"]
    return [r for r in requests if r["method"] == "POST" and r["path"] == "/v2/replicas"]


def create_body(demo: DemoApp, replica_id: str) -> dict:
    """The create request as the simulator received it (URLs without their query string)."""
    answer = httpx.get(f"{demo.simulator_url}/_sim/replicas/{replica_id}/request")
    return answer.raise_for_status().json()["request"]


def created_id(page: Page) -> str:
    result = page.locator(".st-key-video-create-result")
    result.wait_for(timeout=30_000)
    return re.search(r"\br[0-9a-f]{6,}\b", result.inner_text())[0]


def test_a_good_clip_is_checked_created_once_and_trains_to_ready(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    open_video_page(page, demo)
    page.get_by_role("textbox", name="Full name of the person filmed").fill("Ada Lovelace")
    page.get_by_role("textbox", name="Full name of the person filmed").press("Enter")
    wait_idle(page)
    # The guide shows the statement with the name, before anything is uploaded.
    expect(page.get_by_text(re.compile(r"I, Ada Lovelace, am currently speaking"))).to_be_visible()
    shot(page, "video-1-guide")

    choose_clip(page, copy_clip(GOOD, tmp_path / "ada take 1.mp4"))
    verdict = page.locator(".st-key-training-clip-verdict")
    expect(verdict).to_contain_text("Ready", timeout=60_000)
    frames = page.locator(".st-key-training-clip-frames img")
    wait_until(lambda: frames.count() >= 6, timeout=15, what="the strip of judged frames")
    wait_idle(page)  # the verdict draws before the button below it is redrawn
    assert create_button(page).is_enabled()
    page.get_by_label("Replica name").fill("Ada From Video")
    shot(page, "video-2-checked")

    httpx.delete(f"{demo.simulator_url}/_sim/requests").raise_for_status()
    create_button(page).dblclick()  # two quick clicks: one replica
    replica_id = created_id(page)
    wait_idle(page)
    assert_no_exception(page)
    posts = replica_posts(demo)
    assert len(posts) == 1, posts
    sent = create_body(demo, replica_id)
    assert "voice_name" not in sent and "train_image_url" not in sent
    assert "/videos/" in sent["train_video_url"] and sent["train_video_url"].endswith(".mp4")
    shot(page, "video-3-created")

    # The team record says video, and the clip Tavus trains on is the one checked here.
    keys = demo.bucket_keys()
    video_keys = [k for k in keys if "/videos/" in k and k.endswith(".mp4")]
    assert any(sent["train_video_url"].endswith(k) for k in video_keys)

    # Training runs on the simulator's clock: advance it, and the table shows it Ready.
    httpx.post(f"{demo.simulator_url}/_sim/advance", json={"seconds": 60}).raise_for_status()
    page.get_by_role("link", name="Watch it train").click()
    wait_idle(page)
    wait_until(lambda: (row_named(page, "Ada From Video") or {}).get("Status") == "Ready",
               timeout=30, what="the video replica Ready in the table")
    assert row_named(page, "Ada From Video")["Source"] == "Video"
    shot(page, "video-4-ready")


def test_an_iphone_hevc_mov_is_converted_checked_again_and_created(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    open_video_page(page, demo)
    page.get_by_role("textbox", name="Full name of the person filmed").fill("Grace Hopper")
    choose_clip(page, copy_clip(GOOD.short(container="mov", video_codec="libx265"),
                                tmp_path / "IMG_0042.MOV"))
    checks = page.locator(".st-key-training-clip-checks")
    expect(checks).to_contain_text("H.264", timeout=60_000)
    assert create_button(page).is_disabled()
    shot(page, "video-5-hevc-blocked")

    page.get_by_role("button", name="Convert").click()
    verdict = page.locator(".st-key-training-clip-verdict")
    expect(verdict).to_contain_text("Ready", timeout=120_000)
    expect(page.locator(".st-key-training-clip-verdict")).to_contain_text("h264")
    wait_idle(page)
    assert create_button(page).is_enabled()
    shot(page, "video-6-converted")

    httpx.delete(f"{demo.simulator_url}/_sim/requests").raise_for_status()
    create_button(page).click()
    replica_id = created_id(page)
    sent = create_body(demo, replica_id)
    assert sent["train_video_url"].endswith("-converted.mp4")
    assert len(replica_posts(demo)) == 1


def test_a_20_second_clip_is_blocked_with_the_duration_reason_and_the_guide(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    open_video_page(page, demo)
    page.get_by_label("Replica name").fill("Too Short")
    httpx.delete(f"{demo.simulator_url}/_sim/requests").raise_for_status()
    choose_clip(page, copy_clip(GOOD.short(seconds=20, speech_seconds=12),
                                tmp_path / "short.mp4"))
    checks = page.locator(".st-key-training-clip-checks")
    expect(checks).to_contain_text("video_duration", timeout=60_000)
    expect(checks).to_contain_text("shorter than the 60 s")
    wait_idle(page)
    assert create_button(page).is_disabled()
    # The guide opens again beside the failed check; the form keeps its value.
    expect(page.locator(".st-key-recording-guide")).to_contain_text("Listen for")
    assert page.get_by_label("Replica name").input_value() == "Too Short"
    assert replica_posts(demo) == []
    assert_no_exception(page)
    shot(page, "video-7-too-short")


def test_a_separate_consent_clip_is_sent_as_consent_video_url(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    open_video_page(page, demo)
    page.get_by_role("textbox", name="Full name of the person filmed").fill("Alan Turing")
    page.get_by_text("A separate consent clip", exact=True).click()
    wait_idle(page)
    expect(page.get_by_test_id("videoUploaderInput")).to_have_count(2)
    # The training clip has no statement at its start: a talk, then quiet.
    choose_clip(page, copy_clip(GOOD.short(text="Hello. " * 3 + "The quick brown fox jumps "
                                           "over the lazy dog. " * 6),
                                tmp_path / "training.mp4"), 0)
    choose_clip(page, copy_clip(Clip(seconds=20, width=1280, height=720, audio="speech"),
                                tmp_path / "consent.mp4"), 1)
    expect(page.locator(".st-key-consent-clip-verdict")).to_be_visible(timeout=60_000)
    page.get_by_label("Replica name").fill("Alan Consent Clip")
    wait_until(lambda: create_button(page).is_enabled(), timeout=30, what="Create enabled")
    shot(page, "video-8-consent-clip")
    httpx.delete(f"{demo.simulator_url}/_sim/requests").raise_for_status()
    create_button(page).click()
    replica_id = created_id(page)
    sent = create_body(demo, replica_id)
    assert sent["consent_video_url"].endswith("consent.mp4")
    assert len(replica_posts(demo)) == 1
    httpx.post(f"{demo.simulator_url}/_sim/advance", json={"seconds": 1}).raise_for_status()
    with demo.tavus() as tavus:
        assert tavus.get_replica(replica_id).error_message in (None, "")
