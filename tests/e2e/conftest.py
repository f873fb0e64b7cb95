"""Browser journeys: a real `streamlit run` per test module, driven by headless Debian Chromium.

Screenshots land in tests/e2e/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import numpy as np
import pytest
from botocore.config import Config
from PIL import Image
from playwright.sync_api import Browser, BrowserType, Page, expect, sync_playwright

from lib.demo import DEMO_API_KEY, DEMO_AWS_KEY_ID, DEMO_AWS_SECRET, DEMO_BUCKET, DEMO_REGION
from lib.tavus.client import TavusClient
from tests.conftest import free_port
from tests.media import astronaut, encode, on_canvas

APP_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).parent / "artifacts"
# Streamlit draws a container element by element, and this machine has 2 cores: retrying
# assertions (expect) get more than their 5 s default to see the whole of it.
expect.set_options(timeout=20_000)
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google on this closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # Lets a test play a voice preview without a real user gesture.
                 "--autoplay-policy=no-user-gesture-required"]

pytestmark = pytest.mark.e2e


@dataclass
class RunningApp:
    url: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_app(name: str, env: dict[str, str], *, script: str = "streamlit_app.py",
              port: int | None = None) -> RunningApp:
    """`streamlit run` as a user would, with a clean environment plus `env`; waits for health.

    `script` (relative to the repository) lets a test run a small app of its own from tests/.
    `port` fixes the port (a sign-in test registers the redirect URI before the app starts).
    """
    ARTIFACTS.mkdir(exist_ok=True)
    port = port or free_port()
    log_path = ARTIFACTS / f"{name}.server.log"
    base_env = {k: v for k, v in os.environ.items()
                if k not in {"TAVUS_API_KEY", "DEMO_MODE", "S3_BUCKET", "S3_ENDPOINT_URL"}}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script,
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=APP_DIR, env={**base_env, **env}, stdout=log_path.open("w"),
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                return RunningApp(url=url, process=process, log_path=log_path, env=env)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"streamlit did not become healthy:\n{log_path.read_text()}")


@dataclass
class DemoApp:
    """A demo-mode app whose stand-ins listen on known ports, so a test can look inside them."""

    app: RunningApp
    simulator_url: str
    s3_port: int

    def tavus(self) -> TavusClient:
        return TavusClient(self.simulator_url, DEMO_API_KEY)

    def s3(self):  # a boto3 S3 client on demo mode's local server
        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.s3_port}",
                            region_name=DEMO_REGION, aws_access_key_id=DEMO_AWS_KEY_ID,
                            aws_secret_access_key=DEMO_AWS_SECRET,
                            config=Config(signature_version="s3v4"))

    def bucket_keys(self) -> list[str]:
        listing = self.s3().list_objects_v2(Bucket=DEMO_BUCKET)
        return [o["Key"] for o in listing.get("Contents", [])]


def start_demo_app(name: str, *, training_seconds: float | None = None,
                   refresh_seconds: int = 2, env: dict[str, str] | None = None) -> DemoApp:
    """`env`: more of the app's environment (e.g. the server's own TZ)."""
    sim_port, s3_port = free_port(), free_port()
    env = {**(env or {}), "DEMO_MODE": "1", "REFRESH_SECONDS": str(refresh_seconds),
           "SIMULATOR_PORT": str(sim_port), "DEMO_S3_PORT": str(s3_port)}
    if training_seconds is not None:
        env["SIMULATOR_TRAINING_SECONDS"] = str(training_seconds)
    return DemoApp(start_app(name, env), f"http://127.0.0.1:{sim_port}", s3_port)


@pytest.fixture(scope="module")
def demo_app(request: pytest.FixtureRequest, browser: Browser) -> Iterator[DemoApp]:
    """The journey module's own demo-mode app, started once for the module and stopped after it.

    A module tunes it with a `DEMO_APP` dict of `start_demo_app` options (training clock,
    refresh interval); its server log is named after the module. Demo mode's stand-ins start
    with the first page view: one is made here, so every test finds them, in any order.
    """
    options = getattr(request.module, "DEMO_APP", {})
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    demo = start_demo_app(name, **options)
    try:
        with open_page(browser, f"{name}-start") as first:
            first.goto(demo.app.url)
            wait_idle(first)
        yield demo
    finally:
        stop_app(demo.app)


def stop_app(app: RunningApp) -> None:
    app.process.terminate()
    try:
        app.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        app.process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/run-tests, which installs it.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def open_page(browser: Browser, name: str, *, camera_for: str | None = None,
              **context_options) -> Iterator[Page]:
    """A page in a fresh context of `browser`; `camera_for` (an origin) is allowed the camera.
    Its last look is saved as <name>-final.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context_options)
    if camera_for is not None:
        context.grant_permissions(["camera"], origin=camera_for)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}-final.png"), full_page=True)
        context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(browser, request.node.name) as page:
        yield page


# -- a fake camera: Chromium playing a .y4m clip as its webcam ------------------------------------
CAMERA_SIZE = (1280, 720)


def launch_with_camera(chromium: BrowserType, clip: Path, *, auto_allow: bool = True) -> Browser:
    """Chromium whose camera plays `clip`; `auto_allow` answers the permission prompt with yes."""
    return chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream",
              *(["--use-fake-ui-for-media-stream"] if auto_allow else []),
              f"--use-file-for-fake-video-capture={clip}"])


def camera_frame() -> Image.Image:
    """The astronaut filling the height of a 16:9 frame, as a webcam headshot would."""
    width, height = CAMERA_SIZE
    canvas = Image.new("RGB", CAMERA_SIZE, (90, 90, 100))
    face = astronaut().resize((height, height), Image.LANCZOS)
    canvas.paste(face, ((width - height) // 2, 0))
    return canvas


def write_y4m(image: Image.Image, path: Path, frames: int = 5) -> None:
    """A YUV4MPEG2 clip (4:2:0, full-range BT.601 as in JPEG) repeating one picture."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    h, w = y.shape

    def sub(plane: np.ndarray) -> np.ndarray:  # 2×2 average
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = b"".join(np.clip(p + 0.5, 0, 255).astype(np.uint8).tobytes()
                      for p in (y, sub(u), sub(v)))
    header = f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + (b"FRAME\n" + planes) * frames)


def use_camera_photo(page: Page) -> str:
    """The camera widget shows a taken photo: "Use this photo", and the page checks it.
    -> the replica name it suggests (the Replica name's placeholder)."""
    widget = page.locator('[data-testid="cameraHeadshot"]')
    widget.get_by_role("button", name="Use this photo").click()
    expect(widget).to_have_attribute("data-state", "used")
    page.locator(".st-key-photo-verdict").wait_for()
    wait_idle(page)
    assert_no_exception(page)
    return page.get_by_label("Replica name").get_attribute("placeholder") or ""


@pytest.fixture(scope="module")
def chromium(browser: Browser) -> BrowserType:
    # The suite's Playwright driver (a second sync_playwright() in one process refuses to start),
    # to launch Chromiums of our own with a fake camera.
    return browser.browser_type


@pytest.fixture(scope="module")
def camera_browser(chromium: BrowserType, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Browser]:
    """Chromium whose camera plays `camera_frame()` at CAMERA_SIZE."""
    clip = tmp_path_factory.mktemp("camera") / "astronaut-720p.y4m"
    write_y4m(camera_frame(), clip)
    browser = launch_with_camera(chromium, clip)
    yield browser
    browser.close()


def wait_idle(page: Page, timeout: float = 30_000) -> None:
    """Connected to the server, and no script run in progress."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                           timeout=timeout)
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=timeout)


def assert_no_exception(page: Page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")


def created_replica_id(page: Page) -> str:
    """After a click on Create replica on the Create page: its result, drawn without an
    exception. -> the new replica's id."""
    result = page.locator(".st-key-create-result")
    result.wait_for()
    wait_idle(page)
    assert_no_exception(page)
    return re.search(r"\br[0-9a-f]{6,}\b", result.inner_text())[0]


def create_replica(page: Page, *, anyway: bool = False, twice: bool = False) -> str:
    """Press Create replica on the Create page (`twice`: a double click); with `anyway`, first
    tick "Create anyway" when a framing warning blocks it (the user may still go on).
    -> the new replica's id."""
    create = page.get_by_role("button", name="Create replica")
    if anyway and create.is_disabled():
        page.get_by_text("Create anyway").click()
        wait_idle(page)
    if twice:
        create.dblclick()
    else:
        create.click()
    return created_replica_id(page)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def table_rows(page: Page) -> list[dict[str, str]]:
    """The rows of the first st.dataframe in view, by column header, from its accessible table.

    Read in one go in the page: the table re-renders on every refresh tick, so reading cell by
    cell from Python can race with it.
    """
    headers, cells = page.locator('[data-testid="stDataFrame"]').first.evaluate("""grid => [
        [...grid.querySelectorAll('th[role="columnheader"]')].map(h => h.innerText.trim()),
        [...grid.querySelectorAll('[data-testid^="glide-cell-"]')].map(
            c => [c.getAttribute('data-testid'), c.innerText.trim()])]""")
    parsed = [(int(m[1]), int(m[2]), text) for testid, text in cells
              if (m := re.fullmatch(r"glide-cell-(\d+)-(\d+)", testid or ""))]
    # With row selection on, column 0 is the checkbox column, which has no header.
    first = min((col for col, _, _ in parsed), default=0)
    rows: dict[int, dict[str, str]] = {}
    for col, row, text in parsed:
        if 0 <= col - first < len(headers):
            rows.setdefault(row, {})[headers[col - first]] = text
    return [rows[r] for r in sorted(rows)]


def row_named(page: Page, name: str) -> dict[str, str] | None:
    return next((r for r in table_rows(page) if r.get("Name") == name), None)


def upload(page: Page, path: Path) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    # The chip shows the name shortened in the middle ("astrona…adshot.png"): match its start.
    page.locator('[data-testid="stFileChipName"]', has_text=path.name[:6]).wait_for()


def fix_framing(page: Page, folder: Path) -> tuple[int, int]:
    """On the Create page: upload a wide photo with a small, off-centre head and press "Fix
    framing". -> the after-image's size, a portrait checked Ready and never below 512 px."""
    wide = folder / "wide office shot.png"
    wide.write_bytes(encode(on_canvas(astronaut(), (1920, 1080), (200, 300))))
    upload(page, wide)
    wait_idle(page)
    expect(page.locator(".st-key-photo-verdict")).to_contain_text("Fixable")

    page.get_by_role("button", name="Fix framing").click()
    wait_idle(page)
    after = page.get_by_text(re.compile(r"^After: \d+×\d+"))
    expect(after).to_be_visible()
    expect(page.get_by_text(re.compile(r"After: .*Ready", re.DOTALL)).first).to_be_visible()
    width, height = map(int, re.search(r"(\d+)×(\d+)", after.inner_text()).groups())
    assert height > width and min(width, height) >= 512  # a portrait, never below 512
    return width, height
