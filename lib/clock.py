"""Times as a person reads them: in the viewer's time zone, "today 02:27", "3 min ago".

Every time the app keeps is an aware UTC datetime (Tavus sends ISO times with "Z"); only what is
drawn is local. The viewer's zone is an IANA name from the browser (`st.context.timezone`, read
in lib/ui/times.py), passed in here: nothing cached or shared between sessions is ever localized.
A zone that is missing or unknown falls back on UTC, and the text then says "UTC", so nobody reads
a server's clock as their own.

`now` is always passed in, so that "today" and "3 min ago" are testable without a wall clock.

Plain Python: no Streamlit imports.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["date_time", "local_time", "offset_zone", "parse_time", "relative", "zone",
           "zone_label"]

# English month names, whatever the server's locale (strftime's %b follows it).
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO text ("2026-11-29T09:37:35.947Z", an offset, or none:
    taken as UTC, which is what Tavus sends) or a datetime (naive is taken as UTC); anything
    else, or text that is no time, -> None."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def zone(tz: str | tzinfo | None) -> tzinfo:
    """The zone for an IANA name (or a tzinfo, kept as is); UTC when it is None or unknown."""
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str) and tz.strip():
        try:
            return ZoneInfo(tz.strip())
        except (ZoneInfoNotFoundError, ValueError):  # unknown, or not a zone name at all
            pass
    return UTC


def _is_named(tz: tzinfo) -> bool:
    """A real place's zone (not UTC itself, not a bare offset): its local time needs no label."""
    return isinstance(tz, ZoneInfo) and tz.key not in {"UTC", "Etc/UTC", "Etc/UCT", "UCT",
                                                       "Universal", "Zulu", "Etc/Zulu",
                                                       "Etc/Universal", "GMT", "Etc/GMT"}


def _offset_text(offset: timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def zone_label(tz: str | tzinfo | None) -> str:
    """How a table caption names the zone: "America/Los_Angeles", "UTC" (also the fallback for
    an unknown zone), or "UTC+05:30" for a bare offset."""
    resolved = zone(tz)
    if _is_named(resolved):
        return resolved.key  # type: ignore[attr-defined]
    return _offset_text(resolved.utcoffset(None) or timedelta(0))


def _suffix(tz: tzinfo, local: datetime) -> str:
    """" UTC" (or " UTC+05:30") after a time that is not in a named zone; "" otherwise."""
    return "" if _is_named(tz) else " " + _offset_text(local.utcoffset() or timedelta(0))


def _day(local: datetime, *, year: bool) -> str:
    text = f"{local.day} {_MONTHS[local.month - 1]}"
    return f"{text} {local.year}" if year else text


def _clock(local: datetime, seconds: bool) -> str:
    return f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"


def local_time(when: datetime | str | None, tz: str | tzinfo | None, *, now: datetime,
               seconds: bool = False) -> str:
    """`when` on the viewer's clock, as short as it can be read without doubt:
    "today 02:27", "yesterday 23:10", "tomorrow 08:00", "29 Nov, 01:37", and the year only when
    it is not this year's ("29 Nov 2025, 01:37"). "Today" is the viewer's today (`now` in
    `tz`). Outside a named zone (None, unknown, UTC) it ends in " UTC". "" when `when` is no
    time."""
    moment, current = parse_time(when), parse_time(now)
    if moment is None or current is None:
        return ""
    resolved = zone(tz)
    local = moment.astimezone(resolved)
    today: date = current.astimezone(resolved).date()
    days = (local.date() - today).days
    clock = _clock(local, seconds)
    if days == 0:
        text = f"today {clock}"
    elif days == -1:
        text = f"yesterday {clock}"
    elif days == 1:
        text = f"tomorrow {clock}"
    else:
        text = f"{_day(local, year=local.year != today.year)}, {clock}"
    return text + _suffix(resolved, local)


def date_time(when: datetime | str | None, tz: str | tzinfo | None, *,
              seconds: bool = False) -> str:
    """`when` with its full date and the zone named, for text that is read later (a download):
    "30 Nov 2026, 02:27 (America/Los_Angeles)", "30 Nov 2026, 10:27 UTC". "" when no time."""
    moment = parse_time(when)
    if moment is None:
        return ""
    resolved = zone(tz)
    local = moment.astimezone(resolved)
    text = f"{_day(local, year=True)}, {_clock(local, seconds)}"
    if _is_named(resolved):
        return f"{text} ({zone_label(resolved)})"
    return text + _suffix(resolved, local)


def _count(n: int, unit: str, plural: str | None = None) -> str:
    return f"{n} {unit if n == 1 else (plural or unit + 's')}"


def relative(when: datetime | str | None, now: datetime) -> str:
    """How long ago (or how soon): "just now", "3 min ago", "2 h ago", "4 days ago",
    "2 months ago", "1 year ago"; "in 5 min" for a time to come. Zone-free. "" when no time."""
    moment, current = parse_time(when), parse_time(now)
    if moment is None or current is None:
        return ""
    seconds = (current - moment).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    minutes = max(1, int(seconds // 60))
    if minutes < 60:
        amount = f"{minutes} min"
    elif minutes < 24 * 60:
        amount = f"{minutes // 60} h"
    else:
        days = minutes // (24 * 60)
        if days < 30:
            amount = _count(days, "day")
        elif days < 365:
            amount = _count(max(1, days // 30), "month")
        else:
            amount = _count(days // 365, "year")
    return f"in {amount}" if ahead else f"{amount} ago"


def offset_zone(minutes_behind_utc: float) -> tzinfo:
    """A fixed zone from a browser's `getTimezoneOffset()` (minutes *behind* UTC: 480 in
    California's winter), for when the browser gives no zone name."""
    return timezone(-timedelta(minutes=minutes_behind_utc))
