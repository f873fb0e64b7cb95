"""Create from the camera, in Chromium with a fake 1280×720 camera playing the astronaut: the photo
that reaches S3 is the camera's full 1280×720 (not the widget's display size), exactly one replica,
and a readable suggested name."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserType, Page, expect

from lib.demo import DEMO_BUCKET
from tests.e2e.conftest import (
    ARTIFACTS,
    CAMERA_SIZE,
    DemoApp,
    assert_no_exception,
    camera_frame,
    create_replica,
    launch_with_camera,
    open_page,
    shot,
    use_camera_photo,
    wait_idle,
    wait_until,
    write_y4m,
)

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 30}
WIDTH, HEIGHT = CAMERA_SIZE


@pytest.fixture
def camera_page(camera_browser: Browser, demo_app: DemoApp,
                request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(camera_browser, request.node.name, camera_for=demo_app.app.url,
                   timezone_id="Europe/Paris") as page:
        yield page


def test_a_camera_headshot_reaches_s3_at_the_cameras_resolution_and_makes_one_replica(
        camera_page: Page, demo_app: DemoApp) -> None:
    page, demo = camera_page, demo_app
    sent: list[int] = []  # the size of each message the page sends the server
    page.on("websocket", lambda ws: ws.on(
        "framesent", lambda payload: sent.append(len(payload))))
    page.goto(demo.app.url)
    wait_idle(page)
    photos_before = {k for k in demo.bucket_keys() if not k.endswith(".json")}

    page.locator('[data-testid="stButtonGroup"]').get_by_text("Camera").click()
    widget = page.locator('[data-testid="cameraHeadshot"]')
    expect(widget).to_have_attribute("data-state", "live")
    status = widget.locator('[data-testid="cameraHeadshotStatus"]')
    expect(status).to_contain_text(f"{WIDTH}×{HEIGHT}")
    video = widget.locator('[data-testid="cameraHeadshotVideo"]')
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [WIDTH, HEIGHT]
    # The preview is a mirror; the guide (oval + shoulders) is drawn over it.
    assert "matrix(-1" in video.evaluate("v => getComputedStyle(v).transform")
    guide = widget.locator('[data-testid="cameraHeadshotGuide"]')
    assert guide.locator("ellipse").get_attribute("rx") not in (None, "")
    assert guide.evaluate("g => getComputedStyle(g).display") != "none"
    widget.screenshot(path=str(ARTIFACTS / "camera-1-live-guide.png"))

    # Take one, retake it: the live preview comes back.
    widget.get_by_role("button", name="Take photo").click()
    expect(widget).to_have_attribute("data-state", "review", timeout=10_000)
    widget.get_by_role("button", name="Retake").click()
    expect(widget).to_have_attribute("data-state", "live")

    widget.get_by_role("button", name="Take photo").click()
    expect(widget.locator('[data-testid="cameraHeadshotCountdown"]')).to_have_text("3")
    expect(widget).to_have_attribute("data-state", "review", timeout=10_000)
    still = widget.locator('[data-testid="cameraHeadshotStill"]')
    assert still.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [WIDTH, HEIGHT]
    widget.screenshot(path=str(ARTIFACTS / "camera-2-taken.png"))

    placeholder = use_camera_photo(page)
    readable = r"Camera headshot, \d{1,2} [A-Z][a-z]{2} \d\d:\d\d"
    assert re.fullmatch(readable, placeholder), placeholder
    # In the viewer's clock (the context runs in Paris), not the server's UTC.
    paris = datetime.now(ZoneInfo("Europe/Paris"))
    named = datetime.strptime(f"{paris.year} {placeholder.split(', ', 1)[1]}", "%Y %d %b %H:%M")
    assert abs(named - paris.replace(tzinfo=None, second=0, microsecond=0)) <= timedelta(minutes=5)
    shot(page, "camera-3-checked")

    # The photo went to the server once; then the page keeps only its token in the widget's
    # state, which the browser resends with every rerun.
    assert sum(1 for n in sent if n > 100_000) == 1, sent
    sent.clear()
    page.get_by_text("More options").click()
    page.get_by_label("Notes for the team").fill("From the camera")
    page.get_by_label("Notes for the team").press("Tab")
    wait_idle(page)
    # A rerun for certain (a toggle, flipped and back): wait for its frames, not for an idle page
    # (idle can be seen before a rerun starts, on a loaded machine).
    for _ in range(2):
        page.get_by_text("Green-screen background", exact=True).click()
        wait_idle(page)
    wait_until(lambda: len(sent) >= 2, timeout=30, what="the toggle's reruns")
    assert max(sent) < 20_000, sent
    replica_id = create_replica(page, anyway=True, twice=True)
    shot(page, "camera-4-created")

    with demo.tavus() as tavus:
        mine = [r for r in tavus.list_all_replicas(replica_type="user")
                if r.replica_name == placeholder]
    assert [r.replica_id for r in mine] == [replica_id]

    new_photos = [k for k in demo.bucket_keys()
                  if not k.endswith(".json") and k not in photos_before]
    assert len(new_photos) == 1, new_photos
    assert "Camera-headshot" in new_photos[0]
    body = demo.s3().get_object(Bucket=DEMO_BUCKET, Key=new_photos[0])["Body"].read()
    stored = Image.open(io.BytesIO(body))
    assert stored.size == (WIDTH, HEIGHT)
    # The camera's picture, not the mirrored preview (YUV and JPEG cost a few levels).
    frame = np.asarray(camera_frame(), dtype=np.float32)
    got = np.asarray(stored.convert("RGB"), dtype=np.float32)
    as_seen, mirrored = np.abs(got - frame).mean(), np.abs(got - frame[:, ::-1]).mean()
    assert as_seen < 8 and mirrored > 3 * as_seen, (as_seen, mirrored)


def test_a_camera_under_512_px_says_its_resolution_and_what_to_do(
        chromium: BrowserType, demo_app: DemoApp, tmp_path: Path) -> None:
    clip = tmp_path / "small-360p.y4m"
    write_y4m(camera_frame().resize((640, 360)), clip, frames=3)
    browser = launch_with_camera(chromium, clip)
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.grant_permissions(["camera"], origin=demo_app.app.url)
        page = context.new_page()
        page.goto(demo_app.app.url)
        wait_idle(page)
        page.locator('[data-testid="stButtonGroup"]').get_by_text("Camera").click()
        widget = page.locator('[data-testid="cameraHeadshot"]')
        expect(widget).to_have_attribute("data-state", "problem")
        warning = page.locator('[data-testid="stAlertContentWarning"]')
        expect(warning).to_contain_text("640×360")
        expect(warning).to_contain_text("upload a photo instead")
        assert widget.get_by_role("button", name="Take photo").is_hidden()
        assert page.get_by_role("button", name="Create replica").is_disabled()
        assert_no_exception(page)
        shot(page, "camera-5-too-small")
    finally:
        browser.close()


def test_no_camera_allowed_says_what_to_do(page: Page, demo_app: DemoApp) -> None:
    # The suite's plain Chromium: no fake camera, no permission granted.
    page.goto(demo_app.app.url)
    wait_idle(page)
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Camera").click()
    widget = page.locator('[data-testid="cameraHeadshot"]')
    expect(widget).to_have_attribute("data-state", "problem")
    alert = page.locator('[data-testid="stAlertContentError"]')
    expect(alert).to_contain_text("upload a photo instead")
    assert page.get_by_role("button", name="Create replica").is_disabled()
    assert_no_exception(page)
    # Back to Upload: the message and the widget go, the uploader is there.
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Upload").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').wait_for(state="attached")
    wait_idle(page)
    assert page.locator('[data-testid="cameraHeadshot"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


def test_a_refused_camera_says_how_to_allow_it(chromium: BrowserType, demo_app: DemoApp,
                                              tmp_path: Path) -> None:
    clip = tmp_path / "refused.y4m"
    write_y4m(camera_frame(), clip, frames=2)
    browser = launch_with_camera(chromium, clip, auto_allow=False)
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(demo_app.app.url)  # no permission granted: Playwright refuses the prompt
        wait_idle(page)
        page.locator('[data-testid="stButtonGroup"]').get_by_text("Camera").click()
        expect(page.locator('[data-testid="cameraHeadshot"]')).to_have_attribute(
            "data-state", "problem")
        alert = page.locator('[data-testid="stAlertContentError"]')
        expect(alert).to_contain_text("Allow the camera for this site")
        assert_no_exception(page)
        # Allowed now, "Try again": the live preview, and the message goes.
        context.grant_permissions(["camera"], origin=demo_app.app.url)
        page.get_by_role("button", name="Try again").click()
        expect(page.locator('[data-testid="cameraHeadshot"]')).to_have_attribute(
            "data-state", "live")
        expect(alert).to_have_count(0)
        assert_no_exception(page)
    finally:
        browser.close()
