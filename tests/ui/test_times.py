"""lib/ui/times.py: the viewer's zone comes from the browser (`st.context`), never the server's.

AppTest hands a script the browser context a test sets (`at.context`), as a browser would.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def _script() -> None:
    import streamlit as st

    from lib.clock import parse_time
    from lib.ui import times

    when, now = "2026-11-30T10:27:19Z", parse_time("2026-11-30T10:30:00Z")
    st.write(times.zone_name())
    st.write(times.column_zone())
    st.write(times.shown(when, now=now, seconds=True))
    st.write(times.shown_with_age(when, now=now))
    st.write(times.shown_in_full(when))


def run(context: dict | None) -> list[str]:
    at = AppTest.from_function(_script)
    if context is not None:
        at.context = context
    at.run()
    assert not at.exception, at.exception
    return [m.value.replace("\\", "") for m in at.markdown]


@pytest.mark.parametrize(("context", "expected"), [
    ({"timezone": "America/Los_Angeles", "timezone_offset": 480},
     ["America/Los_Angeles", "America/Los_Angeles", "today 02:27:19",
      "today 02:27 (2 min ago)", "30 Nov 2026, 02:27 (America/Los_Angeles)"]),
    ({"timezone": "Asia/Tokyo", "timezone_offset": -540},
     ["Asia/Tokyo", "Asia/Tokyo", "today 19:27:19", "today 19:27 (2 min ago)",
      "30 Nov 2026, 19:27 (Asia/Tokyo)"]),
    # A name this server's tz database lacks: the browser's offset still tells the clock.
    ({"timezone": "Mars/Olympus_Mons", "timezone_offset": 480},
     ["UTC−08:00", "-08:00", "today 02:27:19 UTC−08:00", "today 02:27 UTC−08:00 (2 min ago)",
      "30 Nov 2026, 02:27 UTC−08:00"]),
    # No browser at all: UTC, and the text says so.
    (None, ["UTC", "+00:00", "today 10:27:19 UTC", "today 10:27 UTC (2 min ago)",
            "30 Nov 2026, 10:27 UTC"]),
])
def test_times_are_drawn_in_the_browsers_zone(context, expected) -> None:
    assert run(context) == expected
