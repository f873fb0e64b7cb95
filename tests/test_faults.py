"""Faults while running: a slow or failing Tavus never stalls the live table, which recovers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib.config import MAX_REFRESH_SECONDS, MIN_REFRESH_SECONDS
from lib.replicas.tracker import ReplicaTracker
from lib.services import live_timeout
from lib.tavus.client import TavusClient
from lib.tavus.simulator import TavusSimulator

KEY = "faults-key"


@pytest.fixture(scope="module")
def simulator() -> Iterator[TavusSimulator]:
    sim = TavusSimulator(KEY, training_seconds=3600, seed_demo_data=True).start()
    yield sim
    sim.stop()


@pytest.mark.parametrize("refresh", [MIN_REFRESH_SECONDS, 5, 15, 60, MAX_REFRESH_SECONDS])
def test_a_tick_always_gives_up_before_the_next_one_is_due(refresh: int) -> None:
    timeout = live_timeout(refresh)
    for part in (timeout.connect, timeout.read, timeout.write, timeout.pool):
        assert part is not None and part < refresh


def test_a_slow_tavus_fails_the_tick_once_then_the_table_recovers(
        simulator: TavusSimulator) -> None:
    refresh = 2
    patient = TavusClient(simulator.base_url, KEY)
    live = TavusClient(simulator.base_url, KEY, timeout=live_timeout(refresh), max_retries=0)
    tracker = ReplicaTracker(fast_seconds=refresh)
    tracker.load(patient)
    before = [r.replica_id for r in tracker.replicas]
    assert before and tracker.training_ids  # the seeded demo has one training

    simulator.reset_requests()
    simulator.inject_fault("slow", count=1, delay=live_timeout(refresh).read + 1.5)
    report = tracker.tick(live)
    assert report.error is not None and report.error.status_code is None
    assert "timed out" in report.error.message
    assert len(simulator.requests) == 1  # no retry piled onto the slow call
    assert [r.replica_id for r in tracker.replicas] == before  # last good data kept
    assert tracker.stale_since is not None

    report = tracker.tick(live)
    assert report.error is None
    assert tracker.stale_since is None and tracker.last_error is None


def test_tavus_down_for_many_ticks_keeps_the_table_and_recovers(
        simulator: TavusSimulator) -> None:
    live = TavusClient(simulator.base_url, KEY, timeout=live_timeout(2), max_retries=0)
    tracker = ReplicaTracker(fast_seconds=2)
    tracker.load(live)
    kept = [r.replica_id for r in tracker.replicas]
    simulator.inject_fault("500", count=1000, path_prefix="/v2/")
    try:
        first = None
        for _ in range(5):
            report = tracker.tick(live)
            assert report.error is not None and report.error.status_code == 500
            first = first or tracker.stale_since
            assert tracker.stale_since == first  # "stale since" the first failure, not the last
            assert [r.replica_id for r in tracker.replicas] == kept
    finally:
        simulator.clear_faults()
    assert tracker.tick(live).error is None
    assert tracker.stale_since is None
