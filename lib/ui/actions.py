"""The server's action board for pages: start an action in one step, follow it, read its outcome.

The rule every page follows (README, "Actions that survive impatience"): an action's button is
made with `button(...)`, whose click claims the work and hands it to the board in the button's
callback, the first thing the click's run does, before any of the page is drawn. Any Streamlit
call (even reading `st.session_state`) is where a rerun, another page or a closed tab interrupts
a run: a page drawn first could be cut by a click elsewhere or another page 0.3 s later before
it got to the claim. The callback reads the values it needs (by widget key: they are this
click's), then claims with no Streamlit call in between; from then on the work goes on in the
board's threads whatever the page does, and the page only reads the action's state (`follow`).

Keys are scoped to the session (`key(...)`): a person's click is theirs. A reload is a new
session: the work it started still finishes, and what it made shows where people look for it
(the Replicas table, the history, the presets).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from lib.actions.board import INTERRUPTED_MESSAGE, Action, ActionBoard, ActionState, Work
from lib.errors import user_message
from lib.text import escape_markdown

POLL_SECONDS = 0.5  # how often a page looks at a running action (reads memory, calls nothing)
_RUN_STARTED = "_actions_run_started"


@st.cache_resource(show_spinner=False, on_release=ActionBoard.close)
def board() -> ActionBoard:
    """One board for the whole server process, shared by every session."""
    return ActionBoard()


@dataclass(frozen=True)
class ActionRef:
    """This session's action of one kind (on one object), resolved before its button so that
    `start` is plain Python: no cache lookup, no session state, no Streamlit call."""

    board: ActionBoard
    key: str

    def start(self, work: Work, *, label: str = "",
              on_end: Callable[[Action], None] | None = None) -> Action:
        """Claim and hand over in one step (see the module's docstring). A second click while
        it runs, or just after it ended, gets the same action."""
        return self.board.start(self.key, work, label=label, on_end=on_end)

    def get(self) -> Action | None:
        return self.board.get(self.key)

    @property
    def running(self) -> bool:
        action = self.get()
        return action is not None and action.running


def ref(kind: str, ident: str = "") -> ActionRef:
    """This session's action of this kind (and on this object)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    session = ctx.session_id if ctx is not None else "no-session"
    return ActionRef(board(), f"{session}/{kind}/{ident}")


_REFUSED = "_actions_refused"


def button(where, label: str, *, action: ActionRef, build: Callable[[], Work | None],
           name: str = "", on_end: Callable[[Action], None] | None = None, **kwargs) -> bool:
    """`where.button(label, **kwargs)` whose click claims `action` in its callback.

    `build()` runs in the callback: it reads what the action needs now (widget values by key)
    and returns the work, or None when there is nothing to do. A problem it raises (a form
    value to fix) is kept for `refused(action)` and nothing is claimed. With `build` doing the
    claim itself (a batch hands each row over) it returns None."""

    def claim() -> None:
        try:
            work = build()
        except Exception as problem:  # a value to fix: the page says which; nothing is sent
            st.session_state.setdefault(_REFUSED, {})[action.key] = problem
            return
        if work is not None:
            action.start(work, label=name, on_end=on_end)

    return where.button(label, on_click=claim, **kwargs)


def refused(action: ActionRef | None) -> Exception | None:
    """Why the last click on `action`'s button claimed nothing (said once), if it was refused."""
    if action is None:
        return None
    return st.session_state.setdefault(_REFUSED, {}).pop(action.key, None)


def failure_text(action: Action) -> str:
    """What to tell the person about an action that did not finish, Markdown-safe."""
    if action.state is ActionState.INTERRUPTED:
        return escape_markdown(INTERRUPTED_MESSAGE)
    return escape_markdown(user_message(action.error) if action.error else "It did not finish.")


def first_time_done(action: Action) -> bool:
    """True once per session for an action that ended well (for session-side effects)."""
    seen = st.session_state.setdefault("actions_seen_done", set())
    mark = f"{action.key}#{action.runs}"
    if not action.ok or mark in seen:
        return False
    seen.add(mark)
    return True


def rerun() -> None:
    """st.rerun(), unless the person has asked for something else meanwhile (another page, a
    click): st.rerun() would replace that request (the newest request's page wins), so a
    Streamlit call first lets a pending request interrupt this run, and win."""
    st.empty()
    st.rerun()


def mark_run_start() -> None:
    """Called by the frame at the top of every page run: `follow` then knows whether an action
    ended after parts of this page were drawn."""
    st.session_state[_RUN_STARTED] = time.monotonic()


def follow(action: ActionRef | None, render: Callable[[Action], None] | None = None) -> None:
    """Draw `render(action)` and look again every POLL_SECONDS while the action runs. When it
    ends after this page began drawing (the lists above a button were drawn before the click's
    work finished), the whole page is drawn again, once, so everything reflects the outcome.
    Without `render`, only that: the outcome is drawn elsewhere on the page."""
    current = action.get() if action is not None else None
    if current is None:
        return
    if not current.running and (current.ended_at or 0.0) >= st.session_state.get(_RUN_STARTED,
                                                                                0.0):
        rerun()
    was_running = current.running

    @st.fragment(run_every=POLL_SECONDS if was_running else None)
    def box() -> None:
        now = action.get()
        if now is None:
            return
        if was_running and not now.running:
            rerun()
        if render is not None:
            render(now)

    box()


def wait_for(is_busy: Callable[[], bool], render: Callable[[], None], *,
             started_here: bool = False) -> None:
    """Like `follow`, for work the page tracks itself (a batch's rows): `render()` every
    POLL_SECONDS while `is_busy()`, then one whole-page redraw (also when the work was
    `started_here`, in this run, and is already over: the page above was drawn before it)."""
    busy = started_here or is_busy()

    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def box() -> None:
        if busy and not is_busy():
            rerun()
        render()

    box()
