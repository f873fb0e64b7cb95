"""One board per server of the actions people start: claimed and handed to a worker in one step.

Why: a Streamlit run can be interrupted at any Streamlit call (a second click, a click elsewhere,
another page, a closed tab). Work that is marked "in progress" by one call and handed to whoever
does it by a later one is lost, and stays "in progress", when the run is cut between the two.
`ActionBoard.start` does both under one lock and touches no Streamlit: once it returns, the work
runs in the board's threads whatever happens to the page, and the page only reads its state.

Keys make actions idempotent: while an action runs, `start` with its key returns the running one
(a double click starts nothing new). A finished key may be started again: the work functions are
themselves resumable (an attempt remembers what already happened), so a retry after a failure or
an interruption never repeats what succeeded.

Plain Python, no Streamlit: `lib/ui/actions.py` keeps the server's board and draws progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

log = logging.getLogger("replica_studio.actions")

# Most actions wait on the network (an upload, Tavus's answer): a batch of ten goes out at once.
MAX_WORKERS = 16
# How long a finished action stays readable: long enough for a tab to come back and read it.
KEEP_SECONDS = 3600.0
# A click on an action that ended this recently is the second half of a double click: it gets
# the ended action, not a second run (a deliberate repeat comes later, and runs again).
REPEAT_AFTER_SECONDS = 2.0


class ActionState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # Claimed, but no worker holds it any more (the worker died, the pool shut down): retryable.
    INTERRUPTED = "interrupted"


INTERRUPTED_MESSAGE = "Interrupted before it finished — press the button again."


@dataclass(eq=False)
class Action:
    """One started action. Its worker writes `step`, `progress` and the outcome; pages read."""

    key: str
    label: str = ""
    state: ActionState = ActionState.RUNNING
    step: str | None = None
    progress: float | None = None  # 0..1 where the work can tell
    result: Any = None
    error: Exception | None = None
    started_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    runs: int = 1  # 2 and more: started again after a failure or an interruption
    future: Future[Any] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state is ActionState.RUNNING

    @property
    def ok(self) -> bool:
        return self.state is ActionState.DONE

    def report(self, step: str | None = None, progress: float | None = None) -> None:
        """Called by the work: where it is, for the page to show."""
        if step is not None:
            self.step = step
        if progress is not None:
            self.progress = max(0.0, min(1.0, progress))


Work = Callable[[Action], Any]


class ActionBoard:
    """The server's actions by key. Thread-safe; shared by every session."""

    def __init__(self, *, max_workers: int = MAX_WORKERS, keep_seconds: float = KEEP_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._actions: dict[str, Action] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="action")
        self._keep = keep_seconds
        self._clock = clock

    def start(self, key: str, work: Work, *, label: str = "",
              on_end: Callable[[Action], None] | None = None,
              repeat_after: float = REPEAT_AFTER_SECONDS) -> Action:
        """Claim `key` and hand `work` to a worker, in one step.

        If an action with this key is running, or was done less than `repeat_after` seconds
        ago, it is returned and nothing new starts. Otherwise (never started, done before that,
        failed, interrupted: a retry) `work(action)` starts in a worker thread.
        `on_end(action)` runs in the worker once the outcome is set (for effects that must
        happen even if no page is left to see it, such as reloading a shared list)."""
        with self._lock:
            self._sweep()
            current = self._actions.get(key)
            if current is not None:
                self._settle(current)
                if current.running or (
                        current.ok and self._clock() - (current.ended_at or 0.0) < repeat_after):
                    return current
            action = Action(key=key, label=label, started_at=self._clock(),
                            runs=current.runs + 1 if current is not None else 1)
            # Handed over first, then recorded: a pool that takes nothing (shut down) raises
            # here and nothing is left claimed.
            action.future = self._pool.submit(self._run, action, work, on_end)
            self._actions[key] = action
            return action

    def get(self, key: str) -> Action | None:
        """The action with this key, if any (an orphaned one is marked interrupted first)."""
        with self._lock:
            action = self._actions.get(key)
            if action is not None:
                self._settle(action)
            return action

    def running(self, prefix: str = "") -> list[Action]:
        """Actions still running whose key starts with `prefix`."""
        with self._lock:
            found = [a for k, a in self._actions.items() if k.startswith(prefix)]
            for action in found:
                self._settle(action)
            return [a for a in found if a.running]

    def ended(self) -> list[Action]:
        """Every action that has ended and is still kept (newest last)."""
        with self._lock:
            found = list(self._actions.values())
            for action in found:
                self._settle(action)
            return sorted((a for a in found if not a.running), key=lambda a: a.ended_at or 0.0)

    def wait(self, key: str, timeout: float | None = None) -> Action | None:
        """Block until the action with this key ends (tests, and callers that must know)."""
        action = self.get(key)
        if action is not None and action.future is not None:
            wait([action.future], timeout=timeout)
        return self.get(key)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- internals ----------------------------------------------------------------------------
    def _run(self, action: Action, work: Work, on_end: Callable[[Action], None] | None) -> Any:
        try:
            result = work(action)
        except Exception as error:  # kept on the action; the page says what to do
            log.info("action %s failed: %s", action.key, type(error).__name__)
            action.error, action.state = error, ActionState.FAILED
        else:
            action.result, action.state = result, ActionState.DONE
        finally:
            action.ended_at = self._clock()
        if on_end is not None:
            try:
                on_end(action)
            except Exception:
                log.exception("action %s: its follow-up failed", action.key)
        return action.result

    def _settle(self, action: Action) -> None:
        # A future that ended while the action still says "running" had no worker finish it:
        # the pool was shut down, or the worker died. Never left "in progress": retryable.
        future = action.future
        if action.running and future is not None and future.done():
            action.state, action.ended_at = ActionState.INTERRUPTED, self._clock()
            log.warning("action %s was interrupted", action.key)

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, a in self._actions.items()
                    if a.ended_at is not None and now - a.ended_at > self._keep]:
            del self._actions[key]
