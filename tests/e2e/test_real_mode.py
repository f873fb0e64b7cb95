"""Pointed at another Tavus-compatible server and another S3 endpoint, the app uses them, starts
neither stand-in, and never shows or logs the secrets: for a photo, a video, a debrief, and the
Create page's camera, "Fix framing" and "Several photos"."""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, WebSocket, expect

from lib.config import S3Settings
from lib.storage.ledger import Ledger, record_key
from lib.storage.s3 import ImageStore
from lib.storage.uploads import ensure_cors
from lib.tavus.client import TavusClient
from lib.tavus.simulator import TavusSimulator
from tests.e2e.conftest import (
    CAMERA_SIZE,
    RunningApp,
    assert_no_exception,
    create_replica,
    fix_framing,
    open_page,
    row_named,
    shot,
    start_app,
    start_demo_app,
    stop_app,
    upload,
    use_camera_photo,
    wait_idle,
    wait_until,
)
from tests.e2e.test_batch_journey import READY, create_batch, review_batch
from tests.media import astronaut_png
from tests.replicas.test_batch import creates
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


# Not forwarded as they came: each hop has its own connection, and the relay reads bodies whole.
HOP_HEADERS = {"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade",
               "proxy-connection", "content-length", "content-encoding", "accept-encoding"}


class WireRecorder:
    """A plain HTTP relay in front of another server that keeps every request as it arrived.

    The simulator keeps a create body without its URLs' queries (they are credentials); this
    shows what the app really put on the wire, presigned query included.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.sent: list[tuple[str, str, bytes]] = []  # (method, path with query, body)
        self._client = httpx.Client(timeout=120)
        recorder = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.sent.append((self.command, self.path, body))
                answer = recorder._client.request(
                    self.command, recorder.target + self.path, content=body,
                    headers={k: v for k, v in self.headers.items()
                             if k.lower() not in HOP_HEADERS})
                self.send_response(answer.status_code)
                for name, value in answer.headers.multi_items():
                    if name.lower() not in HOP_HEADERS | {"date", "server"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def replica_bodies(self, since: int = 0) -> list[dict]:
        """The body of each POST /v2/replicas from the `since`-th request on."""
        return [json.loads(body) for method, path, body in self.sent[since:]
                if (method, path) == ("POST", "/v2/replicas")]


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
def tavus_wire(external_tavus: TavusSimulator) -> Iterator[WireRecorder]:
    """The address the app is given for Tavus: the simulator, behind a recording relay."""
    wire = WireRecorder(external_tavus.base_url)
    yield wire
    wire.stop()


@pytest.fixture(scope="module")
def real_app(tavus_wire: WireRecorder, external_s3: S3Settings) -> Iterator[RunningApp]:
    app = start_app("real-mode", {
        "TAVUS_API_KEY": TAVUS_KEY, "TAVUS_API_URL": tavus_wire.url,
        "S3_BUCKET": BUCKET, "S3_ENDPOINT_URL": external_s3.endpoint_url, "S3_PREFIX": "team/",
        "AWS_ACCESS_KEY_ID": "e2e-key-id", "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "REFRESH_SECONDS": "2",
    })
    yield app
    stop_app(app)


def record_frames(page: Page) -> list[str]:
    """Every websocket frame the page receives or sends from now on, as text."""
    frames: list[str] = []

    def record(ws: WebSocket) -> None:
        for event in ("framereceived", "framesent"):
            ws.on(event, lambda payload: frames.append(
                payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload))

    page.on("websocket", record)
    return frames


def assert_no_secret(page: Page, app: RunningApp, frames: list[str]) -> None:
    """Neither secret in the page, its websocket traffic or the server log; no presigned URL
    in the log either."""
    html, log = page.content(), app.log()
    assert frames, "no websocket traffic was recorded"
    for secret in (TAVUS_KEY, AWS_SECRET):
        assert secret not in html
        assert not any(secret in frame for frame in frames)
        assert secret not in log
    assert "X-Amz-Signature" not in log


def bucket_keys(settings: S3Settings) -> list[str]:
    return [o["Key"] for o in ImageStore(settings)._s3.list_objects_v2(
        Bucket=BUCKET).get("Contents", [])]


def stored_image(settings: S3Settings, key: str) -> Image.Image:
    return Image.open(io.BytesIO(ImageStore(settings).read_object(key)))


def key_of(training_url: str, settings: S3Settings) -> str:
    """The object a presigned training URL names in the configured bucket (asserted so)."""
    bucket_url = f"{settings.endpoint_url}/{BUCKET}/"
    assert training_url.startswith(bucket_url + "team/"), training_url
    assert "X-Amz-Signature=" in urlsplit(training_url).query  # presigned
    return unquote(urlsplit(training_url).path.removeprefix(f"/{BUCKET}/"))


def test_real_mode_uses_the_configured_servers_and_leaks_no_secret(
        page: Page, real_app: RunningApp, external_tavus: TavusSimulator,
        external_s3: S3Settings, tmp_path: Path) -> None:
    frames = record_frames(page)
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

    wait_until(lambda: len(bucket_keys(external_s3)) == 2, timeout=30,
               what="photo and team record")
    keys = bucket_keys(external_s3)
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
    assert "External Astro" in page.content()  # the scan below reads a real, full page
    assert_no_secret(page, real_app, frames)
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
    frames = record_frames(page)

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
    assert_no_secret(page, real_app, frames)


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


# -- the Create page's camera, "Fix framing" and "Several photos", against the same servers ------
def open_create_page(page: Page, app: RunningApp) -> list[str]:
    """The app's Create page, its websocket frames recorded from the start. -> the frames."""
    frames = record_frames(page)
    page.goto(app.url)
    wait_idle(page)
    return frames


def one_more_replica(external_tavus: TavusSimulator, wire: WireRecorder, posts: int, since: int,
                     settings: S3Settings) -> str:
    """Exactly one create reached the other server since (`posts`, `since`), trained from a
    presigned URL into the configured bucket. -> the photo's key there."""
    assert creates(external_tavus) == posts + 1
    [body] = wire.replica_bodies(since)
    return key_of(body["train_image_url"], settings)


def assert_trained_cleanly(external_tavus: TavusSimulator, replica_id: str, name: str) -> None:
    """The other server fetched the photo from the bucket and took it."""
    assert external_tavus.wait_for_downloads()
    with TavusClient(external_tavus.base_url, TAVUS_KEY) as tavus:
        replica = tavus.get_replica(replica_id)
    assert replica.replica_name == name
    assert replica.error_message in (None, ""), replica.error_message


def test_real_mode_fix_framing_sends_the_fixed_photo_through_the_configured_bucket(
        page: Page, real_app: RunningApp, external_tavus: TavusSimulator,
        external_s3: S3Settings, tavus_wire: WireRecorder, tmp_path: Path) -> None:
    frames = open_create_page(page, real_app)
    width, height = fix_framing(page, tmp_path)
    # Send: the after-image (the default), chosen again after a look at the original.
    send = page.locator('[data-testid="stRadio"]')
    send.get_by_text("Original", exact=True).click()
    wait_idle(page)
    send.get_by_text("Fixed", exact=True).click()
    wait_idle(page)
    expect(send.get_by_role("radio", name="Fixed")).to_be_checked()
    shot(page, "real-mode-framing-1-fixed")

    posts, since = creates(external_tavus), len(tavus_wire.sent)
    page.get_by_label("Replica name").fill("External Framed")
    wait_idle(page)
    replica_id = create_replica(page)
    key = one_more_replica(external_tavus, tavus_wire, posts, since, external_s3)
    assert key.endswith("-framed.png")
    assert stored_image(external_s3, key).size == (width, height)  # the crop, not the original

    # The team record beside it, in the configured bucket, says the framing was fixed here.
    wait_until(lambda: record_key(key) in bucket_keys(external_s3), timeout=15,
               what="the team record")
    kept = Ledger(ImageStore(external_s3)).read(record_key(key))
    assert (kept.replica_id, kept.photo_key, kept.framing_fixed) == (replica_id, key, True)
    assert_trained_cleanly(external_tavus, replica_id, "External Framed")

    page.get_by_role("link", name="Watch it train").click()
    wait_idle(page)
    wait_until(lambda: row_named(page, "External Framed") is not None, timeout=30,
               what="the replica in the table")
    assert_no_exception(page)
    shot(page, "real-mode-framing-2-replicas")
    assert_no_secret(page, real_app, frames)


def test_real_mode_batch_creates_each_ready_photo_once_through_the_configured_bucket(
        page: Page, real_app: RunningApp, external_tavus: TavusSimulator,
        external_s3: S3Settings, tavus_wire: WireRecorder, tmp_path: Path) -> None:
    frames = open_create_page(page, real_app)
    create = review_batch(page, tmp_path)
    shot(page, "real-mode-batch-1-review")

    posts, since = creates(external_tavus), len(tavus_wire.sent)
    with TavusClient(external_tavus.base_url, TAVUS_KEY) as tavus:
        before = {r.replica_id for r in tavus.list_all_replicas()}
    create_batch(page, create, "real-mode-batch")

    # Four creates on the other server, one per ready photo, none for the cat or the tiny one.
    assert creates(external_tavus) == posts + 4
    with TavusClient(external_tavus.base_url, TAVUS_KEY) as tavus:
        made = [r for r in tavus.list_all_replicas() if r.replica_id not in before]
    assert sorted(r.replica_name for r in made) == sorted(READY)
    bodies = tavus_wire.replica_bodies(since)
    assert sorted(b["replica_name"] for b in bodies) == sorted(READY)
    keys = [key_of(b["train_image_url"], external_s3) for b in bodies]
    assert len(set(keys)) == 4 and set(keys) <= set(bucket_keys(external_s3))
    assert all(min(stored_image(external_s3, k).size) >= 512 for k in keys)
    for replica in made:
        assert_trained_cleanly(external_tavus, replica.replica_id, replica.replica_name)
    assert_no_secret(page, real_app, frames)


@pytest.fixture
def camera_page(camera_browser: Browser, real_app: RunningApp,
                request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(camera_browser, request.node.name, camera_for=real_app.url) as page:
        yield page


def test_real_mode_camera_headshot_reaches_the_configured_bucket_at_full_size(
        camera_page: Page, real_app: RunningApp, external_tavus: TavusSimulator,
        external_s3: S3Settings, tavus_wire: WireRecorder) -> None:
    page = camera_page
    frames = open_create_page(page, real_app)
    photos_before = set(bucket_keys(external_s3))
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Camera").click()
    widget = page.locator('[data-testid="cameraHeadshot"]')
    expect(widget).to_have_attribute("data-state", "live")
    widget.get_by_role("button", name="Take photo").click()
    expect(widget).to_have_attribute("data-state", "review", timeout=10_000)
    name = use_camera_photo(page)
    assert name.startswith("Camera headshot, "), name
    shot(page, "real-mode-camera-1-checked")

    posts, since = creates(external_tavus), len(tavus_wire.sent)
    replica_id = create_replica(page, anyway=True)
    shot(page, "real-mode-camera-2-created")
    key = one_more_replica(external_tavus, tavus_wire, posts, since, external_s3)
    assert [k for k in bucket_keys(external_s3)
            if k not in photos_before and not k.endswith(".json")] == [key]
    assert "Camera-headshot" in key
    assert stored_image(external_s3, key).size == CAMERA_SIZE  # the camera's, not the widget's
    assert_trained_cleanly(external_tavus, replica_id, name)
    assert_no_secret(page, real_app, frames)
