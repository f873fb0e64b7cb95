"""Fix framing in a browser: a small, off-centre head in a wide photo is judged fixable, cropped
here to a head-and-shoulders portrait whose checks pass, and the fixed photo is what is sent."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page

from lib.demo import DEMO_BUCKET
from tests.e2e.conftest import (
    DemoApp,
    created_replica_id,
    fix_framing,
    shot,
    wait_idle,
    wait_until,
)

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 30}


def test_a_wide_photo_is_fixed_here_and_the_fixed_photo_is_sent(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    page.goto(demo.app.url)
    wait_idle(page)
    width, height = fix_framing(page, tmp_path)
    shot(page, "fix-framing-1-before-after")

    page.get_by_label("Replica name").fill("Framed Here")
    wait_idle(page)
    page.get_by_role("button", name="Create replica").click()
    rid = created_replica_id(page)

    # The photo in S3 is the fixed portrait, and the team record says it was fixed here.
    s3 = demo.s3()

    def record() -> dict | None:
        for key in demo.bucket_keys():
            if key.endswith(".json") and "/presets/" not in key and "/calls/" not in key:
                found = json.loads(s3.get_object(Bucket=DEMO_BUCKET, Key=key)["Body"].read())
                if found.get("replica_id") == rid:
                    return found
        return None

    wait_until(lambda: record() is not None, timeout=15, what="the team record")
    kept = record()
    assert kept["framing_fixed"] is True and kept["photo_key"].endswith("-framed.png")
    sent = Image.open(io.BytesIO(
        s3.get_object(Bucket=DEMO_BUCKET, Key=kept["photo_key"])["Body"].read()))
    assert sent.size == (width, height)
    shot(page, "fix-framing-2-created")
