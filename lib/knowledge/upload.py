"""A document file into the team bucket, and the presigned GET that Tavus downloads it from.

The same path as a training photo: the file is uploaded under the team prefix, and Tavus gets a
SigV4 presigned GET as `document_url`. The file is streamed from disk (multipart above 8 MB), never
held whole, and stripped of its metadata first where the format allows (see `strip_metadata`).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lib.knowledge.intake import (
    MAX_DOCUMENT_BYTES,
    DocumentKind,
    DocumentRefused,
    document_file_name,
    strip_metadata,
)
from lib.knowledge.records import DOCUMENT_FILES_FOLDER
from lib.storage.s3 import ImageStore, TrainingUrl

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_KEY_NAME_LENGTH = 60


@dataclass(frozen=True)
class StoredDocument:
    key: str
    content_type: str
    size_bytes: int  # of what was uploaded (after stripping)
    file_name: str  # as picked, with the right extension: the `document_name` to give Tavus
    kind: str  # a FORMATS key: "pdf", "docx", ...
    metadata_removed: bool  # the upload is a stripped copy, not the file as picked
    notes: tuple[str, ...] = ()  # what the person should know: a corrected extension, metadata


def document_key(store: ImageStore, file_name: str, *, now: datetime | None = None) -> str:
    """prefix/documents/files/YYYY/MM/DD/<uuid>-<safe name>: unique, sortable by day, readable
    in a console, and outside the folder the records are listed from."""
    now = now or datetime.now(UTC)
    stem, dot, extension = file_name.rpartition(".")
    if not dot:
        stem, extension = file_name, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    # Like safe_file_name's, but a name with no Latin letters is a "document", not a "photo".
    safe = _SAFE_NAME.sub("-", ascii_stem).strip("-._")[:MAX_KEY_NAME_LENGTH] or "document"
    suffix = f".{extension.lower()}" if extension else ""
    return (f"{store.settings.prefix}{DOCUMENT_FILES_FOLDER}{now:%Y/%m/%d}/"
            f"{uuid.uuid4().hex}-{safe}{suffix}")


def upload_document(store: ImageStore, path: str | Path, filename: str, kind: DocumentKind, *,
                    on_bytes: Callable[[int], None] | None = None) -> StoredDocument:
    """Upload the file at `path` (picked as `filename`, sniffed as `kind`): stripped of its
    metadata where the format allows, under a key with the right extension, stored with the
    kind's content type. `on_bytes(n)` reports each chunk sent, from boto3's threads.

    Raises DocumentRefused when the file turns out damaged (or grew past 50 MB when re-saved),
    StorageError when S3 refuses.
    """
    source = Path(path)
    file_name = document_file_name(filename, kind)
    cleaned = strip_metadata(source, kind)
    try:
        size = cleaned.stat().st_size
        if size > MAX_DOCUMENT_BYTES:  # a re-saved image can come out larger than it went in
            raise DocumentRefused(
                f"Without its metadata {file_name} comes to {size / 1_000_000:.1f} MB, over "
                f"Tavus's {MAX_DOCUMENT_BYTES // 1_000_000} MB. Export it smaller and add that.")
        key = document_key(store, file_name)
        store.upload_file(cleaned, key, kind.content_type, on_bytes=on_bytes,
                          single_put_up_to=MAX_DOCUMENT_BYTES)
    finally:
        if cleaned != source:
            cleaned.unlink(missing_ok=True)
    return StoredDocument(key=key, content_type=kind.content_type, size_bytes=size,
                          file_name=file_name, kind=kind.name, metadata_removed=cleaned != source)


def document_url_for(store: ImageStore, key: str, ttl_hours: int) -> TrainingUrl:
    """The SigV4 GET Tavus downloads the document from, valid `ttl_hours` (clamped to the
    24 h-7 days that Tavus and SigV4 allow, as for training photos)."""
    return store.presign_get(key, ttl_hours=ttl_hours)
