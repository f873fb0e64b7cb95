"""ReplicaTracker against the Tavus simulator over real HTTP.

Call counts are read from the requests the simulator received, and TickReport.calls must agree.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib.replicas.table import sort_replicas
from lib.replicas.tracker import ReplicaTracker, StatusChange, TickReport
from lib.tavus.client import REPLICAS_PATH, ReplicaStatus, TavusClient, TavusError
from lib.tavus.simulator.server import RequestRecord, TavusSimulator
from tests.media import astronaut_png

KEY = "sync-test-key-0123456789"
TRAINING_SECONDS = 600


# --- Fixtures ------------------------------------------------------------------------------------
class _Images(BaseHTTPRequestHandler):
    """/good.png is a usable photo; /missing-*.png answer 404, once `release` is set."""

    good = astronaut_png()
    release = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/good.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(self.good)))
            self.end_headers()
            self.wfile.write(self.good)
            return
        # Held back so a test can see the replica training before its download fails.
        self.release.wait(timeout=5)
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Images.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    simulator = TavusSimulator(KEY, training_seconds=TRAINING_SECONDS,
                               seed_demo_data=False).start()
    _Images.release.clear()
    yield simulator
    _Images.release.set()
    simulator.wait_for_downloads()
    simulator.stop()


@pytest.fixture
def tavus(sim: TavusSimulator) -> Iterator[TavusClient]:
    client = TavusClient(sim.base_url, KEY, sleep=lambda s: None, max_retries=2)
    yield client
    client.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


# --- Helpers -------------------------------------------------------------------------------------
def calls(sim: TavusSimulator) -> list[RequestRecord]:
    return [r for r in sim.requests if r.path.startswith("/v2")]


def tick_counted(sim: TavusSimulator, tracker: ReplicaTracker, tavus: TavusClient,
                 ) -> tuple[TickReport, list[RequestRecord]]:
    """One tick; its requests as the simulator saw them, checked against the report."""
    sim.reset_requests()
    report = tracker.tick(tavus)
    seen = calls(sim)
    assert report.calls == len(seen), seen
    return report, seen


def is_count_call(r: RequestRecord) -> bool:
    return (r.method == "GET" and r.path == REPLICAS_PATH and r.query.get("limit") == "1"
            and "replica_ids" not in r.query)


def detail_calls(sim: TavusSimulator, replica_id: str) -> int:
    return sum(1 for r in sim.requests
               if r.method == "GET" and r.path == f"{REPLICAS_PATH}/{replica_id}")


def create(tavus: TavusClient, images: str, name: str, path: str) -> str:
    return tavus.create_replica_from_image(train_image_url=f"{images}{path}", voice_name="anna",
                                           replica_name=name).replica_id


# --- Loading -------------------------------------------------------------------------------------
def test_first_load_reads_every_page_in_a_stable_order(sim: TavusSimulator,
                                                       tavus: TavusClient) -> None:
    ids = sim.add_replicas(250, training=3)
    tracker = ReplicaTracker(page_size=100)
    sim.reset_requests()
    report = tracker.load(tavus)
    seen = calls(sim)
    assert report == TickReport(calls=3, full_reload=True, changes=[], error=None)
    assert [r.query["page"] for r in seen] == ["1", "2", "3"]
    assert all(r.query["limit"] == "100" and r.query["replica_type"] == "user" for r in seen)
    assert {r.replica_id for r in tracker.replicas} == set(ids)
    assert len(tracker.replicas) == tracker.total_count == 250
    in_order = sort_replicas(tracker.replicas)
    assert [r.replica_id for r in tracker.replicas] == [r.replica_id for r in in_order]
    assert tracker.replicas[0].created_at >= tracker.replicas[-1].created_at  # newest first
    assert set(tracker.training_ids) == set(ids[-3:])
    assert tracker.by_id(ids[0]) is not None and tracker.by_id("r-nope") is None
    assert tracker.loaded_at is not None and tracker.stale_since is None


def test_include_system_shows_stock_replicas_and_off_hides_them(sim: TavusSimulator,
                                                                tavus: TavusClient) -> None:
    sim.add_replicas(4)
    hidden, shown = ReplicaTracker(), ReplicaTracker(include_system=True)
    hidden.load(tavus)
    shown.load(tavus)
    assert {r.replica_type for r in hidden.replicas} == {"user"}
    assert {r.replica_type for r in shown.replicas} == {"user", "system"}
    assert len(shown.replicas) > len(hidden.replicas) == 4
    # Each tracker's count check asks the same question as its load: no spurious reloads.
    for tracker, replica_type in ((hidden, "user"), (shown, None)):
        report, seen = tick_counted(sim, tracker, tavus)
        assert not report.full_reload
        assert [r.query.get("replica_type") for r in seen] == [replica_type]


# --- The cheap tick ------------------------------------------------------------------------------
def test_a_tick_over_ten_thousand_replicas_costs_two_calls(sim: TavusSimulator,
                                                           tavus: TavusClient) -> None:
    ids = sim.add_replicas(10_000, training=20)
    training = set(ids[-20:])
    tracker = ReplicaTracker()
    tracker.load(tavus)
    assert len(tracker.replicas) == 10_000
    report, seen = tick_counted(sim, tracker, tavus)
    assert report == TickReport(calls=2, full_reload=False, changes=[], error=None)
    assert len(seen) == 2
    refresh = [r for r in seen if "replica_ids" in r.query]
    assert len(refresh) == 1
    assert set(refresh[0].query["replica_ids"].split(",")) == training
    assert len([r for r in seen if is_count_call(r)]) == 1


def test_a_tick_with_nothing_training_is_one_count_call(sim: TavusSimulator,
                                                        tavus: TavusClient) -> None:
    sim.add_replicas(30)
    tracker = ReplicaTracker()
    tracker.load(tavus)
    for _ in range(3):
        report, seen = tick_counted(sim, tracker, tavus)
        assert len(seen) == 1 and is_count_call(seen[0])
        assert not report.full_reload and report.error is None


def test_more_trainings_than_a_page_are_refreshed_in_turns(sim: TavusSimulator,
                                                           tavus: TavusClient) -> None:
    ids = sim.add_replicas(40, training=25)
    tracker = ReplicaTracker(page_size=10)
    tracker.load(tavus)
    asked: set[str] = set()
    for _ in range(3):
        report, seen = tick_counted(sim, tracker, tavus)
        assert report.calls == 2
        [refresh] = [r for r in seen if "replica_ids" in r.query]
        chunk = refresh.query["replica_ids"].split(",")
        assert len(chunk) == 10 and refresh.query["limit"] == "10"
        asked.update(chunk)
    assert asked == set(ids[-25:])


def test_a_replica_created_elsewhere_triggers_one_full_reload(sim: TavusSimulator,
                                                              tavus: TavusClient,
                                                              images: str) -> None:
    sim.add_replicas(120)
    tracker = ReplicaTracker(page_size=50)
    tracker.load(tavus)
    new_id = create(tavus, images, "Made elsewhere", "/good.png")
    sim.wait_for_downloads()

    report, seen = tick_counted(sim, tracker, tavus)
    assert report.full_reload and report.error is None
    assert is_count_call(seen[0])
    assert len(seen) == 1 + 3  # the count, then 121 replicas in pages of 50
    assert tracker.by_id(new_id) is not None
    assert tracker.replicas[0].replica_id == new_id  # newest first
    assert tracker.total_count == 121

    report, seen = tick_counted(sim, tracker, tavus)
    assert not report.full_reload and len(seen) <= 2

    tavus.delete_replica(new_id)
    report, _ = tick_counted(sim, tracker, tavus)
    assert report.full_reload
    assert tracker.by_id(new_id) is None and len(tracker.replicas) == 120


# --- Transitions ---------------------------------------------------------------------------------
def test_training_to_ready_is_reported_once(sim: TavusSimulator, tavus: TavusClient) -> None:
    ids = sim.add_replicas(5, training=1)
    tracker = ReplicaTracker(fast_seconds=2, slow_seconds=60)
    tracker.load(tavus)
    assert tracker.training_ids == [ids[-1]]
    assert tracker.interval_seconds == 2

    report, seen = tick_counted(sim, tracker, tavus)
    assert report.changes == [] and len(seen) == 2

    sim.advance(TRAINING_SECONDS + 1)
    report, seen = tick_counted(sim, tracker, tavus)
    name = tracker.by_id(ids[-1]).replica_name
    assert report.changes == [StatusChange(ids[-1], name, ReplicaStatus.READY, None)]
    assert len(seen) == 2
    assert tracker.by_id(ids[-1]).state is ReplicaStatus.READY
    assert tracker.training_ids == []
    assert tracker.interval_seconds == 60

    report, seen = tick_counted(sim, tracker, tavus)
    assert report.changes == []
    assert len(seen) == 1  # nothing trains: just the count


def test_items_states_and_replica_objects_agree_before_and_after_a_tick(
        sim: TavusSimulator, tavus: TavusClient) -> None:
    ids = sim.add_replicas(6, training=2)
    tracker = ReplicaTracker()
    tracker.load(tavus)

    def agree() -> None:
        replicas = tracker.replicas
        assert tracker.count == len(replicas) == len(tracker.items) == len(tracker.states) == 6
        assert [r.replica_id for r in replicas] == [d["replica_id"] for d in tracker.items]
        assert [r.state for r in replicas] == list(tracker.states)
        assert [r.replica_id for r in replicas] == [
            r.replica_id for r in sort_replicas(replicas)]
        for r in replicas:
            assert tracker.by_id(r.replica_id) == r

    agree()
    assert tracker.by_id(ids[-1]) is tracker.by_id(ids[-1])  # made once, then kept
    before = tracker.by_id(ids[-1])
    assert before.state is ReplicaStatus.TRAINING
    sim.advance(TRAINING_SECONDS + 1)
    tracker.tick(tavus)
    agree()
    # The tick's fresh copy replaced the old one everywhere: no stale object is handed out.
    assert tracker.by_id(ids[-1]).state is ReplicaStatus.READY
    assert tracker.by_id(ids[-1]) is not before
    assert list(tracker.states).count(ReplicaStatus.TRAINING) == 0
    assert tracker.failed_ids == [] and tracker.training_ids == []


def test_the_first_load_reports_no_transitions(sim: TavusSimulator, tavus: TavusClient) -> None:
    sim.add_replicas(3, training=1)
    sim.advance(TRAINING_SECONDS + 1)
    report = ReplicaTracker().load(tavus)
    assert report.changes == [] and report.error is None


def test_a_failure_is_reported_and_its_message_fetched_once_in_place_of_the_count(
    sim: TavusSimulator, tavus: TavusClient, images: str
) -> None:
    sim.add_replicas(10)
    tracker = ReplicaTracker()
    tracker.load(tavus)
    bad = create(tavus, images, "Bad link", "/missing-1.png")
    report, _ = tick_counted(sim, tracker, tavus)  # the count notices it: reload
    assert report.full_reload
    assert tracker.training_ids == [bad]

    _Images.release.set()
    assert sim.wait_for_downloads()
    report, seen = tick_counted(sim, tracker, tavus)
    assert len(seen) == 2
    assert "replica_ids" in seen[0].query
    assert (seen[1].method, seen[1].path) == ("GET", f"{REPLICAS_PATH}/{bad}")
    assert not any(is_count_call(r) for r in seen)  # the detail took the count's place
    message = tracker.error_message(bad)
    assert message is not None and "Failed to download the training image" in message
    assert "404" in message
    assert report.changes == [StatusChange(bad, "Bad link", ReplicaStatus.FAILED, message)]

    sim.reset_requests()
    for _ in range(5):
        report, seen = tick_counted(sim, tracker, tavus)
        assert report.changes == [] and len(seen) <= 2
    assert detail_calls(sim, bad) == 0  # cached: never fetched again


def test_two_failures_in_one_tick_fetch_one_message_per_tick(
    sim: TavusSimulator, tavus: TavusClient, images: str
) -> None:
    tracker = ReplicaTracker()
    tracker.load(tavus)
    first = create(tavus, images, "Bad one", "/missing-a.png")
    second = create(tavus, images, "Bad two", "/missing-b.png")
    tracker.tick(tavus)  # reload: both training
    assert set(tracker.training_ids) == {first, second}
    _Images.release.set()
    assert sim.wait_for_downloads()

    report, seen = tick_counted(sim, tracker, tavus)
    assert len(seen) == 2
    assert {c.replica_id for c in report.changes} == {first, second}
    with_message = [c for c in report.changes if c.error_message]
    assert len(with_message) == 1  # one detail per tick
    assert tracker.interval_seconds == tracker.fast_seconds  # a message is still due

    report, seen = tick_counted(sim, tracker, tavus)
    assert len(seen) == 1 and seen[0].path.startswith(f"{REPLICAS_PATH}/")  # the other detail
    assert report.changes == []
    assert tracker.error_message(first) and tracker.error_message(second)

    report, seen = tick_counted(sim, tracker, tavus)
    assert len(seen) == 1 and is_count_call(seen[0])
    assert tracker.interval_seconds == tracker.slow_seconds


def test_failures_present_at_load_get_their_messages_and_a_shared_cache_is_not_refetched(
    sim: TavusSimulator, tavus: TavusClient, images: str
) -> None:
    sim.add_replicas(5)
    _Images.release.set()
    bad = create(tavus, images, "Bad link", "/missing-load.png")
    assert sim.wait_for_downloads()

    shared: dict[str, str] = {}
    sim.reset_requests()
    first = ReplicaTracker(messages=shared)
    report = first.load(tavus)
    assert report.calls == len(calls(sim)) == 2  # one page, one detail
    assert detail_calls(sim, bad) == 1
    assert report.changes == []  # it was never seen training
    assert "404" in (first.error_message(bad) or "")
    assert shared[bad] == first.error_message(bad)

    sim.reset_requests()
    second = ReplicaTracker(messages=shared)
    report = second.load(tavus)
    assert report.calls == len(calls(sim)) == 1
    assert detail_calls(sim, bad) == 0
    assert second.error_message(bad) == first.error_message(bad)


# --- phoenix-4.5: preview, then tuning ----------------------------------------------------------
PREVIEW_AFTER = TRAINING_SECONDS / 60  # the simulator's phoenix-4.5 preview time


def refreshed_ids(seen: list[RequestRecord]) -> set[str]:
    """The ids a tick's `replica_ids=` refresh asked for (none when there was no refresh)."""
    return {rid for r in seen if "replica_ids" in r.query
            for rid in r.query["replica_ids"].split(",")}


def test_each_phoenix_45_stage_is_reported_once_and_a_preview_keeps_being_refreshed(
        sim: TavusSimulator, tavus: TavusClient) -> None:
    [rid] = sim.add_replicas(4, training=1, model_name="phoenix-4.5")[-1:]
    tracker = ReplicaTracker(fast_seconds=2, slow_seconds=60)
    tracker.load(tavus)
    name = tracker.by_id(rid).replica_name
    assert tracker.training_ids == tracker.changing_ids == [rid]

    sim.advance(PREVIEW_AFTER + 1)
    report, seen = tick_counted(sim, tracker, tavus)
    assert report.changes == [StatusChange(rid, name, ReplicaStatus.PREVIEW, None)]
    assert report.changes[0].previous is ReplicaStatus.TRAINING
    assert len(seen) == 2
    assert tracker.by_id(rid).state is ReplicaStatus.PREVIEW
    assert tracker.by_id(rid).finetune_status == "in_progress"
    assert tracker.training_ids == [] and tracker.changing_ids == [rid]
    assert tracker.interval_seconds == 2  # tuning: still worth watching closely

    for _ in range(3):  # tuning goes on: refreshed every tick, told nothing new
        report, seen = tick_counted(sim, tracker, tavus)
        assert report.changes == [] and len(seen) == 2
        assert refreshed_ids(seen) == {rid}

    sim.advance(TRAINING_SECONDS)
    report, seen = tick_counted(sim, tracker, tavus)
    assert report.changes == [StatusChange(rid, name, ReplicaStatus.READY, None)]
    assert report.changes[0].previous is ReplicaStatus.PREVIEW
    assert len(seen) == 2
    assert tracker.changing_ids == [] and tracker.interval_seconds == 60

    report, seen = tick_counted(sim, tracker, tavus)
    assert report.changes == [] and len(seen) == 1 and is_count_call(seen[0])


def test_a_failed_tuning_is_reported_once_and_then_left_alone(
        sim: TavusSimulator, tavus: TavusClient) -> None:
    [rid] = sim.add_replicas(2, training=1, model_name="phoenix-4.5")[-1:]
    sim.advance(PREVIEW_AFTER + 1)
    tracker = ReplicaTracker(fast_seconds=2, slow_seconds=60)
    report = tracker.load(tavus)
    assert report.changes == []  # the first load tells nothing
    assert tracker.changing_ids == [rid] and tracker.interval_seconds == 2

    sim.fail_tuning(rid)
    report, seen = tick_counted(sim, tracker, tavus)
    assert [(c.replica_id, c.new, c.previous) for c in report.changes] == [
        (rid, ReplicaStatus.PREVIEW_ONLY, ReplicaStatus.PREVIEW)]
    assert report.changes[0].error_message is None
    assert len(seen) == 2
    assert tracker.by_id(rid).state is ReplicaStatus.PREVIEW_ONLY
    assert tracker.failed_ids == []  # still usable: no failure message to fetch
    assert tracker.changing_ids == [] and tracker.interval_seconds == 60

    sim.reset_requests()
    for _ in range(3):
        report, seen = tick_counted(sim, tracker, tavus)
        assert report.changes == [] and len(seen) == 1 and is_count_call(seen[0])
    assert detail_calls(sim, rid) == 0


def test_previews_and_trainings_share_the_two_call_budget(
        sim: TavusSimulator, tavus: TavusClient) -> None:
    previews = sim.add_replicas(12, training=12, model_name="phoenix-4.5")
    sim.advance(PREVIEW_AFTER + 1)  # these are previews now; the next ones start training
    trainings = sim.add_replicas(3, training=3)
    tracker = ReplicaTracker(page_size=5)
    tracker.load(tavus)
    assert set(tracker.changing_ids) == set(previews) | set(trainings)
    assert set(tracker.training_ids) == set(trainings)
    asked: set[str] = set()
    for _ in range(3):
        report, seen = tick_counted(sim, tracker, tavus)
        assert report.calls == 2 and not report.full_reload
        chunk = refreshed_ids(seen)
        assert len(chunk) == 5
        asked |= chunk
    assert asked == set(previews) | set(trainings)  # 15 still changing, 5 a tick


def test_a_full_load_reports_stage_changes_of_held_previews(
        sim: TavusSimulator, tavus: TavusClient) -> None:
    ids = sim.add_replicas(3, training=2, model_name="phoenix-4.5")
    tracker = ReplicaTracker()
    tracker.load(tavus)
    sim.advance(PREVIEW_AFTER + 1)
    report = tracker.load(tavus)
    assert {(c.replica_id, c.new, c.previous) for c in report.changes} == {
        (rid, ReplicaStatus.PREVIEW, ReplicaStatus.TRAINING) for rid in ids[-2:]}
    sim.fail_tuning(ids[-1])
    sim.advance(TRAINING_SECONDS)
    report = tracker.load(tavus)
    assert {(c.replica_id, c.new, c.previous) for c in report.changes} == {
        (ids[-2], ReplicaStatus.READY, ReplicaStatus.PREVIEW),
        (ids[-1], ReplicaStatus.PREVIEW_ONLY, ReplicaStatus.PREVIEW)}
    assert tracker.load(tavus).changes == []


# --- When Tavus fails ----------------------------------------------------------------------------
def test_tavus_failing_keeps_the_last_data_and_recovers_by_itself(
    sim: TavusSimulator, tavus: TavusClient
) -> None:
    ids = sim.add_replicas(8, training=2)
    clock = FakeClock()
    tracker = ReplicaTracker(clock=clock)
    tracker.load(tavus)
    held = [r.replica_id for r in tracker.replicas]
    loaded = clock.now

    # Two failed ticks: 3 attempts each (max_retries=2) on the first call of the tick.
    sim.inject_fault("500", count=6, path_prefix=REPLICAS_PATH)
    clock.advance(seconds=15)
    failed_at = clock.now
    sim.reset_requests()
    report = tracker.tick(tavus)
    assert isinstance(report.error, TavusError) and report.error.status_code == 500
    assert report.calls == 1 and report.changes == []
    assert len(calls(sim)) == 3  # `calls` counts API calls; the client's own retries are not
    assert [r.replica_id for r in tracker.replicas] == held
    assert tracker.stale_since == failed_at and tracker.last_error is report.error
    assert tracker.updated_at == loaded

    clock.advance(seconds=15)
    report = tracker.tick(tavus)
    assert report.error is not None
    assert tracker.stale_since == failed_at  # the first failure of the run

    clock.advance(seconds=15)
    sim.advance(TRAINING_SECONDS + 1)
    report, _ = tick_counted(sim, tracker, tavus)
    assert report.error is None
    assert tracker.stale_since is None and tracker.last_error is None
    assert tracker.updated_at == clock.now
    assert {c.replica_id for c in report.changes} == set(ids[-2:])


def test_a_refused_detail_call_still_reports_the_failure_and_is_tried_again(
    sim: TavusSimulator, tavus: TavusClient, images: str
) -> None:
    tracker = ReplicaTracker()
    tracker.load(tavus)
    bad = create(tavus, images, "Bad link", "/missing-429.png")
    tracker.tick(tavus)  # reload: training
    _Images.release.set()
    assert sim.wait_for_downloads()
    # The training refresh succeeds; the detail call after it is rate-limited (3 attempts).
    sim.inject_fault("429", count=3, path_prefix=f"{REPLICAS_PATH}/{bad}", retry_after=0)
    report = tracker.tick(tavus)
    assert isinstance(report.error, TavusError) and report.error.status_code == 429
    assert report.changes == [StatusChange(bad, "Bad link", ReplicaStatus.FAILED, None)]
    assert tracker.stale_since is not None and tracker.error_message(bad) is None

    report, seen = tick_counted(sim, tracker, tavus)
    assert report.error is None and report.changes == []  # told once, not again
    assert [(r.method, r.path) for r in seen] == [("GET", f"{REPLICAS_PATH}/{bad}")]
    assert "404" in (tracker.error_message(bad) or "")
    assert tracker.stale_since is None


def test_a_first_load_against_a_broken_tavus_records_the_error_instead_of_raising(
    sim: TavusSimulator, tavus: TavusClient
) -> None:
    sim.add_replicas(3)
    sim.inject_fault("500", count=3, path_prefix=REPLICAS_PATH)
    tracker = ReplicaTracker()
    report = tracker.tick(tavus)  # a tick before any load is a load
    assert report.full_reload and report.error is not None
    assert tracker.replicas == [] and tracker.total_count is None
    assert tracker.stale_since is not None
    report = tracker.tick(tavus)
    assert report.error is None and len(tracker.replicas) == 3
    assert tracker.stale_since is None
