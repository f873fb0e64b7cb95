"""Document intake: formats by content, refusals, metadata stripping, addresses probed for real
(a local HTTP server on loopback)."""

from __future__ import annotations

import codecs
import io
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image

from lib.knowledge.intake import (
    MAX_DOCUMENT_BYTES,
    MAX_URL_LENGTH,
    CrawlSettings,
    DocumentRefused,
    check_document_file,
    check_document_url,
    document_file_name,
    probe_document_url,
    sniff_document,
    strip_metadata,
)
from tests.conftest import free_port
from tests.knowledge.documents import (
    AUTHOR,
    COMPANY,
    EDITOR,
    GPS_IFD,
    MANAGER,
    jpeg_with_gps,
    minimal_pdf,
    ole_file,
    ooxml,
    png_with_gps,
    sparse_file,
)

ACCEPTED = ("Tavus takes .pdf, .txt, .docx, .doc, .png, .jpg, .pptx, .csv and .xlsx files.")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def check(tmp_path: Path, name: str, data: bytes):
    path = write(tmp_path, name, data)
    return check_document_file(path, name, path.stat().st_size)


def refusal(tmp_path: Path, name: str, data: bytes) -> str:
    with pytest.raises(DocumentRefused) as caught:
        check(tmp_path, name, data)
    return caught.value.message


def zip_of(**entries: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- Formats, judged by content -------------------------------------------------------------------
@pytest.mark.parametrize(("name", "make", "kind", "content_type"), [
    ("pricing.pdf", minimal_pdf, "pdf", "application/pdf"),
    ("pricing.docx", lambda: ooxml("docx"),
     "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("deck.pptx", lambda: ooxml("pptx"),
     "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ("sheet.xlsx", lambda: ooxml("xlsx"),
     "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("old.doc", ole_file, "doc", "application/msword"),
    ("logo.png", png_with_gps, "png", "image/png"),
    ("photo.jpg", jpeg_with_gps, "jpg", "image/jpeg"),
    ("photo.jpeg", jpeg_with_gps, "jpg", "image/jpeg"),
    ("notes.txt", lambda: "Prices in €, ünïcode.\n".encode(), "txt", "text/plain; charset=utf-8"),
    ("prices.csv", lambda: b"sku,price\nA1,10\n", "csv", "text/csv; charset=utf-8"),
])
def test_each_accepted_format_is_known_by_its_content(tmp_path: Path, name: str, make, kind: str,
                                                      content_type: str) -> None:
    report = check(tmp_path, name, make())
    assert report.kind.name == kind
    assert report.kind.content_type == content_type
    assert not report.kind.extension_mismatch
    assert report.file_name == name  # 'photo.jpeg' keeps the name it was given


def test_a_png_named_pdf_is_taken_as_png_and_renamed(tmp_path: Path) -> None:
    report = check(tmp_path, "brochure.pdf", png_with_gps())
    assert report.kind.name == "png" and report.kind.content_type == "image/png"
    assert report.kind.extension_mismatch
    assert report.file_name == "brochure.png"
    assert report.notes[0] == ("brochure.pdf is a PNG image inside, not a PDF: it is sent as "
                               "brochure.png.")


def test_a_docx_named_pptx_is_a_docx(tmp_path: Path) -> None:
    report = check(tmp_path, "deck.pptx", ooxml("docx"))
    assert report.kind.name == "docx" and report.file_name == "deck.docx"


def test_the_name_only_gains_an_extension_when_it_had_none(tmp_path: Path) -> None:
    report = check(tmp_path, "export", b"name;score\nann;3\nbo;4\ncy;5\n")
    assert report.kind.name == "csv" and not report.kind.extension_mismatch
    assert report.file_name == "export.csv"
    kind = report.kind
    assert document_file_name("C:\\Users\\jane\\v1.final-draft", kind) == "v1.final-draft.csv"
    assert document_file_name("folder/data.TSV", kind) == "data.csv"


def test_text_in_utf8_with_bom_and_utf16_is_text(tmp_path: Path) -> None:
    bom8 = check(tmp_path, "a.txt", codecs.BOM_UTF8 + "naïve café\n".encode())
    assert bom8.kind.text_encoding == "utf-8-sig"
    assert bom8.kind.content_type == "text/plain; charset=utf-8"
    utf16 = check(tmp_path, "b.txt", "naïve café\nsecond line\n".encode("utf-16"))
    assert utf16.kind.name == "txt" and utf16.kind.text_encoding == "utf-16"
    assert utf16.kind.content_type == "text/plain; charset=utf-16"


def test_csv_by_consistent_delimiters_and_prose_stays_text(tmp_path: Path) -> None:
    table = b'id,"name, full",city\n1,"Doe, Jane",Paris\n2,"Roe, Sam",Oslo\n'
    assert check(tmp_path, "table.dat", table).kind.name == "csv"
    prose = b"Dear team,\nthe launch moved to May.\nThanks, and see you, Jane\n"
    assert check(tmp_path, "letter.dat", prose).kind.name == "txt"
    # The person's own choice between the two text formats stands.
    assert check(tmp_path, "table.txt", table).kind.name == "txt"
    assert check(tmp_path, "letter.csv", prose).kind.name == "csv"


def test_sniffing_a_file_object_restores_its_position() -> None:
    data = io.BytesIO(ooxml("xlsx"))
    data.seek(7)
    assert sniff_document(data, "sheet.xlsx").name == "xlsx"
    assert data.tell() == 7


# --- Refusals -------------------------------------------------------------------------------------
def test_empty_file(tmp_path: Path) -> None:
    assert refusal(tmp_path, "notes.txt", b"") == (
        "notes.txt is empty (0 bytes). Choose the file again, or export it again if it should "
        "have content.")


def test_a_51_mb_file_is_refused_by_its_size_without_being_read(tmp_path: Path) -> None:
    path = sparse_file(tmp_path / "scan.pdf", 51_000_000, head=b"%PDF-1.7\n")
    tracemalloc.start()
    try:
        with pytest.raises(DocumentRefused) as caught:
            check_document_file(path, "scan.pdf", path.stat().st_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.message == (
        "scan.pdf is 51.0 MB; Tavus takes files up to 50 MB. Split it into smaller files or "
        "compress it (for example, smaller images in a PDF), then add the parts.")
    assert peak < 1_000_000


def test_a_file_just_over_the_limit_never_reads_as_50_mb(tmp_path: Path) -> None:
    path = sparse_file(tmp_path / "scan.pdf", MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(DocumentRefused, match=r"scan\.pdf is 50\.1 MB; Tavus takes files up to "
                                              r"50 MB"):
        check_document_file(path, "scan.pdf", MAX_DOCUMENT_BYTES + 1)


def test_a_49_mb_pdf_is_checked_from_its_head_and_tail(tmp_path: Path) -> None:
    path = sparse_file(tmp_path / "big.pdf", 49_000_000, head=b"%PDF-1.7\n",
                       tail=b"\nstartxref\n123\n%%EOF\n")
    tracemalloc.start()
    try:
        report = check_document_file(path, "big.pdf", path.stat().st_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.kind.name == "pdf" and report.size == 49_000_000
    assert peak < 1_000_000  # the first 64 KB and the last KB, not 49 MB


def test_a_zip_named_pdf_says_what_it_is(tmp_path: Path) -> None:
    data = zip_of(**{"brochure.pdf": minimal_pdf(), "prices.csv": b"a,b\n1,2\n"})
    assert refusal(tmp_path, "brochure.pdf", data) == (
        "brochure.pdf is a ZIP archive, not a PDF. Unzip it and add the documents inside one by "
        f"one. {ACCEPTED}")


def test_a_program_is_refused(tmp_path: Path) -> None:
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 64
    assert refusal(tmp_path, "setup.exe", exe) == (
        f"setup.exe is a Windows program. Add the document itself, not a program. {ACCEPTED}")
    assert refusal(tmp_path, "manual.pdf", exe).startswith(
        "manual.pdf is a Windows program, not a PDF.")


def test_unknown_binary_names_the_accepted_formats(tmp_path: Path) -> None:
    noise = bytes((i * 7919) % 251 for i in range(5000))
    assert refusal(tmp_path, "blob.bin", noise) == (
        "blob.bin is not a document Tavus can read: its content is none of .pdf, .txt, .docx, "
        ".doc, .png, .jpg, .pptx, .csv and .xlsx. Save or export it as PDF and add that.")
    assert refusal(tmp_path, "report.docx", noise).startswith(
        "report.docx is not a Word document: its content is not any format Tavus takes")


def test_a_corrupted_zip_is_damaged_not_unknown(tmp_path: Path) -> None:
    data = ooxml("docx")
    cut = data[: len(data) // 2]  # the central directory, at the end, is gone
    assert refusal(tmp_path, "pricing.docx", cut) == (
        "pricing.docx is a damaged Word document: its ZIP structure does not open (perhaps a "
        "cut-off download). Open it, save a new copy, and add that.")


def test_a_pdf_without_its_end_marker_is_damaged(tmp_path: Path) -> None:
    data = minimal_pdf()
    assert refusal(tmp_path, "pricing.pdf", data[: len(data) - 40]) == (
        "pricing.pdf is an incomplete or damaged PDF: it has no end-of-file marker, as happens "
        "with a cut-off download. Download or export it again and add the new copy.")


def test_older_office_files_that_are_not_word_are_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, "budget.xls", ole_file(("Workbook",))) == (
        "budget.xls is an Excel 97-2003 workbook (.xls). Save it as .xlsx or CSV and add that. "
        f"{ACCEPTED}")
    assert refusal(tmp_path, "deck.ppt", ole_file(("PowerPoint Document",))).startswith(
        "deck.ppt is a PowerPoint 97-2003 presentation (.ppt).")
    assert refusal(tmp_path, "secret.docx", ole_file(("EncryptionInfo", "EncryptedPackage"))) == (
        "secret.docx is protected by a password, so Tavus cannot read it. Open it, remove the "
        "password (File > Info > Protect), save, and add that copy.")


def test_a_doc_whose_directory_points_past_the_end_is_damaged(tmp_path: Path) -> None:
    header_only = ole_file()[:512]
    assert refusal(tmp_path, "old.doc", header_only).startswith(
        "old.doc is a damaged Word 97-2003 (or other older Office) file")


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("page.html", b"<!DOCTYPE html><html><body>Hi</body></html>",
     "page.html is a web page (HTML). Add the website by its address instead, or save the page "
     f"as PDF and add that. {ACCEPTED}"),
    ("legacy.txt", "Café crème, prix à la carte\n".encode("cp1252"),
     "legacy.txt is text in an encoding other than UTF-8. Open it in a text editor, save it as "
     "UTF-8, and add that."),
    ("letter.doc", b"{\\rtf1\\ansi Hello}",
     "letter.doc is an RTF document, not a Word 97-2003 document. Save it as .docx or PDF and "
     f"add that. {ACCEPTED}"),
    ("slides.odp", zip_of(mimetype=b"application/vnd.oasis.opendocument.presentation",
                          **{"content.xml": b"<x/>"}),
     "slides.odp is an OpenDocument file (LibreOffice or OpenOffice). Save it as .docx, .pptx, "
     f".xlsx or PDF and add that. {ACCEPTED}"),
])
def test_lookalikes_are_refused_with_what_to_do(tmp_path: Path, name: str, data: bytes,
                                                expected: str) -> None:
    assert refusal(tmp_path, name, data) == expected


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buffer, format="PNG")  # 48 MP of black: a small file
    assert refusal(tmp_path, "poster.png", buffer.getvalue()) == (
        "poster.png has 8000x6000 pixels, over the 40 MP that can be cleaned of metadata here. "
        "Export it smaller (for example 4000 px on the long side) and add that.")


# --- Metadata -------------------------------------------------------------------------------------
def test_office_properties_are_emptied_and_every_other_entry_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "pricing.docx", ooxml("docx"))
    report = check_document_file(path, "pricing.docx", path.stat().st_size)
    assert report.metadata_removable
    cleaned = strip_metadata(path, report.kind)
    try:
        assert cleaned != path and path.read_bytes() == ooxml("docx")  # the original untouched
        with zipfile.ZipFile(path) as before, zipfile.ZipFile(cleaned) as after:
            assert after.namelist() == before.namelist()
            core = after.read("docProps/core.xml")
            app = after.read("docProps/app.xml")
            for name in before.namelist():
                if not name.startswith("docProps/"):
                    assert after.read(name) == before.read(name), name
            assert {e.date_time for e in after.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        for secret in (AUTHOR, EDITOR, "2026-03-01", "Pricing 2026"):
            assert secret.encode() not in core
        assert b"coreProperties" in core
        assert COMPANY.encode() not in app and MANAGER.encode() not in app
        assert b"<Company/>" in app and b"<Application>Microsoft Office Word</Application>" in app
        assert sniff_document(cleaned, "pricing.docx").name == "docx"  # still a Word document
    finally:
        cleaned.unlink()


def test_stripping_a_large_office_file_streams_it(tmp_path: Path) -> None:
    path = write(tmp_path, "deck.pptx", ooxml("pptx", big_entry_bytes=30_000_000))
    kind = sniff_document(path, "deck.pptx")
    tracemalloc.start()
    try:
        cleaned = strip_metadata(path, kind)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    try:
        assert peak < 8_000_000  # 1 MB chunks, not the 30 MB entry
        with zipfile.ZipFile(cleaned) as after:
            assert after.getinfo("ppt/media/big.bin").file_size == 30_000_000
            assert after.testzip() is None
            assert AUTHOR.encode() not in after.read("docProps/core.xml")
    finally:
        cleaned.unlink()


def test_jpeg_loses_gps_exif_and_comment_and_is_turned_upright(tmp_path: Path) -> None:
    source = jpeg_with_gps(orientation=6, size=(320, 240))
    with Image.open(io.BytesIO(source)) as original:
        assert original.getexif().get_ifd(GPS_IFD)  # the input really carries a location
    path = write(tmp_path, "site.jpg", source)
    cleaned = strip_metadata(path, sniff_document(path, "site.jpg"))
    try:
        with Image.open(cleaned) as image:
            assert image.format == "JPEG"
            assert image.size == (240, 320)  # rotated as the EXIF orientation said
            assert len(image.getexif()) == 0 and not image.getexif().get_ifd(GPS_IFD)
            assert "comment" not in image.info and "xmp" not in image.info
        assert b"PhoneMaker" not in cleaned.read_bytes()
    finally:
        cleaned.unlink()


def test_an_upright_jpeg_keeps_its_quantisation_and_roughly_its_size(tmp_path: Path) -> None:
    path = write(tmp_path, "site.jpg", jpeg_with_gps(orientation=1))
    cleaned = strip_metadata(path, sniff_document(path, "site.jpg"))
    try:
        with Image.open(path) as before, Image.open(cleaned) as after:
            assert after.quantization == before.quantization
            assert after.size == before.size and not after.getexif()
        assert abs(cleaned.stat().st_size - path.stat().st_size) < path.stat().st_size * 0.05
    finally:
        cleaned.unlink()


def test_png_loses_exif_and_text_chunks(tmp_path: Path) -> None:
    path = write(tmp_path, "chart.png", png_with_gps())
    with Image.open(path) as original:
        assert original.getexif().get_ifd(GPS_IFD) and original.text["Author"] == AUTHOR
    cleaned = strip_metadata(path, sniff_document(path, "chart.png"))
    try:
        with Image.open(cleaned) as image:
            assert len(image.getexif()) == 0 and image.text == {}
            assert image.size == (200, 200)
        assert AUTHOR.encode() not in cleaned.read_bytes()
    finally:
        cleaned.unlink()


@pytest.mark.parametrize(("name", "data"), [
    ("a.pdf", minimal_pdf()), ("a.txt", b"plain\n"), ("a.csv", b"a,b\n1,2\n"),
    ("a.doc", ole_file()),
])
def test_formats_left_as_they_are_come_back_as_the_same_path(tmp_path: Path, name: str,
                                                             data: bytes) -> None:
    path = write(tmp_path, name, data)
    report = check_document_file(path, name, len(data))
    assert not report.metadata_removable
    assert "as it is" in report.notes[-1] or "as they are" in report.notes[-1]
    assert strip_metadata(path, report.kind) == path
    assert path.read_bytes() == data


def test_a_cut_off_jpeg_is_found_damaged_when_stripped_and_leaves_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    data = jpeg_with_gps()
    path = write(tmp_path, "cut.jpg", data[: len(data) // 2])
    kind = sniff_document(path, "cut.jpg")
    with pytest.raises(DocumentRefused, match=r"^This JPEG image is damaged or incomplete"):
        strip_metadata(path, kind)
    assert list(scratch.iterdir()) == []


# --- Web addresses: offline checks ---------------------------------------------------------------
@pytest.mark.parametrize(("url", "normalised"), [
    ("  HTTPS://Example.COM  ", "https://example.com/"),
    ("https://example.com:443/a b/?q=1#top", "https://example.com/a%20b/?q=1"),
    ("http://example.com:8080/x", "http://example.com:8080/x"),
    ("https://bücher.example/", "https://xn--bcher-kva.example/"),
    ("https://[2001:db8::1]/doc.pdf", "https://[2001:db8::1]/doc.pdf"),
])
def test_addresses_are_normalised(url: str, normalised: str) -> None:
    assert check_document_url(url) == normalised


@pytest.mark.parametrize(("url", "expected"), [
    ("", "Enter the address of the website or file, starting with https://."),
    ("example.com/pricing?token=s3cr3t",
     "Start the address with https:// (for example https://example.com/pricing)."),
    ("localhost:8000/docs", "Start the address with https:// (for example "
                            "https://localhost:8000/docs)."),
    ("ftp://files.example.com/a.pdf",
     "Tavus fetches only web addresses (http:// or https://), not ftp: ones. Paste the page's "
     "https:// link, or upload the file instead."),
    ("file:///etc/passwd", "Tavus fetches only web addresses (http:// or https://), not file: "
                           "ones. Paste the page's https:// link, or upload the file instead."),
    ("javascript:alert(document.cookie)",
     "Tavus fetches only web addresses (http:// or https://), not javascript: ones. Paste the "
     "page's https:// link, or upload the file instead."),
    ("https:///just/a/path?key=s3cr3t",
     "The address https:///just/a/path?… has no website name after https://. Paste the full "
     "link."),
    ("https://jane:s3cr3t@intranet.example.com/a.pdf",
     "The address contains a user name or password (before the @). Tavus would see it, and it "
     "would be kept with the document: remove it and use a link that opens without signing in, "
     "or upload the file instead."),
    ("https://example.com:99999/", "The address https://example.com/ has an invalid port "
                                   "number. Check it and paste the full link again."),
    ("https://exa mple.com/", "The address https://exa%20mple.com/ has an invalid website name. "
                              "Check it for typos."),
])
def test_unusable_addresses_are_refused(url: str, expected: str) -> None:
    with pytest.raises(DocumentRefused) as caught:
        check_document_url(url)
    assert caught.value.message == expected
    assert "s3cr3t" not in caught.value.message


def test_an_address_over_2048_characters_is_refused() -> None:
    base = "https://example.com/?q="
    assert check_document_url(base + "a" * (MAX_URL_LENGTH - len(base)))
    with pytest.raises(DocumentRefused) as caught:
        check_document_url(base + "a" * (MAX_URL_LENGTH - len(base) + 1))
    assert caught.value.message == (
        "The address is 2,049 characters long; Tavus takes up to 2,048. Use a shorter link to "
        "the same page (for example without tracking parameters).")


# --- Crawl settings -------------------------------------------------------------------------------
def test_crawl_settings_within_tavus_limits() -> None:
    assert CrawlSettings(depth=1, max_pages=1).as_request() == {"depth": 1, "max_pages": 1}
    assert CrawlSettings(depth=10, max_pages=100).as_request() == {"depth": 10, "max_pages": 100}


@pytest.mark.parametrize(("depth", "pages", "expected"), [
    (0, 10, "Set the crawl depth to a whole number from 1 to 10 (how many links deep to follow "
            "from the starting page); it is 0."),
    (11, 10, "Set the crawl depth to a whole number from 1 to 10 (how many links deep to follow "
             "from the starting page); it is 11."),
    (2, 101, "Set the page limit to a whole number from 1 to 100 (the most pages Tavus reads "
             "from the site); it is 101."),
    (2, 0, "Set the page limit to a whole number from 1 to 100 (the most pages Tavus reads "
           "from the site); it is 0."),
    (2.5, 10, "Set the crawl depth to a whole number from 1 to 10 (how many links deep to "
              "follow from the starting page); it is 2.5."),
    (True, 10, "Set the crawl depth to a whole number from 1 to 10 (how many links deep to "
               "follow from the starting page); it is True."),
])
def test_crawl_settings_outside_the_limits_are_refused(depth, pages, expected: str) -> None:
    with pytest.raises(DocumentRefused) as caught:
        CrawlSettings(depth=depth, max_pages=pages)
    assert caught.value.message == expected


# --- Web addresses: probed ------------------------------------------------------------------------
PDF = minimal_pdf()


class Site(BaseHTTPRequestHandler):
    """A small website: pages, files, errors and redirects; counts what it is asked."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_HEAD(self) -> None:
        self.answer(send_body=False)

    def do_GET(self) -> None:
        self.answer(send_body=True)

    def answer(self, *, send_body: bool) -> None:
        self.seen.append((self.command, self.path))
        path = self.path.split("?", 1)[0]
        routes = {
            "/": (200, "text/html; charset=utf-8", b"<!doctype html><title>Acme</title>"),
            "/pricing.pdf": (200, "application/pdf", PDF),
            "/download": (200, "application/octet-stream", PDF),
            "/missing": (404, "text/html", b"not here"),
            "/private": (403, "text/html", b"sign in"),
            "/broken": (500, "text/plain", b"oops"),
            "/clip.mp4": (200, "video/mp4", b"\x00\x00\x00\x18ftypmp42"),
        }
        if path == "/moved":
            return self.redirect("/pricing.pdf")
        if path.startswith("/hop"):
            hop = int(path[4:] or 0)
            return self.redirect(f"/hop{hop + 1}" if hop < 9 else "/")
        if path == "/no-head" and self.command == "HEAD":
            return self.reply(405, "text/plain", b"", send_body=False)
        if path == "/no-head":  # a file served with a generic type: its first bytes tell
            return self.reply(200, "application/octet-stream", PDF, send_body=send_body)
        if path == "/huge.pdf":
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(60_000_000))
            self.end_headers()
            return None
        status, content_type, body = routes.get(path, (404, "text/plain", b"no"))
        return self.reply(status, content_type, body, send_body=send_body)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def reply(self, status: int, content_type: str, body: bytes, *, send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet test output


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def probe(url: str, **options):
    return probe_document_url(url, timeout=5, allow_private_hosts=True, **options)


def test_a_website_is_a_website(site: str) -> None:
    Site.seen.clear()
    found = probe(site)
    assert found.is_website and found.content_type == "text/html"
    assert found.status_code == 200 and found.method == "HEAD" and found.redirects == 0
    assert found.file_kind is None
    assert Site.seen == [("HEAD", "/")]  # one request, no body fetched


def test_a_file_is_a_file_with_its_length(site: str) -> None:
    found = probe(site + "/pricing.pdf")
    assert not found.is_website
    assert found.content_type == "application/pdf" and found.file_kind == "pdf"
    assert found.content_length == len(PDF)


def test_redirects_are_followed(site: str) -> None:
    found = probe(site + "/moved")
    assert found.redirects == 1 and found.final_url == site + "/pricing.pdf"
    assert found.file_kind == "pdf"
    assert probe(site + "/hop5").redirects == 5  # hop5 .. hop9, then the page


def test_more_than_five_redirects_are_refused(site: str) -> None:
    with pytest.raises(DocumentRefused) as caught:
        probe(site + "/hop0")
    assert caught.value.message == (
        f"{site}/hop0 redirects more than 5 times (perhaps in a loop). Open it in a browser and "
        "use the address it ends at.")


def test_a_refused_head_falls_back_to_a_short_get_whose_bytes_tell_the_type(site: str) -> None:
    Site.seen.clear()
    found = probe(site + "/no-head")
    assert found.method == "GET" and found.status_code == 200
    assert found.content_type == "application/octet-stream" and found.file_kind == "pdf"
    assert Site.seen == [("HEAD", "/no-head"), ("GET", "/no-head")]


def test_a_generic_type_on_head_is_reported_as_it_is(site: str) -> None:
    found = probe(site + "/download?token=s3cr3t")
    assert found.content_type == "application/octet-stream"
    assert found.method == "HEAD" and found.file_kind is None  # HEAD carries no bytes
    assert found.final_url.endswith("?token=s3cr3t")  # the query is kept for the fetch itself


@pytest.mark.parametrize(("path", "expected"), [
    ("/missing?token=s3cr3t",
     "/missing?… answered HTTP 404 Not Found: there is nothing at this address. Check it for "
     "typos, or open it in a browser and copy the address from there."),
    ("/private", "/private answered HTTP 403 Forbidden: it needs a sign-in or turns outside "
                 "visitors away, so Tavus could not fetch it either. Use a public link, or "
                 "download the file and upload it here."),
    ("/broken", "/broken answered HTTP 500 Internal Server Error: the site is having trouble. "
                "Try again later, or check the address."),
])
def test_error_statuses_are_refused_with_the_status(site: str, path: str, expected: str
                                                    ) -> None:
    Site.seen.clear()
    with pytest.raises(DocumentRefused) as caught:
        probe(site + path)
    assert caught.value.message == site + expected
    assert "s3cr3t" not in caught.value.message
    assert [method for method, _ in Site.seen] == ["HEAD", "GET"]  # GET confirms the status


def test_a_file_over_50_mb_or_of_an_unreadable_type_is_refused(site: str) -> None:
    with pytest.raises(DocumentRefused) as caught:
        probe(site + "/huge.pdf")
    assert caught.value.message == (
        f"The file at {site}/huge.pdf is 60.0 MB; Tavus takes files up to 50 MB. Download it, "
        "split or compress it, and upload the parts here.")
    with pytest.raises(DocumentRefused) as caught:
        probe(site + "/clip.mp4")
    assert caught.value.message == (
        f"{site}/clip.mp4 is a file Tavus cannot read (video/mp4). Tavus takes websites and "
        ".pdf, .txt, .docx, .doc, .png, .jpg, .pptx, .csv and .xlsx files.")


def test_an_unreachable_port_could_not_be_reached() -> None:
    url = f"http://127.0.0.1:{free_port()}/pricing.pdf?token=s3cr3t"
    with pytest.raises(DocumentRefused) as caught:
        probe(url)
    assert caught.value.message.startswith(f"{url.split('?')[0]}?… could not be reached (")
    assert caught.value.message.endswith(
        "). Check the address, and that the site is public, then try again.")
    assert "s3cr3t" not in caught.value.message


def test_an_unknown_host_could_not_be_reached() -> None:
    with pytest.raises(DocumentRefused) as caught:
        probe("https://no-such-site.invalid/doc.pdf")
    assert caught.value.message == (
        "https://no-such-site.invalid/doc.pdf could not be reached (no server is known by the "
        "name no-such-site.invalid). Check the address, and that the site is public, then try "
        "again.")


def test_a_server_that_never_answers_times_out(black_hole: str) -> None:
    with pytest.raises(DocumentRefused) as caught:
        probe_document_url(black_hole + "/", timeout=0.3, allow_private_hosts=True)
    assert caught.value.message == (
        f"{black_hole}/ could not be reached (it did not answer within 0.3 s). Check the "
        "address, and that the site is public, then try again.")


def test_a_private_address_is_not_probed(site: str) -> None:
    Site.seen.clear()
    with pytest.raises(DocumentRefused) as caught:
        probe_document_url(site + "/pricing.pdf", timeout=5)
    assert caught.value.message == (
        f"{site}/pricing.pdf is on a private or local network, which Tavus's servers cannot "
        "reach. Use a public address, or download the file and upload it here.")
    assert Site.seen == []  # refused before any request


def test_probing_checks_the_address_first() -> None:
    with pytest.raises(DocumentRefused, match="not ftp: ones"):
        probe("ftp://127.0.0.1/a.pdf")

