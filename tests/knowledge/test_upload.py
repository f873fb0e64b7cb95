"""Document uploads over moto's S3 server: what is stored is stripped, named for what it is, and
the presigned GET that Tavus gets downloads exactly those bytes."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lib.config import S3Settings
from lib.knowledge.intake import (
    DocumentRefused,
    check_document_file,
    sniff_document,
)
from lib.knowledge.upload import document_key, document_url_for, upload_document
from lib.storage.s3 import ImageStore
from tests.knowledge.documents import (
    AUTHOR,
    COMPANY,
    GPS_IFD,
    jpeg_with_gps,
    minimal_pdf,
    ooxml,
)

KEY = re.compile(r"photos/documents/files/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}-(?P<name>.+)")


@pytest.fixture
def store(s3_settings: S3Settings) -> ImageStore:
    return ImageStore(s3_settings)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory stripped copies go to, watched for leftovers."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


def picked(tmp_path: Path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path, check_document_file(path, name, len(data))


def test_a_docx_is_stored_without_its_author(store: ImageStore, tmp_path: Path,
                                             scratch: Path) -> None:
    path, report = picked(tmp_path, "Pricing 2026 (final).docx", ooxml("docx"))
    sent: list[int] = []

    stored = upload_document(store, path, "Pricing 2026 (final).docx", report.kind,
                             on_bytes=sent.append)

    assert KEY.fullmatch(stored.key)["name"] == "Pricing-2026-final.docx"
    assert stored.kind == "docx" and stored.metadata_removed
    assert stored.file_name == "Pricing 2026 (final).docx"
    body = store.read_object(stored.key)
    assert len(body) == stored.size_bytes == sum(sent)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert AUTHOR.encode() not in archive.read("docProps/core.xml")
        assert COMPANY.encode() not in archive.read("docProps/app.xml")
        assert b"Quarterly pricing" in archive.read("word/document.xml")
    head = store.call("head_object", Key=stored.key)
    assert head["ContentType"] == report.kind.content_type
    assert list(scratch.iterdir()) == []  # the stripped copy is gone
    assert path.read_bytes() == ooxml("docx")  # the picked file is untouched


def test_a_jpeg_named_pdf_is_stored_as_a_jpeg_without_gps(store: ImageStore, tmp_path: Path,
                                                          scratch: Path) -> None:
    path, report = picked(tmp_path, "brochure.pdf", jpeg_with_gps(orientation=6))
    assert report.kind.name == "jpg" and report.file_name == "brochure.jpg"

    stored = upload_document(store, path, "brochure.pdf", report.kind)

    assert KEY.fullmatch(stored.key)["name"] == "brochure.jpg"
    assert stored.file_name == "brochure.jpg" and stored.content_type == "image/jpeg"
    body = store.read_object(stored.key)
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "JPEG" and image.size == (240, 320)
        assert len(image.getexif()) == 0 and not image.getexif().get_ifd(GPS_IFD)
    assert b"PhoneMaker" not in body
    assert list(scratch.iterdir()) == []


def test_the_presigned_url_downloads_the_stored_bytes(store: ImageStore, tmp_path: Path,
                                                      s3_settings: S3Settings) -> None:
    path, report = picked(tmp_path, "site.jpg", jpeg_with_gps())
    stored = upload_document(store, path, "site.jpg", report.kind)

    link = document_url_for(store, stored.key, ttl_hours=72)

    response = httpx.get(link.url)
    assert response.status_code == 200
    assert response.content == store.read_object(stored.key)
    assert response.headers["content-type"] == "image/jpeg"
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in link.url
    assert s3_settings.secret_access_key not in link.url
    assert abs(link.expires_at - (datetime.now(UTC) + timedelta(hours=72))) < timedelta(
        minutes=5)


def test_the_url_lifetime_is_clamped_like_a_training_photo(store: ImageStore) -> None:
    link = document_url_for(store, "photos/documents/files/x.pdf", ttl_hours=1)
    assert abs(link.expires_at - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(
        minutes=5)


def test_a_pdf_goes_up_byte_for_byte(store: ImageStore, tmp_path: Path, scratch: Path) -> None:
    data = minimal_pdf()
    path, report = picked(tmp_path, "Pricing.pdf", data)
    stored = upload_document(store, path, "Pricing.pdf", report.kind)
    assert not stored.metadata_removed and stored.size_bytes == len(data)
    assert store.read_object(stored.key) == data
    assert path.read_bytes() == data  # left as it is, and not deleted
    assert list(scratch.iterdir()) == []


def test_a_text_file_is_stored_with_its_charset(store: ImageStore, tmp_path: Path) -> None:
    data = "Prix: 10 €\n".encode("utf-16")
    path, report = picked(tmp_path, "prix", data)
    stored = upload_document(store, path, "prix", report.kind)
    assert KEY.fullmatch(stored.key)["name"] == "prix.txt"
    head = store.call("head_object", Key=stored.key)
    assert head["ContentType"] == "text/plain; charset=utf-16"
    assert store.read_object(stored.key) == data


def test_a_damaged_image_is_refused_before_anything_is_stored(store: ImageStore, tmp_path: Path,
                                                              scratch: Path) -> None:
    data = jpeg_with_gps()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DocumentRefused, match="damaged or incomplete"):
        upload_document(store, path, "cut.jpg", sniff_document(path, "cut.jpg"))
    assert store.list_keys("photos/") == []
    assert list(scratch.iterdir()) == []


def test_keys_are_readable_unique_and_never_a_photo(store: ImageStore) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    first = document_key(store, "Präsentation Q3.PPTX", now=now)
    assert re.fullmatch(r"photos/documents/files/2026/11/30/[0-9a-f]{32}-Prasentation-Q3\.pptx",
                        first)
    assert document_key(store, "Präsentation Q3.PPTX", now=now) != first
    assert document_key(store, "資料.pdf", now=now).endswith("-document.pdf")
