"""Small JSON objects under one prefix, read through one per-process copy refreshed by ETag.

The same idea as `SharedLedger` (lib/storage/ledger.py), made generic for the team's other small
records (conversation presets, call records): a refresh lists the prefix and GETs only keys that
are new or whose ETag changed, so an unchanged folder costs one listing. A refresh is fresh for
`max_age_seconds`; one runs at a time and waiting callers take its result; a failed listing is
remembered for the same window so a down S3 is not asked by every session. Writes and deletes made
through this object are visible at once. Results are read-only mappings, replaced, never changed.

A value that does not parse is kept as its error text (per ETag, not re-read every refresh), so a
caller can list it as a problem instead of failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, TypeVar

from lib.storage.s3 import ImageStore, ListedObject, StorageError

log = logging.getLogger("replica_studio.shared_objects")

T = TypeVar("T")
READ_WORKERS = 8


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """One object as last read: its value, or why it could not be read."""

    key: str
    etag: str | None  # None: read it again on the next refresh
    value: T | None
    problem: str | None = None  # set when value is None: plain words, safe to show
    written: int = 0  # the write's sequence number when this object wrote it, else 0


class SharedObjects(Generic[T]):
    """The objects under `prefix` ending in `suffix`, parsed by `parse`, shared by sessions.

    `parse(key, data)` returns the value or raises ValueError/TypeError with a message a person
    can act on (it becomes `Loaded.problem`).
    """

    def __init__(self, store: ImageStore, prefix: str, parse: Callable[[str, bytes], T], *,
                 suffix: str = ".json", max_age_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.prefix = prefix
        self.suffix = suffix
        self.max_age_seconds = max_age_seconds
        self._parse = parse
        self._clock = clock
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._state_lock = threading.Lock()  # guards the fields below; held only briefly
        self._entries: Mapping[str, Loaded[T]] = MappingProxyType({})
        self._listed_at: float | None = None
        self._listed_invalidation = 0
        self._invalidations = 0
        self._writes = 0
        self._deleted: dict[str, int] = {}  # key -> write number of our delete
        self._failure: StorageError | None = None
        self.refreshes = 0  # refreshes that went to S3 (tests count them)
        self.gets = 0  # GETs made by refreshes (tests check that unchanged objects cost none)

    @property
    def entries(self) -> Mapping[str, Loaded[T]]:
        """What is known now, by key, without asking S3."""
        return self._entries

    def refresh(self, *, force: bool = False) -> Mapping[str, Loaded[T]]:
        """Every object by key, refreshed from S3 unless fresh. Raises StorageError when the
        prefix cannot be listed."""
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
        with self._state_lock:
            self._invalidations += 1

    def wrote(self, key: str, value: T, etag: str | None) -> None:
        """Record a write made through the store, so the next read shows it without a GET."""
        with self._state_lock:
            self._writes += 1
            self._deleted.pop(key, None)
            entries = dict(self._entries)
            entries[key] = Loaded(key, etag, value, written=self._writes)
            self._entries = MappingProxyType(entries)

    def deleted(self, key: str) -> None:
        """Record a delete made through the store."""
        with self._state_lock:
            self._writes += 1
            self._deleted[key] = self._writes
            entries = dict(self._entries)
            entries.pop(key, None)
            self._entries = MappingProxyType(entries)

    def _fresh(self, now: float) -> bool:
        return (self._listed_at is not None
                and self._listed_invalidation == self._invalidations
                and now - self._listed_at < self.max_age_seconds)

    def _result(self) -> Mapping[str, Loaded[T]]:
        if self._failure is not None:
            failure = self._failure  # a fresh exception per caller: tracebacks are per raise
            raise StorageError(failure.message, code=failure.code,
                               status_code=failure.status_code)
        return self._entries

    def _refresh(self, known: dict[str, Loaded[T]], invalidation: int, writes: int
                 ) -> Mapping[str, Loaded[T]]:
        started = self._clock()
        try:
            listing = self.store.list_objects(self.prefix, suffix=self.suffix)
        except StorageError as error:
            with self._state_lock:
                self._listed_at, self._listed_invalidation = started, invalidation
                self._failure = error
                self.refreshes += 1
            log.warning("refresh of %s failed: %s", self.prefix,
                        error.code or error.status_code or "")
            raise
        changed = [o for o in listing.objects if not _unchanged(known.get(o.key), o)]
        with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
            fetched = dict(zip((o.key for o in changed), pool.map(self._fetch, changed),
                               strict=True))
        entries: dict[str, Loaded[T]] = {}
        for listed in listing.objects:
            entry = fetched.get(listed.key, known.get(listed.key))
            if entry is _NOT_READ:  # keep what we had, and ask again next time
                previous = known.get(listed.key)
                entry = Loaded(listed.key, None, previous.value if previous else None,
                               previous.problem if previous else None)
                if entry.value is None and entry.problem is None:
                    entry = None
            if entry is not None:
                entries[listed.key] = entry
        with self._state_lock:
            # Writes and deletes that landed while this refresh listed are newer than it.
            entries.update({k: e for k, e in self._entries.items() if e.written > writes})
            for key, number in self._deleted.items():
                if number > writes:
                    entries.pop(key, None)
            self._deleted = {k: n for k, n in self._deleted.items() if n > writes}
            self._entries = MappingProxyType(entries)
            self._listed_at, self._listed_invalidation = started, invalidation
            self._failure = None
            self.refreshes += 1
            self.gets += len(changed)
            return self._entries

    def _fetch(self, listed: ListedObject) -> Loaded[T] | None:
        try:
            data = self.store.read_object(listed.key)
        except StorageError as error:
            if error.code == "NoSuchKey":
                return None  # deleted since the listing
            log.warning("%s not read, retried next refresh: %s", listed.key,
                        error.code or error.status_code or "")
            return _NOT_READ
        try:
            return Loaded(listed.key, listed.etag, self._parse(listed.key, data))
        except (ValueError, TypeError) as error:
            log.warning("%s skipped: %s", listed.key, type(error).__name__)
            return Loaded(listed.key, listed.etag, None, str(error) or type(error).__name__)


_NOT_READ: Loaded = Loaded("", None, None)  # a GET that failed this time (compared by identity)


def _unchanged(entry: Loaded | None, listed: ListedObject) -> bool:
    return entry is not None and entry.etag is not None and entry.etag == listed.etag
