"""Call records over moto's S3 server (real HTTP on loopback)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lib.config import S3Settings
from lib.conversations import calls as calls_module
from lib.conversations.calls import CallLog, CallRecord
from lib.storage.s3 import ImageStore, StorageError

RECORD = CallRecord(conversation_id="c0a1b2c3d4e5", started_by="jane@example.com",
                    preset_name="Booth démo", started_at="2026-11-30T10:00:00Z", record=True)


@pytest.fixture
def store(s3_settings: S3Settings) -> ImageStore:
    return ImageStore(s3_settings)


def test_a_record_written_in_the_background_is_read_by_another_process(store: ImageStore
                                                                        ) -> None:
    future = CallLog(store).write_later(RECORD)

    assert future.result(timeout=30) == "photos/calls/c0a1b2c3d4e5.json"
    assert CallLog(store).records() == {"c0a1b2c3d4e5": RECORD}
    raw = json.loads(store.read_object("photos/calls/c0a1b2c3d4e5.json"))
    assert raw["preset_name"] == "Booth démo" and raw["version"] == 1


def test_now_stamps_the_start_and_keeps_the_rest() -> None:
    made = CallRecord.now("c1", started_by=None, preset_name=None, record=False)
    assert made.started_at.endswith("Z") and made.started_by is None and not made.record


def test_a_failed_write_is_in_the_future_not_raised_at_the_caller(
        s3_settings: S3Settings) -> None:
    missing = ImageStore(replace(s3_settings, bucket="no-such-bucket-for-calls"))

    future = CallLog(missing).write_later(RECORD)  # returns; the failure arrives later

    with pytest.raises(StorageError, match="S3_BUCKET"):
        future.result(timeout=30)


def test_a_silent_store_does_not_hold_the_start(s3_settings: S3Settings, black_hole: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    silent = ImageStore(replace(s3_settings, endpoint_url=black_hole))
    monkeypatch.setattr(calls_module, "WRITE_TIMEOUT_SECONDS", 0.5)  # a faster clock

    future = CallLog(silent).write_later(RECORD)

    # The server never answers, so the write cannot have finished when write_later returned.
    assert not future.done()
    with pytest.raises(StorageError):
        future.result(timeout=60)  # and it gives up on its own (its write timeout)


def test_a_bad_conversation_id_never_becomes_a_key(store: ImageStore) -> None:
    for bad in ("", "../ledger", "c1/evil", "c1.json?x"):
        with pytest.raises(ValueError, match="conversation id"):
            CallLog(store).write_later(replace(RECORD, conversation_id=bad))
    assert store.list_keys("photos/") == []


def test_broken_records_are_skipped_and_newer_fields_ignored(store: ImageStore) -> None:
    log = CallLog(store)
    log.write(RECORD)
    store.put_bytes("photos/calls/broken.json", b"{nope", "application/json")
    store.put_bytes("photos/calls/typed.json", json.dumps(
        {"conversation_id": "c2", "started_at": "x", "record": "yes"}).encode(),
        "application/json")
    newer = {**json.loads(replace(RECORD, conversation_id="c3").to_json()), "version": 2,
             "a_new_field": "x"}
    store.put_bytes("photos/calls/c3.json", json.dumps(newer).encode(), "application/json")

    records = CallLog(store).records()

    assert set(records) == {"c0a1b2c3d4e5", "c3"}
    assert records["c3"].version == 2 and records["c3"].preset_name == "Booth démo"


def test_reads_are_shared_and_get_only_what_changed(store: ImageStore) -> None:
    writer = CallLog(store)
    for n in range(3):
        writer.write(replace(RECORD, conversation_id=f"c{n}"))
    reader = CallLog(store, max_age_seconds=0.0)  # every read refreshes

    assert len(reader.records()) == 3
    gets = reader._objects.gets
    assert gets == 3
    assert len(reader.records()) == 3
    assert reader._objects.gets == gets  # unchanged: the listing alone

    writer.write(replace(RECORD, conversation_id="c9"))
    assert "c9" in reader.records()
    assert reader._objects.gets == gets + 1


def test_a_fresh_read_asks_s3_once(store: ImageStore) -> None:
    log = CallLog(store, max_age_seconds=3600.0)
    log.records()
    log.records()
    assert log._objects.refreshes == 1
    log.write(replace(RECORD, conversation_id="c5"))
    assert "c5" in log.records()  # own write: visible without a refresh
    assert log._objects.refreshes == 1
    log.invalidate()
    log.records()
    assert log._objects.refreshes == 2
