"""Accessibility: an axe-core scan (WCAG 2.1 A and AA rules) of every page and the states people
reach, in demo mode, in headless Chromium against a real `streamlit run`.

axe-core comes from the PyPI package axe-playwright-python (requirements-dev.txt), which ships
axe.min.js; the scan runs axe itself (`axe.run`, rules tagged wcag2a, wcag2aa, wcag21a,
wcag21aa): no rule here is hand-written.

A serious or critical violation in the app's own markup and theme fails the test. Violations
inside Streamlit's own chrome (the header and toolbar, the sidebar's collapse machinery: see
CHROME) are listed apart: this app cannot change that markup. Every scan goes into
tests/e2e/artifacts/accessibility.json, and a summary is printed at the end of the module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Route, expect

from lib.ui.shell import PAGES
from tests.e2e.conftest import (
    ARTIFACTS,
    DemoApp,
    assert_no_exception,
    fix_framing,
    open_page,
    shot,
    upload,
    wait_idle,
)
from tests.media import astronaut, encode
from tests.video_media import Clip, copy_clip

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 5}
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING = ("serious", "critical")
# Streamlit's own chrome: markup the app does not write and cannot change (only the theme's
# colours reach it). A violation on a node inside one of these is listed apart.
CHROME = ", ".join(f'[data-testid="{t}"]' for t in (
    "stHeader", "stToolbar", "stToolbarActions", "stDecoration", "stStatusWidget", "stMainMenu",
    "stAppDeployButton", "stSidebarHeader", "stSidebarCollapseButton", "stExpandSidebarButton",
    "stSidebarCollapsedControl", "stSidebarNav", "stLogo", "stLogoSpacer"))
REPORT = ARTIFACTS / "accessibility.json"
SCANS: list[dict] = []  # every scan of this module, in order, for the report

# Violations in files a change could not touch yet would be listed here, each named by its rule
# and where its node sits (a CSS selector, and text the matched element holds), with the file and
# the fix: reported, not failed on; a scan of a state that should show one and no longer does
# fails, so that the entry goes once it is fixed. None left (the overlay and the several-photos
# thumbnails got their alt text).
PENDING: tuple[dict, ...] = ()
_AXE = Axe()  # the package's bundled axe.min.js
# axe.run on the whole document; each node is marked `chrome` by where its element sits (axe's
# elementRef), and with the PENDING entry it is, then the element itself is dropped (it does
# not serialise).
_RUN = """async ([tags, chrome, pending]) => {
  const results = await axe.run(document, {
    runOnly: { type: "tag", values: tags }, resultTypes: ["violations"], elementRef: true });
  for (const v of results.violations) {
    for (const node of v.nodes) {
      const el = node.element && node.element.closest ? node.element : null;
      node.chrome = !!(el && el.closest(chrome));
      node.pending = null;
      for (const p of pending) {
        const at = el && p.rule === v.id && el.closest(p.selector);
        if (at && at.textContent.includes(p.text)) { node.pending = p.id; break; }
      }
      delete node.element;
    }
  }
  return { version: axe.version, url: location.href, violations: results.violations };
}"""
THEME_NOTE = {
    "color-contrast": "colours come from the theme: [theme] textColor, backgroundColor, "
                      "secondaryBackgroundColor and primaryColor in .streamlit/config.toml "
                      "decide them",
}
NO_THEME_NOTE = "Streamlit's own markup: no theme option reaches it"


def settle(page: Page) -> None:
    """Idle, no element faded as stale by a run, web fonts loaded, transitions over."""
    wait_idle(page)
    page.wait_for_function("""() => !document.querySelector('[data-stale="true"]')
                              && document.fonts.status === 'loaded'""", timeout=20_000)
    page.wait_for_timeout(400)  # Streamlit fades elements in
    wait_idle(page)


def axe_scan(page: Page) -> dict:
    page.evaluate(_AXE.axe_script)
    pending = [{k: p[k] for k in ("id", "rule", "selector", "text")} for p in PENDING]
    return page.evaluate(_RUN, [TAGS, CHROME, pending])


def split(result: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """-> (ours, pending, Streamlit's chrome): each violation with only its nodes of that kind.
    Pending: ours, in a file this change may not touch (PENDING)."""
    ours, pending, chrome = [], [], []
    for violation in result["violations"]:
        for side, belongs in ((ours, lambda n: not n["chrome"] and not n["pending"]),
                              (pending, lambda n: not n["chrome"] and n["pending"]),
                              (chrome, lambda n: n["chrome"])):
            nodes = [n for n in violation["nodes"] if belongs(n)]
            if nodes:
                side.append({**violation, "nodes": nodes})
    return ours, pending, chrome


def failing(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in FAILING]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"  {v['id']} ({v['impact']}, {len(v['nodes'])} node"
                     f"{'s' if len(v['nodes']) != 1 else ''}): {v['help']}")
        for node in v["nodes"][:5]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {node['target']} {node['html'][:140]!r}")
            lines.append(f"      {summary[:240]}")
    return "\n".join(lines)


def scan(page: Page, state: str) -> None:
    """Scan the page as it is now; fail on a serious or critical violation of the app's own.

    A page that is still drawing can show a half-faded element: a failing scan is repeated
    once after the page settles again, and that second scan is the one judged and reported."""
    settle(page)
    result = axe_scan(page)
    if failing(split(result)[0]):
        settle(page)
        result = axe_scan(page)
    ours, pending, chrome = split(result)
    seen = {n["pending"] for v in pending for n in v["nodes"]}
    entry = {"state": state, "url": result["url"], "axe": result["version"], "ours": ours,
             "pending_elsewhere": [
                 {**v, "owners": [{"file": p["file"], "fix": p["fix"]} for p in PENDING
                                  if p["id"] in {n["pending"] for n in v["nodes"]}]}
                 for v in pending],
             "streamlit_chrome": [
                 {**v, "theme_note": THEME_NOTE.get(v["id"], NO_THEME_NOTE)} for v in chrome]}
    SCANS.append(entry)
    _write_report()
    shot(page, f"a11y-{re.sub(r'[^a-z0-9]+', '-', state.lower()).strip('-')}")
    bad = failing(ours)
    assert not bad, f"{state}: serious or critical violations in the app's markup:\n" + \
        describe(bad)
    gone = [p["id"] for p in PENDING if state in p["states"] and p["id"] not in seen]
    assert not gone, f"{state}: {gone} no longer found: fixed? Remove them from PENDING."


def _write_report() -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps({"tags": TAGS, "failing_impacts": list(FAILING),
                                  "scans": SCANS}, indent=1, ensure_ascii=False))


def _counts(violations: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in violations:
        counts[v["impact"]] = counts.get(v["impact"], 0) + len(v["nodes"])
    return counts


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    """At the end of the module: the summary, printed, and the JSON report."""
    SCANS.clear()
    yield
    _write_report()
    lines = [f"Accessibility (axe-core, {', '.join(TAGS)}): {len(SCANS)} scans -> {REPORT}"]
    for entry in SCANS:
        lines.append(f"- {entry['state']}: ours {_counts(entry['ours']) or 'none'}; "
                     f"pending in others' files {_counts(entry['pending_elsewhere']) or 'none'}"
                     f"; Streamlit's chrome {_counts(entry['streamlit_chrome']) or 'none'}")
        if entry["ours"]:
            lines.append(describe(entry["ours"]))
        for v in entry["pending_elsewhere"]:
            for owner in v["owners"]:
                lines.append(f"  pending: {v['id']} ({v['impact']}) in {owner['file']}: "
                             f"{owner['fix']}")
        for v in entry["streamlit_chrome"]:
            lines.append(f"  chrome: {v['id']} ({v['impact']}, {len(v['nodes'])}): "
                         f"{v['help']} [{v['theme_note']}]")
    # Printed past pytest's output capture, so that it shows on a passing run too.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    else:
        print("\n".join(lines))


def open_at(page: Page, demo: DemoApp, path: str = "") -> None:
    page.goto(f"{demo.app.url}/{path}")
    wait_idle(page)
    assert_no_exception(page)
    # A modal (Streamlit's "Page not found") would hide the page from the scan.
    expect(page.get_by_role("dialog")).to_have_count(0)


# --- every page, as it opens ---------------------------------------------------------------------
@pytest.mark.parametrize("url_path", [p.url_path for p in PAGES])
def test_each_page_as_it_opens(page: Page, demo_app: DemoApp, url_path: str) -> None:
    # The first page is the default one: at the root (/create is "Page not found").
    open_at(page, demo_app, "" if url_path == PAGES[0].url_path else url_path)
    title = next(p.title for p in PAGES if p.url_path == url_path)
    scan(page, f"{title}: as it opens")


# --- Create ----------------------------------------------------------------------------------
def test_create_with_a_checked_photo_and_fix_framing(page: Page, demo_app: DemoApp,
                                                     tmp_path: Path) -> None:
    open_at(page, demo_app)
    headshot = tmp_path / "astronaut headshot.png"
    headshot.write_bytes(encode(astronaut()))
    upload(page, headshot)
    wait_idle(page)
    page.locator(".st-key-photo-verdict").wait_for()
    scan(page, "Create: a photo uploaded, with its verdict")

    page.get_by_role("button", name="Check with Tavus").click()
    wait_idle(page)
    page.get_by_text("More options").click()
    scan(page, "Create: Tavus's check and More options open")

    # Fix framing's before / after (a new upload replaces the first).
    fix_framing(page, tmp_path)
    scan(page, "Create: Fix framing, before and after")


def test_create_refuses_a_broken_photo(page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    open_at(page, demo_app)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 50)
    upload(page, broken)
    wait_idle(page)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_be_visible()
    scan(page, "Create: a refused file (error shown)")


def test_several_photos_review(page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    open_at(page, demo_app)
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Several photos").click()
    several = page.locator('[data-testid="stFileUploaderDropzoneInput"][multiple]')
    several.wait_for(state="attached")  # the batch's uploader, not the single photo's
    wait_idle(page)
    paths = []
    for name, image in (("ada lovelace.png", astronaut()),
                        ("too small.png", astronaut().resize((256, 256)))):
        path = tmp_path / name
        path.write_bytes(encode(image))
        paths.append(str(path))
    several.set_input_files(paths)
    page.locator(".st-key-batch-row-1").wait_for()
    expect(page.locator(".st-key-batch-row-1")).to_contain_text("512x512 minimum")
    scan(page, "Create: several photos reviewed")


@pytest.fixture
def camera_page(camera_browser: Browser, demo_app: DemoApp,
                request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(camera_browser, request.node.name, camera_for=demo_app.app.url) as page:
        yield page


def test_create_with_the_camera_on(camera_page: Page, demo_app: DemoApp) -> None:
    page = camera_page
    open_at(page, demo_app)
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Camera").click()
    widget = page.locator('[data-testid="cameraHeadshot"]')
    expect(widget).to_have_attribute("data-state", "live")
    scan(page, "Create: camera on, live preview")

    widget.get_by_role("button", name="Take photo").click()
    expect(widget).to_have_attribute("data-state", "review", timeout=10_000)
    scan(page, "Create: camera photo taken, to review")

    widget.get_by_role("button", name="Use this photo").click()
    expect(widget).to_have_attribute("data-state", "used")
    page.locator(".st-key-photo-verdict").wait_for()
    scan(page, "Create: camera photo used, with its verdict")


# --- Create from video -----------------------------------------------------------------------
def test_video_upload_under_way_then_checked(page: Page, demo_app: DemoApp,
                                             tmp_path: Path) -> None:
    clip = copy_clip(Clip(seconds=12, width=960, height=540), tmp_path / "short take.mp4")
    held: list[Route] = []
    page.route(f"http://127.0.0.1:{demo_app.s3_port}/**",
               lambda route: held.append(route) if route.request.method == "PUT" and not held
               else route.continue_())
    open_at(page, demo_app, "create_video")
    page.get_by_test_id("videoUploaderInput").first.set_input_files(str(clip))
    status = page.get_by_test_id("videoUploaderStatus").first
    expect(status).to_contain_text("Uploading")
    for _ in range(200):  # the handler runs while Playwright waits
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the upload's PUT was never sent"
    scan(page, "Create from video: an upload under way")

    held[0].continue_()  # the rest of the upload goes through the handler
    expect(status).to_have_text("Uploaded ✓", timeout=60_000)
    expect(page.locator(".st-key-training-clip-verdict")).to_be_visible(timeout=60_000)
    scan(page, "Create from video: uploaded, checked (failing checks shown)")


def test_video_refuses_a_file_that_is_not_a_clip(page: Page, demo_app: DemoApp,
                                                 tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    open_at(page, demo_app, "create_video")
    page.get_by_test_id("videoUploaderInput").first.set_input_files(str(notes))
    expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("notes.txt")
    scan(page, "Create from video: a refused file (error shown)")


# --- Replicas --------------------------------------------------------------------------------
def test_a_replica_selected(page: Page, demo_app: DemoApp) -> None:
    with demo_app.tavus() as tavus:
        replicas = {r.replica_name: r.replica_id
                    for r in tavus.list_all_replicas(replica_type="user")}
    for name in ("Demo — Ready", "Demo — Failed"):
        open_at(page, demo_app, f"replicas?replica={replicas[name]}")
        expect(page.locator(".st-key-replica-details")).to_contain_text(name)
        scan(page, f"Replicas: {name} selected (details)")


# --- Conversations and the debrief -----------------------------------------------------------
def test_a_started_call_and_its_debrief(page: Page, demo_app: DemoApp) -> None:
    sim = demo_app.simulator_url
    open_at(page, demo_app, "conversations")
    page.get_by_label("Conversation name").fill("Accessibility check")
    page.get_by_label("Conversation name").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start conversation").click()
    link = page.locator(".st-key-conversation-result").get_by_role("link",
                                                                   name="Open conversation")
    link.wait_for()
    conversation_id = link.get_attribute("href").rsplit("/", 1)[1]
    scan(page, "Conversations: a call started (link, QR code, live list)")

    # Someone joins (so a transcript follows), the call is ended, the clock moves past the
    # transcript's delay: the simulator's own controls.
    httpx.post(f"{sim}/_sim/conversations/{conversation_id}/join").raise_for_status()
    with demo_app.tavus() as tavus:
        tavus.end_conversation(conversation_id)
    httpx.post(f"{sim}/_sim/advance", json={"seconds": 20}).raise_for_status()
    open_at(page, demo_app, f"history?conversation={conversation_id}")
    expect(page.locator(".st-key-debrief-dialogue")).to_contain_text("Visitor", timeout=30_000)
    scan(page, "Demo history: a debrief open")


# --- Personas and Knowledge ------------------------------------------------------------------
def test_a_persona_selected(page: Page, demo_app: DemoApp) -> None:
    with demo_app.tavus() as tavus:
        persona = tavus.list_all_personas()[0][0]
    open_at(page, demo_app, f"personas?persona={persona.persona_id}")
    expect(page.locator(".st-key-persona-actions")).to_be_visible()
    scan(page, "Personas: a persona selected")


def test_a_document_selected(page: Page, demo_app: DemoApp) -> None:
    # A text document Tavus downloads: the app's own health answer ("ok") on loopback.
    with demo_app.tavus() as tavus:
        document = tavus.create_document(document_url=f"{demo_app.app.url}/_stcore/health",
                                         document_name="Team FAQ", tags=["faq"])
    httpx.post(f"{demo_app.simulator_url}/_sim/advance", json={"seconds": 600}
               ).raise_for_status()
    open_at(page, demo_app, f"knowledge?document={document.document_id}")
    expect(page.locator(".st-key-document-details")).to_contain_text("Team FAQ")
    scan(page, "Knowledge: a document selected")
