"""Big files go from Chromium straight to S3: the video uploader in a real `streamlit run`.

The app (tests/e2e/apps/upload_app.py) runs demo mode's local S3, whose bucket carries the CORS
rule; parts are 5 MiB here, so a 12.5 MB file takes three presigned part PUTs.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from playwright.sync_api import Page, Route, expect

from lib.demo import DEMO_AWS_KEY_ID, DEMO_AWS_SECRET, DEMO_BUCKET, DEMO_REGION
from lib.storage.uploads import MIN_PART_BYTES
from tests.conftest import free_port
from tests.e2e.conftest import RunningApp, shot, start_app, stop_app, wait_idle

pytestmark = pytest.mark.e2e
FILE_BYTES = 12_500_000  # 5 MiB + 5 MiB + 2.0 MB


@pytest.fixture(scope="module")
def upload_app() -> Iterator[tuple[RunningApp, int]]:
    s3_port = free_port()
    app = start_app("upload", {"DEMO_S3_PORT": str(s3_port),
                               "UPLOAD_PART_BYTES": str(MIN_PART_BYTES)},
                    script="tests/e2e/apps/upload_app.py")
    yield app, s3_port
    stop_app(app)


def s3_client(port: int):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=DEMO_REGION,
                        aws_access_key_id=DEMO_AWS_KEY_ID,
                        aws_secret_access_key=DEMO_AWS_SECRET,
                        config=Config(signature_version="s3v4"))


def open_uploads(port: int) -> list[dict]:
    return s3_client(port).list_multipart_uploads(Bucket=DEMO_BUCKET).get("Uploads", [])


def video_file(tmp_path: Path, name: str = "training take.mp4") -> tuple[Path, bytes]:
    data = os.urandom(FILE_BYTES)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def part_number(url: str) -> int | None:
    match = re.search(r"[?&]partNumber=(\d+)", url)
    return int(match.group(1)) if match else None


def stored_key(page: Page) -> str:
    text = page.locator(".st-key-upload-result").inner_text()
    match = re.search(r"Stored (\S+) \((\d+) bytes\)", text)
    assert match, text
    assert int(match.group(2)) == FILE_BYTES
    return match.group(1)


def assert_stored(port: int, key: str, data: bytes) -> None:
    body = s3_client(port).get_object(Bucket=DEMO_BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()


def server_error(route: Route) -> None:
    # S3's own 500s carry the CORS headers, so the page can read the status (not a bare failure).
    route.fulfill(status=500, content_type="application/xml",
                  headers={"Access-Control-Allow-Origin": "*",
                           "Access-Control-Expose-Headers": "ETag"},
                  body="<Error><Code>InternalError</Code><Message>try again</Message></Error>")


def open_app(page: Page, app: RunningApp) -> None:
    """Load the app (its first run starts the local S3 server) and wait for the picker."""
    page.goto(app.url)
    wait_idle(page)
    expect(page.get_by_test_id("videoUploaderHint")).to_have_text(
        "MP4, MOV, M4V, WEBM · up to 500.0 MB")


def start(page: Page, app: RunningApp, path: Path) -> None:
    open_app(page, app)
    page.get_by_test_id("videoUploaderInput").set_input_files(str(path))


def test_a_big_file_goes_in_parts_straight_to_s3(page: Page, upload_app, tmp_path: Path
                                                  ) -> None:
    app, s3_port = upload_app
    path, data = video_file(tmp_path)
    frames: list[bytes | str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    puts: list[int | None] = []
    page.on("request", lambda r: puts.append(part_number(r.url)) if r.method == "PUT" else None)
    held: list[Route] = []
    # Hold the last part, to see the page mid-upload (and rerun the app under it).
    page.route(lambda url: part_number(url) == 3,
               lambda route: held.append(route) if route.request.method == "PUT"
               else route.continue_())

    start(page, app, path)
    expect(page.get_by_test_id("videoUploaderName")).to_have_text("training take.mp4")
    expect(page.get_by_test_id("videoUploaderSize")).to_have_text("12.5 MB")
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the third part was never sent"
    status = page.get_by_test_id("videoUploaderStatus")
    expect(status).to_have_text(re.compile(r"Uploading 10\.5 MB of 12\.5 MB · 83%"))
    shot(page, "upload-progress")
    # A rerun of the app in the middle must neither restart nor lose the upload.
    page.get_by_role("button", name="Rerun").click()
    wait_idle(page)
    expect(status).to_contain_text("Uploading")
    held[0].continue_()

    expect(status).to_have_text("Uploaded ✓")
    wait_idle(page)
    expect(page.locator(".st-key-upload-result")).to_contain_text("from training take.mp4")
    shot(page, "upload-done")
    key = stored_key(page)
    assert key.startswith("demo/videos/") and key.endswith("-training-take.mp4")
    assert_stored(s3_port, key, data)
    assert sorted(puts) == [1, 2, 3]  # one PUT per part: no restart, no single PUT
    assert open_uploads(s3_port) == []
    # The page only ever got URLs: the S3 secret key never crossed the websocket.
    assert frames and not any(DEMO_AWS_SECRET.encode() in (f if isinstance(f, bytes) else
                                                           f.encode()) for f in frames)


def test_a_part_failing_once_is_retried(page: Page, upload_app, tmp_path: Path) -> None:
    app, s3_port = upload_app
    path, data = video_file(tmp_path, "retry.mov")
    tries: list[int] = []

    def flaky(route: Route) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        tries.append(2)
        if len(tries) == 1:
            server_error(route)
        else:
            route.continue_()

    page.route(lambda url: part_number(url) == 2, flaky)
    start(page, app, path)
    expect(page.get_by_test_id("videoUploaderStatus")).to_have_text("Uploaded ✓")
    wait_idle(page)
    assert len(tries) == 2
    assert_stored(s3_port, stored_key(page), data)
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert open_uploads(s3_port) == []


def test_parts_that_keep_failing_show_what_to_do_and_leave_no_orphan(
        page: Page, upload_app, tmp_path: Path) -> None:
    app, s3_port = upload_app
    path, data = video_file(tmp_path, "broken.webm")
    failed: list[int | None] = []

    def broken(route: Route) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        failed.append(part_number(route.request.url))
        server_error(route)

    page.route(lambda url: part_number(url) is not None, broken)
    start(page, app, path)
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("The storage kept failing while receiving broken.webm "
                                  "(HTTP 500, 4 tries per part). Press Retry")
    expect(page.get_by_test_id("videoUploaderStatus")).to_contain_text("Upload failed")
    expect(page.get_by_test_id("videoUploaderRetry")).to_be_visible()
    shot(page, "upload-failed")
    # The part that gave up was tried once and retried three times; the others, stopped when it
    # gave up, no more.
    tries = [failed.count(n) for n in (1, 2, 3)]
    assert max(tries) == 4 and min(tries) >= 1, tries
    assert open_uploads(s3_port) == []  # aborted: no parts left behind in the bucket
    assert page.locator(".st-key-upload-result").inner_text() == "Nothing uploaded yet."

    # Once S3 is back, Retry uploads the same file (fresh plan, fresh URLs) without re-picking.
    page.unroute_all()
    page.get_by_test_id("videoUploaderRetry").click()
    expect(page.get_by_test_id("videoUploaderStatus")).to_have_text("Uploaded ✓")
    wait_idle(page)
    expect(error).to_have_count(0)
    assert_stored(s3_port, stored_key(page), data)

    # "Choose another file" brings the picker back and forgets the upload.
    page.get_by_test_id("videoUploaderReset").click()
    expect(page.get_by_test_id("videoUploaderPick")).to_be_visible()
    wait_idle(page)
    expect(page.locator(".st-key-upload-result")).to_have_text("Nothing uploaded yet.")


def test_a_bucket_rule_hiding_the_etag_says_so(page: Page, upload_app, tmp_path: Path) -> None:
    """With no bucket rule moto lets any origin PUT but exposes no ETag (as a rule missing
    ExposeHeaders would on S3): the part lands, yet the page cannot complete the upload."""
    app, s3_port = upload_app
    path, _ = video_file(tmp_path, "no-etag.mp4")
    open_app(page, app)  # its first run starts the S3 server
    client = s3_client(s3_port)
    rules = client.get_bucket_cors(Bucket=DEMO_BUCKET)["CORSRules"]
    client.delete_bucket_cors(Bucket=DEMO_BUCKET)
    try:
        page.get_by_test_id("videoUploaderInput").set_input_files(str(path))
        expect(page.get_by_test_id("stAlertContentError")).to_contain_text(
            "Add ETag to ExposeHeaders in the bucket's CORS rule, then press Retry.")
    finally:
        client.put_bucket_cors(Bucket=DEMO_BUCKET, CORSConfiguration={"CORSRules": rules})
    assert open_uploads(s3_port) == []


def test_a_bucket_rule_for_another_origin_says_so(page: Page, upload_app, tmp_path: Path
                                                   ) -> None:
    """A rule that does not list the app's origin: S3 refuses the preflight and the browser blocks
    the PUT without telling the page why (status 0, as for a dropped network), so the message
    names both suspects."""
    app, s3_port = upload_app
    path, _ = video_file(tmp_path, "wrong-origin.mp4")
    open_app(page, app)
    client = s3_client(s3_port)
    rules = client.get_bucket_cors(Bucket=DEMO_BUCKET)["CORSRules"]
    client.put_bucket_cors(Bucket=DEMO_BUCKET, CORSConfiguration={
        "CORSRules": [{**rules[0], "AllowedOrigins": ["https://elsewhere.example"]}]})
    try:
        page.get_by_test_id("videoUploaderInput").set_input_files(str(path))
        expect(page.get_by_test_id("stAlertContentError")).to_contain_text(
            "Either the network dropped, or the bucket's CORS rule does not allow uploads from "
            "this app (it must allow PUT from this site's address and expose the ETag header).")
        shot(page, "upload-cors-refused")
    finally:
        client.put_bucket_cors(Bucket=DEMO_BUCKET, CORSConfiguration={"CORSRules": rules})
    assert open_uploads(s3_port) == []


def test_a_file_that_is_not_a_video_is_refused_before_any_upload(
        page: Page, upload_app, tmp_path: Path) -> None:
    app, _ = upload_app
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a video")  # set_input_files ignores the input's accept list
    puts: list[str] = []
    page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
    start(page, app, path)
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text(
        "notes.txt is not a .mp4, .mov, .m4v, .webm file. Choose a video file.")
    page.get_by_test_id("videoUploaderReset").click()
    expect(page.get_by_test_id("videoUploaderPick")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert puts == []
