"""The knowledge base in Chromium against a real `streamlit run`, in demo mode and against another
Tavus-compatible server and S3 (real mode): files and a website added on the Knowledge screen and
followed to ready without a reload, then a persona that answers from them, a preset that starts
a call with it, and an edit of the persona that changes its prompt and nothing else.

Every effect is counted where it happens: the Tavus server's request log (`/_sim/requests`) and
its objects read back through the API, and in real mode the bodies the app put on the wire (a
recording relay in front of the server: the simulator's log keeps no bodies). Every Tavus answer
takes LATENCY seconds, as over a real network. Processing is on the simulator's clock, which the
test moves forward (`/_sim/advance`) instead of waiting.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from playwright.sync_api import Browser, Locator, Page, expect

from lib.config import S3Settings
from lib.demo import DEMO_API_KEY, DEMO_BUCKET
from lib.storage.s3 import ImageStore
from lib.storage.uploads import ensure_cors
from lib.tavus.simulator import TavusSimulator
from tests.e2e.conftest import (
    assert_no_exception,
    open_page,
    shot,
    start_app,
    start_demo_app,
    stop_app,
    table_rows,
    wait_idle,
    wait_until,
)
from tests.e2e.test_real_mode import WireRecorder
from tests.e2e.test_replicas_journey import click_row

pytestmark = pytest.mark.e2e

LATENCY = 0.04  # seconds every Tavus answer takes
# Simulated seconds from create to ready (the first tenth queued): long enough that the table
# is seen processing, and never waited for: the test moves the clock on.
DOCUMENT_SECONDS = 60
STEP = 2  # simulated seconds the clock is nudged by while a download finishes
REAL_KEY = "knowledge-tavus-key-5Tq"
BUSY = re.compile(r"^(started|processing \d+ %)$")
PROCESSING = re.compile(r"^processing \d+ %$")
READY_REPLICA = "Demo — Ready"  # seeded in both worlds


# --- the world: an app and the Tavus server and bucket it talks to, seen from outside -----------
@dataclass
class World:
    mode: str
    url: str
    sim_url: str
    key: str
    bucket: str
    s3_url: str  # the S3 endpoint the app presigns for
    s3: object  # a boto3 client on it
    wire: WireRecorder | None = None  # real mode: what the app sent, bodies included

    def requests(self, method: str, path: str) -> int:
        listed = httpx.get(f"{self.sim_url}/_sim/requests").json()["requests"]
        return sum(1 for r in listed if (r["method"], r["path"]) == (method, path))

    def mark(self) -> int:
        """Where the wire's record stands now (real mode; 0 in demo mode)."""
        return len(self.wire.sent) if self.wire else 0

    def sent(self, method: str, path: str, since: int = 0) -> list:
        """Real mode: the JSON bodies of the app's requests to `path` from the `since`-th
        request on, in order."""
        assert self.wire is not None
        return [json.loads(body) for m, p, body in self.wire.sent[since:]
                if m == method and urlsplit(p).path == path]

    def slow(self) -> None:
        httpx.delete(f"{self.sim_url}/_sim/faults").raise_for_status()
        httpx.post(f"{self.sim_url}/_sim/faults", json={
            "kind": "slow", "count": 10**9, "delay": LATENCY}).raise_for_status()

    def advance(self, seconds: float) -> None:
        httpx.post(f"{self.sim_url}/_sim/advance", json={"seconds": seconds}).raise_for_status()

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        """Tavus's API as any client sees it (not through the app)."""
        answer = httpx.request(method, f"{self.sim_url}{path}", headers={"x-api-key": self.key},
                               timeout=30, **kwargs)
        answer.raise_for_status()
        return answer

    def document(self, document_id: str) -> dict:
        return self.api("GET", f"/v2/documents/{document_id}").json()

    def documents_named(self, name: str) -> list[dict]:
        listed = self.api("GET", "/v2/documents", params={"limit": 100}).json()["data"]
        return [d for d in listed if d["document_name"] == name]

    def persona(self, persona_id: str) -> dict:
        return self.api("GET", f"/v2/personas/{persona_id}").json()["data"][0]

    def replica_named(self, name: str) -> str:
        listed = self.api("GET", "/v2/replicas", params={"limit": 100}).json()["data"]
        return next(r["replica_id"] for r in listed if r["replica_name"] == name)

    def until_processing(self, document_ids: list[str]) -> None:
        """Past the queue on the simulator's clock: nudged forward until each document has
        been downloaded and processes (a download still under way starts its processing when
        it ends, so the clock moves in small steps, well short of ready)."""
        def processing() -> bool:
            states = {self.document(d)["status"] for d in document_ids}
            if states == {"processing"}:
                return True
            assert states <= {"started", "processing"}, states
            self.advance(STEP)
            return False

        wait_until(processing, timeout=30, what="the documents to process")


def s3_client(endpoint: str, key_id: str, secret: str, region: str = "us-east-1"):
    return boto3.client("s3", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(signature_version="s3v4"))


@pytest.fixture(scope="module", params=["demo", "real"])
def world(request: pytest.FixtureRequest, s3_endpoint: str, browser: Browser) -> Iterator[World]:
    if request.param == "demo":
        demo = start_demo_app("knowledge-demo", training_seconds=30, env={
            "SIMULATOR_DOCUMENT_SECONDS": str(DOCUMENT_SECONDS)})
        try:
            with open_page(browser, "knowledge-demo-start") as first:
                first.goto(demo.app.url)  # the first run starts demo mode's stand-ins
                wait_idle(first)
            made = World("demo", demo.app.url, demo.simulator_url, DEMO_API_KEY, DEMO_BUCKET,
                         f"http://127.0.0.1:{demo.s3_port}", demo.s3())
            made.slow()
            yield made
        finally:
            stop_app(demo.app)
        return
    sim = TavusSimulator(REAL_KEY, training_seconds=30, document_seconds=DOCUMENT_SECONDS).start()
    wire = WireRecorder(sim.base_url)
    # A bucket of its own each time the world is made: the S3 server lives for the session,
    # and a preset or record left by an earlier world must not meet this one.
    bucket = f"knowledge-{uuid.uuid4().hex[:8]}"
    settings = S3Settings(bucket=bucket, endpoint_url=s3_endpoint, prefix="team/",
                          access_key_id="knowledge-id", secret_access_key="knowledge-secret")
    store = ImageStore(settings)
    store.ensure_bucket()
    app = start_app("knowledge-real", {
        "TAVUS_API_KEY": REAL_KEY, "TAVUS_API_URL": wire.url, "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3_endpoint, "S3_PREFIX": "team/",
        "AWS_ACCESS_KEY_ID": "knowledge-id", "AWS_SECRET_ACCESS_KEY": "knowledge-secret",
        "REFRESH_SECONDS": "2"})
    try:
        ensure_cors(store, [app.url])  # the browser puts files straight into the bucket
        made = World("real", app.url, sim.base_url, REAL_KEY, bucket, s3_endpoint,
                     s3_client(s3_endpoint, "knowledge-id", "knowledge-secret"), wire)
        made.slow()
        yield made
    finally:
        stop_app(app)
        wire.stop()
        sim.stop()


@pytest.fixture
def page(browser: Browser, world: World, request: pytest.FixtureRequest) -> Iterator[Page]:
    name = f"knowledge-{world.mode}-{request.node.originalname.removeprefix('test_')}"
    with open_page(browser, name) as page:
        yield page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small website on 127.0.0.1: a home page linking to two pages, one linking further."""
    folder = tmp_path_factory.mktemp("site")
    pages = {
        "index.html": ("Bike shop", '<a href="/about.html">About</a> <a href="prices.html">Prices'
                                    "</a>"),
        "about.html": ("About us", 'Since 1998. <a href="/team.html">Team</a>'),
        "prices.html": ("Prices", "Service from 49 EUR. <a href='/'>Home</a>"),
        "team.html": ("Team", "Ada fixes wheels."),
    }
    for name, (title, body) in pages.items():
        (folder / name).write_text(f"<!doctype html><html><head><title>{title}</title></head>"
                                   f"<body><h1>{title}</h1><p>{body}</p></body></html>")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# --- files made here -----------------------------------------------------------------------------
def minimal_pdf(text: str) -> bytes:
    """A valid one-page PDF written by hand: header, five objects, an exact xref, %%EOF."""
    content = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return out


# --- on the page ---------------------------------------------------------------------------------
def go(page: Page, world: World, path: str) -> None:
    page.goto(f"{world.url}/{path}")
    wait_idle(page)


def type_into(page: Page, label: str, text: str, *, within: str | None = None) -> None:
    scope = page.locator(within) if within else page
    box = scope.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Tab")  # the value reaches the app
    wait_idle(page)


SCROLL_SETTLED = """() => new Promise(done => {
    // Resolves once nothing in the page has scrolled for 200 ms (at most 5 s).
    let timer = setTimeout(finish, 200);
    const limit = setTimeout(finish, 5000);
    function again() { clearTimeout(timer); timer = setTimeout(finish, 200); }
    function finish() {
        clearTimeout(limit); document.removeEventListener("scroll", again, true); done();
    }
    document.addEventListener("scroll", again, true);
})"""


def still(page: Page) -> None:
    """Wait until the page has stopped scrolling: an expander opening and a dropdown list
    scrolling itself into view animate, and a pick made meanwhile can be dropped."""
    page.evaluate(SCROLL_SETTLED)


def centred(locator: Locator) -> Locator:
    """`locator` scrolled to the middle of the window, so a dropdown opened there fits."""
    locator.evaluate("e => e.scrollIntoView({block: 'center', behavior: 'instant'})")
    still(locator.page)
    return locator


def choose(page: Page, label: str, option: str, *, within: str | None = None) -> None:
    """Pick `option` in the selectbox labelled `label`."""
    scope = page.locator(within) if within else page
    box = centred(scope.get_by_role("combobox", name=label, exact=True))
    box.click()
    choice = page.get_by_role("option", name=option, exact=True)
    choice.wait_for()
    still(page)
    choice.click()
    wait_idle(page)
    expect(box).to_have_value(option)


def pick(page: Page, label: str, option: str, *, within: str | None = None) -> None:
    """Add `option` to the multiselect labelled `label` (typed, so that its list opens)."""
    scope = page.locator(within) if within else page
    field = centred(scope.locator('[data-testid="stMultiSelect"]').filter(
        has=page.get_by_role("combobox", name=label, exact=True)))
    box = field.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.press_sequentially(option)
    choice = page.get_by_role("option", name=option, exact=True)
    choice.wait_for()
    still(page)
    choice.click()
    page.keyboard.press("Escape")  # it stays open after a pick
    wait_idle(page)
    expect(field.get_by_test_id("stMultiSelectTagsContainer")).to_contain_text(option)


def add_tag(page: Page, tag: str) -> None:
    tags = page.get_by_role("combobox", name="Tags", exact=True)
    tags.click()
    tags.type(tag)
    tags.press("Enter")
    page.keyboard.press("Escape")
    wait_idle(page)
    expect(page.locator('[data-testid="stMultiSelect"]', has_text=tag)).to_be_visible()


def shot_at(page: Page, selector: str, name: str) -> None:
    """A screenshot with `selector` in view (Streamlit scrolls inside its own container, so a
    full-page shot shows only the window's height)."""
    page.locator(selector).first.scroll_into_view_if_needed()
    shot(page, name)


def document_row(page: Page, name: str) -> dict[str, str] | None:
    return next((r for r in table_rows(page.locator(".st-key-documents")) if r.get("Document")
                 == name), None)


def status_of(page: Page, name: str) -> str:
    return (document_row(page, name) or {}).get("Status", "")


def upload_document(page: Page, path: Path, name: str, tag: str | None = None) -> None:
    """The file path of "Add a document": pick the file (it goes to the bucket from the
    browser), name it, tag it, Add. Waits for the success box."""
    page.get_by_test_id("videoUploaderInput").first.set_input_files(str(path))
    expect(page.get_by_test_id("videoUploaderStatus").first).to_have_text("Uploaded ✓",
                                                                          timeout=60_000)
    add = page.get_by_role("button", name="Add to knowledge base")
    expect(add).to_be_enabled()
    wait_idle(page)
    type_into(page, "Name", name)
    if tag:
        add_tag(page, tag)
    add.click()
    added = page.locator(".st-key-document-added")
    expect(added).to_contain_text(name, timeout=30_000)
    wait_idle(page)
    assert_no_exception(page)


def the_document(world: World, name: str) -> dict:
    """The one document of that name at Tavus."""
    found = world.documents_named(name)
    assert len(found) == 1, (name, found)
    return world.document(found[0]["document_id"])


def assert_presigned_copy(world: World, document: dict, data: bytes) -> None:
    """`document_url` is a SigV4 presigned GET on the app's S3 that downloads exactly `data`."""
    url = document["document_url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == world.s3_url, url.split("?")[0]
    assert parts.path.startswith(f"/{world.bucket}/"), parts.path
    assert "X-Amz-Signature=" in parts.query and "X-Amz-Expires=" in parts.query
    fetched = httpx.get(url, timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == data


# --- 1. files ------------------------------------------------------------------------------------
def test_files_are_added_once_stored_as_uploaded_and_followed_to_ready(
        page: Page, world: World, tmp_path: Path) -> None:
    txt_name, pdf_name = "Staff handbook", "Price list"
    txt = tmp_path / "staff handbook.txt"
    txt_bytes = "Opening hours: 9 to 5, café closed on Mondays.\nReturns within 30 days.\n".encode()
    txt.write_bytes(txt_bytes)
    pdf = tmp_path / "price list.pdf"
    pdf_bytes = minimal_pdf("Service from 49 EUR")
    pdf.write_bytes(pdf_bytes)
    posts = world.requests("POST", "/v2/documents")
    wire_start = world.mark()

    go(page, world, "knowledge")
    page.evaluate("window.__sameDocument = true")
    upload_document(page, txt, txt_name, tag="handbook")
    assert world.requests("POST", "/v2/documents") == posts + 1
    shot(page, f"knowledge-{world.mode}-1-txt-added")

    page.get_by_role("button", name="Add another").click()
    wait_idle(page)
    expect(page.locator(".st-key-document-added")).to_have_count(0)
    upload_document(page, pdf, pdf_name)
    assert world.requests("POST", "/v2/documents") == posts + 2

    # What Tavus got: one document each, from a presigned GET of exactly the bytes uploaded.
    txt_doc, pdf_doc = the_document(world, txt_name), the_document(world, pdf_name)
    assert txt_doc["tags"] == ["handbook"] and pdf_doc["tags"] == []
    assert txt_doc["crawl_config"] is None and pdf_doc["crawl_config"] is None
    assert_presigned_copy(world, txt_doc, txt_bytes)
    assert_presigned_copy(world, pdf_doc, pdf_bytes)
    if world.wire:  # on the wire: those two creates and no other
        bodies = world.sent("POST", "/v2/documents", wire_start)
        assert [b["document_url"] for b in bodies] == [txt_doc["document_url"],
                                                       pdf_doc["document_url"]]

    # The table follows them by itself: queued or processing, then (the clock moved on) ready.
    wait_until(lambda: BUSY.match(status_of(page, txt_name)) and BUSY.match(
        status_of(page, pdf_name)), timeout=30, what="both documents in the table, processing")
    world.until_processing([txt_doc["document_id"], pdf_doc["document_id"]])
    wait_until(lambda: PROCESSING.match(status_of(page, txt_name)) and PROCESSING.match(
        status_of(page, pdf_name)), timeout=30, what="processing N % in the table")
    row = document_row(page, txt_name)
    assert row["Source"] == "file" and row["Tags"] == "handbook", row
    shot_at(page, ".st-key-documents", f"knowledge-{world.mode}-2-processing")

    world.advance(DOCUMENT_SECONDS)
    for name in (txt_name, pdf_name):
        page.locator('[data-testid="stToast"]', has_text=f"{name} is ready").wait_for(
            timeout=30_000)
    wait_until(lambda: status_of(page, txt_name) == "ready" == status_of(page, pdf_name),
               timeout=30, what="both ready in the table")
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert world.document(txt_doc["document_id"])["status"] == "ready"
    assert world.requests("POST", "/v2/documents") == posts + 2  # still exactly one each
    assert_no_exception(page)
    shot_at(page, ".st-key-documents", f"knowledge-{world.mode}-3-ready")


# --- 2. a website ---------------------------------------------------------------------------------
def test_a_website_is_crawled_with_its_settings_and_turns_ready(
        page: Page, world: World, site: str) -> None:
    name = "Bike shop site"
    posts = world.requests("POST", "/v2/documents")
    wire_start = world.mark()

    go(page, world, "knowledge")
    page.evaluate("window.__sameDocument = true")
    page.locator('[data-testid="stButtonGroup"]').get_by_text("A website").click()
    wait_idle(page)
    type_into(page, "Address", site)
    type_into(page, "Name", name)
    page.get_by_text("Follow links from this page (crawl)").click()
    wait_idle(page)
    type_into(page, "Depth (links deep)", "2")
    type_into(page, "Pages at most", "3")
    shot(page, f"knowledge-{world.mode}-4-website-form")
    page.get_by_role("button", name="Add website").click()
    expect(page.locator(".st-key-document-added")).to_contain_text(name, timeout=30_000)
    wait_idle(page)
    assert_no_exception(page)
    assert world.requests("POST", "/v2/documents") == posts + 1

    made = the_document(world, name)
    assert made["document_url"] == site
    assert made["crawl_config"] == {"depth": 2, "max_pages": 3}
    if world.wire:
        bodies = world.sent("POST", "/v2/documents", wire_start)
        assert len(bodies) == 1
        assert bodies[0]["crawl"] == {"depth": 2, "max_pages": 3}
        assert bodies[0]["document_url"] == site

    wait_until(lambda: BUSY.match(status_of(page, name)), timeout=30,
               what="the website in the table, processing")
    world.until_processing([made["document_id"]])
    world.advance(DOCUMENT_SECONDS)
    page.locator('[data-testid="stToast"]', has_text=f"{name} is ready").wait_for(timeout=30_000)
    wait_until(lambda: status_of(page, name) == "ready", timeout=30, what="the website ready")
    assert document_row(page, name)["Source"] == "site"
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    read = world.document(made["document_id"])
    assert read["status"] == "ready" and read["crawl_config"] == {"depth": 2, "max_pages": 3}
    assert read["crawled_urls"] and read["crawled_urls"][0] == site
    assert len(read["crawled_urls"]) <= 3
    assert world.requests("POST", "/v2/documents") == posts + 1
    assert_no_exception(page)
    shot_at(page, ".st-key-documents", f"knowledge-{world.mode}-5-website-ready")


# --- 3. a persona with knowledge, a preset on it, and an edit -------------------------------------
def ready_document(world: World, name: str, text: str) -> str:
    """A ready document made outside the app (this test does not lean on the others)."""
    key = f"outside/{name.replace(' ', '-').lower()}.txt"
    world.s3.put_object(Bucket=world.bucket, Key=key, Body=text.encode(),
                        ContentType="text/plain")
    url = world.s3.generate_presigned_url("get_object", Params={"Bucket": world.bucket,
                                                                "Key": key}, ExpiresIn=86400)
    made = world.api("POST", "/v2/documents", json={
        "document_url": url, "document_name": name, "tags": ["faq"]}).json()
    world.until_processing([made["document_id"]])
    world.advance(DOCUMENT_SECONDS)
    assert world.document(made["document_id"])["status"] == "ready"
    return made["document_id"]


def test_a_persona_with_a_document_a_preset_on_it_and_an_edit_that_drops_nothing(
        page: Page, world: World) -> None:
    doc_name = "Opening hours FAQ"
    document_id = ready_document(world, doc_name, "We open at 9 and close at 5.\n")
    replica_id = world.replica_named(READY_REPLICA)
    persona_name = f"Shop assistant {world.mode}"
    prompt = "You are the bike shop's assistant. Answer from the documents, briefly."

    # The document is ready on the Knowledge screen (which also brings the server's list up to
    # date for the persona form).
    go(page, world, "knowledge")
    wait_until(lambda: status_of(page, doc_name) == "ready", timeout=30,
               what="the document ready in the table")

    # Create the persona.
    go(page, world, "personas")
    form = ".st-key-persona-form"
    type_into(page, "Name", persona_name, within=form)
    type_into(page, "System prompt", prompt, within=form)
    choose(page, "Default replica", READY_REPLICA, within=form)
    pick(page, "Documents", doc_name, within=form)
    posts = world.requests("POST", "/v2/personas")
    page.get_by_role("button", name="Create persona").click()
    made = page.locator(".st-key-persona-made")
    expect(made).to_contain_text(persona_name, timeout=30_000)
    wait_idle(page)
    assert_no_exception(page)
    persona_id = re.search(r"\bp[0-9a-f]{6,}\b", made.inner_text())[0]
    assert world.requests("POST", "/v2/personas") == posts + 1
    created = world.persona(persona_id)
    assert created["persona_name"] == persona_name
    assert created["system_prompt"] == prompt
    assert created["default_replica_id"] == replica_id
    assert created["document_ids"] == [document_id]
    shot_at(page, ".st-key-persona-made", f"knowledge-{world.mode}-6-persona-made")

    # A preset on it, with the document for the call too.
    go(page, world, f"conversations?replica={replica_id}")
    call_name = f"Knowledge call {world.mode}"
    preset_name = f"Shop demo {world.mode}"
    slug = re.sub(r"[^a-z0-9]+", "-", preset_name.lower()).strip("-")
    type_into(page, "Conversation name", call_name)
    choose(page, "Persona", persona_name)
    page.get_by_text("Knowledge for this call").click()
    still(page)
    pick(page, "Documents", doc_name)
    choose(page, "Search the documents for", "quality")
    type_into(page, "Preset name", preset_name)
    page.get_by_role("button", name="Save as preset").click()
    preset = page.locator(f".st-key-preset-{slug}")
    expect(preset).to_be_visible(timeout=30_000)
    wait_idle(page)
    assert_no_exception(page)
    shot_at(page, f".st-key-preset-{slug}", f"knowledge-{world.mode}-7-preset-saved")

    conversations = world.requests("POST", "/v2/conversations")
    try:
        preset.get_by_role("button", name="Start").click()
        expect(page.locator(".st-key-conversation-result")).to_be_visible(timeout=30_000)
        wait_idle(page)
        assert_no_exception(page)
        assert world.requests("POST", "/v2/conversations") == conversations + 1
        listed = world.api("GET", "/v2/conversations", params={"limit": 100}).json()["data"]
        calls = [c for c in listed if c["conversation_name"] == call_name]
        assert len(calls) == 1, calls
        call_id = calls[0]["conversation_id"]
        call = world.api("GET", f"/v2/conversations/{call_id}").json()
        assert call["persona_id"] == persona_id
        assert call["replica_id"] == replica_id
        sent = httpx.get(f"{world.sim_url}/_sim/conversations/{call_id}/request").json()
        assert sent["request"].get("document_ids") == [document_id], sent
        assert sent["request"].get("document_retrieval_strategy") == "quality", sent
        shot(page, f"knowledge-{world.mode}-8-preset-started")
    finally:
        for call in world.api("GET", "/v2/conversations",
                              params={"status": "active", "limit": 100}).json()["data"]:
            world.api("POST", f"/v2/conversations/{call['conversation_id']}/end")

    # Edit the prompt: select the row, Edit, change it, Save changes.
    go(page, world, "personas")
    page.get_by_role("textbox", name="Search").fill(persona_name)
    page.get_by_role("textbox", name="Search").press("Enter")
    wait_idle(page)
    wait_until(lambda: [r.get("Persona") for r in table_rows(page)] == [persona_name],
               timeout=20, what="the persona alone in the table")
    click_row(page, 0)
    page.wait_for_url(re.compile(rf"persona={persona_id}"))
    wait_idle(page)
    actions = page.locator(".st-key-persona-actions")
    expect(actions).to_contain_text(persona_name)
    actions.get_by_role("button", name="Edit").click()
    wait_idle(page)
    prompt_box = page.locator(form).get_by_label("System prompt", exact=True)
    expect(prompt_box).to_have_value(prompt)  # the form holds the persona before any typing
    new_prompt = "You are the bike shop's assistant. Answer from the documents, warmly."
    type_into(page, "System prompt", new_prompt, within=form)
    patches = world.requests("PATCH", f"/v2/personas/{persona_id}")
    wire_start = world.mark()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".st-key-persona-saved")).to_be_visible(timeout=30_000)
    wait_idle(page)
    assert_no_exception(page)
    shot_at(page, ".st-key-persona-saved", f"knowledge-{world.mode}-9-persona-saved")
    assert world.requests("PATCH", f"/v2/personas/{persona_id}") == patches + 1
    if world.wire:  # exactly one replace of the prompt, nothing else touched
        assert world.sent("PATCH", f"/v2/personas/{persona_id}", wire_start) == [[
            {"op": "replace", "path": "/system_prompt", "value": new_prompt}]]
    after = world.persona(persona_id)
    assert after["system_prompt"] == new_prompt
    assert after["document_ids"] == [document_id]
    assert after["default_replica_id"] == replica_id
    unchanged = {"system_prompt", "updated_at"}
    assert {k: v for k, v in after.items() if k not in unchanged} == {
        k: v for k, v in created.items() if k not in unchanged}
    assert world.requests("POST", "/v2/conversations") == conversations + 1
