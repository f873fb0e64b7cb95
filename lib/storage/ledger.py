"""The team ledger: a small JSON record next to each uploaded photo, in the same bucket.

Tavus knows a replica's name and status; the team also wants to know who made it, from which
photo, with which settings, and why. The record is written after the replica is created and must
never hold creation up: writes have a short timeout and a failure is reported, not raised.

Every session of the server reads the records through one `SharedLedger` per store, which keeps
them in memory by key and ETag: a refresh lists the prefix and GETs only new or changed records.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from types import MappingProxyType

from lib.storage.s3 import ImageStore, ListedObject, StorageError

log = logging.getLogger("replica_studio.ledger")

RECORD_VERSION = 1
WRITE_TIMEOUT_SECONDS = 5.0  # S3 answers in well under a second; slower means trouble
MAX_NOTES_LENGTH = 2000
RECORD_SUFFIX = ".json"
READ_WORKERS = 8  # parallel GETs: the first read of a large ledger is thousands of them
# JSON beside the records that is not a replica's record (conversation presets, call records,
# knowledge-base document records): never read as one. Named here, not imported: storage does
# not depend on conversations or knowledge.
OTHER_JSON_FOLDERS = ("presets/", "calls/", "documents/")


def is_record_key(key: str, prefix: str) -> bool:
    return key.endswith(RECORD_SUFFIX) and not key[len(prefix):].startswith(OTHER_JSON_FOLDERS)


# slots: the shared ledger holds one per record for the server's life (10,000 at scale).
@dataclass(frozen=True, slots=True)
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
    # What the replica was trained from: "photo" (photo_key is the headshot) or "video"
    # (video_key is the clip Tavus trained on; photo_key a still from it, for the table).
    kind: str = "photo"
    video_key: str | None = None
    consent_key: str | None = None  # a separate consent clip, when one was sent
    consent_mode: str | None = None  # "in_clip" or "separate"
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    framing_fixed: bool = False  # the photo sent was the Create page's "Fix framing" crop

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LedgerRecord:
        """Tolerates unknown fields (a newer app wrote it) and missing optional ones."""
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("a ledger record is a JSON object")
        # Records are indexed by replica id and ordered by time: anything else there would
        # break every read of the ledger, not just this record's.
        for name in ("replica_id", "created_at"):
            if not isinstance(raw.get(name), str):
                raise ValueError(f"a ledger record's {name} is a string")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def record_key(photo_key: str) -> str:
    """photo 'p/2026/11/25/<uuid>-jane.png' -> record 'p/2026/11/25/<uuid>-jane.json'."""
    return photo_key.rsplit(".", 1)[0] + RECORD_SUFFIX


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def clean_notes(notes: str) -> str:
    return notes.strip()[:MAX_NOTES_LENGTH]


class Ledger:
    def __init__(self, store: ImageStore) -> None:
        self.store = store

    def write(self, record: LedgerRecord) -> str:
        """Store the record beside its photo; raises StorageError (callers report and go on)."""
        return self._put(record)[0]

    def _put(self, record: LedgerRecord) -> tuple[str, str | None]:
        key = record_key(record.photo_key)
        etag = self.store.put_bytes(key, record.to_json(), "application/json",
                                    timeout=WRITE_TIMEOUT_SECONDS)
        return key, etag

    def update_notes(self, record: LedgerRecord, notes: str) -> LedgerRecord:
        updated = replace(record, notes=clean_notes(notes))
        self.write(updated)
        return updated

    def read(self, key: str) -> LedgerRecord:
        return LedgerRecord.from_json(self.store.read_object(key))

    def read_all(self) -> dict[str, LedgerRecord]:
        """Every record under the prefix, by replica id (newest record wins on a clash).

        One GET per record, every time: `SharedLedger` is the way to read repeatedly.
        """
        prefix = self.store.settings.prefix
        keys = [k for k in self.store.list_keys(prefix, suffix=RECORD_SUFFIX)
                if is_record_key(k, prefix)]

        def load(key: str) -> LedgerRecord | None:
            try:
                return self.read(key)
            except (StorageError, ValueError, TypeError) as error:
                log.warning("ledger record %s skipped: %s", key, type(error).__name__)
                return None

        with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
            return by_replica(pool.map(load, keys))


def by_replica(records: Iterable[LedgerRecord | None]) -> dict[str, LedgerRecord]:
    """Records by replica id; on a clash the newest wins (the later one on a tie)."""
    result: dict[str, LedgerRecord] = {}
    for record in records:
        if record is not None:
            previous = result.get(record.replica_id)
            if previous is None or record.created_at >= previous.created_at:
                result[record.replica_id] = record
    return result


@dataclass(frozen=True)
class RefreshStats:
    """What one refresh of a `SharedLedger` cost and found (for tests, the bench and logs)."""

    list_pages: int = 0  # ListObjectsV2 requests
    gets: int = 0  # GETs: records whose key was new or whose ETag changed
    records: int = 0  # record keys listed under the prefix
    unreadable: int = 0  # of those, records that do not parse (kept by ETag, not re-read)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the ledger knows of one record key."""

    etag: str | None  # None: re-read it on the next refresh, whatever the listing says
    record: LedgerRecord | None  # None: the object does not parse as a record
    written: int = 0  # the write's sequence number when this app wrote it, else 0


class SharedLedger(Ledger):
    """The team's records for every session of one server process, refreshed cheaply.

    A refresh lists the prefix (ListObjectsV2 gives each key's ETag) and GETs only the records
    whose key is new or whose ETag changed: with nothing changed it costs the listing's pages
    alone. Deleted keys drop out; a record that does not parse is skipped (and logged) once per
    ETag, not on every refresh.

    One refresh runs at a time. A refresh is fresh for `max_age_seconds`: callers within that
    window, and callers that waited while another thread refreshed, get its result without a
    request. A failed listing is remembered for the same window, so a down S3 is not asked again
    by every session. Writes through this object (`write`, `update_notes`) are visible to the
    next read at once, without a refresh. `invalidate` makes the next read refresh.

    The records are returned as a read-only mapping that is replaced, never changed, so callers
    may keep and iterate it while other threads refresh.
    """

    def __init__(self, store: ImageStore, *, max_age_seconds: float = 60.0,
                 list_page_size: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(store)
        self.max_age_seconds = max_age_seconds
        self.list_page_size = list_page_size  # None: S3's 1,000 keys a page
        self._clock = clock
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._state_lock = threading.Lock()  # guards everything below; held only briefly
        self._entries: dict[str, _Entry] = {}
        self._records: Mapping[str, LedgerRecord] = MappingProxyType({})
        self._listed_at: float | None = None  # when the last refresh's listing began
        self._listed_invalidation = 0
        self._invalidations = 0
        self._writes = 0
        self._failure: StorageError | None = None
        self.refreshes = 0  # refreshes that went to S3 (tests and the bench count them)
        self.last_refresh = RefreshStats()

    @property
    def records(self) -> Mapping[str, LedgerRecord]:
        """The records by replica id as last refreshed or written, without asking S3."""
        return self._records

    def refresh(self, *, force: bool = False) -> Mapping[str, LedgerRecord]:
        """The records by replica id, refreshed from S3 unless fresh.

        `force` refreshes even within the window, but a caller that waited for a refresh begun
        after it asked takes that one. Raises StorageError when S3 cannot list the prefix.
        """
        asked_at = self._clock()
        if not force:
            with self._state_lock:
                if self._fresh(asked_at):
                    return self._result()
        with self._refresh_lock:
            with self._state_lock:
                if self._fresh(self._clock()) and (not force or self._listed_at >= asked_at):
                    return self._result()
                known = dict(self._entries)
                invalidation, writes = self._invalidations, self._writes
            return self._refresh(known, invalidation, writes)

    def invalidate(self) -> None:
        """The next read refreshes (it costs the listing, plus GETs of what changed)."""
        with self._state_lock:
            self._invalidations += 1

    def write(self, record: LedgerRecord) -> str:
        key, etag = self._put(record)
        with self._state_lock:
            self._writes += 1
            # With the PUT's ETag the next listing finds it unchanged: no GET of our own write.
            self._entries[key] = _Entry(etag, record, written=self._writes)
            self._records = MappingProxyType(by_replica(e.record for e in self._entries.values()))
        return key

    def _fresh(self, now: float) -> bool:
        return (self._listed_at is not None
                and self._listed_invalidation == self._invalidations
                and now - self._listed_at < self.max_age_seconds)

    def _result(self) -> Mapping[str, LedgerRecord]:
        if self._failure is not None:
            failure = self._failure  # a fresh exception per caller: tracebacks are per raise
            raise StorageError(failure.message, code=failure.code,
                               status_code=failure.status_code)
        return self._records

    def _refresh(self, known: dict[str, _Entry], invalidation: int, writes: int
                 ) -> Mapping[str, LedgerRecord]:
        started = self._clock()
        began = time.perf_counter()
        try:
            listing = self.store.list_objects(self.store.settings.prefix, suffix=RECORD_SUFFIX,
                                              page_size=self.list_page_size)
        except StorageError as error:
            with self._state_lock:
                self._listed_at, self._listed_invalidation = started, invalidation
                self._failure = error
                self.refreshes += 1
            log.warning("ledger refresh failed: %s", error.code or error.status_code or "")
            raise
        prefix = self.store.settings.prefix
        records = [o for o in listing.objects if is_record_key(o.key, prefix)]
        changed = [o for o in records if not _unchanged(known.get(o.key), o)]
        with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
            fetched = dict(zip((o.key for o in changed), pool.map(self._fetch, changed),
                               strict=True))
        entries: dict[str, _Entry] = {}
        for listed in records:  # in key order, so that ties resolve as they always did
            previous = known.get(listed.key)
            entry = fetched.get(listed.key, previous)
            if entry is _NOT_READ:  # keep what we had, and ask again next time
                entry = _Entry(None, previous.record if previous else None)
            if entry is not None:
                entries[listed.key] = entry
        with self._state_lock:
            # A write that landed while this refresh listed is newer than what it may have seen.
            entries.update({k: e for k, e in self._entries.items() if e.written > writes})
            self._entries = entries
            self._records = MappingProxyType(by_replica(e.record for e in entries.values()))
            self._listed_at, self._listed_invalidation = started, invalidation
            self._failure = None
            self.refreshes += 1
            self.last_refresh = RefreshStats(
                list_pages=listing.pages, gets=len(changed), records=len(records),
                unreadable=sum(e.record is None and e.etag is not None
                               for e in entries.values()),
                seconds=time.perf_counter() - began)
            return self._records

    def _fetch(self, listed: ListedObject) -> _Entry | None:
        """The entry for a listed key: its record, or no record if it does not parse; None if
        it was deleted since the listing; _NOT_READ if S3 failed to answer this time."""
        try:
            data = self.store.read_object(listed.key)
        except StorageError as error:
            if error.code == "NoSuchKey":
                return None  # deleted since the listing
            log.warning("ledger record %s not read, retried next refresh: %s", listed.key,
                        error.code or error.status_code or "")
            return _NOT_READ  # not read is not unreadable
        try:
            record = LedgerRecord.from_json(data)
        except (ValueError, TypeError) as error:
            log.warning("ledger record %s skipped: %s", listed.key, type(error).__name__)
            record = None
        # If the object changed between the listing and this GET, the listed ETag is the older
        # one: the next refresh reads it again, never keeps stale content for good.
        return _Entry(listed.etag, record)


_NOT_READ = _Entry(None, None)  # a GET that failed this time (compared by identity)


def _unchanged(entry: _Entry | None, listed: ListedObject) -> bool:
    return entry is not None and entry.etag is not None and entry.etag == listed.etag
