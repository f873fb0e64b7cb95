"""The simulator's knowledge base (documents) and persona writes, over real HTTP, as Tavus behaves.

Documents are served by a stdlib HTTP server over a temporary folder started here (no network):
small files made by hand (a PDF, Office zips, an OLE2 .doc), an empty file, sparse files past the
50 MB cap, a little website to crawl. The only waiting is for the background download and judging
(sim.wait_for_downloads); processing time moves with advance() or /_sim/advance.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lib.tavus.simulator import TavusSimulator

KEY = "sk-sim-docs-" + secrets.token_hex(8)
DOC_SECONDS = 100.0  # simulated: 10 s queued ("started"), then 90 s processing
QUEUED = 10.0
CAP = 50 * 1000 * 1000  # Tavus's 50 MB, decimal
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DOC_ID = re.compile(r"^d[0-9a-f]{11}$")
DOC_FIELDS = {
    "document_id", "document_name", "document_url", "status", "progress", "error_message",
    "created_at", "updated_at", "tags", "crawl_config", "crawled_urls", "last_crawled_at",
    "crawl_count",
}
ANNA = "r1af0c2b8d3e"  # the stock "Anna - Office" replica (completed)


# ------------------------------------------------------------------------------------------------
# the files
# ------------------------------------------------------------------------------------------------
def _pdf() -> bytes:
    """A minimal one-page PDF, written by hand."""
    return (
        b"%PDF-1.4\n"
        b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R"
        b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
        b"4 0 obj<</Length 44>>stream\nBT /F1 12 Tf 20 100 Td (Office hours) Tj ET\n"
        b"endstream endobj\n"
        b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _office(folder: str, part: str) -> bytes:
    """An Office Open XML package: the content-types part and one part in `folder`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        z.writestr(f"{folder}/{part}", "<doc>Office hours are 9 to 5.</doc>")
    return buf.getvalue()


def _plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", "just a zip")
    return buf.getvalue()


def _ole2(stream: str) -> bytes:
    """An OLE2 compound file's magic and a directory entry naming `stream` (UTF-16)."""
    header = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504)
    entry = stream.encode("utf-16-le").ljust(64, b"\0") + bytes(64)
    return header + entry + bytes(1024)


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(buf, format=fmt)
    return buf.getvalue()


SITE = {
    "index.html": '<html><body><a href="page1.html">one</a> <a href="/site/page2.html#top">two'
                  '</a> <a href="http://example.invalid/elsewhere">away</a> '
                  '<a href="dead.html">dead</a> <a href="notes.txt">a file</a></body></html>',
    "page1.html": '<html><body><a href="page3.html">three</a> <a href="index.html">home</a>'
                  "</body></html>",
    "page2.html": "<html><body>Two.</body></html>",
    "page3.html": "<html><body>Three.</body></html>",
    "notes.txt": "Not a page.",
}

FILES: dict[str, bytes] = {
    "notes.txt": "Office hours: 9–5. Ask for Anna.\n".encode() * 20,
    "data.csv": b"name,room\nAnna,101\nBen,102\n",
    "bom.txt": b"\xef\xbb\xbfWith a byte-order mark.\n",
    "tiny.pdf": _pdf(),
    "report.docx": _office("word", "document.xml"),
    "slides.pptx": _office("ppt", "presentation.xml"),
    "sheet.xlsx": _office("xl", "workbook.xml"),
    "legacy.doc": _ole2("WordDocument"),
    "photo.png": _image("PNG"),
    "photo.jpg": _image("JPEG"),
    "picture.pdf": _image("PNG"),  # a PNG with a .pdf name: judged by content
    "words.png": b"Plain text with an image's name.\n",
    "empty.txt": b"",
    "garbage.pdf": bytes(range(256)) * 4,  # NUL bytes, no known magic
    "latin1.txt": "Caf\u00e9 cr\u00e8me".encode("latin-1"),  # not UTF-8
    "archive.docx": _plain_zip(),  # a zip, but no Office package
    "legacy.xls": _ole2("Workbook"),  # OLE2, but not Word
}


class _Handler(SimpleHTTPRequestHandler):
    """Files from the folder; /chunked/<name> without a Content-Length; /liar sends a header
    promising 60 MB, then a few bytes and hangs up."""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]  # presigned-style queries are ignored, like moto
        if path == "/liar":
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(60 * 1000 * 1000))
            self.end_headers()
            self.wfile.write(b"%PDF-1.4\n")
            self.close_connection = True
            return
        if not path.startswith("/chunked/"):
            self.path = path
            super().do_GET()
            return
        file = Path(self.directory) / path.removeprefix("/chunked/")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="sim-doc-files-"))
    for name, data in FILES.items():
        (root / name).write_bytes(data)
    (root / "site").mkdir()
    for name, text in SITE.items():
        (root / "site" / name).write_text(text)
    # Sparse files: the sizes are real on the wire, nothing is held in memory here.
    for name, size in (("big.pdf", CAP + 1), ("at-cap.bin", CAP)):
        with (root / name).open("wb") as f:
            f.truncate(size)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def files(folder: Path) -> Iterator[str]:
    handler = partial(_Handler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _no_key_hook(response: httpx.Response) -> None:
    """Every answer any test sees is checked for the key."""
    response.read()
    assert KEY.encode() not in response.content


def _client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"x-api-key": KEY}, timeout=30,
                        event_hooks={"response": [_no_key_hook]})


def _simulator(**kwargs: object) -> TavusSimulator:
    kwargs.setdefault("document_seconds", DOC_SECONDS)
    return TavusSimulator(KEY, seed_demo_data=False, max_concurrent_conversations=50,
                          **kwargs).start()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sim() -> Iterator[TavusSimulator]:
    s = _simulator()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(sim: TavusSimulator) -> Iterator[httpx.Client]:
    with _client(sim.base_url) as c:
        yield c


@pytest.fixture
def fresh() -> Iterator[tuple[TavusSimulator, httpx.Client]]:
    """A private simulator for tests that count, list or move the clock a long way."""
    s = _simulator()
    with _client(s.base_url) as c:
        yield s, c
    s.stop()


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _create(client: httpx.Client, url: str, **extra: object) -> dict:
    r = client.post("/v2/documents", json={"document_url": url, **extra})
    assert r.status_code == 200, r.text
    body = r.json()
    assert DOC_ID.match(body["document_id"]) and body["status"] == "started"
    return body


def _get(client: httpx.Client, did: str) -> dict:
    r = client.get(f"/v2/documents/{did}")
    assert r.status_code == 200, r.text
    return r.json()


def _judged(sim: TavusSimulator, client: httpx.Client, url: str, **extra: object) -> dict:
    """Created, downloaded and judged (still queued unless it failed)."""
    did = _create(client, url, **extra)["document_id"]
    assert sim.wait_for_downloads(60)
    return _get(client, did)


def _ready(sim: TavusSimulator, client: httpx.Client, url: str, **extra: object) -> dict:
    doc = _judged(sim, client, url, **extra)
    assert doc["status"] == "started", doc
    sim.advance(DOC_SECONDS)
    doc = _get(client, doc["document_id"])
    assert doc["status"] == "ready", doc
    return doc


def _ids(body: dict) -> list[str]:
    return [d["document_id"] for d in body["data"]]


# ------------------------------------------------------------------------------------------------
# create and process
# ------------------------------------------------------------------------------------------------
def test_a_txt_goes_started_processing_ready_on_the_clock(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    made = _create(client, f"{files}/notes.txt", document_name="Office notes",
                   tags=["hr", "office"], callback_url="https://example.com/hook")
    assert set(made) == DOC_FIELDS | {"callback_url"}
    assert (made["document_name"], made["document_url"]) == ("Office notes",
                                                              f"{files}/notes.txt")
    assert (made["progress"], made["error_message"], made["tags"]) == (None, None,
                                                                      ["hr", "office"])
    assert made["callback_url"] == "https://example.com/hook"
    assert made["crawl_config"] is None and made["crawled_urls"] is None
    assert ISO_MS.match(made["created_at"]) and ISO_MS.match(made["updated_at"])
    did = made["document_id"]
    assert sim.wait_for_downloads(30)
    queued = _get(client, did)
    assert (queued["status"], queued["progress"]) == ("started", None)  # downloaded, queued
    ctl = httpx.Client(base_url=sim.base_url + "/_sim")
    assert ctl.post("/advance", json={"seconds": QUEUED}).status_code == 200  # /_sim/advance
    ctl.close()
    seen = []
    for _ in range(9):
        doc = _get(client, did)
        assert doc["status"] == "processing", doc
        assert isinstance(doc["progress"], int) and 0 <= doc["progress"] <= 99
        seen.append(doc["progress"])
        sim.advance(10)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # rising, never back
    assert seen[0] <= 1 and seen[-1] >= 85
    done = _get(client, did)
    assert (done["status"], done["progress"], done["error_message"]) == ("ready", None, None)
    assert done["updated_at"] > done["created_at"]
    sim.advance(10_000)
    assert _get(client, did)["status"] == "ready"  # and stays so


def test_the_name_defaults_to_the_file_name_and_callback_url_is_left_out(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    made = _create(client, f"{files}/tiny.pdf")
    assert made["document_name"] == "tiny.pdf" and made["tags"] == []
    assert "callback_url" not in made  # typed a string, never null, in the contract
    assert _create(client, f"{files}/site/", document_name="  ")["document_name"] == "site"
    assert _create(client, f"{files}/")["document_name"] == "127.0.0.1"  # no path: the host


@pytest.mark.parametrize("name", [
    "notes.txt", "data.csv", "bom.txt", "tiny.pdf", "report.docx", "slides.pptx", "sheet.xlsx",
    "legacy.doc", "photo.png", "photo.jpg",
    "picture.pdf",  # a PNG named .pdf: a PNG is supported
    "words.png",  # text named .png: text is supported
])
def test_supported_formats_by_content_become_ready(
    sim: TavusSimulator, client: httpx.Client, files: str, name: str
) -> None:
    doc = _ready(sim, client, f"{files}/{name}")
    assert doc["error_message"] is None and doc["crawled_urls"] is None


@pytest.mark.parametrize("name", ["garbage.pdf", "latin1.txt", "archive.docx", "legacy.xls"])
def test_unsupported_content_fails_whatever_its_name(
    sim: TavusSimulator, client: httpx.Client, files: str, name: str
) -> None:
    doc = _judged(sim, client, f"{files}/{name}")
    assert (doc["status"], doc["error_message"], doc["progress"]) == (
        "error", "file_format_unsupported", None)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url,code", [
    ("ftp://127.0.0.1/notes.txt", "invalid_file_url"),
    ("not a url", "invalid_file_url"),
    ("http://", "invalid_file_url"),
    ("{files}/gone.pdf", "file_download_failed"),  # 404
    ("http://127.0.0.1:{closed}/notes.txt", "file_download_failed"),  # nobody listening
    ("{files}/notes.txt?X-Amz-Date=20200101T000000Z&X-Amz-Expires=3600&X-Amz-Signature=x",
     "file_download_failed"),  # an expired presigned URL
    ("{files}/empty.txt", "file_empty"),
    ("{files}/big.pdf", "file_size_too_large"),  # Content-Length says 50 MB + 1
    ("{files}/chunked/big.pdf", "file_size_too_large"),  # no length: counted while streaming
    ("{files}/liar", "file_size_too_large"),  # refused on the header, before the body
    ("{files}/at-cap.bin", "file_format_unsupported"),  # exactly 50 MB passes the size check
    ("{files}/missing/", "website_processing_failed"),  # a site that cannot be fetched
])
def test_failures_end_in_error_with_tavus_codes(
    sim: TavusSimulator, client: httpx.Client, files: str, url: str, code: str
) -> None:
    doc = _judged(sim, client, url.format(files=files, closed=_closed_port()))
    assert (doc["status"], doc["error_message"], doc["progress"]) == ("error", code, None)
    sim.advance(DOC_SECONDS)
    assert _get(client, doc["document_id"])["status"] == "error"  # final


def test_downloads_are_temporary_files_deleted_after_judging(
    sim: TavusSimulator, client: httpx.Client, files: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _judged(sim, client, f"{files}/tiny.pdf")
    _judged(sim, client, f"{files}/chunked/big.pdf")
    _judged(sim, client, f"{files}/site/", crawl={"depth": 2, "max_pages": 5})
    assert list(tmp_path.iterdir()) == []


def test_create_refusals_are_400_error(sim: TavusSimulator, client: httpx.Client,
                                       files: str) -> None:
    url = f"{files}/notes.txt"
    cases = [
        ({}, "Invalid request: document_url is required"),
        ({"document_url": ""}, "document_url is required"),
        ({"document_url": 42}, "document_url must be a string"),
        ({"document_url": url, "tags": "hr"}, "tags must be an array of strings"),
        ({"document_url": url, "tags": [1]}, "tags must be an array of strings"),
        ({"document_url": url, "document_name": 5}, "document_name must be a string"),
        ({"document_url": url, "callback_url": "ftp://x/y"}, "callback_url"),
        ({"document_url": url, "crawl": []}, "crawl must be an object"),
        ({"document_url": url, "crawl": {"depth": 0}}, "crawl.depth must be an integer "
                                                       "between 1 and 10"),
        ({"document_url": url, "crawl": {"depth": 11}}, "crawl.depth"),
        ({"document_url": url, "crawl": {"depth": "2"}}, "crawl.depth"),
        ({"document_url": url, "crawl": {"depth": True}}, "crawl.depth"),
        ({"document_url": url, "crawl": {"max_pages": 0}}, "crawl.max_pages must be an "
                                                           "integer between 1 and 100"),
        ({"document_url": url, "crawl": {"max_pages": 101}}, "crawl.max_pages"),
        ({"document_url": url, "crawl": {"pages": 3}}, "unknown crawl field"),
    ]
    before = client.get("/v2/documents").json()["total_count"]
    for payload, words in cases:
        r = client.post("/v2/documents", json=payload)
        assert r.status_code == 400, payload
        assert words in r.json()["error"], (payload, r.json())
    r = client.post("/v2/documents", content=b"{not json", headers={"content-type": "x"})
    assert (r.status_code, r.json()) == (400, {"error": "The request body is not valid JSON."})
    assert client.post("/v2/documents", json=[url]).status_code == 400
    assert client.get("/v2/documents").json()["total_count"] == before


def test_unknown_ids_are_the_contracts_404(client: httpx.Client) -> None:
    for method, path in (("GET", "/v2/documents/dnope"), ("PATCH", "/v2/documents/dnope"),
                         ("DELETE", "/v2/documents/dnope"),
                         ("POST", "/v2/documents/dnope/recrawl")):
        r = client.request(method, path, json={"tags": []} if method == "PATCH" else None)
        assert (r.status_code, r.json()) == (404, {"message": "Document not found"}), method


# ------------------------------------------------------------------------------------------------
# websites and crawls
# ------------------------------------------------------------------------------------------------
def test_a_page_without_crawl_is_a_single_page_snapshot(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    doc = _ready(sim, client, f"{files}/site/index.html")
    assert (doc["crawl_config"], doc["crawled_urls"], doc["crawl_count"]) == (None, None, None)


@pytest.mark.parametrize("crawl,pages", [
    ({"depth": 1, "max_pages": 10}, ["", "page1.html", "page2.html"]),
    ({"depth": 2, "max_pages": 10}, ["", "page1.html", "page2.html", "page3.html",
                                     "index.html"]),
    ({"depth": 3, "max_pages": 2}, ["", "page1.html"]),
])
def test_a_crawl_follows_same_site_links_within_its_limits(
    sim: TavusSimulator, client: httpx.Client, files: str, crawl: dict, pages: list[str]
) -> None:
    start = f"{files}/site/"
    doc = _judged(sim, client, start, crawl=crawl)
    assert doc["crawl_config"] == crawl
    assert (doc["crawled_urls"], doc["crawl_count"], doc["last_crawled_at"]) == (None, None, None)
    sim.advance(DOC_SECONDS)
    doc = _get(client, doc["document_id"])
    assert doc["status"] == "ready"
    # Same site only (no example.invalid), no fragment, dead links and files skipped.
    assert doc["crawled_urls"] == [start + p for p in pages]
    assert doc["crawl_count"] == 1 and ISO_MS.match(doc["last_crawled_at"])


def test_crawl_defaults_fill_what_was_not_sent(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    doc = _create(client, f"{files}/site/", crawl={"max_pages": 3})
    assert doc["crawl_config"] == {"depth": 1, "max_pages": 3}


def test_recrawl_cooldown_recrawling_and_counts(
    fresh: tuple[TavusSimulator, httpx.Client], files: str
) -> None:
    sim, client = fresh
    doc = _ready(sim, client, f"{files}/site/", crawl={"depth": 1, "max_pages": 2})
    did, first_crawl = doc["document_id"], doc["last_crawled_at"]
    r = client.post(f"/v2/documents/{did}/recrawl")
    assert r.status_code == 429
    assert re.fullmatch(r"Recrawl cooldown: please wait \d+ minutes before recrawling this "
                        r"document\.", r.json()["error"])
    sim.advance(3600)
    r = client.post(f"/v2/documents/{did}/recrawl", json={"crawl": {"depth": 2,
                                                                     "max_pages": 10}})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["status"], body["progress"], body["crawl_count"]) == ("recrawling", 0, 1)
    assert body["crawl_config"] == {"depth": 2, "max_pages": 10}  # this run's override
    assert sim.wait_for_downloads(30)
    again = client.post(f"/v2/documents/{did}/recrawl")
    assert again.status_code == 409
    assert again.json()["error"].endswith("current status: recrawling")
    sim.advance(QUEUED + 45)
    mid = _get(client, did)
    assert mid["status"] == "recrawling" and 40 <= mid["progress"] <= 60
    assert mid["crawl_count"] == 1 and len(mid["crawled_urls"]) == 2  # the last crawl's, still
    sim.advance(DOC_SECONDS)
    done = _get(client, did)
    assert (done["status"], done["crawl_count"]) == ("ready", 2)
    assert done["last_crawled_at"] > first_crawl and len(done["crawled_urls"]) == 5
    assert done["crawl_config"] == {"depth": 1, "max_pages": 2}  # the stored one again


def test_recrawl_refusals(fresh: tuple[TavusSimulator, httpx.Client], files: str) -> None:
    sim, client = fresh
    busy = _create(client, f"{files}/site/", crawl={"depth": 1})["document_id"]
    r = client.post(f"/v2/documents/{busy}/recrawl")
    assert r.status_code == 409
    assert r.json() == {"error": "Document must be in 'ready' or 'error' state to recrawl, "
                                 "current status: started"}
    file_doc = _ready(sim, client, f"{files}/tiny.pdf")["document_id"]
    page = _ready(sim, client, f"{files}/site/page2.html")["document_id"]
    sim.advance(3600)
    r = client.post(f"/v2/documents/{file_doc}/recrawl")
    assert (r.status_code, r.json()) == (400, {"error": "Only website documents can be "
                                                        "recrawled"})
    r = client.post(f"/v2/documents/{page}/recrawl")
    assert (r.status_code, r.json()) == (400, {"error": "Document was not created with crawl "
                                                        "configuration"})
    r = client.post(f"/v2/documents/{page}/recrawl", json={"crawl": {"depth": 12}})
    assert r.status_code == 400 and "crawl.depth" in r.json()["error"]
    r = client.post(f"/v2/documents/{page}/recrawl", json={"crawl": {"depth": 1}})
    assert r.status_code == 202 and r.json()["crawl_count"] == 0  # never null in the 202


def test_a_recrawl_of_a_vanished_site_fails_and_keeps_the_last_crawl(
    fresh: tuple[TavusSimulator, httpx.Client], files: str, folder: Path
) -> None:
    sim, client = fresh
    site = folder / f"site-{secrets.token_hex(4)}"
    shutil.copytree(folder / "site", site)
    doc = _ready(sim, client, f"{files}/{site.name}/", crawl={"depth": 1, "max_pages": 10})
    shutil.rmtree(site)
    sim.advance(3600)
    assert client.post(f"/v2/documents/{doc['document_id']}/recrawl").status_code == 202
    assert sim.wait_for_downloads(30)
    failed = _get(client, doc["document_id"])
    assert (failed["status"], failed["error_message"]) == ("error", "website_processing_failed")
    assert failed["crawled_urls"] == doc["crawled_urls"] and failed["crawl_count"] == 1
    # An error is recrawlable, once the hour has passed again.
    assert client.post(f"/v2/documents/{doc['document_id']}/recrawl").status_code == 429


def test_crawl_limits_are_429(fresh: tuple[TavusSimulator, httpx.Client], files: str) -> None:
    sim, client = fresh
    for _ in range(5):
        _create(client, f"{files}/site/", crawl={"depth": 1})
    r = client.post("/v2/documents", json={"document_url": f"{files}/site/", "crawl": {}})
    assert r.status_code == 429 and "Concurrent crawl limit reached (5)" in r.json()["error"]
    assert client.post("/v2/documents", json={"document_url": f"{files}/notes.txt"}
                       ).status_code == 200  # not a crawl: no limit
    assert sim.wait_for_downloads(30)
    sim.advance(DOC_SECONDS)
    assert client.post("/v2/documents", json={"document_url": f"{files}/site/", "crawl": {}}
                       ).status_code == 200


# ------------------------------------------------------------------------------------------------
# list, patch, delete
# ------------------------------------------------------------------------------------------------
def test_list_filters_sort_and_0_based_pages(
    fresh: tuple[TavusSimulator, httpx.Client], files: str
) -> None:
    sim, client = fresh
    made = []
    for n, (name, tags) in enumerate([("Alpha handbook", ["hr"]), ("Beta prices", ["sales"]),
                                      ("alpha FAQ", ["hr", "faq"]), ("Gamma", []),
                                      ("Broken", ["hr"])]):
        url = f"{files}/gone.pdf" if name == "Broken" else f"{files}/notes.txt"
        made.append(_create(client, url, document_name=name, tags=tags)["document_id"])
        sim.advance(1)  # distinct creation times
        if n == 1:
            assert sim.wait_for_downloads(30)
            sim.advance(DOC_SECONDS)  # the first two are ready
    assert sim.wait_for_downloads(30)
    body = client.get("/v2/documents").json()
    assert set(body) == {"data", "total_count", "page", "limit"}
    assert (body["total_count"], body["page"], body["limit"]) == (5, 0, 10)
    assert _ids(body) == made  # ascending by creation, by default
    assert _ids(client.get("/v2/documents", params={"sort": "descending"}).json()) == made[::-1]
    assert _ids(client.get("/v2/documents", params={"sort": "desc"}).json()) == made[::-1]
    assert _ids(client.get("/v2/documents", params={"sort": "asc"}).json()) == made
    pages = [client.get("/v2/documents", params={"limit": 2, "page": p}).json()
             for p in range(4)]
    assert [_ids(p) for p in pages] == [made[:2], made[2:4], made[4:], []]
    assert all(p["total_count"] == 5 for p in pages)

    def ids(**params: str) -> list[str]:
        r = client.get("/v2/documents", params=params)
        assert r.status_code == 200, r.text
        assert r.json()["total_count"] == len(r.json()["data"])
        return _ids(r.json())

    assert ids(status="ready") == made[:2]
    assert ids(status="started") == made[2:4]
    assert ids(status="error") == [made[4]]
    assert ids(status="recrawling") == []
    assert ids(name_or_uuid="ALPHA") == [made[0], made[2]]
    assert ids(name_or_uuid=made[3]) == [made[3]]
    assert ids(tags="hr") == [made[0], made[2], made[4]]
    assert ids(tags="faq,sales") == [made[1], made[2]]
    assert ids(tags="hr", status="ready", name_or_uuid="alpha") == [made[0]]
    for bad in ({"limit": 0}, {"page": -1}, {"limit": "x"}, {"sort": "sideways"},
                {"status": "done"}):
        r = client.get("/v2/documents", params=bad)
        assert r.status_code == 400 and r.json()["error"], bad


def test_patch_renames_and_replaces_tags(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    doc = _create(client, f"{files}/notes.txt", tags=["old", "keep"])
    did = doc["document_id"]
    sim.advance(2)
    r = client.patch(f"/v2/documents/{did}", json={"tags": ["keep", "new"]})
    assert r.status_code == 200
    assert r.json()["tags"] == ["keep", "new"] and r.json()["document_name"] == "notes.txt"
    assert r.json()["updated_at"] > doc["updated_at"]
    r = client.patch(f"/v2/documents/{did}", json={"document_name": "Renamed"})
    assert (r.json()["document_name"], r.json()["tags"]) == ("Renamed", ["keep", "new"])
    assert _get(client, did)["document_name"] == "Renamed"
    for bad, words in (({"document_url": "x"}, "document_url cannot be updated"),
                       ({"document_name": " "}, "must not be empty"),
                       ({"tags": "x"}, "tags must be an array"),
                       ([], "JSON object")):
        r = client.patch(f"/v2/documents/{did}", json=bad)
        assert r.status_code == 400 and words in r.json()["error"], bad
    assert _get(client, did)["document_name"] == "Renamed"


def test_delete_is_204_and_the_document_is_gone(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    did = _create(client, f"{files}/notes.txt")["document_id"]
    r = client.delete(f"/v2/documents/{did}")
    assert r.status_code == 204 and r.content == b""
    assert sim.wait_for_downloads(30)  # the download that was in flight ends quietly
    assert client.get(f"/v2/documents/{did}").status_code == 404
    assert did not in _ids(client.get("/v2/documents", params={"limit": 1000}).json())
    assert client.delete(f"/v2/documents/{did}").status_code == 404


def test_faults_and_controls_cover_documents(
    fresh: tuple[TavusSimulator, httpx.Client], files: str
) -> None:
    sim, client = fresh
    ctl = httpx.Client(base_url=sim.base_url + "/_sim")
    assert ctl.get("/state").json()["document_seconds"] == DOC_SECONDS
    assert ctl.post("/faults", json={"kind": "500", "path_prefix": "/v2/documents",
                                     "method": "POST"}).status_code == 200
    assert client.get("/v2/documents").status_code == 200  # a GET: not this fault's
    r = client.post("/v2/documents", json={"document_url": f"{files}/notes.txt"})
    assert (r.status_code, r.json()) == (500, {"error": "Internal server error"})
    assert client.get("/v2/documents").json()["total_count"] == 0  # nothing was made
    ctl.post("/faults", json={"kind": "429", "count": 1, "path_prefix": "/v2/personas",
                              "retry_after": 2})
    r = client.post("/v2/personas", json={"system_prompt": "x"})
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    seen = ctl.get("/requests").json()["requests"]
    assert {"method": "POST", "path": "/v2/documents", "query": {}} in seen
    ctl.close()
    sim.document_seconds = 20
    doc = _judged(sim, client, f"{files}/notes.txt")
    sim.advance(20)
    assert _get(client, doc["document_id"])["status"] == "ready"
    with pytest.raises(ValueError):
        sim.document_seconds = -1


def test_presigned_queries_never_reach_the_logs(
    sim: TavusSimulator, client: httpx.Client, files: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="replica_studio.simulator")
    caplog.set_level(logging.DEBUG, logger="httpx")
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=sim._clock.offset)
    query = f"X-Amz-Date={now:%Y%m%dT%H%M%SZ}&X-Amz-Expires=86400&X-Amz-Signature=s3cr3t"
    ok = _judged(sim, client, f"{files}/notes.txt?{query}")
    assert ok["status"] == "started"  # fresh: downloaded
    failed = _judged(sim, client, f"{files}/gone.pdf?{query}")
    assert failed["error_message"] == "file_download_failed"
    me = threading.current_thread().name
    deadline = time.monotonic() + 10
    text = ""
    while "GET /v2/documents/" not in text and time.monotonic() < deadline:
        text = "\n".join(r.getMessage() for r in caplog.records if r.threadName != me)
        time.sleep(0.05)
    assert "GET /v2/documents/" in text
    assert "s3cr3t" not in text and KEY not in text


# ------------------------------------------------------------------------------------------------
# personas
# ------------------------------------------------------------------------------------------------
LAYERS = {
    "llm": {"model": "tavus-gpt-oss", "speculative_inference": True,
            "headers": {"X-Team": "studio"}},
    "perception": {"perception_model": "raven-0"},
    "stt": {"stt_engine": "tavus-auto", "hotwords": "Anna"},
    "tts": {"tts_engine": "cartesia", "voice_settings": {"speed": 0.9}},
    "conversational_flow": {"turn_taking_patience": "high"},
}


def _persona(client: httpx.Client, **body: object) -> str:
    body.setdefault("system_prompt", "You are the office assistant.")
    r = client.post("/v2/personas", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"persona_id", "persona_name", "created_at"}
    assert re.fullmatch(r"p[0-9a-f]{11}", answer["persona_id"])
    return answer["persona_id"]


def _persona_get(client: httpx.Client, pid: str) -> dict:
    r = client.get(f"/v2/personas/{pid}")
    assert r.status_code == 200, r.text
    [item] = r.json()["data"]  # the contract wraps the one persona in a data array
    return item


def _patch(client: httpx.Client, pid: str, *ops: dict) -> httpx.Response:
    return client.patch(f"/v2/personas/{pid}", json=list(ops))


def test_persona_create_get_and_list(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    doc = _ready(sim, client, f"{files}/notes.txt", tags=["persona-tag"])
    pid = _persona(client, persona_name="Front desk", pipeline_mode="full",
                   default_replica_id=ANNA, document_ids=[doc["document_id"]],
                   document_tags=["persona-tag"], layers=LAYERS, context="Legacy context.")
    got = _persona_get(client, pid)
    assert got == {
        "persona_id": pid,
        "persona_name": "Front desk",
        "system_prompt": "You are the office assistant.",
        "default_replica_id": ANNA,
        "document_ids": [doc["document_id"]],
        "document_tags": ["persona-tag"],
        "layers": LAYERS,
        "created_at": got["created_at"],
        "updated_at": got["created_at"],
    }
    assert ISO_MS.match(got["created_at"])
    users = client.get("/v2/personas", params={"persona_type": "user", "limit": 100}).json()
    assert pid in [p["persona_id"] for p in users["data"]]
    listed = next(p for p in users["data"] if p["persona_id"] == pid)
    assert listed == got  # the list shows the real documents and layers
    system = client.get("/v2/personas", params={"persona_type": "system"}).json()
    assert system["total_count"] == 3 and pid not in [p["persona_id"] for p in system["data"]]
    stock = client.get(f"/v2/personas/{system['data'][0]['persona_id']}").json()["data"][0]
    assert stock["layers"]["perception"]["perception_model"] in ("raven-1", "off")


def test_an_echo_persona_needs_no_prompt(client: httpx.Client) -> None:
    pid = _persona(client, pipeline_mode="echo", system_prompt=None)
    got = _persona_get(client, pid)
    assert "system_prompt" not in got and "default_replica_id" not in got  # never null
    assert got["persona_name"] == f"Persona {pid}" and got["layers"] == {}


@pytest.mark.parametrize("body,words", [
    ({"persona_name": "no prompt"}, "system_prompt is required unless pipeline_mode is echo"),
    ({"system_prompt": "  "}, "system_prompt is required"),
    ({"system_prompt": "x", "pipeline_mode": "half"}, "Invalid pipeline_mode"),
    ({"system_prompt": "x", "default_replica_id": "rnope"}, "Invalid replica_uuid"),
    ({"system_prompt": "x", "document_ids": ["dnope"]}, "document dnope does not exist"),
    ({"system_prompt": "x", "document_ids": "d1"}, "document_ids must be an array of strings"),
    ({"system_prompt": "x", "document_tags": ["no-such-tag"]}, "no document has the tag"),
    ({"system_prompt": "x", "layers": []}, "layers must be an object"),
    ({"system_prompt": "x", "layers": {"vision": {}}}, "unknown layer 'vision'"),
    ({"system_prompt": "x", "layers": {"llm": "gpt"}}, "layers.llm must be an object"),
    ({"system_prompt": "x", "layers": {"conversational_flow": {"turn_commitment": "medium"}}},
     "unknown field layers.conversational_flow.turn_commitment"),
    ({"system_prompt": "x", "layers": {"perception": {"perception_model": "raven-9"}}},
     "Invalid layers.perception.perception_model"),
    ({"system_prompt": "x", "layers": {"llm": {"speculative_inference": "yes"}}},
     "layers.llm.speculative_inference must be a boolean"),
    ({"system_prompt": "x", "layers": {"stt": {"hotwords": ["a"]}}},
     "layers.stt.hotwords must be a string"),
])
def test_persona_create_refusals(client: httpx.Client, body: dict, words: str) -> None:
    before = client.get("/v2/personas").json()["total_count"]
    r = client.post("/v2/personas", json=body)
    assert r.status_code == 400 and words in r.json()["error"], r.json()
    assert client.get("/v2/personas").json()["total_count"] == before


def test_json_patch_replaces_adds_and_removes(sim: TavusSimulator, client: httpx.Client) -> None:
    pid = _persona(client, layers=LAYERS)
    created = _persona_get(client, pid)
    sim.advance(5)
    r = _patch(client, pid, {"op": "replace", "path": "/system_prompt", "value": "New prompt."})
    assert r.status_code == 200 and r.content == b""
    got = _persona_get(client, pid)
    assert got["system_prompt"] == "New prompt." and got["updated_at"] > created["updated_at"]
    r = _patch(client, pid,
               {"op": "replace", "path": "/layers/llm/model", "value": "tavus-claude-haiku-4.5"},
               {"op": "remove", "path": "/layers/stt/hotwords"},
               {"op": "add", "path": "/layers/llm/headers/X-Path~1With~0Tilde", "value": "y"},
               {"op": "add", "path": "/default_replica_id", "value": ANNA},
               {"op": "copy", "from": "/persona_name", "path": "/layers/stt/hotwords"},
               {"op": "test", "path": "/layers/perception/perception_model",
                "value": "raven-0"})
    assert r.status_code == 200, r.text
    got = _persona_get(client, pid)
    assert got["layers"]["llm"]["model"] == "tavus-claude-haiku-4.5"
    assert got["layers"]["llm"]["headers"] == {"X-Team": "studio", "X-Path/With~Tilde": "y"}
    assert got["layers"]["stt"] == {"stt_engine": "tavus-auto", "hotwords": got["persona_name"]}
    assert got["default_replica_id"] == ANNA


def test_a_patch_that_changes_nothing_can_be_tavuss_304_without_a_body() -> None:
    with _simulator(unchanged_patch_status=304) as s, _client(s.base_url) as client:
        pid = _persona(client, system_prompt="Same.")
        before = _persona_get(client, pid)
        for ops in ([{"op": "replace", "path": "/system_prompt", "value": "Same."}], [],
                    [{"op": "test", "path": "/system_prompt", "value": "Same."}]):
            r = client.patch(f"/v2/personas/{pid}", json=ops)
            assert (r.status_code, r.content) == (304, b""), ops
        assert _persona_get(client, pid) == before  # updated_at did not move either


def test_a_patch_that_changes_nothing_is_200_by_default(client: httpx.Client) -> None:
    pid = _persona(client, system_prompt="Same.")
    before = _persona_get(client, pid)
    r = _patch(client, pid, {"op": "replace", "path": "/system_prompt", "value": "Same."})
    assert (r.status_code, r.content) == (200, b"")
    assert _persona_get(client, pid) == before
    with pytest.raises(ValueError):
        TavusSimulator(KEY, unchanged_patch_status=204)


@pytest.mark.parametrize("body,words", [
    ({"system_prompt": "not a patch"}, "must be an array of operations"),
    ([{"op": "merge", "path": "/system_prompt", "value": "x"}], "op must be one of"),
    ([{"op": "replace", "value": "x"}], "path is required"),
    ([{"op": "replace", "path": "/system_prompt"}], "replace needs a value"),
    ([{"op": "replace", "path": "system_prompt", "value": "x"}], "must start with '/'"),
    ([{"op": "replace", "path": "/nothing_here", "value": "x"}], "does not exist"),
    ([{"op": "remove", "path": "/layers/tts"}], "does not exist"),
    ([{"op": "add", "path": "/document_tags/5", "value": "x"}], "out of range"),
    ([{"op": "test", "path": "/system_prompt", "value": "other"}], "test failed"),
    ([{"op": "move", "path": "/persona_name"}], "move needs a from"),
    (["replace"], "operation 0 is not an object"),
])
def test_malformed_patches_are_the_contracts_422(client: httpx.Client, body: object,
                                                 words: str) -> None:
    pid = _persona(client)
    before = _persona_get(client, pid)
    r = client.patch(f"/v2/personas/{pid}", json=body)
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert message.startswith("Invalid JSON patch format") and words in message, message
    assert _persona_get(client, pid) == before


@pytest.mark.parametrize("ops,words", [
    ([{"op": "remove", "path": "/system_prompt"}], "system_prompt is required"),
    ([{"op": "replace", "path": "/persona_id", "value": "pother"}], "persona_id cannot be "
                                                                    "changed"),
    ([{"op": "add", "path": "/mood", "value": "sunny"}], "Unknown persona field 'mood'"),
    ([{"op": "add", "path": "/layers/llm", "value": {"temperature": 1}}],
     "unknown field layers.llm.temperature"),
    ([{"op": "add", "path": "/default_replica_id", "value": "rnope"}], "Invalid replica_uuid"),
    ([{"op": "add", "path": "/document_ids/-", "value": "dnope"}], "does not exist"),
    ([{"op": "replace", "path": "/system_prompt", "value": 5}], "system_prompt must be a "
                                                                 "string"),
    ([{"op": "replace", "path": "", "value": []}], "must be an object"),
])
def test_patches_breaking_the_persona_rules_are_400(client: httpx.Client, ops: list,
                                                    words: str) -> None:
    pid = _persona(client)
    before = _persona_get(client, pid)
    r = client.patch(f"/v2/personas/{pid}", json=ops)
    assert r.status_code == 400 and words in r.json()["error"], r.json()
    assert _persona_get(client, pid) == before


def test_an_echo_persona_can_be_patched_into_full_with_a_prompt(client: httpx.Client) -> None:
    pid = _persona(client, pipeline_mode="echo", system_prompt=None)
    r = _patch(client, pid, {"op": "add", "path": "/pipeline_mode", "value": "full"})
    assert r.status_code == 400 and "system_prompt is required" in r.json()["error"]
    r = _patch(client, pid, {"op": "add", "path": "/pipeline_mode", "value": "full"},
               {"op": "add", "path": "/system_prompt", "value": "Now I talk."})
    assert r.status_code == 200
    assert _persona_get(client, pid)["system_prompt"] == "Now I talk."


def test_stock_personas_cannot_be_patched_or_deleted(client: httpx.Client) -> None:
    stock = client.get("/v2/personas", params={"persona_type": "system"}).json()["data"][0]
    pid = stock["persona_id"]
    r = _patch(client, pid, {"op": "replace", "path": "/system_prompt", "value": "Mine now."})
    assert r.status_code == 400 and "System personas cannot be modified" in r.json()["error"]
    r = client.delete(f"/v2/personas/{pid}")
    assert (r.status_code, r.json()) == (400, {"error": "System personas cannot be deleted"})
    assert _persona_get(client, pid)["system_prompt"] == stock["system_prompt"]


def test_unknown_persona_ids_are_400(client: httpx.Client) -> None:
    for method, body in (("GET", None), ("DELETE", None), ("PATCH", [])):
        r = client.request(method, "/v2/personas/pnope", json=body)
        assert (r.status_code, r.json()) == (400, {"error": "Invalid persona_id"}), method


def test_persona_delete_then_conversations_refuse_it(client: httpx.Client) -> None:
    pid = _persona(client, default_replica_id=ANNA)
    r = client.post("/v2/conversations", json={"persona_id": pid, "test_mode": True})
    assert r.status_code == 200 and r.json()["status"] == "ended"  # its default replica
    r = client.delete(f"/v2/personas/{pid}")
    assert r.status_code == 204 and r.content == b""
    assert client.get(f"/v2/personas/{pid}").status_code == 400
    assert pid not in [p["persona_id"] for p in
                       client.get("/v2/personas", params={"limit": 1000}).json()["data"]]
    r = client.post("/v2/conversations", json={"persona_id": pid, "replica_id": ANNA})
    assert (r.status_code, r.json()) == (400, {"error": "Invalid persona_id"})


def test_a_deleted_document_does_not_block_later_patches(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    did = _ready(sim, client, f"{files}/notes.txt")["document_id"]
    pid = _persona(client, document_ids=[did])
    assert client.delete(f"/v2/documents/{did}").status_code == 204
    r = _patch(client, pid, {"op": "replace", "path": "/persona_name", "value": "Renamed"})
    assert r.status_code == 200
    assert _persona_get(client, pid)["document_ids"] == [did]


# ------------------------------------------------------------------------------------------------
# conversations with documents
# ------------------------------------------------------------------------------------------------
def test_conversation_documents_must_exist_and_be_ready(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    ready = _ready(sim, client, f"{files}/notes.txt", tags=["conv-tag"])["document_id"]
    busy = _judged(sim, client, f"{files}/notes.txt")
    sim.advance(QUEUED + 1)
    assert _get(client, busy["document_id"])["status"] == "processing"
    failed = _judged(sim, client, f"{files}/empty.txt")["document_id"]
    cases = [
        ({"document_ids": ["dnope"]}, "Invalid document_ids: document dnope does not exist"),
        ({"document_ids": [busy["document_id"]]},
         f"Document {busy['document_id']} is not ready: its status is processing"),
        ({"document_ids": [ready, failed]}, "is not ready: its status is error"),
        ({"document_ids": ready}, "document_ids must be an array of strings"),
        ({"document_tags": ["nobody-has-this"]}, "no document has the tag 'nobody-has-this'"),
        ({"document_retrieval_strategy": "fastest"}, "Invalid document_retrieval_strategy"),
    ]
    before = client.get("/v2/conversations").json()["total_count"]
    for extra, words in cases:
        r = client.post("/v2/conversations", json={"replica_id": ANNA, "test_mode": True,
                                                   **extra})
        assert r.status_code == 400 and words in r.json()["error"], (extra, r.json())
    assert client.get("/v2/conversations").json()["total_count"] == before
    for strategy in ("speed", "quality", "balanced"):
        r = client.post("/v2/conversations", json={
            "replica_id": ANNA, "test_mode": True, "document_ids": [ready],
            "document_tags": ["conv-tag"], "document_retrieval_strategy": strategy})
        assert r.status_code == 200, r.text
    sent = httpx.get(f"{sim.base_url}/_sim/conversations/{r.json()['conversation_id']}/request")
    assert sent.json()["request"]["document_ids"] == [ready]
    assert sent.json()["request"]["document_retrieval_strategy"] == "balanced"


def test_a_recrawling_document_still_serves_conversations(
    fresh: tuple[TavusSimulator, httpx.Client], files: str
) -> None:
    sim, client = fresh
    did = _ready(sim, client, f"{files}/site/", crawl={"depth": 1})["document_id"]
    sim.advance(3600)
    assert client.post(f"/v2/documents/{did}/recrawl").status_code == 202
    r = client.post("/v2/conversations", json={"replica_id": ANNA, "test_mode": True,
                                               "document_ids": [did]})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------------------------------------
# the processing-time knob: constructor, CLI, demo mode
# ------------------------------------------------------------------------------------------------
def test_document_seconds_on_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.tavus.simulator import __main__ as cli

    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    class Fake:
        def __init__(self, key: str, **kwargs: object) -> None:
            seen.update(kwargs)

        def start(self) -> None:
            raise Stop

    monkeypatch.setattr(cli, "TavusSimulator", Fake)
    with pytest.raises(Stop):
        cli.main(["--key", "k", "--document-seconds", "2.5", "--unchanged-patch-status", "304"])
    assert (seen["document_seconds"], seen["unchanged_patch_status"]) == (2.5, 304)
    with pytest.raises(Stop):
        cli.main(["--key", "k"])
    assert (seen["document_seconds"], seen["unchanged_patch_status"]) == (5.0, 200)
    with pytest.raises(SystemExit):
        cli.main(["--key", "k", "--document-seconds", "-1"])


def test_the_size_cap_can_be_lowered_for_tests(files: str) -> None:
    with _simulator(max_document_bytes=100) as s, _client(s.base_url) as c:
        doc = _judged(s, c, f"{files}/notes.txt")
        assert (doc["status"], doc["error_message"]) == ("error", "file_size_too_large")
        assert _judged(s, c, f"{files}/data.csv")["status"] == "started"  # under 100 bytes


def test_the_constructor_refuses_negative_document_seconds() -> None:
    with pytest.raises(ValueError):
        TavusSimulator(KEY, document_seconds=-1)
