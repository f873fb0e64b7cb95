"""Document records over moto's S3 server (real HTTP on loopback)."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import pytest

from lib.config import S3Settings
from lib.knowledge import records as records_module
from lib.knowledge.records import (
    DocumentRecord,
    DocumentRecords,
    parse_document_record,
)
from lib.storage.s3 import ImageStore

FILE_RECORD = DocumentRecord(
    document_id="d8a1f2c3b4e5", document_name="Pricing 2026.pdf", source="file",
    added_at="2026-11-30T10:00:00Z", added_by="jane@example.com", file_name="Pricing 2026.pdf",
    s3_key="photos/documents/files/2026/11/30/abc-Pricing-2026.pdf", size_bytes=48_213,
    kind="pdf", tags=("sales", "démo"), metadata_removed=False)
SITE_RECORD = DocumentRecord(
    document_id="d0000000site", document_name="Acme help centre", source="url",
    added_at="2026-11-30T11:00:00Z", url="https://help.example.com/", kind="website",
    crawl_depth=2, crawl_max_pages=25)


@pytest.fixture
def store(s3_settings: S3Settings) -> ImageStore:
    return ImageStore(s3_settings)


def test_records_round_trip_through_another_process(store: ImageStore) -> None:
    written = DocumentRecords(store)
    assert written.write(FILE_RECORD).ok
    assert written.write(SITE_RECORD).ok

    read = DocumentRecords(store).records()  # a fresh reader: what another server sees

    assert read == {"d8a1f2c3b4e5": FILE_RECORD, "d0000000site": SITE_RECORD}
    raw = json.loads(store.read_object("photos/documents/records/d8a1f2c3b4e5.json"))
    assert raw["tags"] == ["sales", "démo"] and raw["version"] == 1
    head = store.call("head_object", Key="photos/documents/records/d8a1f2c3b4e5.json")
    assert head["ContentType"] == "application/json"


def test_a_write_is_visible_to_the_same_reader_without_a_get(store: ImageStore) -> None:
    documents = DocumentRecords(store)
    assert documents.records() == {}
    documents.write(FILE_RECORD)
    assert documents.records() == {"d8a1f2c3b4e5": FILE_RECORD}
    assert documents.records(force=True) == {"d8a1f2c3b4e5": FILE_RECORD}
    assert documents._objects.gets == 0  # the listing found our own write unchanged


def test_added_now_stamps_the_time() -> None:
    made = DocumentRecord.added_now("d1", "Doc", "url", url="https://example.com/")
    assert made.added_at.endswith("Z") and made.url == "https://example.com/"
    assert made.tags == () and made.version == 1


def test_a_failed_write_is_reported_not_raised(s3_endpoint: str) -> None:
    missing = ImageStore(S3Settings(bucket="no-such-bucket-here", endpoint_url=s3_endpoint,
                                    prefix="photos/", access_key_id="test-key-id",
                                    secret_access_key="test-secret-value"))
    outcome = DocumentRecords(missing).write(FILE_RECORD)
    assert not outcome.ok
    assert outcome.key == "photos/documents/records/d8a1f2c3b4e5.json"
    assert outcome.problem.startswith("The document is in Tavus, but the team's note of it (who "
                                      "added it, from what) was not saved: The photo store "
                                      "refused the request (NoSuchBucket)")
    assert "test-secret-value" not in outcome.problem


def test_the_writer_uses_a_short_timeout(store: ImageStore, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    seen: list[float | None] = []
    real_put = store.put_bytes

    def put_bytes(*args, timeout=None, **options):
        seen.append(timeout)
        return real_put(*args, timeout=timeout, **options)

    monkeypatch.setattr(store, "put_bytes", put_bytes)
    DocumentRecords(store).write(SITE_RECORD)
    assert seen == [records_module.WRITE_TIMEOUT_SECONDS] and seen[0] <= 5


@pytest.mark.parametrize("bad", ["", "../ledger", "d1/evil", "d1.json?x", "x" * 101])
def test_a_bad_document_id_never_becomes_a_key(store: ImageStore, bad: str) -> None:
    with pytest.raises(ValueError, match="not a document id"):
        DocumentRecords(store).write(replace(FILE_RECORD, document_id=bad))


def test_unreadable_files_are_problems_and_the_rest_still_read(store: ImageStore) -> None:
    folder = "photos/documents/records/"
    DocumentRecords(store).write(FILE_RECORD)
    store.put_bytes(folder + "broken.json", b"{nope", "application/json")
    store.put_bytes(folder + "list.json", b"[1]", "application/json")
    store.put_bytes(folder + "nameless.json", json.dumps(
        {"document_id": "d2", "source": "file", "added_at": "x"}).encode(), "application/json")
    store.put_bytes(folder + "typed.json", json.dumps(
        {**json.loads(SITE_RECORD.to_json()), "crawl_depth": "deep"}).encode(),
        "application/json")
    newer = {**json.loads(SITE_RECORD.to_json()), "a_new_field": [1, 2]}
    store.put_bytes(folder + "d0000000site.json", json.dumps(newer).encode(), "application/json")

    documents = DocumentRecords(store)
    assert documents.records() == {"d8a1f2c3b4e5": FILE_RECORD, "d0000000site": SITE_RECORD}
    assert documents.problems() == [
        "The document record broken.json is not valid JSON; fix or delete it in the bucket.",
        "The document record list.json is not a record; fix or delete it in the bucket.",
        "The document record nameless.json has no document_name; fix or delete it in the "
        "bucket.",
        "The document record typed.json has an unreadable crawl_depth; fix or delete it in the "
        "bucket.",
    ]


def test_forget_deletes_the_record(store: ImageStore) -> None:
    documents = DocumentRecords(store)
    documents.write(FILE_RECORD)
    documents.write(SITE_RECORD)
    assert documents.forget("d8a1f2c3b4e5").ok
    assert set(documents.records()) == {"d0000000site"}
    assert set(DocumentRecords(store).records()) == {"d0000000site"}


def test_uploaded_files_beside_the_records_are_not_read_as_records(store: ImageStore) -> None:
    store.put_bytes("photos/documents/files/2026/11/30/abc-data.json", b'{"a": 1}',
                    "application/json")  # not a format Tavus takes, but never a record either
    documents = DocumentRecords(store)
    assert documents.records() == {} and documents.problems() == []


def test_every_field_has_a_json_type() -> None:
    assert set(records_module._TYPES) == {f.name for f in fields(DocumentRecord)}
    with pytest.raises(ValueError, match="unreadable tag list"):
        parse_document_record("k/x.json", json.dumps(
            {**json.loads(FILE_RECORD.to_json()), "tags": ["ok", 3]}).encode())
    with pytest.raises(ValueError, match="unreadable metadata_removed"):
        parse_document_record("k/x.json", json.dumps(
            {**json.loads(FILE_RECORD.to_json()), "metadata_removed": 1}).encode())
