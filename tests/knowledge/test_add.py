"""Adding a document as action-board work, end to end over real HTTP: the browser's upload sits in
moto's S3 server, the work judges and cleans it, stores the copy Tavus downloads and posts it to
the Tavus simulator, which really downloads it through the presigned GET it was given."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from lib.actions.board import Action, ActionBoard, ActionState
from lib.clock import parse_time
from lib.config import S3Settings
from lib.knowledge.add import (
    INCOMING_FOLDER,
    AddAttempt,
    add_file_work,
    add_website_work,
    clean_tags,
    private_hosts_reachable,
    take_in_upload,
)
from lib.knowledge.intake import CrawlSettings, DocumentRefused
from lib.knowledge.records import DOCUMENT_FILES_FOLDER, DocumentRecords
from lib.storage.s3 import ImageStore
from lib.tavus.client import DocumentStatus, TavusClient, TavusError
from lib.tavus.simulator import TavusSimulator
from tests.conftest import free_port
from tests.knowledge.documents import AUTHOR, COMPANY, minimal_pdf, ooxml
from tests.wire import CountingProxy

KEY = "sk-knowledge-add-test"
WHO = "ana@example.com"
PAGE = (b"<!doctype html><html><head><title>Bike shop</title></head><body>"
        b"<h1>Opening hours</h1><p>9 to 5.</p><a href='/about.html'>About</a></body></html>")


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    s = TavusSimulator(KEY, seed_demo_data=False, document_seconds=10).start()
    yield s
    s.stop()


@pytest.fixture
def tavus(sim: TavusSimulator) -> Iterator[TavusClient]:
    with TavusClient(sim.base_url, KEY, timeout=5.0, sleep=lambda s: None) as client:
        yield client


@pytest.fixture
def store(s3_settings: S3Settings) -> ImageStore:
    return ImageStore(s3_settings)


@pytest.fixture
def records(store: ImageStore) -> DocumentRecords:
    return DocumentRecords(store)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A little website on loopback: a page with a link, a text file; anything else is a 404."""
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_bytes(PAGE)
    (root / "about.html").write_bytes(b"<html><body><p>Est. 1999.</p></body></html>")
    (root / "hours.txt").write_bytes(b"Opening hours: 9 to 5.\n")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def incoming(store: ImageStore, data: bytes, name: str) -> str:
    """The browser's upload: an object under documents/incoming/, as lib/ui/uploader puts it."""
    key = f"{store.settings.prefix}{INCOMING_FOLDER}{uuid.uuid4().hex}-{name}"
    store.put_bytes(key, data, "application/octet-stream")
    return key


def document_posts(sim: TavusSimulator) -> int:
    return sum(1 for r in sim.requests if r.method == "POST" and r.path == "/v2/documents")


def file_keys(store: ImageStore) -> list[str]:
    return store.list_keys(store.settings.prefix + DOCUMENT_FILES_FOLDER)


def incoming_keys(store: ImageStore) -> list[str]:
    return store.list_keys(store.settings.prefix + INCOMING_FOLDER)


def file_work(tavus: TavusClient, store: ImageStore, records: DocumentRecords,
              attempt: AddAttempt, key: str, filename: str, size: int, **extra):
    options = {"name": "", "tags": (), "added_by": WHO, **extra}
    return add_file_work(tavus, store, records, attempt, key=key, filename=filename, size=size,
                         **options)


# --- a file --------------------------------------------------------------------------------------
def test_a_file_is_posted_once_with_a_presigned_get_of_the_cleaned_copy(
        sim: TavusSimulator, tavus: TavusClient, store: ImageStore,
        records: DocumentRecords) -> None:
    data = ooxml("docx")
    key = incoming(store, data, "Pricing.docx")
    attempt = AddAttempt()
    action = Action(key="add")

    document = file_work(tavus, store, records, attempt, key, "Pricing 2026.docx", len(data),
                         name="  Pricing   2026 ", tags=["pricing", " Pricing ", "q3"])(action)

    assert document_posts(sim) == 1
    assert action.step == "recording"  # it went through every step
    stored = attempt.stored
    assert stored is not None and attempt.document is document
    assert file_keys(store) == [stored.key] and stored.key.endswith("-Pricing-2026.docx")
    # What Tavus holds: the name and tags as cleaned, and a SigV4 GET of the stored copy.
    held = tavus.get_document(document.document_id)
    assert held.document_name == "Pricing 2026" and held.tags == ("pricing", "q3")
    url = held.document_url or ""
    assert "X-Amz-Signature=" in url and stored.key.split("/")[-1] in url
    downloaded = httpx.get(url).content
    assert downloaded == store.read_object(stored.key)
    assert len(downloaded) == stored.size_bytes
    # The copy is the cleaned one: the author and company are gone, the text is there.
    with zipfile.ZipFile(io.BytesIO(downloaded)) as archive:
        assert AUTHOR.encode() not in archive.read("docProps/core.xml")
        assert COMPANY.encode() not in archive.read("docProps/app.xml")
        assert b"Quarterly pricing" in archive.read("word/document.xml")
    # The simulator downloads it through that URL as Tavus would, and processes it.
    assert sim.wait_for_downloads()
    sim.advance(11)
    assert tavus.get_document(document.document_id).state is DocumentStatus.READY


def test_the_incoming_copy_is_deleted_after_take_in(store: ImageStore) -> None:
    data = minimal_pdf()
    key = incoming(store, data, "hours.pdf")

    stored = take_in_upload(store, key, "hours.pdf", len(data))

    assert incoming_keys(store) == []
    assert file_keys(store) == [stored.key]
    assert store.read_object(stored.key) == data  # a PDF goes up as it is


@pytest.mark.parametrize(("data", "filename", "says"), [
    (b"", "empty.pdf", "empty"),
    (b"PK\x03\x04" + b"\x00" * 10, "brochure.pdf", "damaged"),  # a cut-off ZIP named .pdf
    (lambda: _zip_of_text(), "brochure.pdf", "ZIP archive"),
    (b"\x7fELF\x02\x01\x01" + bytes(200), "notes.txt", "Tavus takes"),
], ids=["empty", "broken-zip", "zip-named-pdf", "binary-named-txt"])
def test_a_refused_file_sends_nothing_to_tavus_and_leaves_nothing_behind(
        sim: TavusSimulator, tavus: TavusClient, store: ImageStore, records: DocumentRecords,
        data, filename: str, says: str) -> None:
    body = data() if callable(data) else data
    key = incoming(store, body, filename)
    attempt = AddAttempt()
    board = ActionBoard(max_workers=1)
    try:
        board.start("add", file_work(tavus, store, records, attempt, key, filename,
                                     len(body) or 1234))
        action = board.wait("add", timeout=30)
    finally:
        board.close()

    assert action is not None and action.state is ActionState.FAILED
    assert isinstance(action.error, DocumentRefused)
    assert says in action.error.message
    assert [r for r in sim.requests if r.path.startswith("/v2/documents")] == []
    assert attempt.stored is None and attempt.document is None
    assert incoming_keys(store) == [] and file_keys(store) == []
    assert records.records(force=True) == {}
    # Pressed again, it says the same thing (its copy is gone), and still sends nothing.
    with pytest.raises(DocumentRefused, match=says):
        file_work(tavus, store, records, attempt, key, filename, len(body) or 1234)(
            Action(key="add"))
    assert [r for r in sim.requests if r.path.startswith("/v2/documents")] == []


def _zip_of_text() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "just a zip")
    return buffer.getvalue()


def test_running_the_work_again_posts_nothing_more(sim: TavusSimulator, tavus: TavusClient,
                                                   store: ImageStore,
                                                   records: DocumentRecords) -> None:
    data = minimal_pdf()
    key = incoming(store, data, "hours.pdf")
    attempt = AddAttempt()
    added: list[str] = []
    board = ActionBoard(max_workers=2)
    try:
        def work():
            return file_work(tavus, store, records, attempt, key, "hours.pdf", len(data),
                             after=lambda d: added.append(d.document_id))

        board.start("add", work())
        first = board.wait("add", timeout=30)
        assert first is not None and first.ok
        # A retry (the page builds the work again from the same attempt) and a plain rerun.
        board.start("add", work(), repeat_after=0)
        again = board.wait("add", timeout=30)
        assert again is not None and again.ok and again.runs == 2
        assert work()(Action(key="add")) is first.result
    finally:
        board.close()

    assert again.result is first.result
    assert document_posts(sim) == 1
    assert added == [first.result.document_id]  # the follow-up ran once
    assert len(file_keys(store)) == 1
    assert tavus.list_documents(limit=10).total_count == 1


def test_a_failed_post_is_retried_without_uploading_again(
        sim: TavusSimulator, tavus: TavusClient, s3_settings: S3Settings) -> None:
    data = ooxml("xlsx")
    with CountingProxy(s3_settings.endpoint_url or "") as wire:
        store = ImageStore(dataclasses.replace(s3_settings, endpoint_url=wire.url))
        records = DocumentRecords(store)
        key = incoming(store, data, "Budget.xlsx")
        attempt = AddAttempt()
        # Tavus fails the create (a 5xx is not retried by the client: it may have landed).
        sim.inject_fault("500", path_prefix="/v2/documents", method="POST")
        with pytest.raises(TavusError) as failed:
            file_work(tavus, store, records, attempt, key, "Budget.xlsx", len(data))(
                Action(key="add"))
        assert failed.value.status_code == 500
        stored = attempt.stored
        assert stored is not None and attempt.document is None
        assert document_posts(sim) == 1
        assert records.records(force=True) == {}

        wire.reset()
        retried = file_work(tavus, store, records, attempt, key, "Budget.xlsx", len(data))(
            Action(key="add"))
        s3_writes = [r for r in wire.requests if r.method in ("PUT", "POST")]
        assert file_keys(store) == [stored.key]

    assert document_posts(sim) == 2
    assert attempt.stored is stored and retried is attempt.document
    # The only write of the retry is the team record: the file went up once.
    assert [r.path.rsplit("/", 1)[-1] for r in s3_writes] == [f"{retried.document_id}.json"]
    assert not any(r.method == "GET" and INCOMING_FOLDER in r.path for r in wire.requests)
    url = tavus.get_document(retried.document_id).document_url or ""
    assert stored.key.split("/")[-1] in url
    assert tavus.list_documents(limit=10).total_count == 1


def test_the_team_record_says_who_when_what_and_how_big(
        sim: TavusSimulator, tavus: TavusClient, store: ImageStore,
        records: DocumentRecords) -> None:
    data = ooxml("pptx")
    key = incoming(store, data, "deck.pptx")
    attempt = AddAttempt()
    before = datetime.now(UTC).replace(microsecond=0)

    document = file_work(tavus, store, records, attempt, key, "Sales deck.pptx", len(data),
                         tags=["sales"])(Action(key="add"))

    after = datetime.now(UTC)
    assert attempt.record_problem is None
    # Read back from the bucket by a fresh reader (another server process would).
    record = DocumentRecords(store).records()[document.document_id]
    stored = attempt.stored
    assert stored is not None
    assert record.added_by == WHO and record.source == "file"
    added_at = parse_time(record.added_at)
    assert added_at is not None and before <= added_at <= after
    assert record.s3_key == stored.key and record.size_bytes == stored.size_bytes
    assert record.size_bytes == len(store.read_object(stored.key))
    assert record.file_name == "Sales deck.pptx" and record.kind == "pptx"
    assert record.document_name == "Sales deck" and record.tags == ("sales",)
    assert record.metadata_removed is True
    raw = json.loads(store.read_object(records.key_for(document.document_id)))
    assert raw["added_by"] == WHO and raw["s3_key"] == stored.key


# --- a website -----------------------------------------------------------------------------------
def test_a_website_is_posted_with_its_crawl_settings(sim: TavusSimulator, tavus: TavusClient,
                                                     store: ImageStore, records: DocumentRecords,
                                                     site: str) -> None:
    attempt = AddAttempt()
    work = add_website_work(tavus, records, attempt, url=f"{site}/index.html#top", name="",
                            tags=["shop"], crawl=CrawlSettings(depth=2, max_pages=5),
                            added_by=WHO, allow_private_hosts=True)

    document = work(Action(key="site"))
    assert work(Action(key="site")) is document

    assert document_posts(sim) == 1
    held = tavus.get_document(document.document_id)
    assert held.document_url == f"{site}/index.html"  # normalised: no fragment
    assert (held.crawl_depth, held.crawl_max_pages) == (2, 5)
    assert held.document_name == "127.0.0.1" and held.tags == ("shop",)
    record = DocumentRecords(store).records()[document.document_id]
    assert record.source == "url" and record.kind == "website"
    assert (record.crawl_depth, record.crawl_max_pages) == (2, 5) and record.added_by == WHO
    assert sim.wait_for_downloads()
    sim.advance(11)
    assert tavus.get_document(document.document_id).state is DocumentStatus.READY


def test_crawl_settings_are_not_sent_for_a_file_address(sim: TavusSimulator,
                                                        tavus: TavusClient,
                                                        records: DocumentRecords,
                                                        site: str) -> None:
    attempt = AddAttempt()
    document = add_website_work(tavus, records, attempt, url=f"{site}/hours.txt", name="Hours",
                                tags=(), crawl=CrawlSettings(depth=3, max_pages=10),
                                added_by=None, allow_private_hosts=True)(Action(key="url"))
    held = tavus.get_document(document.document_id)
    assert held.crawl_depth is None and held.crawl_max_pages is None and not held.crawled
    assert records.records()[document.document_id].kind == "txt"


@pytest.mark.parametrize("where", ["missing", "unreachable", "private"])
def test_an_address_that_cannot_be_read_sends_nothing(sim: TavusSimulator, tavus: TavusClient,
                                                      records: DocumentRecords, site: str,
                                                      where: str) -> None:
    url, says = {
        "missing": (f"{site}/nothing-here.html", "HTTP 404"),
        "unreachable": (f"http://127.0.0.1:{free_port()}/", "could not be reached"),
        # Tavus's servers could not fetch a loopback address: refused before it is asked.
        "private": (f"{site}/index.html", "private or local network"),
    }[where]
    attempt = AddAttempt()
    work = add_website_work(tavus, records, attempt, url=url, name="", tags=(),
                            crawl=CrawlSettings(depth=1, max_pages=1), added_by=WHO,
                            allow_private_hosts=where != "private")
    with pytest.raises(DocumentRefused) as refused:
        work(Action(key="site"))
    assert says in refused.value.message
    assert [r for r in sim.requests if r.path.startswith("/v2/documents")] == []
    assert attempt.document is None
    assert records.records(force=True) == {}


def test_a_malformed_address_is_refused_at_the_click(tavus: TavusClient,
                                                     records: DocumentRecords) -> None:
    with pytest.raises(DocumentRefused, match="https://"):
        add_website_work(tavus, records, AddAttempt(), url="ftp://example.com/x", name="",
                         tags=(), crawl=None, added_by=None)


@pytest.mark.parametrize(("url", "reachable"), [
    ("http://localhost:8765", True),
    ("http://127.0.0.1:9000", True),
    ("http://[::1]:8080", True),
    ("http://10.1.2.3", True),
    ("http://192.168.0.10:8765", True),
    ("http://172.16.5.4", True),
    ("https://tavusapi.com", False),
    ("http://8.8.8.8", False),
    ("https://tavusapi.com.localhost.example", False),
    ("not a url", False),
])
def test_private_hosts_are_reachable_only_from_a_local_stand_in(url: str,
                                                                reachable: bool) -> None:
    assert private_hosts_reachable(url) is reachable


# --- tags -----------------------------------------------------------------------------------------
def test_tags_are_trimmed_and_deduplicated_keeping_the_first_spelling() -> None:
    assert clean_tags(["  Pricing ", "pricing", "", "  ", "Q3  plan", "PRICING"]) == (
        "Pricing", "Q3 plan")


def test_too_long_or_too_many_tags_are_refused() -> None:
    with pytest.raises(DocumentRefused, match="under 50"):
        clean_tags(["x" * 51])
    with pytest.raises(DocumentRefused, match="21 tags"):
        clean_tags([f"tag{i}" for i in range(21)])
    assert len(clean_tags([f"tag{i}" for i in range(20)])) == 20


def test_refused_tags_stop_the_add_at_the_click(sim: TavusSimulator, tavus: TavusClient,
                                                store: ImageStore,
                                                records: DocumentRecords) -> None:
    data = minimal_pdf()
    key = incoming(store, data, "hours.pdf")
    with pytest.raises(DocumentRefused):
        file_work(tavus, store, records, AddAttempt(), key, "hours.pdf", len(data),
                  tags=["y" * 60])
    assert sim.requests == [] and file_keys(store) == []


def test_the_document_name_falls_back_to_the_file_name(sim: TavusSimulator, tavus: TavusClient,
                                                       store: ImageStore,
                                                       records: DocumentRecords) -> None:
    data = minimal_pdf()
    key = incoming(store, data, "x.pdf")
    document = file_work(tavus, store, records, AddAttempt(), key, "Opening hours.pdf",
                         len(data), name="   ")(Action(key="add"))
    assert tavus.get_document(document.document_id).document_name == "Opening hours"
