"""The team ledger over moto's S3 server."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lib.config import S3Settings
from lib.storage.ledger import MAX_NOTES_LENGTH, Ledger, LedgerRecord, clean_notes, record_key
from lib.storage.s3 import ImageStore, StorageError

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


def test_an_unreachable_store_raises_a_storage_error_quickly() -> None:
    ledger = Ledger(ImageStore(S3Settings(bucket="b", endpoint_url="http://127.0.0.1:9",
                                          access_key_id="i", secret_access_key="s")))
    with pytest.raises(StorageError):
        ledger.write(RECORD)
