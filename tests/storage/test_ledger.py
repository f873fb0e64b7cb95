"""The team ledger over moto's S3 server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from lib.config import S3Settings
from lib.storage.ledger import (
    MAX_NOTES_LENGTH,
    Ledger,
    LedgerRecord,
    SharedLedger,
    clean_notes,
    record_key,
)
from lib.storage.s3 import ImageStore, StorageError
from tests.wire import CountingProxy

RECORD = LedgerRecord(replica_id="r1234567890a", replica_name="Jane <b>Doe</b>",
                      photo_key="photos/2026/11/25/abc-jane.png", voice_name="anna",
                      model_name="phoenix-4", auto_fix_training_image=True,
                      created_at="2026-11-25T10:00:00Z", created_by="jane@example.com",
                      check_score=92, notes="Shot in the studio; 🎬 take 2")


def test_record_sits_next_to_its_photo() -> None:
    assert record_key("photos/2026/11/25/abc-jane.png") == "photos/2026/11/25/abc-jane.json"
    assert record_key("p/x.y.jpg") == "p/x.y.json"


def test_write_then_read_round_trips_every_field(s3_settings: S3Settings) -> None:
    ledger = Ledger(ImageStore(s3_settings))
    key = ledger.write(RECORD)
    assert key == "photos/2026/11/25/abc-jane.json"
    assert ledger.read(key) == RECORD
    stored = json.loads(ImageStore(s3_settings).read_object(key))
    assert stored["created_by"] == "jane@example.com" and stored["version"] == 1
    head = ImageStore(s3_settings)._s3.head_object(Bucket=s3_settings.bucket, Key=key)
    assert head["ContentType"] == "application/json"


def test_read_all_indexes_by_replica_and_skips_broken_records(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    ledger = Ledger(store)
    ledger.write(RECORD)
    other = replace(RECORD, replica_id="rbbbbbbbbbbb", photo_key="photos/2026/11/25/def-x.png")
    ledger.write(other)
    store.put_bytes("photos/2026/11/25/broken.json", b"{not json", "application/json")
    store.put_bytes("photos/2026/11/25/abc-jane.png", b"\x89PNG", "image/png")  # not a record
    records = ledger.read_all()
    assert set(records) == {"r1234567890a", "rbbbbbbbbbbb"}
    assert records["rbbbbbbbbbbb"].photo_key.endswith("def-x.png")


def test_unknown_fields_from_a_newer_app_are_tolerated() -> None:
    data = json.loads(RECORD.to_json())
    data["future_field"] = {"x": 1}
    del data["notes"]
    record = LedgerRecord.from_json(json.dumps(data).encode())
    assert record.replica_id == RECORD.replica_id and record.notes == ""


def test_notes_are_trimmed_and_capped() -> None:
    assert clean_notes("  hi  ") == "hi"
    assert len(clean_notes("x" * 5000)) == MAX_NOTES_LENGTH


def test_an_unreachable_store_raises_a_storage_error_that_names_it() -> None:
    ledger = Ledger(ImageStore(S3Settings(bucket="b", endpoint_url="http://127.0.0.1:9",
                                          access_key_id="i", secret_access_key="s")))
    with pytest.raises(StorageError, match=r"127\.0\.0\.1:9"):
        ledger.write(RECORD)


def test_records_that_are_not_json_objects_or_lack_a_string_id_do_not_parse() -> None:
    for data in (b"[]", b'"x"', b"{not json", b'{"replica_id": 5, "created_at": "t"}',
                 json.dumps({**json.loads(RECORD.to_json()), "created_at": 1}).encode()):
        with pytest.raises(ValueError):
            LedgerRecord.from_json(data)


# --- SharedLedger: requests counted on the wire, through a proxy in front of moto ------------

def record(n: int, **changes) -> LedgerRecord:
    return replace(RECORD, **{"replica_id": f"r{n:011d}", "notes": f"notes {n}",
                              "photo_key": f"photos/2026/11/25/{n:05d}-x.png", **changes})


@pytest.fixture
def wire(s3_endpoint: str) -> Iterator[CountingProxy]:
    with CountingProxy(s3_endpoint) as proxy:
        yield proxy


def through(wire: CountingProxy, settings: S3Settings) -> ImageStore:
    """A store whose every request crosses the counting proxy."""
    return ImageStore(replace(settings, endpoint_url=wire.url))


def seed(settings: S3Settings, count: int) -> Ledger:
    """`count` records (and their photos, which share the listing) written by another server."""
    elsewhere = Ledger(ImageStore(settings))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(elsewhere.write, (record(n) for n in range(count))))
        list(pool.map(lambda n: elsewhere.store.put_bytes(record(n).photo_key, b"\x89PNG",
                                                          "image/png"), range(count)))
    return elsewhere


def test_a_refresh_reads_each_record_once_then_only_lists(wire, s3_settings) -> None:
    seed(s3_settings, 20)
    ledger = SharedLedger(through(wire, s3_settings))
    records = ledger.refresh()
    assert set(records) == {f"r{n:011d}" for n in range(20)}
    assert records["r00000000007"].notes == "notes 7"
    assert (wire.lists(), wire.object_gets(), wire.count()) == (1, 20, 21)
    assert ledger.last_refresh == replace(ledger.last_refresh, list_pages=1, gets=20,
                                          records=20, unreadable=0)

    wire.reset()
    assert ledger.refresh(force=True) == records
    assert (wire.lists(), wire.object_gets(), wire.count()) == (1, 0, 1)
    assert (ledger.last_refresh.gets, ledger.refreshes) == (0, 2)


def test_an_unchanged_refresh_costs_the_listing_pages_photos_included(wire, s3_settings) -> None:
    seed(s3_settings, 24)  # 48 keys: 5 pages of 10 (S3's pages hold 1,000)
    ledger = SharedLedger(through(wire, s3_settings), list_page_size=10)
    assert len(ledger.refresh()) == 24
    assert (wire.lists(), wire.object_gets()) == (5, 24)
    wire.reset()
    ledger.refresh(force=True)
    assert (wire.lists(), wire.object_gets(), wire.count()) == (5, 0, 5)
    assert ledger.last_refresh.list_pages == 5


def test_a_changed_record_is_read_again_a_new_one_appears_a_deleted_one_goes(
        wire, s3_settings) -> None:
    elsewhere = seed(s3_settings, 5)
    ledger = SharedLedger(through(wire, s3_settings))
    ledger.refresh()
    elsewhere.update_notes(record(2), "rewritten on another server")  # a new ETag
    elsewhere.write(record(9))
    elsewhere.store._s3.delete_object(Bucket=s3_settings.bucket,
                                      Key=record_key(record(4).photo_key))

    wire.reset()
    records = ledger.refresh(force=True)
    assert records["r00000000002"].notes == "rewritten on another server"
    assert records["r00000000009"].notes == "notes 9"
    assert "r00000000004" not in records
    assert set(records) == {f"r{n:011d}" for n in (0, 1, 2, 3, 9)}
    read = sorted(r.path for r in wire.requests if r.is_object_get)
    assert read == sorted(f"/{s3_settings.bucket}/" + record_key(record(n).photo_key)
                          for n in (2, 9))
    assert wire.lists() == 1


def test_a_corrupt_record_is_skipped_once_and_not_read_again_while_unchanged(
        wire, s3_settings, caplog) -> None:
    seed(s3_settings, 3)
    store = ImageStore(s3_settings)
    broken = {"photos/2026/11/25/broken.json": b"{not json", "photos/2026/11/25/list.json": b"[]",
              "photos/2026/11/25/no-id.json": b'{"replica_name": "x"}'}
    for key, data in broken.items():
        store.put_bytes(key, data, "application/json")
    ledger = SharedLedger(through(wire, s3_settings))
    with caplog.at_level(logging.WARNING, logger="replica_studio.ledger"):
        assert len(ledger.refresh()) == 3
    assert wire.object_gets() == 6 and ledger.last_refresh.unreadable == 3
    assert sorted(k for k in broken if any(k in m for m in caplog.messages)) == sorted(broken)

    wire.reset()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="replica_studio.ledger"):
        assert len(ledger.refresh(force=True)) == 3
    assert (wire.object_gets(), ledger.last_refresh.unreadable) == (0, 3)
    assert not caplog.messages  # logged when read, not on every refresh

    fixed = replace(record(7), photo_key="photos/2026/11/25/broken.png")
    store.put_bytes("photos/2026/11/25/broken.json", fixed.to_json(), "application/json")
    wire.reset()
    assert ledger.refresh(force=True)["r00000000007"] == fixed
    assert wire.object_gets() == 1 and ledger.last_refresh.unreadable == 2


def test_a_record_that_could_not_be_read_is_kept_and_read_again(wire, s3_settings) -> None:
    seed(s3_settings, 3)
    ledger = SharedLedger(through(wire, s3_settings))
    ledger.refresh()
    ImageStore(s3_settings).put_bytes(record_key(record(1).photo_key),
                                      record(1, notes="changed").to_json(), "application/json")
    path = f"/{s3_settings.bucket}/{record_key(record(1).photo_key)}"
    wire.fail(path, times=100)  # however often boto3 retries
    wire.reset()
    records = ledger.refresh(force=True)
    wire.fail(path, times=0)
    gets = [r.path for r in wire.requests if r.is_object_get]
    assert len(gets) > 1 and set(gets) == {path}  # retried by boto3, then given up
    assert records["r00000000001"].notes == "notes 1"  # the last good read stays
    assert ledger.last_refresh.unreadable == 0  # a failed read is not a broken record

    wire.reset()
    assert ledger.refresh(force=True)["r00000000001"].notes == "changed"
    assert wire.object_gets() == 1


def test_within_the_window_no_request_after_it_or_an_invalidation_a_listing(
        wire, s3_settings) -> None:
    seed(s3_settings, 4)
    now = [1000.0]
    ledger = SharedLedger(through(wire, s3_settings), max_age_seconds=60, clock=lambda: now[0])
    first = ledger.refresh()
    wire.reset()
    now[0] += 59
    assert ledger.refresh() is first
    assert wire.count() == 0
    now[0] += 2
    assert ledger.refresh() == first
    assert (wire.lists(), wire.object_gets()) == (1, 0)

    wire.reset()
    ledger.refresh()
    assert wire.count() == 0
    ledger.invalidate()
    ledger.refresh()
    assert (wire.lists(), wire.object_gets()) == (1, 0)


def test_concurrent_callers_share_one_refresh(s3_endpoint, s3_settings) -> None:
    seed(s3_settings, 12)
    # 50 ms a request: a refresh takes ~0.15 s, so the eight callers surely overlap it.
    with CountingProxy(s3_endpoint, delay=0.05) as slow_wire:
        ledger = SharedLedger(through(slow_wire, s3_settings))
        start = threading.Barrier(8)

        def call() -> Mapping[str, LedgerRecord]:
            start.wait()
            return ledger.refresh()

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: call(), range(8)))
        assert (slow_wire.lists(), slow_wire.object_gets()) == (1, 12)
    assert ledger.refreshes == 1
    assert all(r is results[0] for r in results) and len(results[0]) == 12


def test_a_write_is_seen_at_once_and_its_etag_saves_the_next_get(wire, s3_settings) -> None:
    seed(s3_settings, 3)
    ledger = SharedLedger(through(wire, s3_settings))
    ledger.refresh()
    wire.reset()
    ledger.write(record(5))
    updated = ledger.update_notes(ledger.records["r00000000001"], "edited here")
    assert [r.method for r in wire.requests] == ["PUT", "PUT"]  # no listing, no read
    assert ledger.refresh()["r00000000005"] == record(5)  # fresh: from memory
    assert ledger.records["r00000000001"] == updated
    assert wire.count() == 2

    ledger.invalidate()
    wire.reset()
    records = ledger.refresh()
    assert (wire.lists(), wire.object_gets()) == (1, 0)  # the PUTs' ETags match the listing
    assert records["r00000000001"].notes == "edited here" and len(records) == 4


def test_a_write_landing_during_a_refresh_is_not_lost(s3_endpoint, s3_settings) -> None:
    seed(s3_settings, 3)
    with CountingProxy(s3_endpoint, delay=0.2) as slow_wire:
        ledger = SharedLedger(through(slow_wire, s3_settings))
        refreshing = threading.Thread(target=ledger.refresh)
        refreshing.start()
        deadline = time.monotonic() + 5
        while not slow_wire.lists() and time.monotonic() < deadline:
            time.sleep(0.005)
        ledger.write(record(8))  # reaches S3 after the listing did
        refreshing.join()
    assert ledger.last_refresh.records == 3  # the listing really missed it
    assert ledger.records["r00000000008"] == record(8)


def test_a_failed_listing_is_remembered_for_the_window(wire, s3_settings) -> None:
    seed(s3_settings, 2)
    now = [0.0]
    missing = replace(s3_settings, bucket="no-such-bucket-here")
    ledger = SharedLedger(through(wire, missing), clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(StorageError, match="NoSuchBucket"):
            ledger.refresh()
    assert wire.count() == 1 and ledger.records == {}
    now[0] += 61
    with pytest.raises(StorageError):
        ledger.refresh()
    assert wire.count() == 2


def test_presets_and_call_records_beside_the_records_are_never_read_as_records(
        s3_endpoint, s3_settings) -> None:
    store = ImageStore(s3_settings)
    ledger = SharedLedger(store)
    store.put_bytes(f"{s3_settings.prefix}presets/acme.json", b'{"name": "Acme"}',
                    "application/json")
    store.put_bytes(f"{s3_settings.prefix}calls/c123.json", b'{"conversation_id": "c123"}',
                    "application/json")
    assert dict(ledger.refresh(force=True)) == {}
    assert ledger.last_refresh.gets == 0 and ledger.last_refresh.unreadable == 0
    assert Ledger(store).read_all() == {}


def test_knowledge_base_documents_beside_the_records_are_never_read_as_records(
        s3_endpoint, s3_settings) -> None:
    store = ImageStore(s3_settings)
    Ledger(store).write(RECORD)
    # A document record carries a time but no replica id: it would be an unreadable record.
    store.put_bytes(f"{s3_settings.prefix}documents/records/d123.json",
                    b'{"document_id": "d123", "added_at": "2026-11-30T10:00:00Z"}',
                    "application/json")
    ledger = SharedLedger(store)
    assert set(ledger.refresh(force=True)) == {RECORD.replica_id}
    assert ledger.last_refresh.records == 1 and ledger.last_refresh.unreadable == 0
    assert set(Ledger(store).read_all()) == {RECORD.replica_id}
