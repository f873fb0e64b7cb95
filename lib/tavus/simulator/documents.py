"""Knowledge-base documents for the simulator: download, judge and crawl them like Tavus would.

Order of the checks (the first failure wins; each ends the document in `error` with one of
Tavus's error codes as its `error_message`, never a sentence):
  1. the URL itself: http(s) with a host, else `invalid_file_url`
  2. the download: a presigned URL past its expiry, a non-2xx answer or no answer at all is
     `file_download_failed` (`website_processing_failed` for a website); a declared or streamed
     size over 50 MB is `file_size_too_large`; zero bytes is `file_empty`
  3. what came back: an HTML answer is a website (a page snapshot, or a crawl of its links when
     asked); anything else is a file judged by its content's magic bytes, never by its name or
     Content-Type: PDF, PNG, JPEG, DOCX/PPTX/XLSX (zip), legacy .doc (OLE2 holding a
     WordDocument stream), or UTF-8 text without NUL bytes (.txt, .csv); else
     `file_format_unsupported`.

Files are streamed to a temporary directory that is deleted as soon as the judgement is made, so
no more than one read chunk is ever held in memory. httpx is imported lazily.
"""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import tempfile
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin, urlsplit

from .media import DOWNLOAD_TIMEOUT, _host, _install_httpx_filter, presigned_expiry

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("replica_studio.simulator")

# "Maximum file size 50MB" (the contract): decimal megabytes, the stricter reading.
MAX_DOCUMENT_BYTES = 50 * 1000 * 1000
_CHUNK = 1 << 20

# Tavus's error codes (the contract's list for error_message).
INVALID_FILE_URL = "invalid_file_url"
FILE_DOWNLOAD_FAILED = "file_download_failed"
FILE_SIZE_TOO_LARGE = "file_size_too_large"
FILE_EMPTY = "file_empty"
FILE_FORMAT_UNSUPPORTED = "file_format_unsupported"
DOCUMENT_PROCESSING_FAILED = "document_processing_failed"
WEBSITE_PROCESSING_FAILED = "website_processing_failed"

_HTML_TYPES = ("text/html", "application/xhtml+xml")
# A URL naming a page rather than a file: what a failed download of it is called.
_PAGE_SUFFIXES = (".html", ".htm", ".php", ".asp", ".aspx", ".jsp")
# Legacy Word keeps its text in an OLE2 stream of this name (Excel and PowerPoint files are OLE2
# too, with other streams: they are not among the supported formats).
_OLE2_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_WORD_STREAM = "WordDocument".encode("utf-16-le")
_ZIP_KINDS = (("word/", "docx"), ("ppt/", "pptx"), ("xl/", "xlsx"))


class DocumentError(Exception):
    """Why a document failed: `code` is Tavus's error_message, `why` is for the debug log only
    (it names the host, never the query string, which may be a credential)."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code
        self.why = why


@dataclass(frozen=True)
class Crawl:
    """A website crawl: follow links this many levels deep, up to this many pages in all."""

    depth: int
    max_pages: int


@dataclass(frozen=True)
class DocumentFacts:
    """What the judge found: a file of a supported format, or a website (with the pages a crawl
    read, the starting page first)."""

    kind: str  # "file" | "website"
    format: str  # "pdf", "png", "jpg", "docx", "pptx", "xlsx", "doc", "text" or "html"
    size: int  # bytes of the file, or of the starting page
    crawled_urls: tuple[str, ...] = ()


def valid_url(url: str) -> bool:
    """An http(s) URL with a host: the only kind Tavus can download."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url
    except ValueError:
        return False


def names_a_page(url: str) -> bool:
    """Does the URL name a web page (a site root, a folder, an .html or an extensionless path)
    rather than a file? Decides what a failed download is called, before any answer says."""
    path = urlsplit(url).path
    if path in ("", "/") or path.endswith("/"):
        return True
    name = PurePosixPath(path).name.lower()
    return name.endswith(_PAGE_SUFFIXES) or "." not in name


def _is_html(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in _HTML_TYPES


# ------------------------------------------------------------------------------------------------
# download
# ------------------------------------------------------------------------------------------------
def _download(client: httpx.Client, url: str, path: Path, max_bytes: int) -> str:
    """Stream `url` into `path`, stopping past `max_bytes`; -> the answer's Content-Type."""
    import httpx

    too_big = DocumentError(FILE_SIZE_TOO_LARGE, f"more than {max_bytes} bytes from {_host(url)}")
    try:
        with client.stream("GET", url) as resp:
            if not 200 <= resp.status_code < 300:
                raise DocumentError(FILE_DOWNLOAD_FAILED,
                                    f"HTTP {resp.status_code} from {_host(url)}")
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_big  # no need to read a byte of it
            size = 0
            with path.open("wb") as out:
                for chunk in resp.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise too_big
                    out.write(chunk)
            return resp.headers.get("content-type", "")
    except httpx.InvalidURL:
        raise DocumentError(INVALID_FILE_URL, "httpx refused the URL") from None
    except httpx.TimeoutException:
        raise DocumentError(FILE_DOWNLOAD_FAILED, f"{_host(url)} timed out") from None
    except (httpx.HTTPError, ValueError):
        raise DocumentError(FILE_DOWNLOAD_FAILED, f"could not connect to {_host(url)}") from None


# ------------------------------------------------------------------------------------------------
# file formats, by content
# ------------------------------------------------------------------------------------------------
def _zip_kind(path: Path) -> str | None:
    """docx / pptx / xlsx from an Office Open XML package's part names (its central directory
    only: nothing is decompressed)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None  # a zip, but not an Office document
    for prefix, kind in _ZIP_KINDS:
        if any(n.startswith(prefix) for n in names):
            return kind
    return None


def _has_word_stream(path: Path) -> bool:
    """An OLE2 file holding a WordDocument stream: its directory names it in UTF-16."""
    keep = len(_WORD_STREAM) - 1
    tail = b""
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            if _WORD_STREAM in tail + chunk:
                return True
            tail = chunk[-keep:]
    return False


def _is_text(path: Path) -> bool:
    """UTF-8 all through (a BOM is fine) and no NUL byte: a .txt or a .csv."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                if b"\0" in chunk:
                    return False
                decoder.decode(chunk)
        decoder.decode(b"", final=True)  # a multi-byte character cut off at the end
    except UnicodeDecodeError:
        return False
    return True


def sniff(path: Path) -> str | None:
    """The supported format the file's content is, or None."""
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    if head.startswith(_OLE2_MAGIC):
        return "doc" if _has_word_stream(path) else None
    return "text" if _is_text(path) else None


# ------------------------------------------------------------------------------------------------
# websites
# ------------------------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _links(page: Path, page_url: str, origin: tuple[str, str]) -> list[str]:
    """The page's links to other pages of the same site, in order, without fragments."""
    parser = _Links()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with page.open("rb") as f:
        while chunk := f.read(_CHUNK):
            parser.feed(decoder.decode(chunk))
    parser.feed(decoder.decode(b"", final=True))
    parser.close()
    out: list[str] = []
    for href in parser.hrefs:
        url = urldefrag(urljoin(page_url, href.strip()))[0]
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        if (parts.scheme, parts.netloc) == origin and url not in out:
            out.append(url)
    return out


def _crawl(client: httpx.Client, start: str, first_page: Path, crawl: Crawl,
           max_bytes: int) -> tuple[str, ...]:
    """Breadth first from the starting page (already downloaded), same site only: depth 1 reads
    the pages it links to. A dead or non-HTML link is skipped, as a crawler does."""
    origin = (urlsplit(start).scheme, urlsplit(start).netloc)
    crawled = [start]
    seen = {start}
    frontier = [u for u in _links(first_page, start, origin) if u not in seen]
    seen.update(frontier)
    page = first_page.with_name("page")
    for _level in range(crawl.depth):
        following: list[str] = []
        for url in frontier:
            if len(crawled) >= crawl.max_pages:
                return tuple(crawled)
            try:
                content_type = _download(client, url, page, max_bytes)
            except DocumentError:
                continue
            if not _is_html(content_type):
                continue
            crawled.append(url)
            fresh = [u for u in _links(page, url, origin) if u not in seen]
            seen.update(fresh)
            following += fresh
        frontier = following
        if not frontier:
            break
    return tuple(crawled)


# ------------------------------------------------------------------------------------------------
# the judge
# ------------------------------------------------------------------------------------------------
def judge(url: str, *, wall_now: float, crawl: Crawl | None = None, website: bool = False,
          max_bytes: int = MAX_DOCUMENT_BYTES, timeout: float = DOWNLOAD_TIMEOUT) -> DocumentFacts:
    """Download and judge a document; raises DocumentError with Tavus's code.

    `website`: the caller already knows it is one (a recrawl). A `crawl` also says so. Every
    downloaded byte is deleted before this returns, pass or fail.
    """
    if not valid_url(url):
        raise DocumentError(INVALID_FILE_URL, "not an http(s) URL with a host")
    expect_site = website or crawl is not None or names_a_page(url)
    try:
        return _judge(url, wall_now=wall_now, crawl=crawl, max_bytes=max_bytes, timeout=timeout)
    except DocumentError as e:
        if e.code == FILE_DOWNLOAD_FAILED and expect_site:
            raise DocumentError(WEBSITE_PROCESSING_FAILED, e.why) from None
        raise


def _judge(url: str, *, wall_now: float, crawl: Crawl | None, max_bytes: int,
           timeout: float) -> DocumentFacts:
    expiry = presigned_expiry(url)
    if expiry is not None and wall_now > expiry[0]:
        when = dt.datetime.fromtimestamp(expiry[0], tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise DocumentError(FILE_DOWNLOAD_FAILED, f"the presigned URL expired at {when}")
    import httpx

    _install_httpx_filter()
    with (
        tempfile.TemporaryDirectory(prefix="tavus-sim-document-") as tmp,
        httpx.Client(timeout=timeout, follow_redirects=True) as client,
    ):
        path = Path(tmp) / "document"
        content_type = _download(client, url, path, max_bytes)
        size = path.stat().st_size
        if _is_html(content_type):
            if size == 0:
                raise DocumentError(WEBSITE_PROCESSING_FAILED, "the page is empty")
            pages = _crawl(client, url, path, crawl, max_bytes) if crawl else ()
            return DocumentFacts("website", "html", size, pages)
        if size == 0:
            raise DocumentError(FILE_EMPTY, "zero bytes")
        fmt = sniff(path)
        if fmt is None:
            raise DocumentError(FILE_FORMAT_UNSUPPORTED, "not a supported format by content")
        return DocumentFacts("file", fmt, size)
