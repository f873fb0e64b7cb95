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
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lib.demo import DEMO_API_KEY, DEMO_AWS_KEY_ID, DEMO_AWS_SECRET, DEMO_BUCKET, DEMO_REGION
from lib.tavus.client import TavusClient
from tests.conftest import free_port

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


def start_app(name: str, env: dict[str, str], *, script: str = "streamlit_app.py") -> RunningApp:
    """`streamlit run` as a user would, with a clean environment plus `env`; waits for health.

    `script` (relative to the repository) lets a test run a small app of its own from tests/.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
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
def demo_app(request: pytest.FixtureRequest) -> Iterator[DemoApp]:
    """The journey module's own demo-mode app, started once for the module and stopped after it.

    A module tunes it with a `DEMO_APP` dict of `start_demo_app` options (training clock,
    refresh interval); its server log is named after the module.
    """
    options = getattr(request.module, "DEMO_APP", {})
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    demo = start_demo_app(name, **options)
    yield demo
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


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
    context.close()


def wait_idle(page: Page, timeout: float = 30_000) -> None:
    """Connected to the server, and no script run in progress."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                           timeout=timeout)
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=timeout)


def assert_no_exception(page: Page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")


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
