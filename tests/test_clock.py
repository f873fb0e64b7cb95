"""lib/clock.py: times in the viewer's zone, read as "today 02:27" or "3 min ago".

Every test passes `now`: nothing here reads the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lib.clock import date_time, local_time, offset_zone, parse_time, relative, zone, zone_label

LA, TOKYO = "America/Los_Angeles", "Asia/Tokyo"
NOW = datetime(2026, 11, 30, 10, 30, tzinfo=UTC)  # 02:30 in Los Angeles, 19:30 in Tokyo


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- parse_time ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-29T09:37:35.947Z", datetime(2026, 11, 29, 9, 37, 35, 947000, tzinfo=UTC)),
    ("2026-11-29T09:37:35Z", utc(2026, 11, 29, 9, 37, 35)),
    ("2026-11-29T10:37:35+01:00", utc(2026, 11, 29, 9, 37, 35)),
    ("  2026-11-29T09:37:35  ", utc(2026, 11, 29, 9, 37, 35)),  # no zone: UTC, as Tavus sends
    ("2026-11-29 09:37:35", utc(2026, 11, 29, 9, 37, 35)),
    (datetime(2026, 11, 29, 9, 37), utc(2026, 11, 29, 9, 37)),  # naive: UTC
    (datetime(2026, 11, 29, 1, 37, tzinfo=ZoneInfo(LA)), utc(2026, 11, 29, 9, 37)),
])
def test_times_are_read_as_aware_utc(value, expected) -> None:
    parsed = parse_time(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("junk", [None, "", "   ", "yesterday", "2026-13-01T00:00:00Z", 1796034280,
                                  12.5, b"2026-11-29", ["2026-11-29"]])
def test_anything_else_is_no_time(junk) -> None:
    assert parse_time(junk) is None


# --- local_time ----------------------------------------------------------------------------------
def test_the_same_instant_reads_in_each_viewers_clock() -> None:
    updated = "2026-11-30T10:27:19Z"
    assert local_time(updated, LA, now=NOW) == "today 02:27"
    assert local_time(updated, LA, now=NOW, seconds=True) == "today 02:27:19"
    assert local_time(updated, TOKYO, now=NOW) == "today 19:27"
    assert local_time(updated, "Europe/Paris", now=NOW) == "today 11:27"


def test_yesterday_tomorrow_then_a_date_and_the_year_only_when_not_this_year() -> None:
    assert local_time(utc(2026, 11, 30, 7, 10), LA, now=NOW) == "yesterday 23:10"
    assert local_time(utc(2026, 12, 1, 16, 0), LA, now=NOW) == "tomorrow 08:00"
    assert local_time(utc(2026, 11, 29, 7, 10), LA, now=NOW) == "28 Nov, 23:10"
    assert local_time("2026-11-29T09:37:35.947Z", LA,
                      now=utc(2026, 12, 5)) == "29 Nov, 01:37"
    assert local_time("2025-11-29T09:37:35.947Z", LA, now=NOW) == "29 Nov 2025, 01:37"
    assert local_time(utc(2027, 2, 1, 12), LA, now=NOW) == "1 Feb 2027, 04:00"


def test_the_year_is_the_viewers_year() -> None:
    # 1 Jan 2027 02:00 in Los Angeles, but already mid-morning of 1 Jan in UTC.
    new_year = utc(2027, 1, 1, 10)
    assert local_time(utc(2026, 12, 31, 20), LA, now=new_year) == "yesterday 12:00"
    assert local_time(utc(2026, 12, 30, 10), LA, now=new_year) == "30 Dec 2026, 02:00"
    # At 23:30 on 31 Dec in Los Angeles it is already 2027 in UTC: 2 Jan 2026 is "this year".
    eve = utc(2027, 1, 1, 7, 30)
    assert local_time(utc(2026, 1, 2, 20), LA, now=eve) == "2 Jan, 12:00"
    assert local_time(utc(2026, 1, 2, 20), None, now=eve) == "2 Jan 2026, 20:00 UTC"


def test_midnight_is_the_boundary_of_the_viewers_day() -> None:
    midnight = utc(2026, 11, 30, 8)  # 00:00 on 30 Nov in Los Angeles (PST, UTC-8)
    assert local_time(midnight, LA, now=midnight) == "today 00:00"
    assert local_time(midnight - timedelta(seconds=1), LA,
                      now=midnight, seconds=True) == "yesterday 23:59:59"
    assert local_time(midnight + timedelta(days=1) - timedelta(seconds=1), LA,
                      now=midnight) == "today 23:59"
    assert local_time(midnight + timedelta(days=1), LA, now=midnight) == "tomorrow 00:00"
    # One second before midnight, the day just begun is tomorrow.
    assert local_time(midnight, LA, now=midnight - timedelta(seconds=1)) == "tomorrow 00:00"


def test_zones_by_the_date_line_have_their_own_today() -> None:
    # 10:27 UTC on 30 Nov is 00:27 on 1 Dec on Kiritimati (UTC+14) and 23:27 on 29 Nov in
    # Pago Pago (UTC-11): the same instant is "today" in both, on different dates.
    now = utc(2026, 11, 30, 10, 27)
    assert local_time(now, "Pacific/Kiritimati", now=now) == "today 00:27"
    assert local_time(now, "Pacific/Pago_Pago", now=now) == "today 23:27"
    earlier = utc(2026, 11, 30, 9, 59)
    assert local_time(earlier, "Pacific/Kiritimati", now=now) == "yesterday 23:59"
    assert local_time(earlier, "Pacific/Pago_Pago", now=now) == "today 22:59"
    assert local_time(earlier, None, now=now) == "today 09:59 UTC"
    # A week earlier, the dates differ by two days between the two.
    week = now - timedelta(days=7)
    assert local_time(week, "Pacific/Kiritimati", now=now) == "24 Nov, 00:27"
    assert local_time(week, "Pacific/Pago_Pago", now=now) == "22 Nov, 23:27"


def test_daylight_saving_changes() -> None:
    # Los Angeles falls back at 09:00 UTC on 1 Nov 2026: 01:30 happens twice, an hour apart.
    later = utc(2026, 11, 5)
    assert local_time(utc(2026, 11, 1, 8, 30), LA, now=later) == "1 Nov, 01:30"  # PDT
    assert local_time(utc(2026, 11, 1, 9, 30), LA, now=later) == "1 Nov, 01:30"  # PST
    assert local_time(utc(2026, 11, 1, 10, 30), LA, now=later) == "1 Nov, 02:30"
    # It springs forward at 10:00 UTC on 8 Mar 2026: 02:xx never shows.
    spring = utc(2026, 3, 8, 12)
    assert local_time(utc(2026, 3, 8, 9, 59), LA, now=spring) == "today 01:59"
    assert local_time(utc(2026, 3, 8, 10, 0), LA, now=spring) == "today 03:00"
    # "Yesterday" is a calendar day, even one 25 hours long.
    after_fall_back = utc(2026, 11, 2, 8, 30)  # 00:30 PST on 2 Nov
    assert local_time(utc(2026, 11, 1, 7, 30), LA, now=after_fall_back) == "yesterday 00:30"
    # Europe: summer time ends at 01:00 UTC on 25 Oct 2026.
    assert local_time(utc(2026, 10, 25, 0, 59), "Europe/Berlin",
                      now=utc(2026, 10, 25, 12)) == "today 02:59"
    assert local_time(utc(2026, 10, 25, 1, 0), "Europe/Berlin",
                      now=utc(2026, 10, 25, 12)) == "today 02:00"


@pytest.mark.parametrize("tz", [None, "", "Mars/Olympus_Mons", "Not a zone", "../../etc/passwd",
                                "UTC", "Etc/UTC"])
def test_no_zone_an_unknown_zone_or_utc_says_utc(tz) -> None:
    assert local_time("2026-11-30T10:27:19Z", tz, now=NOW) == "today 10:27 UTC"
    assert zone_label(tz) == "UTC"


def test_a_bare_offset_is_named_by_its_offset() -> None:
    california_winter = offset_zone(480)  # getTimezoneOffset(): minutes behind UTC
    assert local_time("2026-11-30T10:27:19Z", california_winter,
                      now=NOW) == "today 02:27 UTC−08:00"
    india = offset_zone(-330)
    assert local_time("2026-11-30T10:27:19Z", india, now=NOW) == "today 15:57 UTC+05:30"
    assert zone_label(india) == "UTC+05:30"
    assert zone_label(UTC) == "UTC"


def test_naive_times_are_utc_and_no_time_is_empty() -> None:
    assert local_time(datetime(2026, 11, 30, 10, 27), LA,
                      now=datetime(2026, 11, 30, 10, 30)) == "today 02:27"
    assert local_time(None, LA, now=NOW) == ""
    assert local_time("not a time", LA, now=NOW) == ""


def test_zone_accepts_a_name_or_a_tzinfo() -> None:
    assert zone(LA) == ZoneInfo(LA)
    assert zone(" Asia/Tokyo ") == ZoneInfo(TOKYO)
    fixed = offset_zone(-60)
    assert zone(fixed) is fixed
    assert zone("nowhere") is UTC and zone(None) is UTC
    assert zone_label(LA) == LA


# --- date_time: for text read later --------------------------------------------------------------
def test_a_full_date_names_its_zone() -> None:
    created = "2026-11-29T09:37:35.947Z"
    assert date_time(created, LA) == "29 Nov 2026, 01:37 (America/Los_Angeles)"
    assert date_time(created, TOKYO, seconds=True) == "29 Nov 2026, 18:37:35 (Asia/Tokyo)"
    assert date_time(created, None) == "29 Nov 2026, 09:37 UTC"
    assert date_time(created, "Mars/Olympus_Mons") == "29 Nov 2026, 09:37 UTC"
    assert date_time(None, LA) == ""


# --- relative ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ago", "text"), [
    (timedelta(0), "just now"),
    (timedelta(seconds=44), "just now"),
    (timedelta(seconds=45), "1 min ago"),
    (timedelta(seconds=119), "1 min ago"),
    (timedelta(minutes=3), "3 min ago"),
    (timedelta(minutes=59, seconds=59), "59 min ago"),
    (timedelta(hours=1), "1 h ago"),
    (timedelta(hours=23, minutes=59), "23 h ago"),
    (timedelta(days=1), "1 day ago"),
    (timedelta(days=29), "29 days ago"),
    (timedelta(days=30), "1 month ago"),
    (timedelta(days=364), "12 months ago"),
    (timedelta(days=365), "1 year ago"),
    (timedelta(days=800), "2 years ago"),
    (-timedelta(seconds=10), "just now"),
    (-timedelta(minutes=5), "in 5 min"),
    (-timedelta(days=2), "in 2 days"),
])
def test_relative_times(ago: timedelta, text: str) -> None:
    assert relative(NOW - ago, NOW) == text


def test_relative_reads_iso_text_and_naive_times_and_ignores_zones() -> None:
    assert relative("2026-11-30T10:27:00Z", NOW) == "3 min ago"
    assert relative(datetime(2026, 11, 30, 10, 27), NOW) == "3 min ago"
    assert relative(datetime(2026, 11, 30, 2, 27, tzinfo=ZoneInfo(LA)), NOW) == "3 min ago"
    assert relative(None, NOW) == "" and relative("junk", NOW) == ""
