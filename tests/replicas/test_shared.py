"""SharedReplicas: one live list per server, read by many sessions, against the simulator over HTTP.

Call counts come from the requests the simulator received. Time is a fake monotonic clock where a
test needs ticks to be due; the few tests with real threads assert counts, never durations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from lib.replicas.shared import ReplicaView, SharedReplicas
from lib.tavus.client import REPLICAS_PATH, ReplicaStatus, TavusClient
from lib.tavus.simulator.server import TavusSimulator

KEY = "shared-test-key-0123456789"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    simulator = TavusSimulator(KEY, training_seconds=600, seed_demo_data=False).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def clients(sim: TavusSimulator) -> Iterator[tuple[TavusClient, TavusClient]]:
    tavus = TavusClient(sim.base_url, KEY, backoff_seconds=0.01, max_backoff_seconds=0.02)
    live = TavusClient(sim.base_url, KEY, max_retries=0, timeout=5)
    yield tavus, live
    tavus.close()
    live.close()


def replica_calls(sim: TavusSimulator) -> int:
    return sum(1 for r in sim.requests if r.path.startswith(REPLICAS_PATH))


def loaded_list(tavus: TavusClient, live: TavusClient, **options
                ) -> tuple[SharedReplicas, FakeClock, ReplicaView]:
    """A shared list on a fake clock, its first load done and its ticker stopped: the test
    drives the ticks itself (tick_if_due) and moves the clock."""
    options.setdefault("fast_seconds", 10)
    options.setdefault("slow_seconds", 60)
    clock = FakeClock()
    shared = SharedReplicas(monotonic=clock, **options)
    view = shared.open(tavus, live, grace_seconds=10)
    assert view.loaded, "the first load did not finish"
    shared.close()
    return shared, clock, view


def test_a_session_opening_fresh_data_costs_no_call(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(250, training=2)
    shared, clock, first = loaded_list(tavus, live)
    assert first.count == 250 and first.total_count == 250
    sim.reset_requests()
    for _ in range(5):  # five more tabs, within one interval
        clock.advance(1)
        view = shared.open(tavus, live)
        assert view.count == 250
    assert replica_calls(sim) == 0
    shared.close()


def test_one_tick_per_interval_for_the_whole_server_however_many_sessions(sim, clients) -> None:
    tavus, live = clients
    ids = sim.add_replicas(1000, training=20)
    shared, clock, _ = loaded_list(tavus, live)
    sim.reset_requests()
    ticks = 0
    for _ in range(6):  # six intervals...
        clock.advance(10)
        barrier = threading.Barrier(10)

        def session(barrier: threading.Barrier = barrier) -> None:  # ...ten sessions at once
            barrier.wait()
            shared.tick_if_due(live)

        threads = [threading.Thread(target=session) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ticks += 1
    requests = [r for r in sim.requests if r.path.startswith(REPLICAS_PATH)]
    assert len(requests) <= 2 * ticks
    assert shared.stats.ticks == ticks  # each interval did tick once, not zero times
    training_calls = [r for r in requests if "replica_ids" in r.query]
    assert len(training_calls) == ticks and set(training_calls[0].query["replica_ids"]
                                                .split(",")) <= set(ids)


def test_a_session_arriving_after_a_quiet_spell_gets_one_tick_first(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(30, training=1)
    shared, clock, _ = loaded_list(tavus, live)
    sim.reset_requests()
    clock.advance(11)  # older than an interval, nobody ticked meanwhile
    shared.open(tavus, live)
    shared.close()
    assert 1 <= replica_calls(sim) <= 2


def test_a_slow_tavus_does_not_stack_ticks(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(20, training=2)
    shared, clock, _ = loaded_list(tavus, live)
    sim.reset_requests()
    sim.inject_fault("slow", count=100, delay=0.5, path_prefix=REPLICAS_PATH)
    clock.advance(10)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(shared.tick_if_due(live)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sim.clear_faults()
    assert sum(r is not None for r in results) == 1  # one ran; seven went on with the view
    assert replica_calls(sim) <= 2


def test_tavus_down_keeps_every_sessions_table_with_a_stale_notice(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(40, training=3)
    shared, clock, before = loaded_list(tavus, live)
    sim.inject_fault("500", count=1000, path_prefix=REPLICAS_PATH)
    clock.advance(10)
    shared.tick_if_due(live)
    views = [shared.open(tavus, live) for _ in range(3)]
    shared.close()
    sim.clear_faults()
    for view in views:
        assert view.count == before.count  # the last good rows stay
        assert view.stale_since is not None and view.last_error is not None
    clock.advance(10)
    shared.tick_if_due(live)
    assert shared.view().stale_since is None  # recovered by itself


def test_each_change_is_told_once_to_each_session(sim, clients) -> None:
    tavus, live = clients
    (training,) = sim.add_replicas(1, training=1)
    shared, clock, _ = loaded_list(tavus, live)
    tab_a = tab_b = shared.change_seq
    sim.advance(601)  # the training ends
    clock.advance(10)
    shared.tick_if_due(live)
    changes_a, tab_a = shared.changes_since(tab_a)
    changes_b, tab_b = shared.changes_since(tab_b)
    for changes in (changes_a, changes_b):
        assert [(c.replica_id, c.new) for c in changes] == [(training, ReplicaStatus.READY)]
    assert shared.changes_since(tab_a)[0] == []  # told: not again
    assert shared.view().state_of(training) is ReplicaStatus.READY


def test_the_periodic_reconcile_closes_the_delete_plus_create_blind_spot(sim, clients) -> None:
    tavus, live = clients
    doomed, *_ = sim.add_replicas(12, training=1)
    shared, clock, _ = loaded_list(tavus, live, reconcile_seconds=600)
    tavus.delete_replica(doomed)
    (newcomer,) = sim.add_replicas(1)  # the count is unchanged
    clock.advance(10)
    shared.tick_if_due(live)
    assert shared.view().state_of(doomed) is not None  # a tick cannot see it...
    assert shared.view().state_of(newcomer) is None
    clock.advance(600)
    sim.reset_requests()
    shared.tick_if_due(live)
    view = shared.view()
    assert view.state_of(doomed) is None and view.state_of(newcomer) is not None  # ...this can
    assert shared.stats.loads == 2  # the first load and the reconcile
    assert replica_calls(sim) >= 1


def test_a_change_made_here_reloads_at_once(sim, clients) -> None:
    tavus, live = clients
    (replica_id,) = sim.add_replicas(1)
    shared, _, _ = loaded_list(tavus, live)
    tavus.rename_replica(replica_id, "Renamed Here")
    view = shared.reload_now(tavus)  # no time has passed: still done
    assert view.by_id(replica_id).replica_name == "Renamed Here"


def test_the_first_load_paints_the_first_page_while_the_rest_arrives(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(1000)
    # Every list call answers after 0.3 s: page 1 alone, then nine pages at once.
    sim.inject_fault("slow", count=10_000, delay=0.3, path_prefix=REPLICAS_PATH)
    shared = SharedReplicas(fast_seconds=10, concurrency=8)
    first = shared.open(tavus, live, grace_seconds=0)
    assert first.loading and 100 <= first.count < 1000 and first.total_count == 1000
    whole = shared.open(tavus, live, grace_seconds=30)
    shared.close()
    sim.clear_faults()
    assert not whole.loading and whole.count == 1000
    pages = [r for r in sim.requests if r.path == REPLICAS_PATH and r.query.get("limit") == "100"]
    assert sorted(int(r.query["page"]) for r in pages) == list(range(1, 11))


def test_the_ticker_runs_while_sessions_watch_and_stops_when_closed(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(10, training=1)
    shared = SharedReplicas(fast_seconds=0.2, slow_seconds=0.2)
    shared.open(tavus, live, grace_seconds=10)
    ticks_before = shared.stats.ticks
    deadline = time.monotonic() + 10
    while shared.stats.ticks < ticks_before + 2 and time.monotonic() < deadline:
        shared.keep_alive(live)
        time.sleep(0.05)
    assert shared.stats.ticks >= ticks_before + 2  # it ticked on its own
    shared.close()
    ticker = shared._ticker
    if ticker is not None:
        ticker.join(timeout=5)
        assert not ticker.is_alive()


def test_nobody_looking_stops_the_tavus_calls_within_an_interval(sim, clients) -> None:
    """Tabs look after every tick; when the last one stops looking (closed), the ticker stops
    after at most one more look, and no Tavus call follows (issue 23: 30 calls in 5 min)."""
    tavus, live = clients
    sim.add_replicas(5, training=2)  # training: the fast pace
    interval = 0.3
    shared = SharedReplicas(fast_seconds=interval, slow_seconds=interval * 4)
    shared.open(tavus, live, grace_seconds=10)
    ticks_before = shared.stats.ticks
    deadline = time.monotonic() + 10
    while shared.stats.ticks < ticks_before + 3 and time.monotonic() < deadline:
        shared.keep_alive(live)  # a tab looking, as after each push
        time.sleep(interval / 3)
    assert shared.stats.ticks >= ticks_before + 3  # it ticked while someone looked
    ticker = shared._ticker
    assert ticker is not None
    ticker.join(timeout=interval * 4)  # no look from now on: 1.5 intervals, plus a tick
    assert not ticker.is_alive()
    calls = replica_calls(sim)
    time.sleep(interval * 6)  # six more intervals with nobody looking
    assert replica_calls(sim) == calls
    # A page opening again starts it, and its first paint is fresh (one tick first).
    view = shared.open(tavus, live)
    assert replica_calls(sim) > calls and view.stale_since is None
    shared.close()


def test_a_session_that_changed_something_waits_for_the_reload_even_mid_tick(
        sim, clients) -> None:
    tavus, live = clients
    (replica_id,) = sim.add_replicas(1)
    shared, _, _ = loaded_list(tavus, live)
    tavus.rename_replica(replica_id, "Renamed Mid-Tick")
    shared.reload_soon()
    # Another thread (the ticker, say) holds the lock at that moment, briefly.
    held = threading.Event()

    def busy() -> None:
        with shared._work:
            held.set()
            time.sleep(0.3)

    other = threading.Thread(target=busy)
    other.start()
    held.wait()
    view = shared.open(tavus, live)
    other.join()
    shared.close()
    assert view.by_id(replica_id).replica_name == "Renamed Mid-Tick"


def test_a_session_that_changed_something_waits_for_a_reload_the_ticker_already_took(
        sim, clients) -> None:
    # CI saw it: the ticker picked the reload up (clearing the flag) before the session that
    # renamed opened the list; without waiting, that tab painted the old name for a minute.
    tavus, live = clients
    (replica_id,) = sim.add_replicas(1)
    shared, _, _ = loaded_list(tavus, live)
    tavus.rename_replica(replica_id, "Renamed Elsewhere-Thread")
    shared.reload_soon()
    sim.inject_fault("slow", count=100, delay=0.3, path_prefix=REPLICAS_PATH)
    started = threading.Event()
    original_load = shared._tracker.load

    def slow_load(*args, **kwargs):
        started.set()
        return original_load(*args, **kwargs)

    shared._tracker.load = slow_load
    ticker = threading.Thread(target=shared.tick_if_due, args=(live,))
    ticker.start()
    started.wait(5)
    assert not shared._reload_due  # the ticker owns the reload now
    view = shared.open(tavus, live, after_change=True)
    ticker.join()
    shared.close()
    sim.clear_faults()
    assert view.by_id(replica_id).replica_name == "Renamed Elsewhere-Thread"


def test_the_ticker_quickens_when_a_first_load_ends_with_something_training(
        sim, clients) -> None:
    # The ticker starts while the first load runs (nothing known yet: the slow pace). When the
    # load ends with a replica training, it must tick at the fast pace, not sleep a slow one.
    tavus, live = clients
    sim.add_replicas(3, training=1)
    shared = SharedReplicas(fast_seconds=0.2, slow_seconds=600)
    shared.open(tavus, live, wait_seconds=0)  # as the sidebar watcher opens it
    deadline = time.monotonic() + 10
    while shared.stats.ticks < 2 and time.monotonic() < deadline:
        shared.keep_alive(live)
        time.sleep(0.05)
    shared.close()
    assert shared.stats.ticks >= 2


def test_a_view_carries_ids_and_creation_times_aligned_with_its_rows(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(30, training=2)
    shared, clock, _ = loaded_list(tavus, live)
    sim.advance(601)  # two rows change state in place
    clock.advance(10)
    shared.tick_if_due(live)
    view = shared.view()
    assert list(view.ids) == [d["replica_id"] for d in view.items]
    parsed = [pd.Timestamp(d["created_at"]) for d in view.items]
    assert list(view.created) == parsed


def test_watchers_are_pushed_after_each_look_and_only_then(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(1, training=1)
    shared, clock, _ = loaded_list(tavus, live)
    pushed: list[str] = []
    shared.watch("tab-a", lambda: pushed.append("a") or True)
    shared.watch("tab-b", lambda: pushed.append("b") or False)  # its session is gone
    shared.tick_if_due(live)  # no look is due: no repaint asked
    assert pushed == []
    clock.advance(10)
    shared.tick_if_due(live)  # nothing changed but the time of the look: the caption's
    assert sorted(pushed) == ["a", "b"]
    assert shared.watcher_count == 1  # the gone session was dropped
    pushed.clear()
    sim.advance(601)  # the training ends
    clock.advance(10)
    shared.tick_if_due(live)
    assert pushed == ["a"]
    clock.advance(121)  # tab-a stopped renewing (moved to another page): it expires
    shared.reload_now(tavus)
    sim.add_replicas(1)
    shared.reload_now(tavus)
    assert pushed == ["a"] and shared.watcher_count == 0


def test_a_failing_push_does_not_stop_the_others(sim, clients) -> None:
    tavus, live = clients
    sim.add_replicas(1, training=1)
    shared, clock, _ = loaded_list(tavus, live)
    pushed: list[str] = []

    def broken() -> bool:
        raise RuntimeError("runtime gone")

    shared.watch("broken", broken)
    shared.watch("fine", lambda: pushed.append("fine") or True)
    sim.advance(601)  # the training ends
    clock.advance(10)
    shared.tick_if_due(live)
    assert pushed == ["fine"] and shared.watcher_count == 1
