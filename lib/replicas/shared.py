"""One live replica list per server process, shared by every session (tab) of the team.

The Replicas tabs, the sidebar watchers on other pages and the Conversations picker all read one
`SharedReplicas` per Tavus account and list filter (lib/ui keeps it with st.cache_resource):

- **One ticker for the server.** While any session is watching (`keep_alive()` from its fragment
  or page), a background thread ticks the tracker once per refresh interval: at most two Tavus
  calls per interval, whatever the number of tabs. Sessions never call Tavus to tick; they read
  the latest `ReplicaView`. Nobody watching for 1½ intervals: the thread ends, and no Tavus
  call is made until a page opens again (its first paint ticks first when the view is old).
- **Opening costs round trips, not pages, and 0 calls when fresh.** The first load runs in the
  background, pages read concurrently (`walk_pages`), and publishes rows as they arrive, so the
  first page is on screen after one round trip. A session that opens the table when the data is
  older than one interval (the ticker was asleep) gets one tick first, under the same lock.
- **Reconcile.** Every `reconcile_seconds` the tick is a full parallel reload instead: it catches
  what the count check cannot see (one replica deleted and another created between two checks).
- **Pushed to the tabs.** A session's table registers a `watch` callback; after each look that
  ended (its "updated" time moves even when nothing else did), the server calls each (outside its
  locks), so tabs repaint right after the look instead of on their own timers, which drift (up
  to two intervals of lag) and would repaint twice per look; their timers become a slow fallback.
- **Toasts once per tab.** Status changes go to a numbered log; each session keeps the number of
  the last change it has told (`changes_since`).

Views are immutable snapshots: a tick never changes a view a page is drawing. Plain Python, no
Streamlit; every method is safe to call from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any

import pandas as pd

from lib.replicas.table import sort_items
from lib.replicas.tracker import ReplicaTracker, StatusChange, TickReport
from lib.tavus.client import (
    PAGES_IN_FLIGHT,
    Replica,
    ReplicaStatus,
    TavusClient,
    TavusError,
    item_id,
)

log = logging.getLogger("replica_studio.replicas.shared")

RECONCILE_SECONDS = 600.0  # a full parallel reload every 10 minutes while someone watches
# Nobody has looked for this many refresh intervals: the ticker stops (no Tavus call while no
# page is open). A tab is pushed a repaint after each look, so an open one looks every interval;
# 1.5 lets one look be late without stopping, and stops within one interval after the last tab.
IDLE_INTERVALS = 1.5
PUBLISH_EVERY_SECONDS = 0.25  # partial tables during a first load, at most this often
CHANGE_LOG_SIZE = 2000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReplicaView:
    """The shared list as it stood at one moment: what a page draws. Never changes."""

    items: tuple[Mapping[str, Any], ...] = ()  # Tavus's objects, in table order
    states: tuple[ReplicaStatus, ...] = ()
    ids: tuple[str, ...] = ()  # each item's replica id, in the same order
    created: pd.Series | None = None  # each item's creation time (None: items_frame parses)
    messages: Mapping[str, str] = field(default_factory=dict)  # failure reasons by id
    total_count: int | None = None
    loading: bool = False  # the first load is still arriving: `items` is a part
    updated_at: datetime | None = None
    stale_since: datetime | None = None
    last_error: TavusError | None = None
    interval_seconds: float = 15.0
    version: int = 0  # bumped by every publish

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def loaded(self) -> bool:
        """At least one full load has completed (the rows are the whole account)."""
        return self.updated_at is not None and not self.loading

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {rid: i for i, rid in enumerate(self.ids)}

    @cached_property
    def replicas(self) -> list[Replica]:
        """Every replica as a `Replica`, in table order (made once per view, on first use)."""
        return [Replica.from_api(item) for item in self.items]

    def by_id(self, replica_id: str) -> Replica | None:
        position = self._positions.get(replica_id)
        return None if position is None else Replica.from_api(self.items[position])

    def state_of(self, replica_id: str) -> ReplicaStatus | None:
        position = self._positions.get(replica_id)
        return None if position is None else self.states[position]

    def error_message(self, replica_id: str) -> str | None:
        return self.messages.get(replica_id) or None

    @property
    def training_ids(self) -> list[str]:
        return [rid for rid, s in zip(self.ids, self.states, strict=True)
                if s is ReplicaStatus.TRAINING]

    @property
    def changing_ids(self) -> list[str]:
        """Still training, or a phoenix-4.5 preview still tuning: their next stage is to come."""
        return [rid for rid, s in zip(self.ids, self.states, strict=True) if s.still_changing]


@dataclass
class SharedStats:
    """What the server did for everyone: read by tests and the bench."""

    ticks: int = 0  # timed ticks that ran (each at most two calls, or a reload)
    loads: int = 0  # full loads (first, reconcile, after a change made here, Refresh)
    calls: int = 0  # Tavus calls made by both


class SharedReplicas:
    """The live replica list of one account and filter, for every session of the process."""

    def __init__(
        self,
        *,
        include_system: bool = False,
        messages: dict[str, str] | None = None,
        fast_seconds: float = 15,
        slow_seconds: float = 60,
        reconcile_seconds: float = RECONCILE_SECONDS,
        concurrency: int = PAGES_IN_FLIGHT,
        page_size: int = 100,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.include_system = include_system
        self.reconcile_seconds = reconcile_seconds
        self._tracker = ReplicaTracker(
            include_system=include_system, page_size=page_size, messages=messages,
            fast_seconds=fast_seconds, slow_seconds=slow_seconds, clock=clock,
            concurrency=concurrency)
        self._monotonic = monotonic
        self._work = threading.Lock()  # one load or tick at a time; guards the tracker
        self._state = threading.Lock()  # the view, the change log, the threads' bookkeeping
        self._view = ReplicaView(interval_seconds=fast_seconds)
        self._changes: deque[tuple[int, StatusChange]] = deque(maxlen=CHANGE_LOG_SIZE)
        self._seq = 0
        self._version = 0
        self._last_tick: float | None = None  # monotonic start of the last tick or load
        self._last_load: float | None = None  # monotonic start of the last full load
        self._reload_due = False
        self._seen: float | None = None  # the last keep_alive
        self._client: TavusClient | None = None  # the ticker's (a session's live client)
        self._loader: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._wake = threading.Event()
        self._first_rows = threading.Event()  # some rows (or the first load's failure) are in
        self._loaded = threading.Event()  # the first load has ended
        self._watchers: dict[str, tuple[float, Callable[[], bool]]] = {}  # key: (seen, notify)
        self.stats = SharedStats()

    # --- What sessions read ----------------------------------------------------------------------
    def view(self) -> ReplicaView:
        return self._view

    @property
    def change_seq(self) -> int:
        """The number of the latest change: a new session starts here (no old toasts)."""
        return self._seq

    def changes_since(self, seq: int) -> tuple[list[StatusChange], int]:
        """Changes numbered after `seq`, and the number to pass next time."""
        with self._state:
            return [c for n, c in self._changes if n > seq], self._seq

    @property
    def interval_seconds(self) -> float:
        return self._tracker.interval_seconds

    def watch(self, key: str, notify: Callable[[], bool]) -> None:
        """A session's table wants a push after each look: `notify` is called from the ticker's
        thread, outside every lock, and returns False when its session is gone. A key not
        renewed within two slow intervals expires (the tab moved away)."""
        with self._state:
            self._watchers[key] = (self._monotonic(), notify)

    def unwatch(self, key: str) -> None:
        with self._state:
            self._watchers.pop(key, None)

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    # --- What sessions do ------------------------------------------------------------------------
    def open(self, tavus: TavusClient, live: TavusClient, *, wait_seconds: float = 5.0,
             grace_seconds: float = 0.2, after_change: bool = False) -> ReplicaView:
        """A session opens a page that shows the list: start the first load if none ran (its
        first page is waited for, up to `wait_seconds`, and the whole load for `grace_seconds`
        more, so a small account paints complete), or tick once when the data is older than an
        interval; then keep the ticker going. 0 Tavus calls when the data is fresh.

        `after_change`: this session just changed the account (and called `reload_soon`): it
        waits for the reload, whether it runs it or the ticker already took it up."""
        self._start_first_load(tavus)
        if not self._first_rows.is_set() or self._view.loading:
            if self._first_rows.wait(wait_seconds) and self._view.loading:
                self._loaded.wait(grace_seconds)
        elif after_change or self._reload_due:
            # The ticker may hold the reload already (it cleared the flag): acquiring the work
            # lock waits for it to end; if none ran since the change, this runs it.
            self.tick_if_due(live, wait_seconds=wait_seconds)
        elif self._due(self._monotonic()):
            self.tick_if_due(live)
        self.keep_alive(live)
        return self._view

    def keep_alive(self, live: TavusClient) -> None:
        """A session is still watching: the ticker keeps ticking (and starts if asleep)."""
        with self._state:
            self._seen = self._monotonic()
            self._client = live
            if self._ticker is None or not self._ticker.is_alive():
                self._ticker = threading.Thread(target=self._tick_loop, daemon=True,
                                                name="replicas-ticker")
                self._ticker.start()
                log.info("replica ticker started")

    def close(self) -> None:
        """Stop the ticker (a cleared cache, a test's end); a later keep_alive restarts it."""
        with self._state:
            self._seen = None
        self._wake.set()

    def reload_soon(self) -> None:
        """This app changed the account (a create, rename or delete) or the user asked for a
        refresh: the next tick is a full reload, at once."""
        self._reload_due = True
        self._wake.set()

    def reload_now(self, tavus: TavusClient) -> ReplicaView:
        """A full parallel reload in the caller's thread (the Refresh button, a change made here
        that the caller wants to see in its next paint)."""
        self._reload_due = True
        self.tick_if_due(tavus, wait_seconds=30)
        return self._view

    def tick_if_due(self, tavus: TavusClient, *, wait_seconds: float = 0) -> TickReport | None:
        """The one place a tick or a reload runs; None when none is due or another is running
        (waited for up to `wait_seconds`: then its result, now in the view, is ours too)."""
        acquired = (self._work.acquire(timeout=wait_seconds) if wait_seconds > 0
                    else self._work.acquire(blocking=False))
        if not acquired:
            return None
        before = self._view
        try:
            return self._tick_locked(tavus)
        finally:
            self._work.release()
            self._notify_after(before)

    def _tick_locked(self, tavus: TavusClient) -> TickReport | None:
        now = self._monotonic()
        if not self._due(now):
            return None
        since = None if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        reload = (self._reload_due or not self._tracker.loaded
                  or (self._last_load is not None
                      and now - self._last_load >= self.reconcile_seconds))
        self._reload_due = False
        if reload:
            self._last_load = now
            report = self._tracker.load(tavus)
            self.stats.loads += 1
        else:
            report = self._tracker.tick(tavus)
            self.stats.ticks += 1
        self.stats.calls += report.calls
        # One line per look: what the server decided, readable by a person and by the browser
        # tests (which count looks and their calls here instead of timing them).
        log.info("replica list %s: %d Tavus calls, %s after the last look",
                 "reload" if reload else "tick", report.calls,
                 "none" if since is None else f"{since:.2f} s")
        self._publish(report.changes)
        if report.error is None:
            self._first_rows.set()
        return report

    # --- Internals -------------------------------------------------------------------------------
    def _due(self, now: float) -> bool:
        if self._reload_due or not self._tracker.loaded:
            return True
        # A little under one interval: a ticker woken a few ms early still ticks.
        return self._last_tick is None or now - self._last_tick >= 0.95 * self.interval_seconds

    def _start_first_load(self, tavus: TavusClient) -> None:
        with self._state:
            if self._tracker.loaded or (self._loader is not None and self._loader.is_alive()):
                return
            if self._loader is not None:  # it ran and failed: ticks retry from now on
                return
            self._loader = threading.Thread(target=self._first_load, args=(tavus,),
                                            daemon=True, name="replicas-first-load")
            self._loader.start()

    def _first_load(self, tavus: TavusClient) -> None:
        published = [-PUBLISH_EVERY_SECONDS]

        def progress(received: Sequence[Mapping[str, Any]], total: int) -> None:
            now = self._monotonic()
            if now - published[0] < PUBLISH_EVERY_SECONDS and self._first_rows.is_set():
                return
            published[0] = now
            items = sort_items(list(received))
            with self._state:
                self._version += 1
                self._view = ReplicaView(
                    items=tuple(items), states=tuple(ReplicaTracker.states_of(items)),
                    ids=tuple(item_id(d) for d in items),
                    messages=MappingProxyType(dict(self._tracker.messages)),
                    total_count=total, loading=True, interval_seconds=1.0,
                    version=self._version)
            self._first_rows.set()

        before = self._view
        try:
            self._first_load_locked(tavus, progress)
        finally:
            self._notify_after(before)

    def _first_load_locked(self, tavus: TavusClient,
                           progress: Callable[[Sequence[Mapping[str, Any]], int], None]) -> None:
        with self._work:
            try:
                if self._tracker.loaded:
                    return
                now = self._monotonic()
                self._last_tick = self._last_load = now
                report = self._tracker.load(tavus, on_progress=progress)
                self.stats.loads += 1
                self.stats.calls += report.calls
                self._publish(report.changes)
            except Exception:  # a bug must not leave sessions waiting on a view forever
                log.exception("first replica load failed")
                self._publish([])
            finally:
                self._first_rows.set()
                self._loaded.set()

    def _publish(self, changes: list[StatusChange]) -> None:
        tracker = self._tracker
        with self._state:
            for change in changes:
                self._seq += 1
                self._changes.append((self._seq, change))
            self._version += 1
            self._view = ReplicaView(
                items=tuple(tracker.items), states=tuple(tracker.states),
                ids=tuple(tracker.ids), created=tracker.created,
                messages=MappingProxyType(dict(tracker.messages)),
                total_count=tracker.total_count, loading=False,
                updated_at=tracker.updated_at, stale_since=tracker.stale_since,
                last_error=tracker.last_error, interval_seconds=tracker.interval_seconds,
                version=self._version)

    def _notify_after(self, before: ReplicaView) -> None:
        """Push to the watching tabs when a look published a new view. Every look that ran
        does: a quiet one still moves the caption's "updated" time, a failing one its error.
        No look ran (none due, another running): no repaint. Called outside the locks."""
        if self._view is before:
            return
        with self._state:
            now = self._monotonic()
            limit = 2 * self._tracker.slow_seconds
            for key in [k for k, (seen, _) in self._watchers.items() if now - seen > limit]:
                del self._watchers[key]
            watchers = list(self._watchers.items())
        for key, (_, notify) in watchers:
            try:
                alive = notify()
            except Exception:  # a session's push must not stop the others or the ticker
                log.exception("replica push failed")
                alive = False
            if not alive:
                self.unwatch(key)

    def _tick_loop(self) -> None:
        while True:
            with self._state:
                seen, client = self._seen, self._client
                # A watching tab looks right after every tick (the push) or on its own timer:
                # no look for IDLE_INTERVALS of the current pace and nobody is watching.
                idle = seen is None or \
                    self._monotonic() - seen > IDLE_INTERVALS * self.interval_seconds
                if idle or client is None:
                    self._ticker = None  # nobody watches: stop; keep_alive starts a new one
                    log.info("replica ticker stopped: nobody watches")
                    return
            if self._loader is None or not self._loader.is_alive():
                try:
                    self.tick_if_due(client)
                except Exception:  # never let the ticker die on a bug: log, go on
                    log.exception("replica tick failed")
            # Look again at least every fast interval: the pace can quicken meanwhile (a load
            # that ends with something training, a create), and `_due` decides anyway.
            last = self._last_tick or self._monotonic()
            wait = max(0.05, min(self._tracker.fast_seconds,
                                 last + self.interval_seconds - self._monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
