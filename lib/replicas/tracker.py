"""Keep the account's replicas live for the Replicas screen, at a bounded cost per refresh.

A `ReplicaTracker` holds the last good list of replicas. `load()` reads every page (first open,
manual refresh). `tick()` is the timed refresh and costs at most two Tavus calls whatever the
account size:

1. `GET /v2/replicas?replica_ids=…` for the replicas still changing: training, or phoenix-4.5
   previews still tuning (skipped when none are);
2. either the failure detail (`GET /v2/replicas/{id}`) of one replica that has just failed and
   whose message is not cached yet, or a `limit=1` list call whose total_count tells us that
   replicas were made or deleted elsewhere. Only when that count differs does the tick do a full
   reload, the one documented case where a tick costs more than two calls.

List items do not carry `error_message`, hence the one-off detail fetch per failed replica; the
messages go to a mapping the caller may share between sessions, so each is fetched once.
Tavus errors never escape: the last good data stays, with `stale_since` and `last_error` set.

The tracker keeps Tavus's replica objects as received (`items`, in table order, with their
mapped `states`): the table is built from them column by column, and `Replica` objects are made
only when asked for (`by_id`, `replicas`). At 10,000 replicas, making them all on every load
cost ~12 ms of the ~75 ms the first load spent above the raw fetch (bench/README.md).

Plain Python (no Streamlit). Not thread-safe: the server's `SharedReplicas`
(lib/replicas/shared.py) owns one and runs its loads and ticks one at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pandas as pd

from lib.replicas.table import created_times, sort_items
from lib.tavus.client import (
    PAGES_IN_FLIGHT,
    Replica,
    ReplicaStatus,
    TavusClient,
    TavusError,
    item_id,
    replica_status,
    walk_pages,
)

log = logging.getLogger("replica_studio.replicas.tracker")

__all__ = ["ReplicaTracker", "StatusChange", "TickReport"]
T = TypeVar("T")
# Called with the items received so far and the list's total_count, as pages arrive.
Progress = Callable[[Sequence[Mapping[str, Any]], int], None]


@dataclass(frozen=True)
class StatusChange:
    """A replica seen still changing (training, or a preview tuning) that moved on: reported
    once per stage, for a toast. TRAINING -> PREVIEW (preview ready), PREVIEW -> READY (tuned),
    PREVIEW -> PREVIEW_ONLY (tuning failed), TRAINING -> READY, anything -> FAILED."""

    replica_id: str
    replica_name: str
    new: ReplicaStatus
    error_message: str | None
    # Where it came from, for the wording ("tuned" after a preview); context, not identity.
    previous: ReplicaStatus | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TickReport:
    """What one load or tick did. `calls` counts API calls (a call's own retries not included)."""

    calls: int
    full_reload: bool
    changes: list[StatusChange]
    error: TavusError | None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _gives_up(error: TavusError) -> bool:
    """A 4xx other than 429 will not get better by asking again (e.g. the replica was deleted)."""
    status = error.status_code
    return status is not None and 400 <= status < 500 and status != 429


class _Calls:
    """Counts the calls of one load or tick, also when one of them raises (and when pages are
    read from several threads at once)."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.n += 1


class ReplicaTracker:
    """The live replica list of one account and filter.

    The include-system choice is fixed for a tracker (it decides what total_count means): when
    the user flips the toggle, make a new tracker (sharing `messages`) and `load()` it.
    A replica created by this app appears at the latest on the next count check; call `load()`
    after a create to show it at once.
    """

    def __init__(
        self,
        *,
        include_system: bool = False,
        page_size: int = 100,
        concurrency: int = PAGES_IN_FLIGHT,
        messages: MutableMapping[str, str] | None = None,
        fast_seconds: float = 15,
        slow_seconds: float = 60,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.include_system = include_system
        self.page_size = page_size
        self.concurrency = max(1, concurrency)  # list pages read at once on a full load
        self.fast_seconds = fast_seconds
        self.slow_seconds = slow_seconds
        # Failure messages by replica id; "" means "fetched, Tavus gave none" (not fetched again).
        self.messages: MutableMapping[str, str] = messages if messages is not None else {}
        self._clock = clock
        # Tavus's objects in table order, their mapped statuses, and where each id sits.
        self._items: list[Mapping[str, Any]] = []
        self._ids: list[str] = []
        self._created = created_times([])
        self._states: list[ReplicaStatus] = []
        self._position: dict[str, int] = {}
        # Replica objects made on demand, dropped whenever their item changes.
        self._made: dict[str, Replica] = {}
        self._all: list[Replica] | None = None
        self._total: int | None = None
        self._loaded = False
        # Failed replicas whose message is still to fetch, oldest first (one per tick).
        self._pending: list[str] = []
        self._cursor = 0  # rotates the training refresh when more than page_size train
        self.loaded_at: datetime | None = None
        self.updated_at: datetime | None = None
        self.stale_since: datetime | None = None
        self.last_error: TavusError | None = None

    # --- What the page reads ---------------------------------------------------------------------
    @property
    def items(self) -> Sequence[Mapping[str, Any]]:
        """Tavus's replica objects as received, in table order (`lib.replicas.table.sort_items`).

        Read only: they are the tracker's own. Build the table with `items_frame(items,
        states=states)`.
        """
        return self._items

    @property
    def states(self) -> Sequence[ReplicaStatus]:
        """The mapped status of each of `items`, in the same order."""
        return self._states

    @property
    def ids(self) -> Sequence[str]:
        """The replica id of each of `items`, in the same order."""
        return self._ids

    @property
    def created(self) -> pd.Series:
        """The creation time (UTC, NaT when unreadable) of each of `items`, in the same order."""
        return self._created

    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def loaded(self) -> bool:
        """A full load has succeeded at least once."""
        return self._loaded

    @staticmethod
    def states_of(items: Sequence[Mapping[str, Any]]) -> list[ReplicaStatus]:
        """The mapped status of each item (the one mapping, applied as the tracker does)."""
        return [replica_status(d) for d in items]

    @property
    def replicas(self) -> list[Replica]:
        """Every replica as a `Replica`, newest created first, ties by id (the order of
        `lib.replicas.table.sort_replicas`). Made on first use after a change: for one replica,
        `by_id` is cheaper, and for the table, `items`."""
        if self._all is None:
            self._all = [self._replica_at(i) for i in range(len(self._items))]
        return list(self._all)

    def by_id(self, replica_id: str) -> Replica | None:
        position = self._position.get(replica_id)
        return None if position is None else self._replica_at(position)

    @property
    def failed_ids(self) -> list[str]:
        return self._ids_in(ReplicaStatus.FAILED)

    @property
    def total_count(self) -> int | None:
        return self._total

    def error_message(self, replica_id: str) -> str | None:
        return self.messages.get(replica_id) or None

    @property
    def training_ids(self) -> list[str]:
        return self._ids_in(ReplicaStatus.TRAINING)

    @property
    def changing_ids(self) -> list[str]:
        """Replicas Tavus is still moving on (training, or a preview tuning), in table order:
        the ones each tick refreshes."""
        return self._ids_in(ReplicaStatus.TRAINING, ReplicaStatus.PREVIEW)

    @property
    def interval_seconds(self) -> float:
        """Fast while something trains or tunes (or a failure message is due), else one check a
        minute."""
        states = self._states  # `in` on the list: C speed at 10,000 rows, asked on every wake-up
        busy = (self._pending or ReplicaStatus.TRAINING in states
                or ReplicaStatus.PREVIEW in states)
        return self.fast_seconds if busy else self.slow_seconds

    # --- Refreshing ------------------------------------------------------------------------------
    def load(self, tavus: TavusClient, *, on_progress: Progress | None = None) -> TickReport:
        """Read every page, then fetch the failure messages not cached yet. Never raises TavusError.

        Pages after the first are read `concurrency` at a time. `on_progress(items, total_count)`
        is called with the items received so far (in arrival order) after each page, for a
        table painted while the rest arrives. Transitions are reported against the previous load
        (none on the first one).
        """
        calls = _Calls()
        try:
            changes = self._full_load(tavus, calls, on_progress)
        except TavusError as error:
            self._failed(error)
            return TickReport(calls.n, True, [], error)
        self._succeeded()
        return TickReport(calls.n, True, self._with_messages(changes), None)

    def tick(self, tavus: TavusClient) -> TickReport:
        """The timed refresh: at most two calls, unless the count says a full reload is due.

        Before any successful load this is a `load()`. Never raises TavusError.
        """
        if not self._loaded:
            return self.load(tavus)
        calls = _Calls()
        changes: list[StatusChange] = []
        full_reload = False
        try:
            self._refresh_training(tavus, calls, changes)
            if self._next_pending() is not None:
                # A fresh failure's message matters more than the count check: it takes its
                # place, so the tick stays at two calls.
                self._fetch_one_detail(tavus, calls)
            else:
                counted = self._call(calls, lambda: tavus.list_replicas(
                    page=1, limit=1, verbose=False, replica_type=self._replica_type))
                if counted.total_count != self._total:
                    log.info("replica count %s -> %s: full reload", self._total,
                             counted.total_count)
                    full_reload = True
                    changes.extend(self._full_load(tavus, calls))
        except TavusError as error:
            self._failed(error)
            # Transitions already applied must still be reported, or they would be lost.
            return TickReport(calls.n, full_reload, self._with_messages(changes), error)
        self._succeeded()
        return TickReport(calls.n, full_reload, self._with_messages(changes), None)

    # --- Internals -------------------------------------------------------------------------------
    @property
    def _replica_type(self) -> str | None:
        return None if self.include_system else "user"

    @staticmethod
    def _call(calls: _Calls, fn: Callable[[], T]) -> T:
        calls.add()  # counted before the call: a call that fails was still made
        return fn()

    def _fetch_all(
        self, tavus: TavusClient, calls: _Calls, on_progress: Progress | None = None
    ) -> tuple[list[Mapping[str, Any]], int]:
        """Every page, de-duplicated by id (a create between reads shifts items a page down)."""
        received: list[Mapping[str, Any]] = []

        def fetch(page: int) -> tuple[list[Mapping[str, Any]], int]:
            result = self._call(calls, lambda: tavus.list_replicas(
                page=page, limit=self.page_size, verbose=True, replica_type=self._replica_type))
            return result.items, result.total_count

        def arrived(new: list[Mapping[str, Any]], total: int) -> None:
            received.extend(new)
            if on_progress is not None:
                on_progress(received, total)

        return walk_pages(fetch, key=item_id, concurrency=self.concurrency, on_page=arrived)

    def _full_load(self, tavus: TavusClient, calls: _Calls,
                   on_progress: Progress | None = None) -> list[StatusChange]:
        fetched, total = self._fetch_all(tavus, calls, on_progress)
        held = {rid: self._states[self._position[rid]] for rid in self.changing_ids}
        self._install(sort_items(fetched))
        self._total = total
        self._loaded = True
        self.loaded_at = self._clock()
        # Only replicas we held as still changing can move on (so never on the first load).
        changes = [
            self._change(rid, before) for rid, before in held.items()
            if rid in self._position and self._states[self._position[rid]] is not before
        ]
        for rid in self.failed_ids:
            self._note_failed(rid)
        # Full loads are not ticks: every message still missing may be fetched here.
        while self._next_pending() is not None:
            try:
                self._fetch_one_detail(tavus, calls)
            except TavusError as error:
                # The list itself is fine; the remaining messages are left to later ticks.
                log.warning("failure details postponed: %s", error)
                break
        return changes

    def _refresh_training(
        self, tavus: TavusClient, calls: _Calls, changes: list[StatusChange]
    ) -> None:
        training = self.changing_ids  # training, and previews still tuning
        if not training:
            return
        if len(training) > self.page_size:
            # More than a page changes: refresh a page-sized window, a different one each tick.
            start = self._cursor % len(training)
            chunk = (training + training)[start:start + self.page_size]
            self._cursor = start + self.page_size
        else:
            chunk = training
        wanted = set(chunk)
        result = self._call(calls, lambda: tavus.list_replicas(
            page=1, limit=len(chunk), verbose=True, replica_ids=chunk))
        for fresh in result.items:
            rid = item_id(fresh)
            if rid not in wanted:
                continue  # only what we asked for: a server ignoring the filter changes nothing
            position = self._position.get(rid)
            before = None if position is None else self._states[position]
            state = self._replace(fresh)
            if state is not before:
                if state is ReplicaStatus.FAILED:
                    self._note_failed(rid)
                changes.append(self._change(rid, before))

    def _note_failed(self, rid: str) -> None:
        """Queue a failed replica's message, unless cached or carried by the list item."""
        if rid in self.messages:
            return
        carried = self.by_id(rid).error_message
        if carried:
            self.messages[rid] = carried
        elif rid not in self._pending:
            self._pending.append(rid)

    def _next_pending(self) -> str | None:
        """The oldest failed replica still missing its message (skipping any resolved since)."""
        while self._pending:
            rid = self._pending[0]
            position = self._position.get(rid)
            if (rid not in self.messages and position is not None
                    and self._states[position] is ReplicaStatus.FAILED):
                return rid
            self._pending.pop(0)
        return None

    def _fetch_one_detail(self, tavus: TavusClient, calls: _Calls) -> None:
        rid = self._pending[0]
        try:
            detail = self._call(calls, lambda: tavus.get_replica(rid))
        except TavusError as error:
            if not _gives_up(error):
                raise  # Tavus trouble: stale as usual, and the message is tried again later
            log.warning("no failure details for %s: %s", rid, error)
            self._pending.pop(0)
            return
        self._pending.pop(0)
        self.messages[rid] = detail.error_message or ""
        if detail.replica_id == rid:
            self._replace(detail.raw or detail.as_item())

    def _install(self, items: list[Mapping[str, Any]]) -> None:
        self._items = items
        self._states = self.states_of(items)
        # Ids and creation times never change between loads: parsed once here, not per paint.
        self._ids = [item_id(d) for d in items]
        self._created = created_times(d.get("created_at") for d in items)
        self._position = {rid: i for i, rid in enumerate(self._ids)}
        self._made = {}
        self._all = None

    def _replace(self, fresh: Mapping[str, Any]) -> ReplicaStatus:
        """Put a fresh copy of a held replica in its place. -> its status."""
        state = replica_status(fresh)
        rid = item_id(fresh)
        position = self._position.get(rid)
        if position is not None:
            # created_at does not change: the order holds.
            self._items[position] = fresh
            self._states[position] = state
            self._made.pop(rid, None)
            self._all = None
        return state

    def _replica_at(self, position: int) -> Replica:
        item = self._items[position]
        rid = item_id(item)
        made = self._made.get(rid)
        if made is None:
            made = self._made[rid] = Replica.from_api(item)
        return made

    def _ids_in(self, *states: ReplicaStatus) -> list[str]:
        return [rid for rid, s in zip(self._ids, self._states, strict=True) if s in states]

    def _change(self, rid: str, previous: ReplicaStatus | None) -> StatusChange:
        replica = self.by_id(rid)
        return StatusChange(rid, replica.replica_name, replica.state, self.error_message(rid),
                            previous)

    def _with_messages(self, changes: list[StatusChange]) -> list[StatusChange]:
        """Fill in a failure message fetched later in the same tick."""
        return [
            StatusChange(c.replica_id, c.replica_name, c.new, self.error_message(c.replica_id),
                         c.previous)
            if c.new is ReplicaStatus.FAILED and c.error_message is None else c
            for c in changes
        ]

    def _succeeded(self) -> None:
        self.updated_at = self._clock()
        self.stale_since = None
        self.last_error = None

    def _failed(self, error: TavusError) -> None:
        log.warning("replica refresh failed: %s", error)
        if self.stale_since is None:
            self.stale_since = self._clock()  # the first failure of a run is when data went stale
        self.last_error = error
