"""Pointed at another Tavus-compatible server and another S3 endpoint, the app uses them, starts
neither stand-in, and never shows or logs the secrets."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, WebSocket, expect

from lib.config import S3Settings
from lib.storage.ledger import record_key
from lib.storage.s3 import ImageStore
from lib.storage.uploads import ensure_cors
from lib.tavus.client import TavusClient
from lib.tavus.simulator import TavusSimulator
from tests.e2e.conftest import (
    RunningApp,
    assert_no_exception,
    row_named,
    shot,
    start_app,
    start_demo_app,
    stop_app,
    upload,
    wait_idle,
    wait_until,
)
from tests.media import astronaut_png
from tests.video_media import Clip, copy_clip

pytestmark = pytest.mark.e2e

TAVUS_KEY = "e2e-fake-tavus-key-7QxW2v"
AWS_SECRET = "e2e-fake-aws-secret-Zp9LmQ"
BUCKET = "external-team-photos"


def listening_ports(pid: int) -> set[int]:
    """TCP ports a process listens on, from /proc (its socket inodes in LISTEN state)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture(scope="module")
def external_tavus() -> Iterator[TavusSimulator]:
    sim = TavusSimulator(TAVUS_KEY, training_seconds=6, seed_demo_data=False).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def external_s3(s3_endpoint: str) -> S3Settings:
    settings = S3Settings(bucket=BUCKET, endpoint_url=s3_endpoint, prefix="team/",
                          access_key_id="e2e-key-id", secret_access_key=AWS_SECRET)
    ImageStore(settings).ensure_bucket()
    return settings


@pytest.fixture(scope="module")
def real_app(external_tavus: TavusSimulator, external_s3: S3Settings) -> Iterator[RunningApp]:
    app = start_app("real-mode", {
        "TAVUS_API_KEY": TAVUS_KEY, "TAVUS_API_URL": external_tavus.base_url,
        "S3_BUCKET": BUCKET, "S3_ENDPOINT_URL": external_s3.endpoint_url, "S3_PREFIX": "team/",
        "AWS_ACCESS_KEY_ID": "e2e-key-id", "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "REFRESH_SECONDS": "2",
    })
    yield app
    stop_app(app)


def test_real_mode_uses_the_configured_servers_and_leaks_no_secret(
        page: Page, real_app: RunningApp, external_tavus: TavusSimulator,
        external_s3: S3Settings, tmp_path: Path) -> None:
    frames: list[str] = []

    def record(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(
            payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload))
        ws.on("framesent", lambda payload: frames.append(
            payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload))

    page.on("websocket", record)
    photo = tmp_path / "external-astro.png"
    photo.write_bytes(astronaut_png())

    page.goto(real_app.url)
    wait_idle(page)
    assert page.locator(".st-key-demo-banner").count() == 0
    upload(page, photo)
    page.get_by_label("Replica name").fill("External Astro")
    page.get_by_role("button", name="Create replica").click()
    page.locator(".st-key-create-result").wait_for()
    assert_no_exception(page)

    # The replica exists on the configured Tavus server, trained from the configured bucket.
    with TavusClient(external_tavus.base_url, TAVUS_KEY) as tavus:
        created = [r for r in tavus.list_all_replicas() if r.replica_name == "External Astro"]
    assert len(created) == 1
    def bucket_keys() -> list[str]:
        return [o["Key"] for o in ImageStore(external_s3)._s3.list_objects_v2(
            Bucket=BUCKET).get("Contents", [])]

    wait_until(lambda: len(bucket_keys()) == 2, timeout=10, what="photo and team record")
    keys = bucket_keys()
    photos = [k for k in keys if not k.endswith(".json")]
    assert len(photos) == 1 and photos[0].startswith("team/")
    assert sorted(keys) == sorted([photos[0], record_key(photos[0])])  # photo + team record
    assert external_tavus.wait_for_downloads()

    page.get_by_role("link", name="Watch it train").click()
    wait_idle(page)
    wait_until(lambda: row_named(page, "External Astro") is not None, timeout=30,
               what="the replica in the table")
    external_tavus.advance(10)
    wait_until(lambda: (row_named(page, "External Astro") or {}).get("Status") == "Ready",
               timeout=30, what="Ready")
    shot(page, "real-mode-replicas")

    page.goto(f"{real_app.url}/conversations?replica={created[0].replica_id}")
    wait_idle(page)
    page.get_by_role("button", name="Start conversation").click()
    link = page.get_by_role("link", name="Open conversation")
    link.wait_for()
    assert link.get_attribute("href").startswith(external_tavus.base_url + "/rooms/")
    assert_no_exception(page)

    # Error paths and the details panel must not leak either.
    external_tavus.inject_fault("500", count=100, path_prefix="/v2/replicas")
    try:
        page.get_by_role("link", name="Replicas").first.click()
        wait_idle(page)
        # The server's shared list is fresh (opening it costs no call): Refresh asks Tavus now.
        page.get_by_role("button", name="Refresh").click()
        page.get_by_text("could not be loaded").or_(page.get_by_text("Stale since")).first \
            .wait_for()
    finally:
        external_tavus.clear_faults()
    page.goto(f"{real_app.url}/replicas?replica={created[0].replica_id}")
    wait_idle(page)
    expect(page.locator(".st-key-replica-details")).to_contain_text("External Astro")
    # Real mode shows the photo through a short presigned URL of the configured S3.
    photo = page.locator('.st-key-replica-details [data-testid="stImage"] img').first
    src = photo.get_attribute("src")
    assert src.startswith(f"{external_s3.endpoint_url}/{BUCKET}/team/"), src
    assert "X-Amz-Expires=3600" in src
    assert photo.evaluate("img => img.complete && img.naturalWidth") > 0

    # Neither stand-in was started: the app's process listens on its own port only.
    app_port = int(real_app.url.rsplit(":", 1)[1])
    assert listening_ports(real_app.process.pid) == {app_port}
    assert "demo mode:" not in real_app.log()

    # No secret anywhere a person or a log reader could see it.
    html = page.content()
    assert "External Astro" in html  # the scan below reads a real, full page
    assert frames, "no websocket traffic was recorded"
    for secret in (TAVUS_KEY, AWS_SECRET):
        assert secret not in html
        assert not any(secret in frame for frame in frames)
        assert secret not in real_app.log()
    assert "X-Amz-Signature" not in real_app.log()
    assert re.search(r"POST /v2/replicas -> 200", real_app.log())  # the log does record calls


def test_demo_mode_starts_both_stand_ins_for_contrast(page: Page) -> None:
    """The positive control for the port check above."""
    app = start_demo_app("demo-ports", training_seconds=10).app
    try:
        page.goto(app.url)
        wait_idle(page)
        assert page.locator(".st-key-demo-banner").count() == 1
        assert len(listening_ports(app.process.pid)) == 3  # app, simulator, S3
        assert "demo mode: Tavus simulator at" in app.log()
    finally:
        stop_app(app)


def test_real_mode_trains_from_a_video_put_straight_into_the_configured_bucket(
        page: Page, real_app: RunningApp, external_tavus: TavusSimulator,
        external_s3: S3Settings, tmp_path: Path) -> None:
    # What the README asks of a real bucket: a CORS rule for the app's own address.
    store = ImageStore(external_s3)
    ensure_cors(store, [real_app.url])
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
        payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload)))

    page.goto(f"{real_app.url}/create_video")
    wait_idle(page)
    page.get_by_role("textbox", name="Full name of the person filmed").fill("Ada Lovelace")
    page.get_by_test_id("videoUploaderInput").set_input_files(
        str(copy_clip(Clip(seconds=64), tmp_path / "external take.mp4")))
    expect(page.get_by_test_id("videoUploaderStatus")).to_have_text("Uploaded ✓",
                                                                     timeout=60_000)
    expect(page.locator(".st-key-training-clip-verdict")).to_contain_text("Ready",
                                                                           timeout=60_000)
    page.get_by_label("Replica name").fill("External Video")
    wait_idle(page)
    page.get_by_role("button", name="Create replica").click()
    page.locator(".st-key-video-create-result").wait_for(timeout=30_000)
    assert_no_exception(page)

    with TavusClient(external_tavus.base_url, TAVUS_KEY) as tavus:
        [created] = [r for r in tavus.list_all_replicas() if r.replica_name == "External Video"]
        sent = external_tavus.replica_request(created.replica_id)
        # The clip went from the browser to the configured bucket, and Tavus fetched it there.
        assert sent["train_video_url"].startswith(
            f"{external_s3.endpoint_url}/{BUCKET}/team/videos/")
        assert "voice_name" not in sent
        assert external_tavus.wait_for_downloads()
        assert tavus.get_replica(created.replica_id).error_message in (None, "")
    clip_key = sent["train_video_url"].split(f"/{BUCKET}/", 1)[1]
    assert store.call("head_object", Key=clip_key)["ContentLength"] > 1_000_000
    shot(page, "real-mode-video")
    for secret in (TAVUS_KEY, AWS_SECRET):
        assert not any(secret in frame for frame in frames)
        assert secret not in page.content() and secret not in real_app.log()


def test_real_mode_debriefs_a_call_on_the_other_server(
        page: Page, real_app: RunningApp, external_tavus: TavusSimulator) -> None:
    with TavusClient(external_tavus.base_url, TAVUS_KEY) as tavus:
        replica_id = next(r.replica_id for r in tavus.list_all_replicas() if r.usable)
        cid = tavus.create_conversation(replica_id=replica_id, conversation_name="External Call",
                                        custom_greeting="Hello from the other server"
                                        ).conversation_id
        external_tavus.join(cid)
        tavus.end_conversation(cid)
    external_tavus.advance(10)  # past the transcript's delay
    page.goto(f"{real_app.url}/history?conversation={cid}")
    wait_idle(page)
    dialogue = page.locator(".st-key-debrief-dialogue")
    expect(dialogue).to_contain_text("Hello from the other server", timeout=30_000)
    assert "You are " not in page.locator(".st-key-debrief").inner_text()
    assert_no_exception(page)
    shot(page, "real-mode-debrief")
