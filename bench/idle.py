"""15. Nobody looking: Tavus calls after the last tab closes.

`streamlit run` in real mode against the bench's simulator at the app's default 15 s refresh,
with a few replicas training (the live lists' fast pace). One Chromium tab on Replicas and one on
Conversations for a minute, then every tab closed: the simulator's request log counts the
`GET /v2/replicas` calls (any list or detail under /v2/replicas) in the WINDOW seconds after.
Before the fix, issue 23 measured 30 in 5 minutes. The target: at most 2 (a look already under
way when the last tab closed may still end).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import S3Server, Section, Simulator, Target

WINDOW = 300.0  # seconds watched after the last tab closed (--quick: 120)
OPEN_SECONDS = 60.0  # the tabs stay open this long first
TARGET_CALLS = 2
PREFIX = "bench-idle/"


def _replica_calls(sim: Simulator, since: float) -> int:
    return sum(1 for r in sim.requests() if r["path"].startswith("/v2/replicas")
               and r.get("at", since) >= since)


def run(sim: Simulator, s3: S3Server, *, artifacts: Path, quick: bool = False) -> Section:
    from playwright.sync_api import sync_playwright

    from bench.cold_start import app_env, launch_browser, start_streamlit
    from bench.common import stop, wait_http

    section = Section("idle", "15. Nobody looking: Tavus calls after the last tab closes")
    print(f"\n{section.title}", flush=True)
    window = 120.0 if quick else WINDOW
    sim.add(3, training=3, training_seconds=3600)  # training: the lists' fast pace
    process, url = start_streamlit("streamlit_app.py", Path.cwd(),
                                   app_env(sim, s3, PREFIX, REFRESH_SECONDS="15"),
                                   artifacts / "idle-app.log")
    try:
        wait_http(f"{url}/_stcore/health", process=process, expect=lambda r: r.text == "ok")
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            try:
                tabs = []
                for path in ("replicas", "conversations"):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    page.goto(f"{url}/{path}")
                    page.wait_for_selector('[data-test-script-state="notRunning"]',
                                           state="attached", timeout=120_000)
                    tabs.append(context)
                sim.reset_requests()
                time.sleep(OPEN_SECONDS)
                open_calls = _replica_calls(sim, 0)
                for context in tabs:
                    context.close()
            finally:
                browser.close()
        sim.reset_requests()
        closed = time.monotonic()
        marks = []
        while time.monotonic() - closed < window:
            time.sleep(15)
            marks.append((round(time.monotonic() - closed), _replica_calls(sim, 0)))
        after = _replica_calls(sim, 0)
    finally:
        stop(process)
    section.row(f"tabs open ({OPEN_SECONDS:.0f} s, Replicas + Conversations, 15 s refresh)",
                f"{open_calls} replica-list calls")
    section.row(f"after the last tab closed: calls by second {marks[-1][0]}",
                ", ".join(f"{s}s:{n}" for s, n in marks))
    section.figures["idle"] = {"open_seconds": OPEN_SECONDS, "open_calls": open_calls,
                               "window_seconds": window, "calls_after_close": after,
                               "marks": marks}
    section.target(Target("idle_calls_after_close",
                          f"Tavus calls in the {window / 60:.0f} min after the last tab closed",
                          after, TARGET_CALLS, "calls",
                          "counted in the simulator's request log (issue 23 measured 30)"))
    return section
