"""7. A team on the Replicas table: what the server asks of Tavus for 1, 5 and 10 sessions, what
opening a session costs, and, in Chromium at +50 ms a call, the first rows against the full table.

Server side (against the bench's simulator, 10,000 user replicas, 20 training): one
`SharedReplicas` per run, as lib/ui keeps one per server process. Each "session" is a thread that
does what a tab's table fragment does every refresh interval: `keep_alive()` and read the view.
The server's ticker does the ticking; Tavus calls are counted in the simulator's request log over
the run and divided by the ticks that ran and by the intervals that passed.

In Chromium: `streamlit run` in real mode against the same simulator with every replica list call
held 50 ms (a remote API's round trip). The first tab opens /replicas on a server whose replica list
was never loaded (Create opened first, so the server's own cold start is not in it): time to the
first rows drawn and to the whole table ("of 10,000 shown"), from the same navigation. Then
four more tabs open the page: the Tavus calls their opening caused (0 while the data is fresh).
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx

from bench.common import TAVUS_KEY, S3Server, Section, Simulator, Stat, Target

REPLICAS = 10_000
TRAINING = 20
SESSIONS = (1, 5, 10)
INTERVAL = 1.0  # seconds: a fast refresh, so a run sees several ticks in a few seconds
INTERVALS = 6
TARGET_CALLS = 2
WAN_DELAY = 0.05
TABS = 5
PREFIX = "bench-team/"


def _replica_calls(sim: Simulator) -> int:
    return sum(1 for r in sim.requests() if r["path"].startswith("/v2/replicas"))


def _server_side(sim: Simulator, section: Section, intervals: int) -> None:
    from lib.replicas.shared import SharedReplicas
    from lib.services import live_timeout
    from lib.tavus.client import TavusClient

    tavus = TavusClient(sim.url, TAVUS_KEY)
    live = TavusClient(sim.url, TAVUS_KEY, timeout=live_timeout(INTERVAL * 5), max_retries=0)
    worst = 0.0
    try:
        for sessions in SESSIONS:
            shared = SharedReplicas(fast_seconds=INTERVAL, slow_seconds=INTERVAL)
            view = shared.open(tavus, live, grace_seconds=60)
            # Earlier sections may have made a few more (the create path's replicas).
            if view.count < REPLICAS or len(view.training_ids) < TRAINING:
                raise RuntimeError(f"loaded {view.count} ({len(view.training_ids)} training)")
            sim.reset_requests()
            ticks_before = shared.stats.ticks
            stop = threading.Event()

            def session(shared: SharedReplicas = shared, stop: threading.Event = stop) -> None:
                time.sleep(random.uniform(0, INTERVAL))  # tabs opened at different moments
                while not stop.is_set():
                    shared.keep_alive(live)
                    shared.view()
                    stop.wait(INTERVAL)

            threads = [threading.Thread(target=session) for _ in range(sessions)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            time.sleep(intervals * INTERVAL)
            stop.set()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            shared.close()
            calls = _replica_calls(sim)
            ticks = shared.stats.ticks - ticks_before
            per_tick = calls / max(ticks, 1)
            per_interval = calls / (elapsed / INTERVAL)
            worst = max(worst, per_tick)
            section.row(f"{sessions:>2} session(s), {elapsed:.1f} s at {INTERVAL:g} s a tick",
                        f"{calls} calls in {ticks} ticks: {per_tick:.2f} per tick, "
                        f"{per_interval:.2f} per interval")
            section.figures[f"sessions_{sessions}"] = {
                "calls": calls, "ticks": ticks, "seconds": round(elapsed, 2),
                "calls_per_tick": round(per_tick, 3),
                "calls_per_interval": round(per_interval, 3)}

            # Five more sessions open the table while the data is fresh.
            sim.reset_requests()
            for _ in range(5):
                shared.open(tavus, live)
            shared.close()
            opened = _replica_calls(sim)
            section.figures[f"sessions_{sessions}"]["calls_to_open_5_more"] = opened
        section.target(Target("team_calls_per_tick", "Tavus calls per tick, whole server, "
                              f"{'/'.join(map(str, SESSIONS))} sessions (worst)", worst,
                              TARGET_CALLS, "calls", "counted in the simulator's request log"))
        opens = max(section.figures[f"sessions_{n}"]["calls_to_open_5_more"] for n in SESSIONS)
        section.row("calls to open a session when the data is fresh (worst of 5 × 3 runs)",
                    str(opens))
        section.target(Target("team_open_calls", "Tavus calls to open a session (fresh data)",
                              opens, 0, "calls", "5 sessions after the first, each run"))
    finally:
        tavus.close()
        live.close()


def _in_chromium(sim: Simulator, s3: S3Server, section: Section, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    from bench.cold_start import app_env, launch_browser, start_streamlit, table_complete
    from bench.common import stop, wait_http

    sim.clear_faults()
    with httpx.Client(base_url=sim.url, headers={"x-api-key": TAVUS_KEY}) as http:
        total = http.get("/v2/replicas", params={"limit": 1, "replica_type": "user"}
                         ).json()["total_count"]
    process, url = start_streamlit("streamlit_app.py", Path.cwd(),
                                   app_env(sim, s3, PREFIX, REFRESH_SECONDS="5"),
                                   artifacts / "team-app.log")
    try:
        wait_http(f"{url}/_stcore/health", process=process, expect=lambda r: r.text == "ok")
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            contexts = []
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                contexts.append(context)
                page = context.new_page()
                # The server's own first run (imports, clients) is the cold-start section's
                # business: open Create first, so this measures the table alone.
                page.goto(f"{url}/create")
                page.wait_for_selector('[data-test-script-state="notRunning"]',
                                       state="attached", timeout=120_000)
                sim.delay_next(1_000_000, WAN_DELAY)  # every list call from now on
                sim.reset_requests()
                start = time.perf_counter()
                page.goto(f"{url}/replicas")
                # The caption counts the rows in the table sent to the browser: the first rows.
                page.wait_for_function(
                    "() => /^[1-9][0-9,]* of /.test(document.querySelector("
                    "'.st-key-replica-updated')?.innerText || '')", timeout=120_000)
                progress = time.perf_counter() - start
                page.wait_for_selector('[data-testid="stDataFrame"] '
                                       '[data-testid="glide-cell-1-0"]', state="attached",
                                       timeout=120_000)
                first = time.perf_counter() - start
                table_complete(page, total)
                full = time.perf_counter() - start
                first_open_calls = _replica_calls(sim)
                tab_calls = Stat()
                for _ in range(TABS - 1):
                    before = _replica_calls(sim)
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    contexts.append(context)
                    tab = context.new_page()
                    tab.goto(f"{url}/replicas")
                    table_complete(tab, total)
                    tab_calls.add(_replica_calls(sim) - before)
                page.screenshot(path=str(artifacts / "team-first-tab.png"))
            finally:
                for context in contexts:
                    context.close()
                browser.close()
    finally:
        sim.clear_faults()
        stop(process)
    section.row(f"Chromium, +{WAN_DELAY * 1000:.0f} ms a call: first rows sent / whole table "
                f"({REPLICAS:,})", f"{progress:.2f} s / {full:.2f} s ({progress / full:.2f}×)")
    section.row("  first cell drawn in the grid (its accessible table)", f"{first:.2f} s")
    section.row("  Tavus calls for the first tab's open (cold server)", str(first_open_calls))
    section.row(f"  Tavus calls for each of {TABS - 1} more tabs' open (ticks of the server "
                "included)", f"{tab_calls.fmt('calls', 0)}")
    section.figures["chromium"] = {
        "delay_ms": WAN_DELAY * 1000, "first_rows_s": round(progress, 3),
        "first_cell_drawn_s": round(first, 3),
        "full_table_s": round(full, 3), "first_over_full": round(progress / full, 3),
        "first_open_calls": first_open_calls, "more_tabs_calls": tab_calls.to_json(0)}


def run(sim: Simulator, s3: S3Server, *, artifacts: Path, quick: bool = False) -> Section:
    section = Section("team", f"7. A team on the Replicas table ({REPLICAS:,} replicas)")
    print(f"\n{section.title}", flush=True)
    have = sim.count
    if have < REPLICAS:
        sim.add(REPLICAS - have, training=TRAINING if have == 0 else 0)
    _server_side(sim, section, 3 if quick else INTERVALS)
    _in_chromium(sim, s3, section, artifacts)
    return section
