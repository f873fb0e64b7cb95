"""An iPhone photo (HEIC, stored sideways with orientation 6, GPS and XMP) on the Create page in a
browser: a damaged one is refused with what to do; a good one is judged, created, and trains on
the simulator from an upright JPEG without any metadata. The same through "Several photos".

The HEICs are written in the test by pillow-heif (tests/media.py). What Tavus was given is read
back as the simulator got it: the create body names the object (its presigned URL without the
query), fetched from demo mode's S3.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from lib.demo import DEMO_BUCKET
from lib.photos.checks import Verdict, check_photo
from tests.e2e.conftest import (
    ARTIFACTS,
    DemoApp,
    assert_no_exception,
    created_replica_id,
    shot,
    upload,
    wait_idle,
    wait_until,
)
from tests.media import GPS_IFD, astronaut, astronaut_portrait, iphone_heic, on_canvas

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 20}


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a.convert("RGB"), dtype=float)
                        - np.asarray(b.convert("RGB"), dtype=float)).mean())


def training_image(demo: DemoApp, replica_id: str) -> tuple[str, bytes]:
    """-> (the train_image_url Tavus was sent, without its query; the bytes behind it)."""
    answer = httpx.get(f"{demo.simulator_url}/_sim/replicas/{replica_id}/request")
    url = answer.raise_for_status().json()["request"]["train_image_url"]
    path = urlsplit(url).path.lstrip("/")
    bucket, key = path.split("/", 1)
    assert bucket == DEMO_BUCKET, url
    return url, demo.s3().get_object(Bucket=bucket, Key=key)["Body"].read()


def assert_trains(demo: DemoApp, replica_id: str) -> None:
    """The simulator downloaded the photo and judged it as Tavus does (PNG or JPEG, at least
    512 px; anything else fails the replica with an error) before training it: the replica's
    progress moves, then it completes, with no error."""
    seen: list[tuple[str, int | None]] = []

    def completed() -> bool:
        with demo.tavus() as tavus:
            replica = tavus.get_replica(replica_id)
        seen.append((replica.status, replica.progress))
        assert replica.status != "error" and not replica.error_message, replica.error_message
        return replica.status == "completed"

    wait_until(completed, timeout=90, what=f"replica {replica_id} to finish training")
    assert any(0 < (progress or 0) < 100 for _, progress in seen), seen  # it trained


def assert_upright_and_clean(url: str, data: bytes, upright: Image.Image) -> None:
    """What Tavus trains from: a JPEG, the right way up, with no EXIF (GPS), no XMP."""
    assert url.endswith(".jpg"), url
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.mode == "RGB"
    assert image.size == upright.size
    assert mean_difference(image, upright) < 4  # upright, turned once
    exif = image.getexif()
    assert not exif.get_ifd(GPS_IFD) and len(exif) == 0
    assert "xmp" not in image.info and "exif" not in image.info
    for secret in (b"Apple", b"iPhone", b"Secret Harbour", b"xmpmeta"):
        assert secret not in data, secret
    report = check_photo(data)  # the face a frontal detector finds only when upright
    assert report.verdict is Verdict.READY and len(report.faces) == 1, report.failed


def test_an_iphone_heic_is_refused_when_damaged_then_created_upright_and_clean(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    page.goto(demo.app.url)
    wait_idle(page)

    # A cut-off HEIC (half the file): refused with what to do, nothing to create from.
    photo = iphone_heic()
    damaged = tmp_path / "IMG_4820.HEIC"
    damaged.write_bytes(photo[: len(photo) // 2])
    upload(page, damaged)
    wait_idle(page)
    alert = page.locator('[data-testid="stAlertContentError"]').first
    expect(alert).to_contain_text("This HEIC photo is damaged or incomplete")
    expect(alert).to_contain_text("export it as JPEG")
    assert page.get_by_role("button", name="Create replica").is_disabled()
    assert_no_exception(page)
    shot(page, "heic-1-damaged")

    # The whole photo, dropped over it: converted, turned upright, stripped, judged Ready.
    good = tmp_path / "IMG_4821.HEIC"
    good.write_bytes(photo)
    upload(page, good)
    wait_idle(page)
    verdict = page.locator(".st-key-photo-verdict")
    verdict.filter(has_text="Ready").wait_for()
    wait_idle(page)
    for note in ("Converted from HEIC to JPEG", "Removed location (GPS) and camera metadata",
                 "Rotated upright from the photo's orientation (HEIC)"):
        expect(page.get_by_text(note)).to_be_visible()
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    overlay = page.locator('[data-testid="stImage"] img').first
    wait_until(lambda: overlay.evaluate("img => img.complete && img.naturalWidth") > 0,
               timeout=15, what="the overlay image to load")
    width, height = overlay.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert height > width, (width, height)  # the preview is the upright portrait, not sideways
    assert page.get_by_label("Replica name").get_attribute("placeholder") == "IMG 4821"
    page.get_by_label("Replica name").fill("Zoe from her iPhone")
    shot(page, "heic-2-ready")
    turned = page.get_by_text("Rotated upright from the photo's orientation (HEIC)")
    turned.scroll_into_view_if_needed()  # the notes and the checks, under the overlay
    shot(page, "heic-2b-notes-and-checks")

    page.get_by_role("button", name="Create replica").click()
    replica_id = created_replica_id(page)
    shot(page, "heic-3-created")
    url, data = training_image(demo, replica_id)
    (ARTIFACTS / "heic-training-image.jpg").write_bytes(data)  # for a person to look at
    assert_upright_and_clean(url, data, astronaut_portrait())
    assert_trains(demo, replica_id)
    assert_no_exception(page)


def test_several_iphone_photos_create_the_good_one_upright_and_clean(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    page.goto(demo.app.url)
    wait_idle(page)
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Several photos").click()
    wait_idle(page)

    # Another picture than the single-photo journey's, turned the other way (orientation 8).
    upright = on_canvas(astronaut(), (544, 720), (16, 112), fill=(150, 140, 130))
    good = tmp_path / "IMG_5001.HEIC"
    good.write_bytes(iphone_heic(upright, orientation=8))
    whole = iphone_heic(orientation=3)
    damaged = tmp_path / "IMG_5002.heic"
    damaged.write_bytes(whole[: len(whole) // 2])
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [str(good), str(damaged)])
    create = page.get_by_role("button", name="Create all ready ones (1)")
    create.wait_for()
    wait_idle(page)
    rows = {page.locator(f".st-key-batch-row-{i}").inner_text() for i in (0, 1)}
    good_row = next(r for r in rows if "IMG_5001" in r)
    bad_row = next(r for r in rows if "IMG_5002" in r)
    assert "Ready" in good_row, good_row
    assert re.search(r"HEIC photo is damaged or incomplete", bad_row), bad_row
    assert_no_exception(page)
    shot(page, "heic-batch-1-review")

    create.click()
    results = page.locator(".st-key-batch-results")
    expect(results).to_contain_text("Training started for 1 replica", timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    replica_id = re.search(r"\br[0-9a-f]{6,}\b", results.inner_text())[0]
    shot(page, "heic-batch-2-created")
    url, data = training_image(demo, replica_id)
    (ARTIFACTS / "heic-batch-training-image.jpg").write_bytes(data)
    assert_upright_and_clean(url, data, upright)
    assert_trains(demo, replica_id)
