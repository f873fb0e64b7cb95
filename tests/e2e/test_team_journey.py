"""A team on the Replicas table: five tabs on 10,000 replicas at +50 ms a call, for six looks.

Every tab shows the whole table, a replica turning ready is toasted once in each tab, no tab shows
an exception, and the server as a whole asks Tavus at most two calls per look, a look at most once
an interval (the looks the server logged, against the simulator's own request log).
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import DemoApp, assert_no_exception, shot, wait_idle, wait_until

pytestmark = pytest.mark.e2e

REFRESH = 3
DEMO_APP = {"training_seconds": 3600, "refresh_seconds": REFRESH}
TABS = 5
EXTRA = 10_000
WAN_DELAY = 0.05
LOOKS = 6  # the server's looks watched with five tabs open, a training ending half way

# Counts the toasts a tab has shown, by text, however short-lived they are.
TOAST_COUNTER = """() => {
  window.__toasts = [];
  new MutationObserver(records => {
    for (const record of records) for (const node of record.addedNodes) {
      if (!(node instanceof HTMLElement)) continue;
      const toasts = node.matches('[data-testid="stToast"]') ? [node]
        : [...node.querySelectorAll('[data-testid="stToast"]')];
      for (const toast of toasts) window.__toasts.push(toast.innerText);
    }
  }).observe(document.body, {childList: true, subtree: true});
}"""


def caption(page: Page) -> str:
    return page.evaluate(
        "() => document.querySelector('.st-key-replica-updated')?.innerText || ''")


def replica_calls(sim: str) -> int:
    log = httpx.get(f"{sim}/_sim/requests").json()["requests"]
    return sum(1 for r in log if r["path"].startswith("/v2/replicas"))


LOOK = re.compile(r"replica list (tick|reload): (\d+) Tavus calls, (none|[\d.]+ s) after")


def looks_since(demo: DemoApp, start: int) -> list[tuple[str, int, float | None]]:
    """The server's looks at the replica list logged after `start` (an offset in its log):
    (tick or reload, Tavus calls, seconds since the look before)."""
    return [(kind, int(calls), None if gap == "none" else float(gap.removesuffix(" s")))
            for kind, calls, gap in LOOK.findall(demo.app.log()[start:])]


def wait_for_looks(demo: DemoApp, start: int, count: int) -> None:
    wait_until(lambda: len(looks_since(demo, start)) >= count, timeout=count * REFRESH + 30,
               what=f"{count} looks of the server")


def test_five_tabs_share_one_tick_and_each_hears_of_a_ready_replica_once(
        browser: Browser, demo_app: DemoApp) -> None:
    sim = demo_app.simulator_url
    url = demo_app.app.url
    first = browser.new_context(viewport={"width": 1400, "height": 1000})
    contexts = [first]
    try:
        page = first.new_page()
        page.goto(url)  # starts demo mode's stand-ins
        wait_idle(page)
        # 10,000 more replicas: a few training for days, one that will turn ready on cue.
        httpx.post(f"{sim}/_sim/replicas", json={
            "n": EXTRA - 1, "training": 5, "training_seconds": 10_000_000}).raise_for_status()
        (watched,) = httpx.post(f"{sim}/_sim/replicas", json={
            "n": 1, "training": 1, "training_seconds": 1800}).json()["replica_ids"]
        with demo_app.tavus() as tavus:
            name = tavus.get_replica(watched).replica_name
            total = tavus.list_replicas(limit=1, replica_type="user").total_count
        httpx.post(f"{sim}/_sim/faults", json={  # every list call now takes a round trip
            "kind": "slow", "count": 1_000_000, "delay": WAN_DELAY,
            "path_prefix": "/v2/replicas"}).raise_for_status()

        pages = [page]
        for _ in range(TABS - 1):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            contexts.append(context)
            pages.append(context.new_page())
        for tab in pages:
            tab.goto(f"{url}/replicas")
        for tab in pages:
            wait_until(lambda tab=tab: f"of {total:,} shown" in caption(tab), timeout=90,
                       what="the whole table in every tab")
            tab.evaluate(TOAST_COUNTER)
            assert_no_exception(tab)

        # Five tabs refreshing for a few looks of the server, with a training ending half way.
        log_start = len(demo_app.app.log())
        httpx.delete(f"{sim}/_sim/requests").raise_for_status()
        wait_for_looks(demo_app, log_start, LOOKS // 2)
        httpx.post(f"{sim}/_sim/advance", json={"seconds": 1801}).raise_for_status()
        for tab in pages:
            wait_until(lambda tab=tab: any(f"{name} is ready" in t for t in
                                           tab.evaluate("window.__toasts")),
                       timeout=30, what="the toast in every tab")
        wait_for_looks(demo_app, log_start, LOOKS)
        calls = replica_calls(sim)
        looks = looks_since(demo_app, log_start)

        for i, tab in enumerate(pages):
            told = [t for t in tab.evaluate("window.__toasts") if f"{name} is ready" in t]
            assert len(told) == 1, f"tab {i} was told {len(told)} times"
            assert f"of {total:,} shown" in caption(tab)
            assert_no_exception(tab)
        # One ticker for the server, as it decided and logged its looks: each a tick of at most
        # two calls, each at least (nearly) an interval after the one before, whatever the tabs
        # do; and Tavus saw no call beyond those looks' (one look may straddle the log's start).
        assert len(looks) >= LOOKS and {kind for kind, _, _ in looks} == {"tick"}, looks
        assert all(n <= 2 for _, n, _ in looks), looks
        assert all(gap is not None and gap >= 0.95 * REFRESH for _, _, gap in looks), looks
        logged = sum(n for _, n, _ in looks)
        assert 0 < calls <= logged + 2, f"Tavus saw {calls} calls, the looks logged {logged}"
        shot(pages[-1], "team-5th-tab")
    finally:
        httpx.delete(f"{sim}/_sim/faults")
        for context in contexts:
            context.close()
