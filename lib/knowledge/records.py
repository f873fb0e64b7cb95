"""Document records: the team's note of each knowledge-base document added from this app.

Tavus knows a document's name, address, tags and status; the team also wants to know who added it,
when, and from which file or website. That goes in one small JSON object per document,
`{S3_PREFIX}documents/records/<document_id>.json`, beside the ledger (whose reader skips the whole
`documents/` folder). Uploaded files live in `documents/files/`, so listing the records never
lists them. A record is written after Tavus accepted the document and must never undo that: the
write has a short timeout, and a failure comes back as a problem to show, not an exception. Reads
go through one per-process `SharedObjects` copy, refreshed by ETag: make one `DocumentRecords` per
store for the whole server.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from lib.storage.ledger import now_iso
from lib.storage.s3 import ImageStore, StorageError
from lib.storage.shared_objects import SharedObjects

log = logging.getLogger("replica_studio.documents")

DOCUMENT_RECORD_VERSION = 1
DOCUMENTS_FOLDER = "documents/"
DOCUMENT_RECORDS_FOLDER = DOCUMENTS_FOLDER + "records/"
DOCUMENT_FILES_FOLDER = DOCUMENTS_FOLDER + "files/"
WRITE_TIMEOUT_SECONDS = 5.0  # S3 answers in well under a second; slower means trouble
SOURCES = ("file", "url")
# Tavus ids are short alphanumerics; anything else must not become part of a key.
_DOCUMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    document_id: str
    document_name: str
    source: str  # "file" (uploaded here) or "url" (a website or a file's address)
    added_at: str  # UTC, ISO 8601, like the ledger's times
    added_by: str | None = None  # the signed-in user, when there is one
    file_name: str | None = None  # file: the name as picked
    url: str | None = None  # url: the address as checked
    s3_key: str | None = None  # file: the uploaded copy Tavus downloads
    size_bytes: int | None = None  # file: the uploaded copy's size
    kind: str | None = None  # a format ("pdf", "docx", ...), "website", or None if not known
    tags: tuple[str, ...] = ()
    crawl_depth: int | None = None  # website crawls only
    crawl_max_pages: int | None = None
    metadata_removed: bool = False  # the uploaded copy was stripped of author/EXIF data
    version: int = DOCUMENT_RECORD_VERSION

    @classmethod
    def added_now(cls, document_id: str, document_name: str, source: str, **details: object
                  ) -> DocumentRecord:
        """A record stamped with the current time; `details` are the other fields."""
        return cls(document_id=document_id, document_name=document_name, source=source,
                   added_at=now_iso(), **details)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode()


# Field -> accepted JSON types: a hand-edited file with a wrong type is a problem, not a crash.
_TYPES: dict[str, tuple[type, ...]] = {
    **{n: (str,) for n in ("document_id", "document_name", "source", "added_at")},
    **{n: (str, type(None)) for n in ("added_by", "file_name", "url", "s3_key", "kind")},
    **{n: (int, type(None)) for n in ("size_bytes", "crawl_depth", "crawl_max_pages")},
    "tags": (list,),
    "metadata_removed": (bool,),
    "version": (int,),
}


def parse_document_record(key: str, data: bytes) -> DocumentRecord:
    """A record from its file (unknown fields from a newer app ignored); ValueError if not."""
    where = key.rsplit("/", 1)[-1]
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"The document record {where} is not valid JSON; fix or delete it in "
                         "the bucket.") from None
    if not isinstance(raw, dict):
        raise ValueError(f"The document record {where} is not a record; fix or delete it in the "
                         "bucket.")
    values = {k: v for k, v in raw.items() if k in _TYPES}
    for name in ("document_id", "document_name", "source", "added_at"):
        if not isinstance(values.get(name), str):
            raise ValueError(f"The document record {where} has no {name}; fix or delete it in "
                             "the bucket.")
    for name, value in values.items():
        allowed = _TYPES[name]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise ValueError(f"The document record {where} has an unreadable {name}; fix or "
                             "delete it in the bucket.")
    if "tags" in values:
        if not all(isinstance(tag, str) for tag in values["tags"]):
            raise ValueError(f"The document record {where} has an unreadable tag list; fix or "
                             "delete it in the bucket.")
        values["tags"] = tuple(values["tags"])
    return DocumentRecord(**values)


@dataclass(frozen=True)
class RecordWrite:
    """How a record write went: `problem` is None, or plain words to show (nothing to raise)."""

    key: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class DocumentRecords:
    """The team's document records, shared by every session of one server process."""

    def __init__(self, store: ImageStore, *, max_age_seconds: float = 30.0) -> None:
        self.store = store
        self.folder = store.settings.prefix + DOCUMENT_RECORDS_FOLDER
        self._objects: SharedObjects[DocumentRecord] = SharedObjects(
            store, self.folder, parse_document_record, max_age_seconds=max_age_seconds)

    def key_for(self, document_id: str) -> str:
        if not _DOCUMENT_ID.fullmatch(document_id):
            raise ValueError(f"not a document id: {document_id!r}")
        return f"{self.folder}{document_id}.json"

    def write(self, record: DocumentRecord) -> RecordWrite:
        """Store the record; visible to this process's reads at once. Never raises for S3:
        the document is in Tavus either way, so a failure is reported, not raised."""
        key = self.key_for(record.document_id)  # a bad id is a bug: it fails loudly, here
        try:
            etag = self.store.put_bytes(key, record.to_json(), "application/json",
                                        timeout=WRITE_TIMEOUT_SECONDS)
        except StorageError as error:
            log.warning("document record %s not written: %s", key,
                        error.code or error.status_code or "")
            return RecordWrite(key, "The document is in Tavus, but the team's note of it (who "
                               f"added it, from what) was not saved: {error.message}")
        self._objects.wrote(key, record, etag)
        return RecordWrite(key)

    def forget(self, document_id: str) -> RecordWrite:
        """Delete the record of a document deleted from Tavus; reported like `write`."""
        key = self.key_for(document_id)
        try:
            self.store.delete(key)
        except StorageError as error:
            log.warning("document record %s not deleted: %s", key,
                        error.code or error.status_code or "")
            return RecordWrite(key, f"The team's note of this document was not removed: "
                               f"{error.message}")
        self._objects.deleted(key)
        return RecordWrite(key)

    def records(self, *, force: bool = False) -> Mapping[str, DocumentRecord]:
        """Records by document id. Raises StorageError only when the folder cannot be listed."""
        entries = self._objects.refresh(force=force)
        return {e.value.document_id: e.value for e in entries.values() if e.value is not None}

    def problems(self) -> list[str]:
        """Files in the folder that do not read as records, as of the last refresh."""
        return sorted(e.problem for e in self._objects.entries.values()
                      if e.value is None and e.problem)

    def invalidate(self) -> None:
        self._objects.invalidate()
