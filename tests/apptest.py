"""AppTest helpers shared by the page tests (the `demo_env` fixture lives in conftest.py)."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT = 30  # the first run in a process starts demo mode's stand-ins


def open_page(page: str | None = None) -> AppTest:
    """Run the app (its default page, or `page` after switching) and insist on no exception."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, at.exception
    return at


def shown(element) -> str:
    """An element's text as the user reads it: Markdown escapes removed."""
    return element.value.replace("\\", "")


def settle(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """Let the actions the last run handed to the server's workers end, then run the page again
    (in a browser, the page's own poll does this); nothing when nothing was running (an action
    that ended within the run already redrew the page). Fails if something still runs."""
    from lib.ui.actions import _RUN_STARTED, board

    actions = board()
    deadline = time.monotonic() + timeout
    while actions.running() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not actions.running(), [a.key for a in actions.running()]
    try:
        run_started = at.session_state[_RUN_STARTED]
    except KeyError:  # the page never drew its frame
        run_started = 0.0
    if not any((a.ended_at or 0.0) >= run_started for a in actions.ended()):
        return at  # everything ended before the last run began: it is drawn already
    at.run()
    assert not at.exception, at.exception
    return at
