"""The action board (lib/actions/board.py): claim and hand-over in one step, one run per key."""

from __future__ import annotations

import threading
import time

import pytest

from lib.actions.board import INTERRUPTED_MESSAGE, ActionBoard, ActionState


@pytest.fixture
def board():
    made = ActionBoard(max_workers=4)
    yield made
    made.close()


def test_a_started_action_runs_in_a_worker_and_keeps_its_result(board: ActionBoard) -> None:
    caller = threading.current_thread()
    seen = []

    def work(action):
        seen.append(threading.current_thread())
        action.report(step="working", progress=0.5)
        return 42

    action = board.start("k", work, label="Answer")
    assert board.wait("k", timeout=5) is action
    assert action.state is ActionState.DONE and action.ok and action.result == 42
    assert action.step == "working" and action.progress == 0.5 and action.label == "Answer"
    assert seen and seen[0] is not caller  # not the page's thread
    assert action.ended_at is not None and action.ended_at >= action.started_at


def test_a_second_start_while_running_is_the_same_action_and_runs_nothing(
        board: ActionBoard) -> None:
    gate = threading.Event()
    runs = []

    def work(action):
        runs.append(1)
        gate.wait(5)
        return "made"

    first = board.start("k", work)
    second = board.start("k", work)  # the double click
    assert second is first and first.running
    gate.set()
    board.wait("k", timeout=5)
    assert runs == [1] and first.result == "made"


def test_a_click_just_after_it_was_done_gets_the_done_action(board: ActionBoard) -> None:
    clock = [100.0]
    timed = ActionBoard(max_workers=2, clock=lambda: clock[0])
    try:
        runs = []
        first = timed.start("k", lambda a: runs.append(1))
        timed.wait("k", timeout=5)
        clock[0] += 0.3  # the second half of a double click, after the first ended
        assert timed.start("k", lambda a: runs.append(1)) is first
        clock[0] += 5  # a deliberate repeat, later: runs again
        again = timed.start("k", lambda a: runs.append(1))
        timed.wait("k", timeout=5)
        assert again is not first and again.runs == 2 and runs == [1, 1]
    finally:
        timed.close()


def test_a_failure_is_kept_with_its_error_and_the_next_start_retries(board: ActionBoard) -> None:
    def failing(action):
        raise ValueError("no")

    failed = board.start("k", failing)
    board.wait("k", timeout=5)
    assert failed.state is ActionState.FAILED and isinstance(failed.error, ValueError)
    retried = board.start("k", lambda a: "fine")
    board.wait("k", timeout=5)
    assert retried is not failed and retried.ok and retried.runs == 2


def test_work_that_no_worker_finishes_is_interrupted_never_left_running() -> None:
    # A worker that dies (here: an exception that is not an Exception, like a thread killed at
    # the interpreter's exit) and a queued action cancelled by a shutdown: both end "interrupted".
    board = ActionBoard(max_workers=1)
    gate = threading.Event()

    def dies(action):
        gate.wait(5)
        raise KeyboardInterrupt

    dying = board.start("dies", dies)
    queued = board.start("queued", lambda a: "never")
    board._pool.shutdown(wait=False, cancel_futures=True)  # the server going away
    gate.set()
    deadline = time.monotonic() + 5
    while board.get("dies").running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert board.get("dies").state is ActionState.INTERRUPTED is dying.state
    assert board.get("queued").state is ActionState.INTERRUPTED is queued.state
    assert board.running() == []
    assert "press the button again" in INTERRUPTED_MESSAGE


def test_on_end_runs_in_the_worker_after_the_outcome_is_set(board: ActionBoard) -> None:
    ended = []
    board.start("k", lambda a: "x", on_end=lambda a: ended.append((a.state, a.result)))
    board.wait("k", timeout=5)
    deadline = time.monotonic() + 5
    while not ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ended == [(ActionState.DONE, "x")]


def test_ended_actions_are_forgotten_after_keep_seconds() -> None:
    clock = [0.0]
    board = ActionBoard(max_workers=1, keep_seconds=60, clock=lambda: clock[0])
    try:
        board.start("old", lambda a: 1)
        board.wait("old", timeout=5)
        clock[0] = 61
        board.start("new", lambda a: 2)  # a start sweeps what is too old
        assert board.get("old") is None and board.get("new") is not None
        assert [a.key for a in board.running("ne")] in ([], ["new"])
    finally:
        board.close()
