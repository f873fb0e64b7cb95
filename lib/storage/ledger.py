"""The team ledger: a small JSON record next to each uploaded photo, in the same bucket.

Tavus knows a replica's name and status; the team also wants to know who made it, from which
photo, with which settings, and why. The record is written after the replica is created and must
never hold creation up: writes have a short timeout and a failure is reported, not raised.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime

from lib.storage.s3 import ImageStore, StorageError

log = logging.getLogger("replica_studio.ledger")

RECORD_VERSION = 1
WRITE_TIMEOUT_SECONDS = 5.0  # S3 answers in well under a second; slower means trouble
MAX_NOTES_LENGTH = 2000


@dataclass(frozen=True)
class LedgerRecord:
    replica_id: str
    replica_name: str
    photo_key: str
    voice_name: str
    model_name: str
    auto_fix_training_image: bool
    created_at: str
    created_by: str | None = None
    check_score: int | None = None
    background_green_screen: bool = False
    notes: str = ""
    version: int = RECORD_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LedgerRecord:
        """Tolerates unknown fields (a newer app wrote it) and missing optional ones."""
        raw = json.loads(data)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def record_key(photo_key: str) -> str:
    """photo 'p/2026/11/25/<uuid>-jane.png' -> record 'p/2026/11/25/<uuid>-jane.json'."""
    return photo_key.rsplit(".", 1)[0] + ".json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def clean_notes(notes: str) -> str:
    return notes.strip()[:MAX_NOTES_LENGTH]


class Ledger:
    def __init__(self, store: ImageStore) -> None:
        self.store = store

    def write(self, record: LedgerRecord) -> str:
        """Store the record beside its photo; raises StorageError (callers report and go on)."""
        key = record_key(record.photo_key)
        self.store.put_bytes(key, record.to_json(), "application/json",
                             timeout=WRITE_TIMEOUT_SECONDS)
        return key

    def update_notes(self, record: LedgerRecord, notes: str) -> LedgerRecord:
        updated = replace(record, notes=clean_notes(notes))
        self.write(updated)
        return updated

    def read(self, key: str) -> LedgerRecord:
        return LedgerRecord.from_json(self.store.read_object(key))

    def read_all(self) -> dict[str, LedgerRecord]:
        """Every record under the prefix, by replica id (newest record wins on a clash)."""
        keys = self.store.list_keys(self.store.settings.prefix, suffix=".json")
        records: dict[str, LedgerRecord] = {}

        def load(key: str) -> LedgerRecord | None:
            try:
                return self.read(key)
            except (StorageError, ValueError, TypeError) as error:
                log.warning("ledger record %s skipped: %s", key, type(error).__name__)
                return None

        with ThreadPoolExecutor(max_workers=8) as pool:
            for record in pool.map(load, keys):
                if record is not None:
                    previous = records.get(record.replica_id)
                    if previous is None or record.created_at >= previous.created_at:
                        records[record.replica_id] = record
        return records
