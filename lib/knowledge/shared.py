"""One list of the account's documents per server process, shared by every session (tab).

The page layer keeps one `SharedDocuments` per Tavus account (st.cache_resource) and calls
`refresh(tavus, max_age_seconds=…)` on each paint, then draws `view()`. Like
lib/conversations/shared.py: one lock, immutable views.

Cost of `refresh` in Tavus calls (P = ceil(documents / page_size)):
- **Fresh** (the last refresh began less than `max_age_seconds` ago, in any session): 0 calls;
  sessions asking while another refresh runs wait for it and reuse its result.
- **Nothing moving** (no document started, processing or recrawling): 1 call, a `limit=1` list,
  newest first, whose total_count and first id are compared with the last walk's.
- **Something may have changed** (first load, another count or first id, anything still
  processing, a local change noted with `changed()`, or the reconcile every
  `reconcile_seconds`): 1 + P list calls, pages read `concurrency` at a time.

Plain Python, no Streamlit; every method is safe to call from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lib.clock import parse_time
from lib.tavus.client import PAGES_IN_FLIGHT, Document, TavusClient, TavusError

__all__ = ["DocumentsView", "SharedDocuments", "SharedDocumentsStats"]

log = logging.getLogger("replica_studio.knowledge.shared")

RECONCILE_SECONDS = 600.0
WAIT_FOR_OTHERS_SECONDS = 30.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _newest_first(documents: list[Document]) -> list[Document]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(documents, key=lambda d: (parse_time(d.created_at) or epoch, d.document_id),
                  reverse=True)


@dataclass(frozen=True)
class DocumentsView:
    """The documents as they stood at one moment: what a page draws. Never changes."""

    documents: tuple[Document, ...] = ()  # newest first
    total_count: int | None = None
    updated_at: datetime | None = None  # the last successful walk or check
    error: TavusError | None = None  # the last refresh's failure (the rows are then older)
    version: int = 0

    @property
    def loaded(self) -> bool:
        return self.updated_at is not None

    @property
    def moving(self) -> bool:
        """Anything Tavus is still working on: the page keeps refreshing while so."""
        return any(d.state.still_changing for d in self.documents)

    def by_id(self) -> dict[str, Document]:
        return {d.document_id: d for d in self.documents}


@dataclass
class SharedDocumentsStats:
    """What the server did for everyone: read by tests and the bench."""

    checks: int = 0  # cheap limit=1 checks
    walks: int = 0  # full list walks (1 + P calls each)


class SharedDocuments:
    """The documents of one account, for every session of the process."""

    def __init__(
        self,
        *,
        page_size: int = 100,
        concurrency: int = PAGES_IN_FLIGHT,
        reconcile_seconds: float = RECONCILE_SECONDS,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.page_size = page_size
        self.concurrency = max(1, concurrency)
        self.reconcile_seconds = reconcile_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._work = threading.Lock()  # one refresh at a time; guards everything below
        self._view = DocumentsView()
        self._last_attempt: float | None = None
        self._last_walk: float | None = None
        self._first_id: str | None = None
        # Changes made here (`changed()`), and how many the last good walk had seen: a count,
        # not a flag, so a change noted while a walk runs is not taken as read by that walk.
        self._count_lock = threading.Lock()
        self._changes = 0
        self._walked_changes = 0
        self.stats = SharedDocumentsStats()

    def view(self) -> DocumentsView:
        return self._view

    def changed(self) -> None:
        """Something was added, renamed or deleted here: the next refresh reads it all, even
        one asked for while a refresh that began before the change is still running."""
        with self._count_lock:
            self._changes += 1

    def refresh(self, tavus: TavusClient, *, max_age_seconds: float,
                force: bool = False) -> DocumentsView:
        """Bring the list up to date unless younger than `max_age_seconds` (see the module
        docstring for the cost). Tavus failures never raise: the view keeps its rows and
        carries the error."""
        if not force and self._fresh(max_age_seconds):
            return self._view
        if not self._work.acquire(timeout=WAIT_FOR_OTHERS_SECONDS):
            return self._view
        try:
            if not force and self._fresh(max_age_seconds):
                return self._view
            self._refresh(tavus, force=force)
            return self._view
        finally:
            self._work.release()

    def _fresh(self, max_age_seconds: float) -> bool:
        last = self._last_attempt
        # A change not read yet makes the list stale, unless reading it just failed (a Tavus
        # outage is not retried by every paint of every tab).
        return (last is not None and self._monotonic() - last < max_age_seconds
                and (self._changes == self._walked_changes or self._view.error is not None))

    def _refresh(self, tavus: TavusClient, *, force: bool) -> None:
        started = self._monotonic()
        changes = self._changes  # the changes this refresh will have seen if it walks
        view = self._view
        try:
            walk = (force or changes != self._walked_changes or not view.loaded
                    or self._last_walk is None
                    or started - self._last_walk >= self.reconcile_seconds or view.moving
                    or self._changed(tavus))
            if walk:
                documents, total = tavus.list_all_documents(page_size=self.page_size,
                                                            concurrency=self.concurrency)
                self.stats.walks += 1
                ordered = _newest_first(documents)
                # Tavus's own first (the walk asks newest first, as the check does): our sort
                # may break a tie of equal creation times differently.
                self._first_id = documents[0].document_id if documents else None
                self._last_walk = started
                self._walked_changes = changes
                self._view = DocumentsView(tuple(ordered), total, self._clock(), None,
                                           view.version + 1)
            else:
                self._view = DocumentsView(view.documents, view.total_count, self._clock(),
                                           None, view.version)
        except TavusError as error:
            log.warning("documents refresh failed: %s", error)  # changes stay unread: next walks
            self._view = DocumentsView(view.documents, view.total_count, view.updated_at, error,
                                       view.version + 1)
        finally:
            self._last_attempt = started

    def _changed(self, tavus: TavusClient) -> bool:
        """One `limit=1` list, newest first: has the count or the newest document changed?"""
        page = tavus.list_documents(page=0, limit=1, sort="descending")
        self.stats.checks += 1
        first = page.documents[0].document_id if page.documents else None
        return page.total_count != self._view.total_count or first != self._first_id
