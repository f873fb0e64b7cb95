"""The soak, short: four sessions for a minute on 300 replicas (bench/soak.py; the full one is
`python -m bench --only soak`, ten sessions for ten minutes on 2,000).

While a teammate adds replicas that train and turn ready, one session creates replicas from the
Create page and starts and ends two conversations, and three watch /replicas: no exception in any
page or the server log, neither secret in any websocket frame, page or the log, every change of
the simulator reached every watching session and every table matches the simulator at the end,
and the server's memory does not run away. Times are not asserted: the lags are printed, and the
bench (`python -m bench --only soak`) holds them to their target.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from bench.soak import SoakPlan, rows, run
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

PLAN = SoakPlan(sessions=4, duration=60, replicas=300, refresh=3, training=5, team_records=5,
                added=3, train_seconds=20, creates=1, conversations=2, check_every=4,
                rss_every=2)
# Loose: over one minute the server is still warming (first renders of each page, the photo
# checks' imports and caches on the first create), and RSS moves by tens of MB with a Python
# heap; only a leak that grows with every refresh would pass 50 %. The bench's 10-minute run
# holds the real figure (< 10 % over its last 5 minutes).
RSS_GROWTH_LIMIT = 50.0


def test_a_minute_of_sessions_stays_current_leaks_nothing_and_holds_its_memory(
        browser: Browser) -> None:
    result = run(browser, PLAN, Path(ARTIFACTS) / "soak")
    print("\n".join(f"{label}: {value}" for label, value in rows(result)))

    assert not result.failures, result.failures
    assert len(result.created) == PLAN.creates and len(result.conversations) == 2
    assert not result.exceptions, result.exceptions
    assert result.disconnects == 0

    assert result.frames and result.control_frames, "no table frame was scanned"
    assert result.html_scans >= PLAN.sessions
    assert not result.secret_hits, result.secret_hits

    # The teammate's replicas appeared and turned ready, the created one appeared: each a change.
    assert result.changes >= 2 * PLAN.added + PLAN.creates
    assert result.unseen == 0
    assert result.current_at_end == result.watchers == PLAN.sessions - 1

    assert result.rss_first > 0 and result.rss_last > 0
    assert result.rss_growth < RSS_GROWTH_LIMIT, result.rss
