"""History rows and SharedConversations against the Tavus simulator, over HTTP on loopback.

Conversations are created and ended through the client; call counts come from the requests the
simulator received. Simulated time moves with sim.advance(); freshness runs on a fake monotonic
clock. The threaded test asserts call counts, never durations.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from lib.conversations.history import HistoryRow, filter_history, history_rows
from lib.conversations.shared import SharedConversations
from lib.tavus.client import CONVERSATIONS_PATH, TavusClient, parse_time
from lib.tavus.simulator.server import TavusSimulator

KEY = "history-test-key-0123456789"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class StartRecord:  # stands in for the app's own record of a call it started (duck-typed)
    started_by: str | None
    preset_name: str | None


@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    simulator = TavusSimulator(KEY, seed_demo_data=False, max_concurrent_conversations=100).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def tavus(sim: TavusSimulator) -> Iterator[TavusClient]:
    client = TavusClient(sim.base_url, KEY, backoff_seconds=0.01, max_backoff_seconds=0.02)
    yield client
    client.close()


@pytest.fixture
def replicas(sim: TavusSimulator, tavus: TavusClient) -> dict[str, str]:
    """Two ready replicas of the account, by id."""
    ours = set(sim.add_replicas(2))
    return {r.replica_id: r.replica_name for r in tavus.list_all_replicas()
            if r.replica_id in ours}


def about(duration: timedelta | None, seconds: float) -> bool:
    """The simulated clock also moves with real time between two calls (milliseconds), so a
    duration made by sim.advance() is checked to the second, not to the microsecond."""
    return duration is not None and timedelta(seconds=seconds) <= duration < timedelta(
        seconds=seconds + 1)


def calls(sim: TavusSimulator) -> tuple[list[dict[str, str]], list[str]]:
    """(queries of list calls, ids of verbose gets) the simulator received."""
    lists, gets = [], []
    for r in sim.requests:
        if r.method == "GET" and r.path == CONVERSATIONS_PATH:
            lists.append(r.query)
        elif r.method == "GET" and r.path.startswith(CONVERSATIONS_PATH + "/"):
            assert r.query.get("verbose") == "true"
            gets.append(r.path.rsplit("/", 1)[1])
    return lists, gets


def start(tavus: TavusClient, replica_id: str, name: str, **options) -> str:
    return tavus.create_conversation(replica_id=replica_id, conversation_name=name,
                                     **options).conversation_id


# --- History rows --------------------------------------------------------------------------------
def test_history_rows_over_http(sim, tavus, replicas) -> None:
    anna, ben = sorted(replicas)
    first = start(tavus, anna, "Morning demo")
    sim.advance(60)
    second = start(tavus, ben, "Pricing questions")
    sim.advance(90)
    tavus.end_conversation(second)  # ran 90 s
    sim.advance(30)
    third = start(tavus, anna, "Still going")
    sim.advance(45)
    dry = start(tavus, ben, "Dry run", test_mode=True)

    found, total = tavus.list_all_conversations()
    assert total == 4
    now = parse_time(sim.now_iso())
    assert now is not None
    started = {second: StartRecord("ana@example.com", "Sales demo"), first: object()}
    rows = history_rows(found[::-1], replica_names={anna: "Anna"},
                        reasons={second: "ended from the dashboard"}, started=started, now=now)

    assert [r.conversation_id for r in rows] == [dry, third, second, first]  # newest first
    by_id = {r.conversation_id: r for r in rows}
    assert by_id[second] == HistoryRow(
        conversation_id=second, name="Pricing questions", replica_id=ben, replica_name="",
        status="ended", started_at=by_id[second].started_at, duration=by_id[second].duration,
        shutdown_reason="ended from the dashboard", started_by="ana@example.com",
        preset_name="Sales demo")
    assert by_id[first].replica_name == "Anna" and by_id[first].started_by is None
    assert by_id[first].status == "active" and by_id[first].live
    assert by_id[first].duration == now - by_id[first].started_at  # live: up to now
    assert about(by_id[second].duration, 90) and about(by_id[third].duration, 45)
    assert by_id[dry].status == "ended" and by_id[dry].duration == timedelta(0)
    assert by_id[first].shutdown_reason == ""


def test_an_ended_rows_duration_stops_at_the_shutdown_event(sim, tavus, replicas) -> None:
    cid = start(tavus, next(iter(replicas)), "Timed")
    sim.advance(125)
    tavus.end_conversation(cid)
    sim.advance(600)  # long after: the duration must not grow
    detail = tavus.get_conversation(cid, verbose=True)
    later = parse_time(sim.now_iso())
    assert later is not None
    (row,) = history_rows([detail], replica_names=replicas, reasons={}, started={}, now=later)
    assert about(row.duration, 125)
    assert row.shutdown_reason == "ended from the dashboard"  # read from the event itself


def test_filter_history_by_words_and_status(sim, tavus, replicas) -> None:
    anna = next(iter(replicas))
    a = start(tavus, anna, "Morning demo")
    b = start(tavus, anna, "Evening DEMO for Acme")
    c = start(tavus, anna, "Support call")
    tavus.end_conversation(b)
    found, _ = tavus.list_all_conversations()
    rows = history_rows(found, replica_names=replicas, reasons={},
                        started={c: StartRecord("zoe@acme.test", None)})
    ids = lambda rs: {r.conversation_id for r in rs}  # noqa: E731
    assert ids(filter_history(rows, "", [])) == {a, b, c}
    assert ids(filter_history(rows, "demo", [])) == {a, b}
    assert ids(filter_history(rows, "  DEMO   acme ", [])) == {b}  # every word must match
    assert ids(filter_history(rows, "acme", [])) == {b, c}  # the starter is searched too
    assert ids(filter_history(rows, "demo", ["ended"])) == {b}
    assert ids(filter_history(rows, "", ["Active"])) == {a, c}
    assert ids(filter_history(rows, replicas[anna].lower(), [])) == {a, b, c}
    assert filter_history(rows, "nothing like this", []) == []


def test_list_all_conversations_walks_every_page(sim, tavus, replicas) -> None:
    anna = next(iter(replicas))
    created = {start(tavus, anna, f"Call {i}", test_mode=True) for i in range(230)}
    sim.reset_requests()
    found, total = tavus.list_all_conversations(page_size=100)
    assert total == 230 and {c.conversation_id for c in found} == created
    lists, _ = calls(sim)
    assert sorted(q["page"] for q in lists) == ["1", "2", "3"]


# --- SharedConversations -------------------------------------------------------------------------
def shared_on(clock: FakeClock, **options) -> SharedConversations:
    return SharedConversations(monotonic=clock, **options)


def test_sessions_refreshing_at_once_call_tavus_once(sim, tavus, replicas) -> None:
    anna = next(iter(replicas))
    ended = [start(tavus, anna, f"Done {i}") for i in range(3)]
    for cid in ended:
        tavus.end_conversation(cid)
    start(tavus, anna, "Live")
    shared = shared_on(FakeClock())
    sim.reset_requests()

    sessions = 12
    barrier = threading.Barrier(sessions)
    views = [None] * sessions

    def session(i: int) -> None:
        client = TavusClient(sim.base_url, KEY)  # each session has its own client
        try:
            barrier.wait()
            views[i] = shared.refresh(client, max_age_seconds=60)
        finally:
            client.close()

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    lists, gets = calls(sim)
    assert len(lists) == 1 and sorted(gets) == sorted(ended)  # one walk, one detail per ended
    assert {v.version for v in views} == {1}
    view = views[0]
    assert len(view.conversations) == 4 and view.error is None
    assert dict(view.reasons) == {cid: "ended from the dashboard" for cid in ended}
    assert set(view.ended_at) == set(ended)


def test_refresh_costs_nothing_when_fresh_and_one_call_when_unchanged(sim, tavus, replicas
                                                                      ) -> None:
    anna = next(iter(replicas))
    for i in range(150):
        start(tavus, anna, f"Dry {i}", test_mode=True)  # ended at once
    clock = FakeClock()
    shared = shared_on(clock, page_size=100)
    first = shared.refresh(tavus, max_age_seconds=30)
    assert len(first.conversations) == 150 and first.total_count == 150

    sim.reset_requests()
    clock.advance(10)
    assert shared.refresh(tavus, max_age_seconds=30) is first
    assert sim.requests == []  # fresh: 0 calls

    # Due, nothing changed, nothing live, and the 150 dry runs' reasons are known already
    # (20 per refresh: fill them in first).
    for _ in range(7):
        clock.advance(31)
        shared.refresh(tavus, max_age_seconds=30)
    assert shared.view().reasons == {}  # the simulator names no reason for dry runs…
    sim.reset_requests()
    clock.advance(31)
    view = shared.refresh(tavus, max_age_seconds=30)
    lists, gets = calls(sim)
    assert lists == [{"page": "1", "limit": "1"}] and gets == []  # …and is not asked again
    assert view.conversations == first.conversations and view.version > first.version


def test_details_are_bounded_per_refresh_newest_first(sim, tavus, replicas) -> None:
    anna = next(iter(replicas))
    ids = []
    for i in range(30):
        ids.append(start(tavus, anna, f"Call {i}"))
        sim.advance(1)
    for cid in ids:
        tavus.end_conversation(cid)
    clock = FakeClock()
    shared = shared_on(clock, max_details=20)
    sim.reset_requests()
    shared.refresh(tavus, max_age_seconds=5)
    _, gets = calls(sim)
    assert set(gets) == set(ids[-20:])  # the newest 20
    assert len(shared.view().reasons) == 20

    sim.reset_requests()
    clock.advance(6)
    shared.refresh(tavus, max_age_seconds=5)
    lists, gets = calls(sim)
    assert len(lists) == 1 and lists[0]["limit"] == "1"  # count unchanged: no walk
    assert set(gets) == set(ids[:10])
    assert len(shared.view().reasons) == 30

    sim.reset_requests()
    clock.advance(6)
    shared.refresh(tavus, max_age_seconds=5)
    lists, gets = calls(sim)
    assert len(lists) == 1 and gets == []  # all known: ended calls are never fetched again


def test_a_live_call_means_a_walk_until_it_ends(sim, tavus, replicas) -> None:
    anna = next(iter(replicas))
    live = start(tavus, anna, "Live")
    clock = FakeClock()
    shared = shared_on(clock)
    assert shared.refresh(tavus, max_age_seconds=5).live_ids == (live,)

    sim.reset_requests()
    clock.advance(6)
    shared.refresh(tavus, max_age_seconds=5)
    lists, gets = calls(sim)
    assert [q.get("limit") for q in lists] == ["100"] and gets == []  # a walk, no check first

    tavus.end_conversation(live)
    sim.reset_requests()
    clock.advance(6)
    view = shared.refresh(tavus, max_age_seconds=5)
    lists, gets = calls(sim)
    assert len(lists) == 1 and gets == [live]
    assert view.live_ids == () and view.reasons[live] == "ended from the dashboard"

    sim.reset_requests()
    clock.advance(6)
    shared.refresh(tavus, max_age_seconds=5)
    lists, gets = calls(sim)
    assert lists == [{"page": "1", "limit": "1"}] and gets == []


def test_a_new_or_deleted_call_and_the_reconcile_bring_a_walk(sim, tavus, replicas) -> None:
    anna = next(iter(replicas))
    old = start(tavus, anna, "Old")
    tavus.end_conversation(old)
    clock = FakeClock()
    shared = shared_on(clock, reconcile_seconds=100)
    shared.refresh(tavus, max_age_seconds=5)
    assert old in shared.view().reasons

    new = start(tavus, anna, "New", test_mode=True)
    clock.advance(6)
    sim.reset_requests()
    view = shared.refresh(tavus, max_age_seconds=5)
    lists, _ = calls(sim)
    assert [q["limit"] for q in lists] == ["1", "100"]  # the count changed: check, then walk
    assert view.conversations[0].conversation_id == new

    tavus.delete_conversation(old)
    clock.advance(6)
    view = shared.refresh(tavus, max_age_seconds=5)
    assert [c.conversation_id for c in view.conversations] == [new]
    assert old not in view.reasons  # a deleted call is forgotten

    clock.advance(100)  # reconcile due: a walk without a check, whatever the count
    sim.reset_requests()
    shared.refresh(tavus, max_age_seconds=5)
    lists, _ = calls(sim)
    assert [q["limit"] for q in lists] == ["100"]


def test_a_failing_tavus_keeps_the_rows_and_says_why(sim, tavus, replicas) -> None:
    anna = next(iter(replicas))
    live = start(tavus, anna, "Live")
    clock = FakeClock()
    shared = shared_on(clock)
    before = shared.refresh(tavus, max_age_seconds=5)
    sim.inject_fault("500", count=10, path_prefix=CONVERSATIONS_PATH)
    clock.advance(6)
    after = shared.refresh(tavus, max_age_seconds=5)  # never raises
    assert after.error is not None and after.error.status_code == 500
    assert after.conversations == before.conversations
    assert after.updated_at == before.updated_at
    sim.clear_faults()
    clock.advance(6)
    recovered = shared.refresh(tavus, max_age_seconds=5)
    assert recovered.error is None and recovered.live_ids == (live,)


def test_force_walks_even_when_fresh(sim, tavus, replicas) -> None:
    start(tavus, next(iter(replicas)), "Any", test_mode=True)
    shared = shared_on(FakeClock())
    shared.refresh(tavus, max_age_seconds=60)
    sim.reset_requests()
    shared.refresh(tavus, max_age_seconds=60, force=True)
    lists, _ = calls(sim)
    assert [q["limit"] for q in lists] == ["100"]
