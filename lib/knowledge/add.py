"""Adding a document to the knowledge base, as work for the server's action board.

A file: the browser has put it in the bucket (lib/ui/uploader.py, under `documents/incoming/`);
here it is downloaded to a temporary file (streamed), judged by its content, stripped of its
metadata where the format allows and uploaded under `documents/files/` with the right
extension; the incoming copy is deleted. Then Tavus gets a SigV4 presigned GET as
`document_url` (`POST /v2/documents`) and the team's record is written beside the others.

A website: its address is checked and asked what it is (unreachable, 4xx/5xx: said here, and
nothing goes to Tavus), then sent with the crawl settings.

Each add has an attempt kept by the page: run again (a double click, a retry after a failure),
it goes on from the step that has not happened yet, and never posts a document twice.
Plain Python.
"""

from __future__ import annotations

import ipaddress
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from lib.actions.board import Action
from lib.knowledge.intake import (
    CrawlSettings,
    DocumentRefused,
    check_document_file,
    check_document_url,
    probe_document_url,
)
from lib.knowledge.records import DocumentRecord, DocumentRecords
from lib.knowledge.upload import StoredDocument, document_url_for, upload_document
from lib.storage.s3 import ImageStore, StorageError
from lib.tavus.client import Document, TavusClient

__all__ = [
    "DOCUMENT_URL_TTL_HOURS",
    "INCOMING_FOLDER",
    "AddAttempt",
    "add_file_work",
    "add_website_work",
    "clean_tags",
    "private_hosts_reachable",
    "take_in_upload",
]

log = logging.getLogger("replica_studio.knowledge")

INCOMING_FOLDER = "documents/incoming/"  # where the browser puts a file before it is judged
# Tavus downloads a document within minutes; a day leaves room for a slow queue, and the
# maximum SigV4 allows is 7 days (a recrawl of a file is not a thing: a file is added again).
DOCUMENT_URL_TTL_HOURS = 24
MAX_TAGS = 20
MAX_TAG_LENGTH = 50


@dataclass
class AddAttempt:
    """One Add, kept by the page: what has happened so far."""

    stored: StoredDocument | None = None  # the cleaned copy in the bucket
    document: Document | None = None  # Tavus's document, once posted
    record_problem: str | None = None  # the team record could not be written (reported)
    refused: DocumentRefused | None = None  # the file cannot go to Tavus (its copy is deleted)


def clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags trimmed, de-duplicated (case kept as first typed), checked."""
    seen: dict[str, str] = {}
    for tag in tags:
        text = " ".join(str(tag).split())
        if not text:
            continue
        if len(text) > MAX_TAG_LENGTH:
            raise DocumentRefused(f"The tag “{text[:20]}…” is {len(text)} characters; keep tags "
                                  f"under {MAX_TAG_LENGTH}.")
        seen.setdefault(text.casefold(), text)
    if len(seen) > MAX_TAGS:
        raise DocumentRefused(f"{len(seen)} tags is more than {MAX_TAGS}; keep the ones a "
                              "persona will pick documents by.")
    return tuple(seen.values())


def take_in_upload(store: ImageStore, key: str, filename: str, size: int) -> StoredDocument:
    """The browser's upload at `key`, judged and stored cleaned under documents/files/; the
    incoming copy is then deleted, and so is a refused one. Raises DocumentRefused, or
    StorageError, after which the incoming copy is kept: a retry starts from it again."""
    with tempfile.TemporaryDirectory(prefix="replica-studio-document-") as folder:
        local = Path(folder) / "incoming"
        try:
            store.download_file(key, local)
            actual = local.stat().st_size
            report = check_document_file(local, filename, actual if actual else size)
            stored = upload_document(store, local, filename, report.kind)
        except DocumentRefused:
            _delete_incoming(store, key)
            raise
    _delete_incoming(store, key)
    return replace(stored, notes=report.notes)


def _delete_incoming(store: ImageStore, key: str) -> None:
    try:
        store.delete(key)
    except StorageError as error:  # an incoming copy left is swept with old uploads
        log.warning("could not delete incoming document %s: %s", key, error.message)


def add_file_work(tavus: TavusClient, store: ImageStore, records: DocumentRecords,
                  attempt: AddAttempt, *, key: str, filename: str, size: int, name: str,
                  tags: Sequence[str], added_by: str | None,
                  after: Callable[[Document], None] = lambda document: None
                  ) -> Callable[[Action], Document]:
    """Judge, clean, store, post and record a file the browser uploaded to `key`."""
    chosen_tags = clean_tags(tags)
    document_name = " ".join(name.split()) or Path(filename).stem or "Document"

    def work(action: Action) -> Document:
        if attempt.document is not None:
            return attempt.document
        if attempt.refused is not None:  # its copy is gone: the same answer, not a 404
            raise attempt.refused
        if attempt.stored is None:
            action.report(step="checking")
            try:
                attempt.stored = take_in_upload(store, key, filename, size)
            except DocumentRefused as refused:
                attempt.refused = refused
                raise
        stored = attempt.stored
        action.report(step="signing")
        url = document_url_for(store, stored.key, DOCUMENT_URL_TTL_HOURS)
        action.report(step="posting")
        attempt.document = tavus.create_document(document_url=url.url,
                                                 document_name=document_name,
                                                 tags=chosen_tags)
        action.report(step="recording")
        written = records.write(DocumentRecord.added_now(
            attempt.document.document_id, document_name, "file", added_by=added_by,
            file_name=filename, s3_key=stored.key, size_bytes=stored.size_bytes,
            kind=stored.kind, tags=chosen_tags, metadata_removed=stored.metadata_removed))
        attempt.record_problem = written.problem
        after(attempt.document)
        return attempt.document

    return work


def private_hosts_reachable(tavus_url: str) -> bool:
    """A Tavus-compatible server on this machine or network (demo mode, a local stand-in) can
    fetch private addresses; Tavus's own servers cannot."""
    host = urlsplit(tavus_url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback


def add_website_work(tavus: TavusClient, records: DocumentRecords, attempt: AddAttempt, *,
                     url: str, name: str, tags: Sequence[str], crawl: CrawlSettings | None,
                     added_by: str | None, allow_private_hosts: bool = False,
                     after: Callable[[Document], None] = lambda document: None
                     ) -> Callable[[Action], Document]:
    """Check a website's (or a file's) address, then post it with the crawl settings."""
    checked = check_document_url(url)  # a malformed address is refused at the click
    chosen_tags = clean_tags(tags)

    def work(action: Action) -> Document:
        if attempt.document is not None:
            return attempt.document
        action.report(step="checking")
        probe = probe_document_url(checked, allow_private_hosts=allow_private_hosts)
        site = urlsplit(checked)
        document_name = " ".join(name.split()) or site.hostname or "Website"
        action.report(step="posting")
        attempt.document = tavus.create_document(
            document_url=checked, document_name=document_name, tags=chosen_tags,
            crawl_depth=crawl.depth if crawl and probe.is_website else None,
            crawl_max_pages=crawl.max_pages if crawl and probe.is_website else None)
        action.report(step="recording")
        written = records.write(DocumentRecord.added_now(
            attempt.document.document_id, document_name, "url", added_by=added_by,
            url=checked, kind="website" if probe.is_website else probe.file_kind,
            tags=chosen_tags,
            crawl_depth=crawl.depth if crawl and probe.is_website else None,
            crawl_max_pages=crawl.max_pages if crawl and probe.is_website else None))
        attempt.record_problem = written.problem
        after(attempt.document)
        return attempt.document

    return work
