"""One documents list per server (SharedDocuments), against the Tavus simulator over HTTP: what each
refresh costs in Tavus calls, counted in the simulator's own request log.

The list's clock (`monotonic`) is the test's, so "within max_age" and "stale" are steps here,
never waits; the simulator's clock moves documents from processing to ready with advance().
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from lib.knowledge.shared import SharedDocuments
from lib.tavus.client import TavusClient, TavusError
from lib.tavus.simulator import RequestRecord, TavusSimulator
from tests.served import serving

KEY = "sk-shared-documents-test"
TEXT = b"Opening hours: 9 to 5.\n"
MAX_AGE = 15.0
PAGE_SIZE = 2  # small pages, so a walk of a few documents is several calls


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def doc_url() -> Iterator[str]:
    with serving(TEXT, "hours.txt") as url:
        yield url


@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    s = TavusSimulator(KEY, seed_demo_data=False, document_seconds=10).start()
    yield s
    s.stop()


@pytest.fixture
def tavus(sim: TavusSimulator) -> Iterator[TavusClient]:
    # As the app's live client: no retries, so a failure shows at once.
    with TavusClient(sim.base_url, KEY, timeout=5.0, max_retries=0,
                     sleep=lambda s: None) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shared(clock: Clock) -> SharedDocuments:
    return SharedDocuments(page_size=PAGE_SIZE, concurrency=2, monotonic=clock)


def add_ready(sim: TavusSimulator, tavus: TavusClient, url: str, names: list[str]) -> list[str]:
    ids = [tavus.create_document(document_url=url, document_name=name).document_id
           for name in names]
    assert sim.wait_for_downloads()
    sim.advance(11)  # past the simulated processing time: every one is ready
    return ids


def list_calls(sim: TavusSimulator) -> list[RequestRecord]:
    """GET /v2/documents (the list; one document's GET is /v2/documents/<id>)."""
    return [r for r in sim.requests if r.method == "GET" and r.path == "/v2/documents"]


def test_the_first_refresh_walks_every_page_newest_first(sim, tavus, shared, doc_url) -> None:
    ids = add_ready(sim, tavus, doc_url, ["one", "two", "three"])
    sim.reset_requests()

    view = shared.refresh(tavus, max_age_seconds=MAX_AGE)

    calls = list_calls(sim)
    assert sorted(r.query["page"] for r in calls) == ["0", "1"]  # 3 documents, pages of 2
    assert all(r.query["limit"] == str(PAGE_SIZE) for r in calls)
    assert [d.document_id for d in view.documents] == ids[::-1]
    assert view.total_count == 3 and view.loaded and view.error is None
    assert (shared.stats.walks, shared.stats.checks) == (1, 0)


def test_a_refresh_within_max_age_costs_nothing(sim, tavus, shared, clock, doc_url) -> None:
    add_ready(sim, tavus, doc_url, ["one"])
    first = shared.refresh(tavus, max_age_seconds=MAX_AGE)
    sim.reset_requests()

    clock.advance(MAX_AGE - 1)
    again = shared.refresh(tavus, max_age_seconds=MAX_AGE)

    assert list_calls(sim) == []
    assert again is first and shared.view() is first


def test_with_nothing_moving_a_refresh_is_one_limit_1_call(sim, tavus, shared, clock,
                                                            doc_url) -> None:
    add_ready(sim, tavus, doc_url, ["one", "two", "three"])
    first = shared.refresh(tavus, max_age_seconds=MAX_AGE)
    assert not first.moving

    for _ in range(3):
        sim.reset_requests()
        clock.advance(MAX_AGE)
        view = shared.refresh(tavus, max_age_seconds=MAX_AGE)
        calls = list_calls(sim)
        assert len(calls) == 1
        assert calls[0].query == {"page": "0", "limit": "1", "sort": "descending"}
        assert view.documents == first.documents and view.version == first.version
    assert (shared.stats.walks, shared.stats.checks) == (1, 3)


def test_a_document_added_elsewhere_is_found_by_the_check(sim, tavus, shared, clock,
                                                          doc_url) -> None:
    add_ready(sim, tavus, doc_url, ["one", "two"])
    shared.refresh(tavus, max_age_seconds=MAX_AGE)
    (newest,) = add_ready(sim, tavus, doc_url, ["from a teammate"])
    sim.reset_requests()

    clock.advance(MAX_AGE)
    view = shared.refresh(tavus, max_age_seconds=MAX_AGE)

    calls = list_calls(sim)
    assert calls[0].query["limit"] == "1"  # the check, then the walk: 1 + P
    assert len(calls) == 1 + 2
    assert view.documents[0].document_id == newest and view.total_count == 3


def test_while_a_document_processes_every_refresh_walks(sim, tavus, shared, clock,
                                                        doc_url) -> None:
    add_ready(sim, tavus, doc_url, ["one", "two"])
    shared.refresh(tavus, max_age_seconds=MAX_AGE)
    busy = tavus.create_document(document_url=doc_url, document_name="busy").document_id
    assert sim.wait_for_downloads()
    clock.advance(MAX_AGE)
    view = shared.refresh(tavus, max_age_seconds=MAX_AGE)  # the check finds it
    assert view.moving

    sim.advance(5)  # half way through its processing: progress moves
    sim.reset_requests()
    clock.advance(MAX_AGE)
    view = shared.refresh(tavus, max_age_seconds=MAX_AGE)

    calls = list_calls(sim)
    assert len(calls) == 2 and all(r.query["limit"] == str(PAGE_SIZE) for r in calls)
    assert view.by_id()[busy].progress is not None and view.moving

    sim.advance(10)  # now ready: one more walk sees it, then the cheap check again
    clock.advance(MAX_AGE)
    assert not shared.refresh(tavus, max_age_seconds=MAX_AGE).moving
    sim.reset_requests()
    clock.advance(MAX_AGE)
    shared.refresh(tavus, max_age_seconds=MAX_AGE)
    assert [r.query["limit"] for r in list_calls(sim)] == ["1"]


def test_changed_forces_a_walk_that_the_check_would_miss(sim, tavus, shared, clock,
                                                         doc_url) -> None:
    ids = add_ready(sim, tavus, doc_url, ["one", "two", "three"])
    shared.refresh(tavus, max_age_seconds=MAX_AGE)
    # A rename keeps the count and the newest id: the cheap check cannot see it.
    tavus.update_document(ids[0], document_name="renamed")
    clock.advance(MAX_AGE)
    assert shared.refresh(tavus, max_age_seconds=MAX_AGE).by_id()[ids[0]].document_name == "one"
    sim.reset_requests()

    shared.changed()  # what the page's rename action does; no waiting for max_age
    view = shared.refresh(tavus, max_age_seconds=MAX_AGE)

    calls = list_calls(sim)
    assert sorted(r.query["page"] for r in calls if r.query["limit"] == str(PAGE_SIZE)) == [
        "0", "1"]
    assert len(calls) <= 1 + 2  # the module's promise for a change: at most 1 + P
    assert view.by_id()[ids[0]].document_name == "renamed"
    sim.reset_requests()
    assert shared.refresh(tavus, max_age_seconds=MAX_AGE) is view  # and fresh again
    assert list_calls(sim) == []


def test_a_change_noted_while_a_walk_runs_is_read_by_the_next_refresh(
        sim, tavus, shared, clock, doc_url, monkeypatch) -> None:
    ids = add_ready(sim, tavus, doc_url, ["one", "two"])
    walk = tavus.list_all_documents

    def walk_then_rename(**kwargs):
        # The walk has read the list; then a rename lands and the page notes it, before the
        # walk's refresh has ended.
        found = walk(**kwargs)
        tavus.update_document(ids[0], document_name="renamed")
        shared.changed()
        return found

    monkeypatch.setattr(tavus, "list_all_documents", walk_then_rename)
    first = shared.refresh(tavus, max_age_seconds=MAX_AGE)
    assert first.by_id()[ids[0]].document_name == "one"
    monkeypatch.setattr(tavus, "list_all_documents", walk)
    # Within max_age, yet not fresh: the change came after the walk read the list.
    view = shared.refresh(tavus, max_age_seconds=MAX_AGE)
    assert view.by_id()[ids[0]].document_name == "renamed"
    sim.reset_requests()
    assert shared.refresh(tavus, max_age_seconds=MAX_AGE) is view
    assert list_calls(sim) == []


@pytest.mark.parametrize("loaded", [False, True], ids=["first-load", "nothing-moving"])
def test_five_sessions_refreshing_at_once_cost_what_one_does(sim, tavus, shared, clock,
                                                             doc_url, loaded: bool) -> None:
    add_ready(sim, tavus, doc_url, ["one", "two", "three"])
    if loaded:
        shared.refresh(tavus, max_age_seconds=MAX_AGE)
        clock.advance(MAX_AGE)
    sim.reset_requests()
    # The first list call is held, so the other sessions arrive while it runs.
    sim.inject_fault("slow", delay=0.3, path_prefix="/v2/documents")
    start = threading.Barrier(5)
    views = []

    def session() -> None:
        start.wait()
        views.append(shared.refresh(tavus, max_age_seconds=MAX_AGE))

    threads = [threading.Thread(target=session) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(views) == 5 and all(view is views[0] for view in views)
    assert len(list_calls(sim)) == (1 if loaded else 2)  # the check alone, or one walk of 2
    assert shared.stats.walks == 1


def test_a_tavus_failure_keeps_the_rows_and_carries_the_error(sim, tavus, shared, clock,
                                                              doc_url) -> None:
    ids = add_ready(sim, tavus, doc_url, ["one", "two"])
    good = shared.refresh(tavus, max_age_seconds=MAX_AGE)
    sim.inject_fault("500", count=5, path_prefix="/v2/documents")

    clock.advance(MAX_AGE)
    failed = shared.refresh(tavus, max_age_seconds=MAX_AGE)  # never raises

    assert isinstance(failed.error, TavusError) and failed.error.status_code == 500
    assert [d.document_id for d in failed.documents] == ids[::-1]
    assert failed.total_count == 2 and failed.updated_at == good.updated_at and failed.loaded
    assert failed.version != good.version  # a new view, so pages show the warning
    # A failed refresh counts as a refresh: the sessions do not hammer a failing Tavus.
    sim.reset_requests()
    assert shared.refresh(tavus, max_age_seconds=MAX_AGE) is failed
    assert list_calls(sim) == []

    sim.clear_faults()
    clock.advance(MAX_AGE)
    recovered = shared.refresh(tavus, max_age_seconds=MAX_AGE)
    assert recovered.error is None and recovered.updated_at is not None
    assert good.updated_at is not None and recovered.updated_at >= good.updated_at


def test_a_change_noted_before_a_failed_refresh_is_still_read_after_it(sim, tavus, shared,
                                                                        clock, doc_url) -> None:
    ids = add_ready(sim, tavus, doc_url, ["one", "two"])
    shared.refresh(tavus, max_age_seconds=MAX_AGE)
    tavus.update_document(ids[0], document_name="renamed")  # count and newest id unchanged
    shared.changed()
    sim.inject_fault("500", count=5, path_prefix="/v2/documents")
    assert shared.refresh(tavus, max_age_seconds=MAX_AGE).error is not None

    sim.clear_faults()
    clock.advance(MAX_AGE)
    view = shared.refresh(tavus, max_age_seconds=MAX_AGE)

    # The walk the change asked for failed: the next refresh walks, not the cheap check.
    assert view.error is None and view.by_id()[ids[0]].document_name == "renamed"


def test_a_first_load_that_fails_has_no_rows_and_says_why(sim, tavus, shared) -> None:
    sim.inject_fault("500", count=5, path_prefix="/v2/documents")
    view = shared.refresh(tavus, max_age_seconds=MAX_AGE)
    assert view.documents == () and not view.loaded
    assert isinstance(view.error, TavusError)


def test_force_reads_everything_even_when_fresh(sim, tavus, shared, doc_url) -> None:
    add_ready(sim, tavus, doc_url, ["one"])
    shared.refresh(tavus, max_age_seconds=MAX_AGE)
    sim.reset_requests()
    shared.refresh(tavus, max_age_seconds=MAX_AGE, force=True)
    assert [r.query["limit"] for r in list_calls(sim)] == [str(PAGE_SIZE)]
    assert shared.stats.walks == 2
