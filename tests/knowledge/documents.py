"""Test documents made on the spot: hand-written PDF, OOXML packages built with zipfile, OLE2
compound files, photos carrying GPS, sparse files of any size."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

from PIL import ExifTags, Image, PngImagePlugin

from tests.media import astronaut

AUTHOR = "Jane Author"
EDITOR = "Sam Editor"
COMPANY = "Acme Secret Projects"
MANAGER = "Pat Manager"
GPS_IFD = ExifTags.IFD.GPSInfo
ORIENTATION = 0x0112

_MAIN_PARTS = {
    "docx": ("word/document.xml",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
             b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w='
             b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
             b"<w:t>Quarterly pricing, page one.</w:t></w:r></w:p></w:body></w:document>"),
    "pptx": ("ppt/presentation.xml",
             "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
             b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<p:presentation xmlns:p='
             b'"http://schemas.openxmlformats.org/presentationml/2006/main"/>'),
    "xlsx": ("xl/workbook.xml",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
             b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns='
             b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>'),
}


def core_properties(author: str = AUTHOR) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>Pricing 2026</dc:title><dc:creator>{author}</dc:creator>"
        f"<cp:lastModifiedBy>{EDITOR}</cp:lastModifiedBy>"
        '<dcterms:created xsi:type="dcterms:W3CDTF">2026-03-01T09:15:00Z</dcterms:created>'
        '<dcterms:modified xsi:type="dcterms:W3CDTF">2026-03-02T17:40:00Z</dcterms:modified>'
        "</cp:coreProperties>").encode()


def app_properties() -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-'
        'properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
        'docPropsVTypes"><Application>Microsoft Office Word</Application><Pages>1</Pages>'
        f"<Company>{COMPANY}</Company><Manager>{MANAGER}</Manager>"
        "<AppVersion>16.0000</AppVersion></Properties>").encode()


def ooxml(kind: str = "docx", *, author: str = AUTHOR, big_entry_bytes: int = 0) -> bytes:
    """A minimal but well-formed Office Open XML package of `kind` (docx, pptx or xlsx)."""
    main, main_type, main_xml = _MAIN_PARTS[kind]
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="bin" ContentType="application/octet-stream"/>'
        f'<Override PartName="/{main}" ContentType="{main_type}"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
        'package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType='
        '"application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>')
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'relationships/officeDocument" Target="{main}"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/extended-properties" Target="docProps/app.xml"/></Relationships>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("docProps/core.xml", core_properties(author))
        archive.writestr("docProps/app.xml", app_properties())
        archive.writestr(main, main_xml)
        if big_entry_bytes:
            folder = main.split("/", 1)[0]
            with archive.open(f"{folder}/media/big.bin", "w") as entry:
                chunk = b"\x00" * (1024 * 1024)
                for start in range(0, big_entry_bytes, len(chunk)):
                    entry.write(chunk[:big_entry_bytes - start])
    return buffer.getvalue()


def minimal_pdf(text: str = "Quarterly pricing") -> bytes:
    """A one-page PDF written by hand, with a correct cross-reference table."""
    content = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
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
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return out


OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_END_OF_CHAIN, _FREE, _FAT_SECTOR, _NO_STREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def ole_file(streams: tuple[str, ...] = ("WordDocument", "1Table")) -> bytes:
    """An OLE2 compound file (MS-CFB v3): header, one FAT sector, one directory sector holding
    the root entry and up to three streams (empty: only the directory is read)."""
    assert len(streams) <= 3
    header = bytearray(512)
    header[0:8] = OLE_MAGIC
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<I", header, 0x2C, 1)  # one FAT sector
    struct.pack_into("<I", header, 0x30, 1)  # the directory starts in sector 1
    struct.pack_into("<I", header, 0x38, 4096)
    struct.pack_into("<II", header, 0x3C, _END_OF_CHAIN, 0)  # no mini FAT
    struct.pack_into("<II", header, 0x44, _END_OF_CHAIN, 0)  # no DIFAT sectors
    struct.pack_into("<109I", header, 0x4C, 0, *([_FREE] * 108))  # the FAT is sector 0
    fat = struct.pack("<128I", _FAT_SECTOR, _END_OF_CHAIN, *([_FREE] * 126))

    def entry(name: str, object_type: int) -> bytes:
        raw = bytearray(128)
        encoded = (name + "\x00").encode("utf-16-le")
        raw[0:len(encoded)] = encoded
        struct.pack_into("<HBB", raw, 0x40, len(encoded), object_type, 1)
        struct.pack_into("<III", raw, 0x44, _NO_STREAM, _NO_STREAM, _NO_STREAM)
        struct.pack_into("<I", raw, 0x74, _END_OF_CHAIN)
        return bytes(raw)

    directory = entry("Root Entry", 5) + b"".join(entry(s, 2) for s in streams)
    directory += bytes(512 - len(directory))
    return bytes(header) + fat + directory


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model X"
    if orientation != 1:
        exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)
    return exif


def jpeg_with_gps(orientation: int = 1, size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    astronaut().resize(size).save(buffer, format="JPEG", quality=90,
                                  exif=exif_with_gps(orientation).tobytes(),
                                  comment=b"shot at home")
    return buffer.getvalue()


def png_with_gps() -> bytes:
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", AUTHOR)
    buffer = io.BytesIO()
    astronaut().resize((200, 200)).save(buffer, format="PNG", pnginfo=text,
                                        exif=exif_with_gps().tobytes())
    return buffer.getvalue()


def sparse_file(path: Path, size: int, *, head: bytes = b"", tail: bytes = b"") -> Path:
    """A file of `size` bytes that takes no disk (and no time) to make: zeros between head and
    tail, written with truncate."""
    with open(path, "wb") as file:
        file.write(head)
        file.truncate(size - len(tail))
        file.seek(size - len(tail))
        file.write(tail)
    return path
