"""Times on screen, in the viewer's own zone: the browser says which (`st.context.timezone`).

Only the drawing is local: cached and shared data (st.cache_data, the server's shared replica
and conversation lists) keep aware UTC times and are formatted here, per viewer, when drawn.
The formatting itself is plain Python in lib/clock.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from lib.clock import date_time, local_time, offset_zone, relative, zone_label


def viewer_zone() -> tzinfo:
    """The browser's zone (`st.context.timezone`, an IANA name), else its UTC offset
    (`st.context.timezone_offset`), else UTC (no browser: bare mode, AppTest without a
    context). A hosted server runs on UTC, so its own clock is never the viewer's."""
    try:
        name = st.context.timezone
    except Exception:  # no script run context
        name = None
    if isinstance(name, str) and name.strip():
        try:
            return ZoneInfo(name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a zone this server's tz database does not know: the offset still tells
    try:
        offset = st.context.timezone_offset  # minutes behind UTC, as getTimezoneOffset()
    except Exception:
        offset = None
    if isinstance(offset, int | float) and not isinstance(offset, bool):
        return offset_zone(offset)
    return UTC


def utc_now() -> datetime:
    return datetime.now(UTC)


def shown(when: datetime | str | None, *, seconds: bool = False,
          now: datetime | None = None) -> str:
    """`when` on the viewer's clock: "today 02:27", "29 Nov, 01:37" (lib.clock.local_time)."""
    return local_time(when, viewer_zone(), now=now or utc_now(), seconds=seconds)


def shown_with_age(when: datetime | str | None, *, now: datetime | None = None) -> str:
    """"today 02:27 (3 min ago)": the viewer's clock and how long ago; "" when no time."""
    now = now or utc_now()
    text = shown(when, now=now)
    return f"{text} ({relative(when, now)})" if text else ""


def shown_in_full(when: datetime | str | None) -> str:
    """A full date with the zone named, for text read later (a download)."""
    return date_time(when, viewer_zone())


def zone_name() -> str:
    """The viewer's zone as a caption names it: "America/Los_Angeles", "UTC", "UTC−08:00"."""
    return zone_label(viewer_zone())


def column_zone() -> str:
    """The viewer's zone for `st.column_config.DatetimeColumn(timezone=…)`: an IANA name or a
    "+05:30" offset (the browser formats the column; both are accepted there)."""
    tz = viewer_zone()
    if isinstance(tz, ZoneInfo):
        return tz.key
    label = zone_label(tz)
    return "+00:00" if label == "UTC" else label.removeprefix("UTC").replace("−", "-")
