"""Document intake: is this file, or this web address, something Tavus's knowledge base can read?

Tavus takes files up to 50 MB in nine formats, and websites. A file is judged by its content, not
its name: a PNG named brochure.pdf is a PNG (and is sent as brochure.png), a ZIP named .pdf is
refused with what it really is. Refusals are `DocumentRefused`, whose text says what to do next.

Memory stays small whatever the file: sniffing reads the first 64 KB, a PDF's last KB, a ZIP's
directory or an OLE2 file's directory; metadata stripping copies ZIP entries in 1 MB chunks into a
temporary file. Only images are decoded whole, and only under the photos' pixel limit.

A web address is checked offline (`check_document_url`) and then really asked (`probe_document_url`,
a HEAD, or a GET of the first bytes when HEAD is refused). Messages never quote an address's query
string or credentials: a link's query often carries a token.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import ipaddress
import logging
import math
import os
import re
import shutil
import socket
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import SplitResult, quote, urljoin, urlsplit, urlunsplit

import httpx
from PIL import Image, ImageOps, JpegImagePlugin

from lib.photos.intake import MAX_PIXELS

# httpx logs every request's full URL at INFO, query included; an address may carry a token.
logging.getLogger("httpx").setLevel(logging.WARNING)

MAX_DOCUMENT_BYTES = 50 * 1000 * 1000  # Tavus: "≤ 50 MB"; decimal, the stricter reading
SNIFF_BYTES = 64 * 1024  # how much of a file the text and format checks read
PDF_HEADER_WINDOW = 1024  # readers accept a little junk before "%PDF-"
PDF_TAIL_WINDOW = 1024  # "%%EOF" sits in the last KB of a complete PDF
COPY_CHUNK_BYTES = 1024 * 1024
# A 50 MB Office file of compressed XML unpacks to a few hundred MB at most; more is a ZIP bomb.
MAX_UNPACKED_BYTES = 2 * 1000 * 1000 * 1000
MAX_PROPERTIES_BYTES = 1024 * 1024  # docProps/app.xml is a few KB in any real file
MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 5
DEFAULT_PROBE_TIMEOUT = 10.0
PROBE_BYTES = 1024  # what a GET probe reads before hanging up
USER_AGENT = "ReplicaStudio/1 (knowledge-base link check)"
MIN_CRAWL_DEPTH, MAX_CRAWL_DEPTH = 1, 10
MIN_CRAWL_PAGES, MAX_CRAWL_PAGES = 1, 100

_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a ZIP with entries, an empty ZIP
_PDF_HEADER = re.compile(rb"%PDF-\d")
_ORIENTATION = 0x0112


class DocumentRefused(ValueError):
    """The file or address cannot go to Tavus; the text says what to do (safe to show)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class DocumentFormat:
    name: str  # Tavus's extension without the dot: what a DocumentKind is called
    label: str  # for messages: "is a ZIP archive, not a PDF"
    content_type: str
    aliases: tuple[str, ...] = ()  # other extensions that name the same format

    @property
    def noun(self) -> str:
        """The label without its article: "PDF", "Word document"."""
        return self.label.split(" ", 1)[1]


# The formats Tavus lists, in its order.
FORMATS: dict[str, DocumentFormat] = {f.name: f for f in (
    DocumentFormat("pdf", "a PDF", "application/pdf"),
    DocumentFormat("txt", "a plain-text file", "text/plain"),
    DocumentFormat("docx", "a Word document",
                   "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    DocumentFormat("doc", "a Word 97-2003 document", "application/msword"),
    DocumentFormat("png", "a PNG image", "image/png"),
    DocumentFormat("jpg", "a JPEG image", "image/jpeg", ("jpeg", "jpe", "jfif")),
    DocumentFormat("pptx", "a PowerPoint presentation",
                   "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    DocumentFormat("csv", "a CSV file", "text/csv"),
    DocumentFormat("xlsx", "an Excel workbook",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
)}
ACCEPTED_EXTENSIONS = tuple(FORMATS)
# What a file picker offers: each format's extension and its aliases, with the dot (a browser's
# `accept` wants ".pdf"; "photo.jpeg" is as much a JPEG as "photo.jpg").
ACCEPTED_SUFFIXES = tuple(f".{extension}" for fmt in FORMATS.values()
                          for extension in (fmt.name, *fmt.aliases))
_OFFICE_FOLDERS = {"word/": "docx", "ppt/": "pptx", "xl/": "xlsx"}  # OOXML: the main part's folder
_TEXT_FORMATS = ("txt", "csv")
_WEBSITE_TYPES = ("text/html", "application/xhtml+xml")

# What each format keeps or loses on the way up: the report's line, and strip_metadata's rule.
_METADATA_NOTES = {
    "png": "Location (GPS) and camera data (EXIF, XMP, text) are removed before the upload.",
    "jpg": "Location (GPS) and camera data (EXIF, XMP, comments) are removed before the upload.",
    "docx": "Author, last editor, dates, company and manager are removed from the document's "
            "properties before the upload.",
    "pptx": "Author, last editor, dates, company and manager are removed from the "
            "presentation's properties before the upload.",
    "xlsx": "Author, last editor, dates, company and manager are removed from the workbook's "
            "properties before the upload.",
    "pdf": "PDFs are uploaded as they are: an author or title saved in the file stays.",
    "doc": "Word 97-2003 files are uploaded as they are: the author and other properties stay "
           "(save it as .docx to have them removed).",
    "txt": "Plain text is uploaded as it is; it carries no hidden metadata.",
    "csv": "CSV is uploaded as it is; it carries no hidden metadata.",
}


@dataclass(frozen=True)
class DocumentKind:
    """A file's format as its content shows it."""

    name: str  # a FORMATS key: "pdf", "docx", ...
    content_type: str  # what S3 stores and serves it as; text gets its charset
    extension_mismatch: bool  # the file's name claims another extension
    text_encoding: str | None = None  # txt/csv: "utf-8", "utf-8-sig" or "utf-16"

    @property
    def extension(self) -> str:
        return "." + self.name

    @property
    def label(self) -> str:
        return FORMATS[self.name].label

    @property
    def metadata_removable(self) -> bool:
        return self.name in _STRIPPERS


@dataclass(frozen=True)
class DocumentFileReport:
    """A file fit to add, and what the person should know before it goes."""

    kind: DocumentKind
    size: int  # bytes, as picked (stripping may change it a little)
    file_name: str  # the name to give Tavus: as picked, with the right extension
    notes: tuple[str, ...]  # plain lines: a corrected extension, what happens to the metadata

    @property
    def metadata_removable(self) -> bool:
        return self.kind.metadata_removable


# --- Files ----------------------------------------------------------------------------------------
def check_document_file(path: str | Path, filename: str, size: int) -> DocumentFileReport:
    """Whether the file at `path` (picked as `filename`, `size` bytes) can go to Tavus.

    The size is judged before the file is opened; then only its head, tail or directory is
    read. Raises DocumentRefused for an empty, oversized, unsupported or damaged file.
    """
    name = _display_name(filename)
    if size <= 0:
        raise _empty(name)
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentRefused(f"{name} is {_mb_up(size)} MB; Tavus takes files up to "
                              f"{MAX_DOCUMENT_BYTES // 1_000_000} MB. Split it into smaller "
                              "files or compress it (for example, smaller images in a PDF), "
                              "then add the parts.")
    kind = sniff_document(path, filename)
    if kind.name == "pdf":
        _check_pdf_end(Path(path), name)
    elif kind.name in ("png", "jpg"):
        _check_image_header(Path(path), name, kind)
    file_name = document_file_name(filename, kind)
    notes = []
    if kind.extension_mismatch:
        claimed = _claimed_format(filename)
        what = f", not {claimed.label}" if claimed else ""
        notes.append(f"{name} is {kind.label} inside{what}: it is sent as {file_name}.")
    notes.append(_METADATA_NOTES[kind.name])
    return DocumentFileReport(kind=kind, size=size, file_name=file_name, notes=tuple(notes))


def sniff_document(source: str | Path | BinaryIO, filename: str) -> DocumentKind:
    """The format of a file (a path, or a seekable binary file object) judged by its content.

    Reads at most the first 64 KB plus a ZIP's or OLE2 file's directory (by seeking; a file
    object's position is restored). Raises DocumentRefused when the content is not a format
    Tavus takes, or is too damaged to tell.
    """
    name = _display_name(filename)
    with _opened(source) as file:
        head = _read_at(file, 0, SNIFF_BYTES)
        if not head:
            raise _empty(name)
        # Signatures at the very start first: a ZIP holding a stored PDF has "%PDF-" early too.
        if head.startswith(_PNG_MAGIC):
            found = "png"
        elif head.startswith(_JPEG_MAGIC):
            found = "jpg"
        elif head.startswith(_OLE_MAGIC):
            found = _ole_format(file, name, filename)
        elif head.startswith(_ZIP_MAGICS):
            found = _zip_format(file, name, filename)
        elif _PDF_HEADER.search(head[:PDF_HEADER_WINDOW]):
            found = "pdf"
        else:
            return _text_kind(head, name, filename, complete=len(head) < SNIFF_BYTES)
    return _kind(found, filename)


def document_file_name(filename: str, kind: DocumentKind) -> str:
    """`filename` without its folder, with the extension of what it really is: the name Tavus
    is given. 'brochure.pdf' holding a PNG -> 'brochure.png'; 'notes' -> 'notes.txt'."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "document"
    stem, dot, extension = base.rpartition(".")
    if not dot or not stem or not re.fullmatch(r"[A-Za-z0-9]{1,5}", extension):
        stem = base  # no extension to replace ('notes', '.env', 'v1.final-draft'): append one
    elif _format_of_extension(extension) == kind.name:
        return f"{stem}.{extension}"  # 'photo.jpeg' stays as the person named it
    return stem + kind.extension


def strip_metadata(path: str | Path, kind: DocumentKind) -> Path:
    """A copy of the file without its identifying metadata, where the format allows.

    PNG and JPEG are re-saved upright (EXIF orientation applied) without EXIF, GPS, XMP or text
    (a JPEG that needs no turning keeps its quantisation tables, so it barely changes); docx,
    pptx and xlsx are rewritten entry by entry with empty core properties (no author, editor or
    dates) and no company or manager. Returns a new temporary file (the caller deletes it), or
    `path` itself for formats left as they are (pdf, doc, txt, csv): compare before deleting.
    Raises DocumentRefused when the file turns out to be damaged.
    """
    source = Path(path)
    strip = _STRIPPERS.get(kind.name)
    if strip is None:
        return source
    handle, temporary = tempfile.mkstemp(prefix="document-", suffix=kind.extension)
    os.close(handle)
    target = Path(temporary)
    try:
        strip(source, target, kind)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _kind(found: str, filename: str, encoding: str | None = None) -> DocumentKind:
    extension = _extension(filename)
    mismatch = extension is not None and _format_of_extension(extension) != found
    content_type = FORMATS[found].content_type
    if encoding is not None:
        content_type += "; charset=" + ("utf-16" if encoding == "utf-16" else "utf-8")
    return DocumentKind(name=found, content_type=content_type, extension_mismatch=mismatch,
                        text_encoding=encoding)


def _extension(filename: str) -> str | None:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    return extension.lower() if dot and stem and extension else None


def _format_of_extension(extension: str) -> str | None:
    extension = extension.lower()
    for fmt in FORMATS.values():
        if extension == fmt.name or extension in fmt.aliases:
            return fmt.name
    return None


def _claimed_format(filename: str) -> DocumentFormat | None:
    extension = _extension(filename)
    found = _format_of_extension(extension) if extension else None
    return FORMATS[found] if found else None


def _display_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base[:80] + "…" if len(base) > 80 else (base or "The file")


def _accepted() -> str:
    names = [f".{name}" for name in ACCEPTED_EXTENSIONS]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _mb_up(size: int) -> str:
    """Decimal MB, rounded up to 0.1: a file just over the limit never reads as '50.0 MB'."""
    return f"{math.ceil(size / 100_000) / 10:.1f}"


def _empty(name: str) -> DocumentRefused:
    return DocumentRefused(f"{name} is empty (0 bytes). Choose the file again, or export it "
                           "again if it should have content.")


def _not_a_document(name: str, filename: str, what: str, todo: str) -> DocumentRefused:
    claimed = _claimed_format(filename)
    not_claimed = f", not {claimed.label}" if claimed else ""
    return DocumentRefused(f"{name} is {what}{not_claimed}. {todo} Tavus takes {_accepted()} "
                           "files.")


@contextlib.contextmanager
def _opened(source: str | Path | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(source, str | Path):
        with open(source, "rb") as file:
            yield file
        return
    position = source.tell()
    try:
        yield source
    finally:
        source.seek(position)


def _read_at(file: BinaryIO, offset: int, count: int) -> bytes:
    file.seek(offset)
    return file.read(count)


# --- ZIP (docx, pptx, xlsx) -----------------------------------------------------------------------
def _zip_format(file: BinaryIO, name: str, filename: str) -> str:
    try:
        with zipfile.ZipFile(file) as archive:  # reads the central directory at the end only
            names = archive.namelist()
            mimetype = _small_entry(archive, "mimetype", 200) if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error):
        raise _damaged_zip(name, filename) from None
    found = {fmt for entry in names for folder, fmt in _OFFICE_FOLDERS.items()
             if entry.startswith(folder)}
    claimed = _claimed_format(filename)
    if len(found) > 1 and claimed and claimed.name in found:
        return claimed.name  # an odd file with several main folders: trust the name among them
    if found:
        return sorted(found)[0]
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        raise _not_a_document(name, filename, "an OpenDocument file (LibreOffice or OpenOffice)",
                              "Save it as .docx, .pptx, .xlsx or PDF and add that.")
    if mimetype == b"application/epub+zip":
        raise _not_a_document(name, filename, "an e-book (EPUB)",
                              "Export or print it to PDF and add that.")
    raise _not_a_document(name, filename, "a ZIP archive",
                          "Unzip it and add the documents inside one by one.")


def _small_entry(archive: zipfile.ZipFile, entry: str, limit: int) -> bytes:
    with archive.open(entry) as member:
        return member.read(limit)


def _damaged_zip(name: str, filename: str) -> DocumentRefused:
    claimed = _claimed_format(filename)
    if claimed and claimed.name in _OFFICE_FOLDERS.values():
        return DocumentRefused(f"{name} is a damaged {claimed.noun}: its ZIP "
                               "structure does not open (perhaps a cut-off download). Open it, "
                               "save a new copy, and add that.")
    return DocumentRefused(f"{name} is damaged: it starts like a ZIP archive (as Word, "
                           "PowerPoint and Excel files do) but does not open, perhaps a cut-off "
                           "download. If it is an Office file, open it, save a new copy, and add "
                           "that.")


# --- OLE2 (doc, and the older Office formats Tavus does not take) --------------------------------
_OLE_LAST_SECTOR = 0xFFFFFFFA  # from here up, sector numbers are markers (end of chain, free...)
_OLE_MAX_DIRECTORY_SECTORS = 64  # a Word file's directory takes a few; bounds a crafted loop
_OLE_HEADER_FAT_ENTRIES = 109


def _ole_format(file: BinaryIO, name: str, filename: str) -> str:
    try:
        streams = _ole_stream_names(file)
    except (ValueError, struct.error, OSError):
        raise DocumentRefused(f"{name} is a damaged Word 97-2003 (or other older Office) file: "
                              "its directory cannot be read. Open it, save it as .docx, and add "
                              "that.") from None
    if "WordDocument" in streams:
        return "doc"
    if "EncryptedPackage" in streams:
        raise DocumentRefused(f"{name} is protected by a password, so Tavus cannot read it. Open "
                              "it, remove the password (File > Info > Protect), save, and add "
                              "that copy.")
    if streams & {"Workbook", "Book"}:
        raise _not_a_document(name, filename, "an Excel 97-2003 workbook (.xls)",
                              "Save it as .xlsx or CSV and add that.")
    if "PowerPoint Document" in streams:
        raise _not_a_document(name, filename, "a PowerPoint 97-2003 presentation (.ppt)",
                              "Save it as .pptx or PDF and add that.")
    raise _not_a_document(name, filename, "an older Microsoft Office file that is not a Word "
                          "document", "Save it as PDF or .docx and add that.")


def _ole_stream_names(file: BinaryIO) -> set[str]:
    """The names in an OLE2 compound file's directory (MS-CFB), read by following its chain.

    Reads the 512-byte header, the directory's sectors and the FAT entries that link them; a
    structure that points outside the file raises ValueError.
    """
    header = _read_at(file, 0, 512)
    if len(header) < 512:
        raise ValueError("the header is cut off")
    shift = struct.unpack_from("<H", header, 0x1E)[0]
    if shift not in (9, 12):
        raise ValueError("not a known sector size")
    sector_size = 1 << shift
    per_sector = sector_size // 4
    first_directory = struct.unpack_from("<I", header, 0x30)[0]
    first_difat, difat_count = struct.unpack_from("<II", header, 0x44)
    header_fat = struct.unpack_from(f"<{_OLE_HEADER_FAT_ENTRIES}I", header, 0x4C)

    def sector(number: int) -> bytes:
        data = _read_at(file, (number + 1) * sector_size, sector_size)
        if len(data) < sector_size:
            raise ValueError("a sector lies beyond the end of the file")
        return data

    def fat_sector(index: int) -> int:
        if index < _OLE_HEADER_FAT_ENTRIES:
            return header_fat[index]
        index -= _OLE_HEADER_FAT_ENTRIES
        number = first_difat
        for _ in range(min(difat_count, 1024)):
            if number >= _OLE_LAST_SECTOR:
                break
            entries = struct.unpack(f"<{per_sector}I", sector(number))
            if index < per_sector - 1:
                return entries[index]
            index -= per_sector - 1
            number = entries[-1]
        raise ValueError("the FAT does not reach this sector")

    def next_sector(number: int) -> int:
        location = fat_sector(number // per_sector)
        if location >= _OLE_LAST_SECTOR:
            raise ValueError("the FAT does not reach this sector")
        return struct.unpack_from("<I", sector(location), (number % per_sector) * 4)[0]

    names: set[str] = set()
    number = first_directory
    for _ in range(_OLE_MAX_DIRECTORY_SECTORS):
        if number >= _OLE_LAST_SECTOR:
            break
        data = sector(number)
        for offset in range(0, sector_size, 128):
            length = struct.unpack_from("<H", data, offset + 0x40)[0]
            object_type = data[offset + 0x42]
            if object_type in (1, 2, 5) and 2 <= length <= 64:  # storage, stream, root
                names.add(data[offset:offset + length - 2].decode("utf-16-le", "replace"))
        number = next_sector(number)
    if not names:
        raise ValueError("an empty directory")
    return names


# --- Text (txt, csv) ------------------------------------------------------------------------------
_OTHER_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"MZ", "a Windows program", "Add the document itself, not a program."),
    (b"\x7fELF", "a program", "Add the document itself, not a program."),
    (b"GIF8", "a GIF image", "Save it as PNG or JPEG and add that."),
    (b"\x1f\x8b", "a compressed (gzip) file", "Unpack it and add the document inside."),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "Unpack it and add the documents inside."),
    (b"Rar!", "a RAR archive", "Unpack it and add the documents inside."),
    (b"{\\rtf", "an RTF document", "Save it as .docx or PDF and add that."),
    (b"II*\x00", "a TIFF image", "Save it as PNG or JPEG and add that."),
    (b"MM\x00*", "a TIFF image", "Save it as PNG or JPEG and add that."),
)


def _text_kind(head: bytes, name: str, filename: str, *, complete: bool) -> DocumentKind:
    if head.startswith(b"{\\rtf"):  # RTF is ASCII text, but Tavus would read its markup
        raise _not_a_document(name, filename, "an RTF document",
                              "Save it as .docx or PDF and add that.")
    decoded = _decode_text(head, complete=complete)
    if decoded is None:
        raise _unknown_binary(head, name, filename)
    text, encoding = decoded
    opening = text.lstrip("\ufeff \t\r\n")[:200].lower()
    if opening.startswith(("<!doctype html", "<html")):
        raise _not_a_document(name, filename, "a web page (HTML)",
                              "Add the website by its address instead, or save the page as PDF "
                              "and add that.")
    claimed = _extension(filename)
    if claimed in _TEXT_FORMATS:
        found = claimed  # both are text Tavus reads: the person's choice stands
    else:
        found = "csv" if _looks_like_csv(text, complete=complete) else "txt"
    return _kind(found, filename, encoding)


def _decode_text(head: bytes, *, complete: bool) -> tuple[str, str] | None:
    """(text, encoding) when the sample is UTF-8 (BOM or not) or BOM-marked UTF-16 text."""
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    if encoding != "utf-16" and b"\x00" in head:
        return None
    try:
        # Incremental: the 64 KB sample may end inside a character.
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
    except UnicodeDecodeError:
        return None
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f\x1a")
    if "\x00" in text or controls > len(text) // 100:
        return None
    return text, encoding


def _legacy_text(head: bytes) -> bool:
    """Text in a single-byte Western encoding (Windows-1252, Latin-1): no NULs, hardly any
    control bytes, and every byte a character there."""
    controls = sum(1 for b in head if b < 32 and b not in b"\t\n\r\f\x1a")
    if b"\x00" in head or controls > len(head) // 100:
        return False
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_csv(text: str, *, complete: bool) -> bool:
    """Every line splits into the same number (2+) of fields on one delimiter."""
    lines = text.splitlines()
    if not complete:
        lines = lines[:-1]  # the sample may end mid-line
    rows = [line for line in lines if line.strip()][:50]
    if len(rows) < 2:
        return False
    for delimiter in ",;\t|":
        try:
            counts = {len(row) for row in csv.reader(rows, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(counts) == 1 and counts.pop() > 1:
            return True
    return False


def _unknown_binary(head: bytes, name: str, filename: str) -> DocumentRefused:
    for signature, what, todo in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return _not_a_document(name, filename, what, todo)
    if head[8:12] == b"WEBP" and head.startswith(b"RIFF"):
        return _not_a_document(name, filename, "a WebP image", "Save it as PNG or JPEG and "
                               "add that.")
    if head[4:8] == b"ftyp":
        return _not_a_document(name, filename, "a video or HEIC photo",
                               "For a photo, export it as JPEG; Tavus reads no video here.")
    if _legacy_text(head):
        return DocumentRefused(f"{name} is text in an encoding other than UTF-8. Open it in a "
                               "text editor, save it as UTF-8, and add that.")
    claimed = _claimed_format(filename)
    if claimed:
        return DocumentRefused(f"{name} is not {claimed.label}: its content is not any format "
                               f"Tavus takes ({_accepted()}). Open it in the program that made "
                               "it, save or export it as PDF, and add that.")
    return DocumentRefused(f"{name} is not a document Tavus can read: its content is none of "
                           f"{_accepted()}. Save or export it as PDF and add that.")


# --- Damage checks --------------------------------------------------------------------------------
def _check_pdf_end(path: Path, name: str) -> None:
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        tail = _read_at(file, max(0, size - PDF_TAIL_WINDOW), PDF_TAIL_WINDOW)
    if b"%%EOF" not in tail:
        raise DocumentRefused(f"{name} is an incomplete or damaged PDF: it has no end-of-file "
                              "marker, as happens with a cut-off download. Download or export "
                              "it again and add the new copy.")


def _check_image_header(path: Path, name: str, kind: DocumentKind) -> None:
    """Size and frame count from the header alone; pixels are decoded when metadata is
    stripped (a damaged image is found then)."""
    fmt = "PNG" if kind.name == "png" else "JPEG"
    try:
        with Image.open(path, formats=[fmt, "MPO"] if fmt == "JPEG" else [fmt]) as image:
            width, height = image.size
            frames = 1 if image.format == "MPO" else getattr(image, "n_frames", 1)
    except Image.DecompressionBombError:
        raise _too_many_pixels(name, "far too many pixels") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        raise _damaged_image(kind, name) from None
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(name, f"{width}x{height} pixels")
    if frames > 1:
        raise DocumentRefused(f"{name} is an animated image ({frames} frames). Export the frame "
                              "you need as a still PNG or JPEG and add that.")


def _too_many_pixels(name: str, what: str) -> DocumentRefused:
    return DocumentRefused(f"{name} has {what}, over the {MAX_PIXELS // 1_000_000} MP that can "
                           "be cleaned of metadata here. Export it smaller (for example 4000 px "
                           "on the long side) and add that.")


def _damaged_image(kind: DocumentKind, name: str | None = None) -> DocumentRefused:
    which = name or f"This {FORMATS[kind.name].noun}"
    return DocumentRefused(f"{which} is damaged or incomplete (perhaps a cut-off download). Open "
                           "it, check it looks right, export it again, and add that.")


# --- Metadata stripping ---------------------------------------------------------------------------
def _strip_image(source: Path, target: Path, kind: DocumentKind) -> None:
    fmt = "PNG" if kind.name == "png" else "JPEG"
    try:
        with Image.open(source, formats=[fmt, "MPO"] if fmt == "JPEG" else [fmt]) as image:
            if image.width * image.height > MAX_PIXELS:
                raise _too_many_pixels("This image", f"{image.width}x{image.height} pixels")
            image.load()  # a full decode: a header can be fine on a cut-off file
            icc = image.info.get("icc_profile")
            transparency = image.info.get("transparency")
            rotated = image.getexif().get(_ORIENTATION, 1) in range(2, 9)
            options: dict[str, object] = {}
            if fmt == "JPEG":
                if image.format == "JPEG" and not rotated:
                    # The same quantisation tables and sampling: no visible generation loss.
                    options = {"quality": "keep", "subsampling": "keep"}
                else:
                    sampling = JpegImagePlugin.get_sampling(image)
                    options = {"quality": 95, "subsampling": sampling if sampling in (0, 1, 2)
                               else 2}
            upright = ImageOps.exif_transpose(image) if rotated else image
            # Savers copy some keys from `info` on their own (a JPEG comment, a PNG's ICC):
            # keep only what is picture, not metadata.
            upright.info = {} if transparency is None else {"transparency": transparency}
            if icc:
                options["icc_profile"] = icc  # colours, not identity: kept
            upright.save(target, format=fmt, **options)
    except DocumentRefused:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
            Image.DecompressionBombError):
        raise _damaged_image(kind) from None


# An empty core-properties part: OOXML allows every property to be absent. Kept (not deleted)
# because [Content_Types].xml and _rels/.rels point at it.
_EMPTY_CORE_PROPERTIES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
    b'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>')
# Office, LibreOffice and Google all write the properties here (the package's _rels/.rels
# could name another place; no producer does).
_CORE_PROPERTIES = "docProps/core.xml"
_APP_PROPERTIES = "docProps/app.xml"
_NAMED_PROPERTIES = re.compile(
    rb"<((?:[A-Za-z_][\w.-]*:)?(?:Company|Manager))(?:\s[^>]*)?>.*?</\1\s*>", re.DOTALL)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # entry times say when the file was saved: not kept


def _strip_office(source: Path, target: Path, kind: DocumentKind) -> None:
    noun = FORMATS[kind.name].noun
    damaged = DocumentRefused(f"This {noun} is damaged: a part of it does not unpack. Open it, "
                              "save a new copy, and add that.")
    try:
        with zipfile.ZipFile(source) as archive, \
                zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            entries = archive.infolist()
            if sum(e.file_size for e in entries) > MAX_UNPACKED_BYTES:
                raise DocumentRefused(
                    f"This {noun} unpacks to over {MAX_UNPACKED_BYTES // 1_000_000_000} GB, far "
                    "more than any real document. Open it, save a new copy, and add that.")
            for entry in entries:
                copy = zipfile.ZipInfo(entry.filename, date_time=_ZIP_EPOCH)
                copy.compress_type = (entry.compress_type if entry.compress_type in
                                      (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                                      else zipfile.ZIP_DEFLATED)
                if entry.filename == _CORE_PROPERTIES:
                    out.writestr(copy, _EMPTY_CORE_PROPERTIES)
                elif entry.filename == _APP_PROPERTIES:
                    data = _small_entry(archive, entry.filename, MAX_PROPERTIES_BYTES + 1)
                    if len(data) > MAX_PROPERTIES_BYTES:
                        raise damaged
                    out.writestr(copy, _NAMED_PROPERTIES.sub(rb"<\1/>", data))
                elif entry.is_dir():
                    out.writestr(copy, b"")
                else:
                    _copy_entry(archive, entry, out, copy)
    except DocumentRefused:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error,
            NotImplementedError, RuntimeError, zlib.error):
        raise damaged from None


def _copy_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, out: zipfile.ZipFile,
                copy: zipfile.ZipInfo) -> None:
    """One entry, decompressed and recompressed in 1 MB chunks (its CRC checked on the way)."""
    large = entry.file_size > zipfile.ZIP64_LIMIT
    with archive.open(entry) as reader, out.open(copy, "w", force_zip64=large) as writer:
        shutil.copyfileobj(reader, writer, COPY_CHUNK_BYTES)


_STRIPPERS: dict[str, Callable[[Path, Path, DocumentKind], None]] = {
    "png": _strip_image, "jpg": _strip_image,
    "docx": _strip_office, "pptx": _strip_office, "xlsx": _strip_office,
}


# --- Web addresses --------------------------------------------------------------------------------
@dataclass(frozen=True)
class UrlProbe:
    """What the address answered."""

    url: str  # as checked (normalised)
    final_url: str  # after redirects; keeps its query (needed to fetch it): never show it
    status_code: int
    redirects: int
    method: str  # "HEAD", or "GET" when the server refused HEAD
    content_type: str | None  # media type, lower case, without parameters: "text/html"
    content_length: int | None  # bytes, when the server said
    file_kind: str | None  # a FORMATS key when the type (or the first bytes) name one

    @property
    def is_website(self) -> bool:
        return self.content_type in _WEBSITE_TYPES


@dataclass(frozen=True)
class CrawlSettings:
    """How far Tavus follows a website's links: `depth` levels, at most `max_pages` pages."""

    depth: int
    max_pages: int

    def __post_init__(self) -> None:
        _whole_number_in("crawl depth", self.depth, MIN_CRAWL_DEPTH, MAX_CRAWL_DEPTH,
                         "how many links deep to follow from the starting page")
        _whole_number_in("page limit", self.max_pages, MIN_CRAWL_PAGES, MAX_CRAWL_PAGES,
                         "the most pages Tavus reads from the site")

    def as_request(self) -> dict[str, int]:
        """The `crawl` object of POST /v2/documents."""
        return {"depth": self.depth, "max_pages": self.max_pages}


def _whole_number_in(label: str, value: object, low: int, high: int, meaning: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DocumentRefused(f"Set the {label} to a whole number from {low} to {high} "
                              f"({meaning}); it is {value!r}.")


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_HOST = re.compile(r"[a-z0-9_.-]+|\[[0-9a-f:.]+\]")


def check_document_url(url: str) -> str:
    """The address normalised (scheme and host in lower case, default port and fragment
    dropped, unsafe characters quoted), or DocumentRefused: not http(s), no host, a user name
    or password in it, or over 2,048 characters."""
    text = (url or "").strip()
    if not text:
        raise DocumentRefused("Enter the address of the website or file, starting with https://.")
    if len(text) > MAX_URL_LENGTH:
        raise _too_long(len(text))
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise DocumentRefused("The address contains control characters (perhaps from a copy "
                              "and paste). Type or paste it again.")
    scheme = _SCHEME.match(text)
    after = text[scheme.end():] if scheme else ""
    # 'localhost:8000' and 'example.com:8080/x' parse as a scheme; they are addresses without one.
    if scheme is None or "." in scheme[1] or after[:1].isdigit():
        shown = _shown_text(text).lstrip("/")
        raise DocumentRefused(f"Start the address with https:// (for example https://{shown}).")
    if scheme[1].lower() not in ("http", "https"):
        raise DocumentRefused(f"Tavus fetches only web addresses (http:// or https://), not "
                              f"{scheme[1].lower()}: ones. Paste the page's https:// link, or "
                              "upload the file instead.")
    parts = urlsplit(text.replace(" ", "%20"))
    if "@" in parts.netloc:
        raise DocumentRefused("The address contains a user name or password (before the @). "
                              "Tavus would see it, and it would be kept with the document: remove "
                              "it and use a link that opens without signing in, or upload the "
                              "file instead.")
    shown = _shown(parts)
    host = parts.hostname or ""
    if not host:
        raise DocumentRefused(f"The address {shown} has no website name after "
                              f"{parts.scheme.lower()}://. Paste the full link.")
    try:
        port = parts.port
    except ValueError:
        raise DocumentRefused(f"The address {shown} has an invalid port number. Check it and "
                              "paste the full link again.") from None
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise DocumentRefused(f"The address {shown} has an invalid website name. Check it for "
                              "typos.") from None
    if ":" in ascii_host:
        ascii_host = f"[{ascii_host}]"  # IPv6
    if not _HOST.fullmatch(ascii_host):
        raise DocumentRefused(f"The address {shown} has an invalid website name. Check it for "
                              "typos.")
    scheme_name = parts.scheme.lower()
    default_port = {"http": 80, "https": 443}[scheme_name]
    netloc = ascii_host if port in (None, default_port) else f"{ascii_host}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    normalised = urlunsplit((scheme_name, netloc, path, query, ""))
    if len(normalised) > MAX_URL_LENGTH:
        raise _too_long(len(normalised))
    return normalised


def probe_document_url(url: str, *, timeout: float = DEFAULT_PROBE_TIMEOUT,
                       allow_private_hosts: bool = False) -> UrlProbe:
    """Ask the address what it is: a HEAD (a GET of the first bytes if the server refuses HEAD
    or answers it with an error), following up to 5 redirects.

    Raises DocumentRefused when it cannot be reached, answers 4xx/5xx, redirects too often, is
    a file Tavus cannot read or over 50 MB, or (unless `allow_private_hosts`, for tests and
    local demos) resolves to a private or local address: Tavus's servers could not reach it,
    and this server should not be made to probe its own network. `timeout` is per step.
    """
    checked = check_document_url(url)
    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False,
                      headers={"User-Agent": USER_AGENT, "Accept": "*/*"}) as client:
        answer = _follow(client, "HEAD", checked, timeout, allow_private_hosts)
        if answer.status_code >= 400:  # HEAD refused (405, 501, or 403 from signed URLs)
            answer = _follow(client, "GET", checked, timeout, allow_private_hosts)
    if answer.status_code >= 400:
        raise _status_refusal(_shown(urlsplit(answer.url)), answer.status_code, answer.reason)
    probe = _probe_from(checked, answer)
    _refuse_unreadable_file(probe)
    return probe


@dataclass(frozen=True)
class _Answer:
    url: str
    status_code: int
    reason: str
    headers: httpx.Headers
    redirects: int
    method: str
    first_bytes: bytes


def _follow(client: httpx.Client, method: str, url: str, timeout: float, allow_private: bool
            ) -> _Answer:
    current = url
    for redirects in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        _check_host(parts, allow_private)
        try:
            response = client.send(client.build_request(method, current), stream=True)
        except httpx.TimeoutException:
            raise _unreachable(parts, f"it did not answer within {timeout:g} s") from None
        except httpx.ConnectError:
            raise _unreachable(parts, "the connection was refused or failed") from None
        except (httpx.TransportError, httpx.InvalidURL):
            raise _unreachable(parts, "the connection failed") from None
        try:
            location = response.headers.get("location")
            if response.is_redirect and location:
                target = urljoin(current, location)
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    raise DocumentRefused(f"{_shown(parts)} redirects to an address that is not "
                                          "a web page. Use the final https:// address instead.")
                current = target
                continue
            first = b""
            if method == "GET" and response.status_code < 400:
                first = _first_bytes(response, parts, timeout)
            return _Answer(current, response.status_code, response.reason_phrase,
                           response.headers, redirects, method, first)
        finally:
            response.close()
    raise DocumentRefused(f"{_shown(urlsplit(url))} redirects more than {MAX_REDIRECTS} times "
                          "(perhaps in a loop). Open it in a browser and use the address it "
                          "ends at.")


def _first_bytes(response: httpx.Response, parts: SplitResult, timeout: float) -> bytes:
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= PROBE_BYTES:
                break
    except httpx.TimeoutException:
        raise _unreachable(parts, f"it stopped answering within {timeout:g} s") from None
    except httpx.TransportError:
        pass  # the status and headers are what matter; the first bytes only refine the type
    return data[:PROBE_BYTES]


def _check_host(parts: SplitResult, allow_private: bool) -> None:
    host = parts.hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        raise _unreachable(parts, f"no server is known by the name {host}") from None
    if allow_private:
        return
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        if not (mapped or ip).is_global:
            raise DocumentRefused(f"{_shown(parts)} is on a private or local network, which "
                                  "Tavus's servers cannot reach. Use a public address, or "
                                  "download the file and upload it here.")


_CONTENT_TYPE_FORMATS = {
    **{f.content_type: f.name for f in FORMATS.values()},
    # Names servers use besides the registered ones.
    "image/jpg": "jpg", "image/pjpeg": "jpg", "application/csv": "csv", "text/x-csv": "csv",
}


def _probe_from(url: str, answer: _Answer) -> UrlProbe:
    raw_type = answer.headers.get("content-type", "")
    content_type = raw_type.split(";", 1)[0].strip().lower() or None
    length = answer.headers.get("content-length", "")
    file_kind = _CONTENT_TYPE_FORMATS.get(content_type or "")
    if file_kind is None and answer.first_bytes:
        head = answer.first_bytes
        file_kind = ("pdf" if _PDF_HEADER.search(head) else "png" if head.startswith(_PNG_MAGIC)
                     else "jpg" if head.startswith(_JPEG_MAGIC) else None)
    return UrlProbe(url=url, final_url=answer.url, status_code=answer.status_code,
                    redirects=answer.redirects, method=answer.method, content_type=content_type,
                    content_length=int(length) if length.isdigit() else None,
                    file_kind=file_kind)


def _refuse_unreadable_file(probe: UrlProbe) -> None:
    shown = _shown(urlsplit(probe.final_url))
    if probe.is_website:
        return
    if probe.content_length is not None and probe.content_length > MAX_DOCUMENT_BYTES:
        raise DocumentRefused(f"The file at {shown} is {_mb_up(probe.content_length)} MB; Tavus "
                              f"takes files up to {MAX_DOCUMENT_BYTES // 1_000_000} MB. Download "
                              "it, split or compress it, and upload the parts here.")
    media = probe.content_type or ""
    if media.startswith(("video/", "audio/")) or (
            media.startswith("image/") and probe.file_kind is None):
        raise DocumentRefused(f"{shown} is a file Tavus cannot read ({media}). Tavus takes "
                              f"websites and {_accepted()} files.")


def _status_refusal(shown: str, status: int, reason: str) -> DocumentRefused:
    if status in (401, 403):
        todo = ("it needs a sign-in or turns outside visitors away, so Tavus could not fetch it "
                "either. Use a public link, or download the file and upload it here.")
    elif status in (404, 410):
        todo = ("there is nothing at this address. Check it for typos, or open it in a browser "
                "and copy the address from there.")
    elif status == 429:
        todo = "the site is limiting requests. Wait a few minutes and try again."
    elif status >= 500:
        todo = "the site is having trouble. Try again later, or check the address."
    else:
        todo = "check the address, or download the file and upload it here."
    said = f" {reason}" if reason else ""
    return DocumentRefused(f"{shown} answered HTTP {status}{said}: {todo}")


def _unreachable(parts: SplitResult, why: str) -> DocumentRefused:
    return DocumentRefused(f"{_shown(parts)} could not be reached ({why}). Check the address, "
                           "and that the site is public, then try again.")


def _too_long(length: int) -> DocumentRefused:
    return DocumentRefused(f"The address is {length:,} characters long; Tavus takes up to "
                           f"{MAX_URL_LENGTH:,}. Use a shorter link to the same page (for "
                           "example without tracking parameters).")


def _shown(parts: SplitResult) -> str:
    """An address fit for a message: no user name, password, query or fragment (a '?…' says a
    query was there), at most 80 characters."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    text = f"{parts.scheme.lower()}://{host}{port}{parts.path}"
    if parts.query:
        text += "?…"
    return text if len(text) <= 80 else text[:79] + "…"


def _shown_text(text: str) -> str:
    """Like _shown, for text that is not a parsable address: cut at the query or fragment."""
    cut = re.split(r"[?#]", text, maxsplit=1)[0]
    cut = cut.rsplit("@", 1)[-1]  # never echo a user name or password
    return cut if len(cut) <= 80 else cut[:79] + "…"
