"""Every action survives an impatient person, in Chromium against a real `streamlit run`: in demo
mode, and against another Tavus-compatible server and S3 (real mode).

For each action, three habits, one after the other on the same page:
- twice: the same button again 0.3 s later (a mouse click where the button was, as a person's
  second click lands, even if the button is disabled or gone by then);
- elsewhere: the button, then another widget 0.3 s later (which reruns the page);
- away: the button, then another page 0.3 s later.
Each ends with exactly the intended effect, counted where it happens (the Tavus server's own
request log and objects, the bucket), nothing left "in progress" on the page once the work has
ended, and no exception. Every Tavus answer takes LATENCY seconds, as over a real network.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import Error as PlaywrightError

from lib.config import S3Settings
from lib.demo import DEMO_API_KEY, DEMO_BUCKET
from lib.storage.s3 import ImageStore
from lib.storage.uploads import ensure_cors
from lib.tavus.client import TavusClient
from lib.tavus.simulator import TavusSimulator
from tests.e2e.conftest import (
    assert_no_exception,
    camera_frame,
    launch_with_camera,
    open_page,
    row_named,
    shot,
    start_app,
    start_demo_app,
    stop_app,
    table_rows,
    upload,
    wait_idle,
    wait_until,
    write_y4m,
)
from tests.e2e.test_batch_journey import READY, review_batch
from tests.media import astronaut, astronaut_png, encode, on_canvas
from tests.video_media import Clip, copy_clip

pytestmark = pytest.mark.e2e

PATTERNS = ("twice", "elsewhere", "away")
LATENCY = 0.05  # seconds every Tavus answer takes
GAP = 0.3  # between the click and the next thing the person does
REAL_KEY = "impatience-tavus-key-4Rk"
REAL_BUCKET = "impatience-bucket"
BUSY = re.compile(r"hourglass_top|Creating…|Starting the conversation|Converting…|Saving…")


@dataclass
class World:
    """A running app and the Tavus server and bucket it talks to, seen from outside."""

    mode: str
    url: str
    sim_url: str
    key: str
    bucket: str
    s3: object  # a boto3 client on the app's bucket

    def tavus(self) -> TavusClient:
        return TavusClient(self.sim_url, self.key)

    def requests(self, method: str, path: str | re.Pattern) -> int:
        listed = httpx.get(f"{self.sim_url}/_sim/requests").json()["requests"]
        return sum(1 for r in listed if r["method"] == method and (
            r["path"] == path if isinstance(path, str) else path.fullmatch(r["path"])))

    def faults(self, *extra: dict) -> None:
        """Every Tavus answer slow; `extra` faults (first match wins) before that."""
        httpx.delete(f"{self.sim_url}/_sim/faults").raise_for_status()
        for fault in (*extra, {"kind": "slow", "count": 10**9, "delay": LATENCY}):
            httpx.post(f"{self.sim_url}/_sim/faults", json=fault).raise_for_status()

    def replicas_named(self, name: str) -> list:
        with self.tavus() as tavus:
            return [r for r in tavus.list_all_replicas(replica_type="user")
                    if r.replica_name == name]

    def keys(self, part: str = "") -> list[str]:
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            found += [o["Key"] for o in page.get("Contents", []) if part in o["Key"]]
        return found

    def ready_replica(self) -> str:
        """A ready replica to talk to (and a fresh one for each call, as the limit is 3)."""
        ids = httpx.post(f"{self.sim_url}/_sim/replicas",
                         json={"n": 1, "training": 0}).json()["replica_ids"]
        return ids[0]

    def end_all_calls(self) -> None:
        with self.tavus() as tavus:
            for call in tavus.list_conversations(status="active", limit=100).conversations:
                tavus.end_conversation(call.conversation_id)


@pytest.fixture(scope="module")
def camera_browser_for_all(browser: Browser, tmp_path_factory) -> Iterator[Browser]:
    """One Chromium for every habit: its camera plays the astronaut (for the camera path)."""
    clip = tmp_path_factory.mktemp("camera") / "astronaut.y4m"
    write_y4m(camera_frame(), clip)
    chromium = launch_with_camera(browser.browser_type, clip)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module", params=["demo", "real"])
def world(request: pytest.FixtureRequest, s3_endpoint: str, browser: Browser) -> Iterator[World]:
    if request.param == "demo":
        demo = start_demo_app("impatience-demo", training_seconds=30)
        try:
            with open_page(browser, "impatience-demo-start") as first:
                first.goto(demo.app.url)  # the first run starts demo mode's stand-ins
                wait_idle(first)
            made = World("demo", demo.app.url, demo.simulator_url, DEMO_API_KEY, DEMO_BUCKET,
                         demo.s3())
            made.faults()
            yield made
        finally:
            stop_app(demo.app)
        return
    sim = TavusSimulator(REAL_KEY, training_seconds=30).start()
    settings = S3Settings(bucket=REAL_BUCKET, endpoint_url=s3_endpoint, prefix="team/",
                          access_key_id="impatience-id", secret_access_key="impatience-secret")
    store = ImageStore(settings)
    store.ensure_bucket()
    app = start_app("impatience-real", {
        "TAVUS_API_KEY": REAL_KEY, "TAVUS_API_URL": sim.base_url, "S3_BUCKET": REAL_BUCKET,
        "S3_ENDPOINT_URL": s3_endpoint, "S3_PREFIX": "team/",
        "AWS_ACCESS_KEY_ID": "impatience-id", "AWS_SECRET_ACCESS_KEY": "impatience-secret",
        "REFRESH_SECONDS": "2"})
    try:
        ensure_cors(store, [app.url])
        s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="impatience-id",
                          aws_secret_access_key="impatience-secret",
                          config=Config(signature_version="s3v4"))
        made = World("real", app.url, sim.base_url, REAL_KEY, REAL_BUCKET, s3)
        made.faults()
        yield made
    finally:
        stop_app(app)
        sim.stop()


@pytest.fixture
def page(camera_browser_for_all: Browser, world: World, request) -> Iterator[Page]:
    name = f"impatience-{world.mode}-{request.node.originalname.removeprefix('test_')}"
    with open_page(camera_browser_for_all, name, camera_for=world.url) as page:
        yield page


# --- the three habits ----------------------------------------------------------------------------
def impatient(page: Page, button: Locator, habit: str, elsewhere: Callable[[], None],
              away: str = "Demo history") -> None:
    """Click `button`, then GAP s later: click where it was again (twice), `elsewhere()`, or
    the sidebar's link to another page (away)."""
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    # The first click through the locator (it waits until the button holds still: a table
    # refreshing above may shift it), the second where the button was, as a person's lands.
    button.click()
    with contextlib.suppress(PlaywrightError):  # gone already (a panel that closed): as before
        box = button.bounding_box(timeout=500) or box
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    time.sleep(GAP)
    if habit == "twice":
        page.mouse.click(x, y)
    elif habit == "elsewhere":
        elsewhere()
    else:
        link = page.locator('[data-testid="stSidebar"]').get_by_role("link", name=away,
                                                                      exact=True)
        link.click()
        where = f"**/{away.lower().replace('demo ', '').replace(' ', '_')}*"
        try:
            page.wait_for_url(where, timeout=10_000)
        except PlaywrightError:
            # Streamlit can drop a page switch that lands while the click's run redraws (a
            # person clicks the link again): the action itself is what this journey counts.
            print(f"the switch to {away} was dropped; clicked again")
            link.click()
            page.wait_for_url(where)


def settled(page: Page, what: str) -> None:
    """The page is idle, shows no exception and nothing still "in progress" (a poll of a
    finished action redraws the page once: waited for, up to 15 s, then asserted)."""
    def quiet() -> bool:
        wait_idle(page)
        return not BUSY.search(page.inner_text("body"))

    with contextlib.suppress(AssertionError):
        wait_until(quiet, timeout=15, what=f"{what}: nothing in progress")
    wait_idle(page)
    assert_no_exception(page)
    body = page.inner_text("body")
    assert not BUSY.search(body), f"{what}: still in progress on the page: {body[:2000]}"


def toggle(page: Page, label: str) -> Callable[[], None]:
    return lambda: page.get_by_text(label, exact=True).click()


def go(page: Page, world: World, path: str = "") -> None:
    page.goto(f"{world.url}/{path}")
    wait_idle(page)


def create_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Create replica")


# --- Create: a photo, the camera, Check with Tavus, Fix framing ----------------------------------
def create_impatiently(page: Page, world: World, name: str, habit: str) -> None:
    """Name the checked photo, press Create replica with `habit`: the replica is made, once."""
    page.get_by_label("Replica name").fill(name)
    page.get_by_label("Replica name").press("Tab")
    wait_idle(page)
    impatient(page, create_button(page), habit, toggle(page, "Green-screen background"))
    wait_until(lambda: len(world.replicas_named(name)) == 1, timeout=30,
               what=f"{habit}: the replica {name!r}")


def test_create_from_a_photo(page: Page, world: World, tmp_path: Path) -> None:
    photo = tmp_path / "impatient headshot.png"
    photo.write_bytes(astronaut_png())
    for habit in PATTERNS:
        name = f"Photo {world.mode} {habit}"
        go(page, world)
        upload(page, photo)
        create_impatiently(page, world, name, habit)
        if habit == "away":  # still made, and it is where people look for it: the table
            go(page, world, "replicas")
            wait_until(lambda n=name: row_named(page, n) is not None, timeout=30,
                       what=f"{habit}: the replica in the table")
        else:
            expect(page.locator(".st-key-create-result")).to_contain_text("Training started")
        settled(page, habit)
        assert len(world.replicas_named(name)) == 1, habit
        shot(page, f"impatience-{world.mode}-photo-{habit}")


def test_create_from_the_camera(page: Page, world: World) -> None:
    for habit in PATTERNS:
        name = f"Camera {world.mode} {habit}"
        go(page, world)
        page.locator('[data-testid="stButtonGroup"]').get_by_text("Camera").click()
        widget = page.locator('[data-testid="cameraHeadshot"]')
        expect(widget).to_have_attribute("data-state", "live")
        widget.get_by_role("button", name="Take photo").click()
        expect(widget).to_have_attribute("data-state", "review", timeout=10_000)
        widget.get_by_role("button", name="Use this photo").click()
        page.locator(".st-key-photo-verdict").wait_for()
        wait_idle(page)
        create_impatiently(page, world, name, habit)
        if habit != "away":
            expect(page.locator(".st-key-create-result")).to_contain_text("Training started")
        settled(page, habit)
        assert len(world.replicas_named(name)) == 1, habit


def test_check_with_tavus(page: Page, world: World, tmp_path: Path) -> None:
    photo = tmp_path / "checked.png"
    photo.write_bytes(astronaut_png())
    for habit in PATTERNS:
        go(page, world)
        upload(page, photo)
        wait_idle(page)
        before = world.requests("POST", "/v2/replicas/image-validation")
        impatient(page, page.get_by_role("button", name="Check with Tavus"), habit,
                  toggle(page, "Green-screen background"))
        wait_until(lambda b=before: world.requests(
            "POST", "/v2/replicas/image-validation") == b + 1, timeout=20,
            what=f"{habit}: Tavus's check")
        if habit != "away":
            expect(page.locator(".st-key-tavus-check")).to_have_count(1)
        settled(page, habit)
        assert world.requests("POST", "/v2/replicas/image-validation") == before + 1, habit


def test_fix_framing(page: Page, world: World, tmp_path: Path) -> None:
    wide = tmp_path / "wide office shot.png"
    wide.write_bytes(encode(on_canvas(astronaut(), (1920, 1080), (200, 300))))
    for habit in PATTERNS:
        go(page, world)
        upload(page, wide)
        wait_idle(page)
        expect(page.locator(".st-key-photo-verdict")).to_contain_text("Fixable")
        impatient(page, page.get_by_role("button", name="Fix framing"), habit,
                  toggle(page, "Green-screen background"))
        if habit != "away":
            after = page.get_by_text(re.compile(r"^After: \d+×\d+"))
            expect(after).to_have_count(1)  # one fix, shown once
            expect(page.get_by_role("radio", name="Fixed")).to_have_count(1)
        settled(page, habit)


# --- Several photos: Create all, and a failed row retried ---------------------------------------
def new_ready_replicas(world: World, before: set[str], prefix: str = "") -> list[str]:
    ready = {f"{prefix}{name}" for name in READY}
    with world.tavus() as tavus:
        return [r.replica_name for r in tavus.list_all_replicas(replica_type="user")
                if r.replica_id not in before and r.replica_name in ready]


def user_ids(world: World) -> set[str]:
    with world.tavus() as tavus:
        return {r.replica_id for r in tavus.list_all_replicas(replica_type="user")}


def test_several_photos_create_all(page: Page, world: World, tmp_path: Path) -> None:
    """The issue's own case: six photos, four usable, Create all pressed twice 0.3 s apart (and
    the other habits): exactly four replicas, in the Replicas table once each."""
    for habit in PATTERNS:
        prefix = f"batch{world.mode}{habit} "
        go(page, world)
        create = review_batch(page, tmp_path, prefix)
        before = user_ids(world)
        impatient(page, create, habit, toggle(page, "Let Tavus auto-fix the photos"))
        wait_until(lambda b=before, p=prefix: len(new_ready_replicas(world, b, p)) >= 4,
                   timeout=40, what=f"{habit}: the four replicas")
        if habit != "away":  # the session survived: each row says its outcome
            expect(page.locator(".st-key-batch-results")).to_contain_text(
                "Training started for 4 replicas", timeout=30_000)
        settled(page, habit)
        made = new_ready_replicas(world, before, prefix)
        assert sorted(made) == sorted(f"{prefix}{name}" for name in READY), habit
        shot(page, f"impatience-{world.mode}-batch-{habit}")
        # Where people look for them: the Replicas table, each once.
        go(page, world, "replicas")
        page.get_by_role("textbox", name="Search").fill(prefix.strip())
        page.get_by_role("textbox", name="Search").press("Enter")
        wait_until(lambda p=prefix: sorted(r.get("Name") for r in table_rows(page)) == sorted(
            f"{p}{name}" for name in READY), timeout=30, what=f"{habit}: the table")
        assert_no_exception(page)


def test_several_photos_retry_a_failed_row(page: Page, world: World, tmp_path: Path) -> None:
    try:
        for habit in PATTERNS:
            go(page, world)
            create = review_batch(page, tmp_path)
            before = user_ids(world)
            world.faults({"kind": "500", "count": 1, "path_prefix": "/v2/replicas",
                          "method": "POST"})
            create.click()
            expect(page.get_by_text("Retried by the next click")).to_have_count(1,
                                                                                timeout=30_000)
            wait_idle(page)
            assert len(new_ready_replicas(world, before)) == 3, habit
            retry = page.get_by_role("button", name="Create all ready ones (1)")
            impatient(page, retry, habit, toggle(page, "Let Tavus auto-fix the photos"))
            wait_until(lambda b=before: len(new_ready_replicas(world, b)) >= 4, timeout=30,
                       what=f"{habit}: the retried row")
            if habit != "away":
                expect(page.locator(".st-key-batch-results")).to_contain_text(
                    "Training started for 4 replicas", timeout=30_000)
            settled(page, habit)
            assert sorted(new_ready_replicas(world, before)) == sorted(READY), habit
    finally:
        world.faults()


# --- Create from a video: Convert and Create ------------------------------------------------------
def choose_clip(page: Page, path: Path) -> None:
    page.get_by_test_id("videoUploaderInput").first.set_input_files(str(path))
    expect(page.get_by_test_id("videoUploaderStatus").first).to_have_text(
        "Uploaded ✓", timeout=60_000)
    wait_idle(page)


def test_convert_and_create_from_a_video(page: Page, world: World, tmp_path: Path) -> None:
    hevc = Clip(seconds=61).short(container="mov", video_codec="libx265")
    for habit in PATTERNS:
        go(page, world, "create_video")
        name = f"Video {world.mode} {habit}"
        page.get_by_role("textbox", name="Full name of the person filmed").fill("Ada Lovelace")
        page.get_by_label("Replica name").fill(name)
        choose_clip(page, copy_clip(hevc, tmp_path / f"IMG_{habit}.MOV"))
        expect(page.locator(".st-key-training-clip-checks")).to_contain_text(
            "H.264", timeout=60_000)
        wait_idle(page)
        converted_before = len(world.keys("-converted.mp4"))
        impatient(page, page.get_by_role("button", name="Convert"), habit,
                  toggle(page, "Green-screen background"))
        wait_until(lambda c=converted_before: len(world.keys("-converted.mp4")) >= c + 1,
                   timeout=90, what=f"{habit}: the converted clip")
        time.sleep(1)
        assert len(world.keys("-converted.mp4")) == converted_before + 1, habit  # once
        if habit == "away":
            settled(page, habit)
            continue
        verdict = page.locator(".st-key-training-clip-verdict")
        expect(verdict).to_contain_text("h264", timeout=90_000)
        wait_idle(page)
        impatient(page, create_button(page), habit, toggle(page, "Green-screen background"))
        wait_until(lambda n=name: len(world.replicas_named(n)) == 1, timeout=30,
                   what=f"{habit}: the video replica")
        expect(page.locator(".st-key-video-create-result")).to_contain_text("Training started")
        settled(page, habit)
        assert len(world.replicas_named(name)) == 1, habit
    # Create, then another page: the replica is still made, once.
    go(page, world, "create_video")
    page.get_by_role("textbox", name="Full name of the person filmed").fill("Grace Hopper")
    page.get_by_label("Replica name").fill(f"Video {world.mode} away")
    choose_clip(page, copy_clip(Clip(seconds=61), tmp_path / "good take.mp4"))
    expect(page.locator(".st-key-training-clip-verdict")).to_contain_text("Ready",
                                                                          timeout=60_000)
    wait_idle(page)
    impatient(page, create_button(page), "away", toggle(page, "Green-screen background"))
    wait_until(lambda: len(world.replicas_named(f"Video {world.mode} away")) == 1, timeout=30,
               what="away: the video replica")
    settled(page, "video create, away")


def test_upload_a_video(page: Page, world: World, tmp_path: Path) -> None:
    """The upload runs in the browser: choosing the file again 0.3 s later keeps one upload
    going (the first is dropped if unfinished), a click elsewhere does not disturb it, and
    another page stops it (the README says so) without anything left "uploading"."""
    for habit in PATTERNS:
        go(page, world, "create_video")
        token = f"upload{world.mode}{habit}"
        clip = copy_clip(Clip(seconds=61), tmp_path / f"{token}.mp4")
        field = page.get_by_test_id("videoUploaderInput").first
        field.set_input_files(str(clip))
        time.sleep(GAP)
        if habit == "twice":
            field.set_input_files(str(clip))
        elif habit == "elsewhere":
            toggle(page, "Green-screen background")()
        else:
            page.locator('[data-testid="stSidebar"]').get_by_role(
                "link", name="Replicas", exact=True).click()
            page.wait_for_url("**/replicas*")
            settled(page, habit)
            go(page, world, "create_video")  # back: a fresh picker, nothing "uploading"
            expect(page.get_by_test_id("videoUploaderStatus").first).not_to_contain_text(
                "Uploading")
            assert not world.s3.list_multipart_uploads(Bucket=world.bucket).get("Uploads", [])
            continue
        expect(page.get_by_test_id("videoUploaderStatus").first).to_have_text(
            "Uploaded ✓", timeout=60_000)
        expect(page.locator(".st-key-training-clip-verdict")).to_have_count(1, timeout=60_000)
        settled(page, habit)
        stored = world.keys(token)
        # One upload in use; a first one replaced after it had finished may stay (as any
        # replaced file does: a replica may train from it), an unfinished one never does.
        assert 1 <= len(stored) <= (2 if habit == "twice" else 1), (habit, stored)
        assert not world.s3.list_multipart_uploads(Bucket=world.bucket).get("Uploads", [])


# --- Replicas: rename, delete --------------------------------------------------------------------
def open_details(page: Page, world: World, replica_id: str) -> Locator:
    go(page, world, f"replicas?replica={replica_id}")
    details = page.locator(".st-key-replica-details")
    expect(details).to_be_visible()
    return details


def test_rename_and_delete_a_replica(page: Page, world: World) -> None:
    for habit in PATTERNS:
        replica_id = world.ready_replica()
        details = open_details(page, world, replica_id)
        name = f"Renamed {world.mode} {habit}"
        details.get_by_label("Name", exact=True).fill(name)
        details.get_by_label("Name", exact=True).press("Tab")
        wait_idle(page)
        patches = world.requests("PATCH", f"/v2/replicas/{replica_id}/name")
        impatient(page, details.get_by_role("button", name="Rename"), habit,
                  toggle(page, "Stock"), away="Conversations")
        wait_until(lambda r=replica_id, n=name: world.tavus().get_replica(r).replica_name == n,
                   timeout=20, what=f"{habit}: the new name")
        settled(page, habit)
        assert world.requests("PATCH", f"/v2/replicas/{replica_id}/name") == patches + 1, habit

        details = open_details(page, world, replica_id)
        details.get_by_role("button", name="Delete…").click()
        delete = page.get_by_role("button", name="Delete", exact=True)
        impatient(page, delete, habit, toggle(page, "Stock"), away="Conversations")
        wait_until(lambda r=replica_id: world.requests("DELETE", f"/v2/replicas/{r}") >= 1,
                   timeout=20, what=f"{habit}: the delete")
        settled(page, habit)
        assert world.requests("DELETE", f"/v2/replicas/{replica_id}") == 1, habit
        if habit != "away":
            expect(page.locator(".st-key-replica-details")).to_have_count(0)


# --- Conversations: start, end, presets ----------------------------------------------------------
CONVERSATION_POSTS = "/v2/conversations"


def test_start_and_end_a_conversation(page: Page, world: World) -> None:
    try:
        for habit in PATTERNS:
            world.end_all_calls()
            replica_id = world.ready_replica()
            go(page, world, f"conversations?replica={replica_id}")
            name = f"Call {world.mode} {habit}"
            page.get_by_label("Conversation name").fill(name)
            page.get_by_label("Conversation name").press("Tab")
            wait_idle(page)
            posts = world.requests("POST", CONVERSATION_POSTS)
            impatient(page, page.get_by_role("button", name="Start conversation"), habit,
                      toggle(page, "Dry run (test mode): the replica does not join, nothing "
                                   "is billed"))
            wait_until(lambda p=posts: world.requests("POST", CONVERSATION_POSTS) >= p + 1,
                       timeout=20, what=f"{habit}: the call")
            time.sleep(1)
            assert world.requests("POST", CONVERSATION_POSTS) == posts + 1, habit
            with world.tavus() as tavus:
                calls = [c for c in tavus.list_conversations(limit=100).conversations
                         if c.conversation_name == name]
            assert len(calls) == 1, habit
            if habit != "away":
                expect(page.locator(".st-key-conversation-result")).to_be_visible()
            settled(page, habit)

            cid = calls[0].conversation_id
            go(page, world, "conversations")
            box = page.locator(f".st-key-call-{cid}")
            end = box.get_by_role("button", name="End")
            impatient(page, end, habit, toggle(page, "Dry run (test mode): the replica does "
                                                     "not join, nothing is billed"))
            wait_until(lambda c=cid: world.tavus().get_conversation(c).status == "ended",
                       timeout=20, what=f"{habit}: the end")
            settled(page, habit)
            assert world.requests("POST", f"/v2/conversations/{cid}/end") == 1, habit
    finally:
        world.end_all_calls()


def preset_keys(world: World) -> list[str]:
    return [k for k in world.keys("/presets/") if k.endswith(".json")]


def test_presets_save_update_duplicate_delete_start(page: Page, world: World) -> None:
    dry_run = "Dry run (test mode): the replica does not join, nothing is billed"
    try:
        for habit in PATTERNS:
            world.end_all_calls()
            replica_id = world.ready_replica()
            go(page, world, f"conversations?replica={replica_id}")
            name = f"Preset {world.mode} {habit}"
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            page.get_by_label("Custom greeting").fill("Hello, impatient one")
            page.get_by_label("Preset name").fill(name)
            page.get_by_label("Preset name").press("Tab")
            wait_idle(page)
            before = set(preset_keys(world))
            impatient(page, page.get_by_role("button", name="Save as preset"), habit,
                      toggle(page, dry_run))
            wait_until(lambda b=before: len(set(preset_keys(world)) - b) == 1, timeout=20,
                       what=f"{habit}: the saved preset")
            settled(page, habit)
            body = page.inner_text("body")
            assert "already exists" not in body and "someone else" not in body, habit
            saved = (set(preset_keys(world)) - before).pop()
            assert slug in saved, (slug, saved)
            shot(page, f"impatience-{world.mode}-preset-saved-{habit}")

            # Update: Edit, change the greeting, Update.
            go(page, world, "conversations")
            row = page.locator(f".st-key-preset-{slug}")
            row.get_by_role("button", name="…").click()
            page.get_by_role("button", name="Edit").click()
            # The form holds the preset before anything is typed: a field typed into while the
            # Edit's run has not reached the browser sends the old (empty) name with it.
            expect(page.get_by_label("Preset name")).to_have_value(name)
            wait_idle(page)
            page.get_by_label("Custom greeting").fill(f"Updated {habit}")
            page.get_by_label("Custom greeting").press("Tab")
            wait_idle(page)
            impatient(page, page.get_by_role("button", name=re.compile("^Update")), habit,
                      toggle(page, dry_run))
            wait_until(lambda k=saved, h=habit: f"Updated {h}".encode() in world.s3.get_object(
                Bucket=world.bucket, Key=k)["Body"].read(), timeout=20,
                what=f"{habit}: the update")
            settled(page, habit)
            body = page.inner_text("body")
            assert "after you opened it" not in body and "already exists" not in body, habit

            # Duplicate.
            go(page, world, "conversations")
            row = page.locator(f".st-key-preset-{slug}")
            row.get_by_role("button", name="…").click()
            before = set(preset_keys(world))
            impatient(page, page.get_by_role("button", name="Duplicate"), habit,
                      toggle(page, dry_run))
            wait_until(lambda b=before: len(set(preset_keys(world)) - b) == 1, timeout=20,
                       what=f"{habit}: the copy")
            settled(page, habit)
            assert "already exists" not in page.inner_text("body"), habit
            copy = (set(preset_keys(world)) - before).pop()

            # Delete the copy.
            go(page, world, "conversations")
            copy_slug = copy.rsplit("/", 1)[-1][:-5]
            page.locator(f".st-key-preset-{copy_slug}").get_by_role("button", name="…").click()
            impatient(page, page.get_by_role("button", name="Delete"), habit,
                      toggle(page, dry_run))
            wait_until(lambda c=copy: c not in preset_keys(world), timeout=20,
                       what=f"{habit}: the copy deleted")
            settled(page, habit)
            assert "changed" not in page.inner_text("body"), habit
            # Exactly the intended presets: the copy gone, and nothing else made on the way (a
            # second click landing on a neighbour's stale button copies nothing).
            assert set(preset_keys(world)) == before, (habit, set(preset_keys(world)) ^ before)

            # Start from the preset: one call.
            go(page, world, "conversations")
            posts = world.requests("POST", CONVERSATION_POSTS)
            start = page.locator(f".st-key-preset-{slug}").get_by_role("button", name="Start")
            impatient(page, start, habit, toggle(page, dry_run))
            wait_until(lambda p=posts: world.requests("POST", CONVERSATION_POSTS) >= p + 1,
                       timeout=20, what=f"{habit}: the preset's call")
            time.sleep(1)
            settled(page, habit)
            assert world.requests("POST", CONVERSATION_POSTS) == posts + 1, habit
    finally:
        world.end_all_calls()


# --- The debrief's exports -----------------------------------------------------------------------
def test_debrief_exports(page: Page, world: World) -> None:
    world.end_all_calls()
    with world.tavus() as tavus:
        made = tavus.create_conversation(replica_id=world.ready_replica(),
                                         conversation_name=f"Exported {world.mode}")
        cid = made.conversation_id
        httpx.post(f"{world.sim_url}/_sim/conversations/{cid}/join").raise_for_status()
        tavus.end_conversation(cid)
    httpx.post(f"{world.sim_url}/_sim/advance", json={"seconds": 70}).raise_for_status()
    for habit in PATTERNS:
        go(page, world, f"history?conversation={cid}")
        button = page.get_by_role("button", name="Transcript (Markdown)")
        expect(button).to_be_visible(timeout=30_000)
        downloads = []

        def downloaded(download, into=downloads) -> None:
            into.append(download)

        page.on("download", downloaded)
        impatient(page, button, habit,
                  lambda: page.get_by_role("button", name="Transcript (JSON)").click())
        wait_until(lambda d=downloads: len(d) >= 1, timeout=30, what=f"{habit}: a download")
        settled(page, habit)
        for download in downloads:
            text = Path(download.path()).read_text()
            assert text.startswith(("# ", "{", "[")), (habit, text[:100])
        page.remove_listener("download", downloaded)
