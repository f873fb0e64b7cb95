"""AppTest helpers shared by the page tests (the `demo_env` fixture lives in conftest.py)."""

from __future__ import annotations

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
