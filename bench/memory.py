"""5. Memory: server RSS per open browser session showing the Replicas table of 10,000 replicas,
against an idle session.

One `streamlit run streamlit_app.py` in real mode against the bench's simulator holding 10,000
user replicas (20 training; 100 with a team record and photo). The baseline is the server's
RSS (VmRSS of the streamlit process) with one browser session open on the Create page (the
app's home, no photo: an idle-ish session that never opens Replicas). Then N sessions open
/replicas one after the other and stay open, each until its table of 10,000 is painted; RSS is
read after each, once it has settled. Per session = (RSS with N replicas sessions − baseline)
/ N; the marginal cost of the 2nd..Nth session is printed too (the first also pays one-off
costs such as first-use imports and the shared caches).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.cold_start import (
    app_env,
    launch_browser,
    start_streamlit,
    table_complete,
    table_painted,
)
from bench.common import (
    ROOT,
    S3Server,
    Section,
    Simulator,
    Target,
    maps_contain,
    rss_mb,
    stop,
    wait_http,
)

SESSIONS = 5
REPLICAS = 10_000
TEAM_RECORDS = 100
PREFIX = "bench-memory/"
TARGET_MB = 60.0
TARGET_MARGINAL_MB = 5.0  # each extra session: the server's list is shared, not copied
SETTLE_SECONDS = 4.0


def _settled_rss(pid: int, seconds: float = SETTLE_SECONDS) -> float:
    """RSS once it stops moving (sampled every 0.5 s; at most `seconds` * 3 of waiting)."""
    time.sleep(seconds)
    last = rss_mb(pid)
    deadline = time.monotonic() + 2 * seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_mb(pid)
        if abs(now - last) < 1.0:
            return now
        last = now
    return last


def _wait_idle(page, timeout: float = 60_000) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                           state="attached", timeout=timeout)
    page.wait_for_selector('[data-test-script-state="notRunning"]', state="attached",
                           timeout=timeout)


def run(s3: S3Server, *, sessions: int = SESSIONS, artifacts: Path) -> Section:
    from playwright.sync_api import sync_playwright

    section = Section("memory", f"5. Memory per browser session ({REPLICAS:,} replicas)")
    print(f"\n{section.title}", flush=True)
    sim = Simulator("memory").start()
    process = None
    try:
        ids = sim.add(REPLICAS, training=20)
        s3.seed_team_records(PREFIX, ids[:TEAM_RECORDS])
        process, url = start_streamlit("streamlit_app.py", ROOT, app_env(sim, s3, PREFIX),
                                       artifacts / "memory-app.log")
        wait_http(f"{url}/_stcore/health", process=process, expect=lambda r: r.text == "ok")
        started = rss_mb(process.pid)
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            contexts = []
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                contexts.append(context)
                page = context.new_page()
                page.goto(f"{url}/create")
                _wait_idle(page)
                page.wait_for_selector('[data-testid="stFileUploaderDropzoneInput"]',
                                       state="attached", timeout=60_000)
                baseline = _settled_rss(process.pid)
                create_cv2 = maps_contain(process.pid, "cv2/")
                after: list[float] = []
                paint_s: list[float] = []
                for _ in range(sessions):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    contexts.append(context)
                    page = context.new_page()
                    start = time.perf_counter()
                    page.goto(f"{url}/replicas")
                    table_painted(page)
                    table_complete(page, REPLICAS)
                    paint_s.append(time.perf_counter() - start)
                    after.append(_settled_rss(process.pid))
                replicas_cv2 = maps_contain(process.pid, "cv2/")
            finally:
                for context in contexts:
                    context.close()
                browser.close()
    finally:
        stop(process)
        sim.stop()
    per_session = (after[-1] - baseline) / sessions
    marginal = (after[-1] - after[0]) / (sessions - 1) if sessions > 1 else per_session
    section.row("server RSS right after start (no session)", f"{started:.1f} MB")
    section.row("baseline: one idle session on Create", f"{baseline:.1f} MB")
    for i, rss in enumerate(after, 1):
        section.row(f"+ {i} session(s) on /replicas (painted in {paint_s[i - 1]:.1f} s)",
                    f"{rss:.1f} MB (+{rss - baseline:.1f})")
    section.row("per /replicas session, average over all", f"{per_session:.1f} MB")
    section.row("OpenCV mapped: after Create (no photo) / after Replicas",
                f"{'yes' if create_cv2 else 'no'} / {'yes' if replicas_cv2 else 'no'}")
    section.row("per additional /replicas session (2nd onwards)", f"{marginal:.1f} MB")
    section.figures.update({
        "replicas": REPLICAS, "team_records": TEAM_RECORDS, "sessions": sessions,
        "rss_started_mb": round(started, 1),
        "rss_baseline_mb": round(baseline, 1), "rss_after_mb": [round(x, 1) for x in after],
        "paint_seconds": [round(x, 2) for x in paint_s],
        "per_session_mb": round(per_session, 1), "marginal_mb": round(marginal, 1),
        "opencv_mapped": {"create_idle": create_cv2, "replicas": replicas_cv2}})
    section.target(Target("memory_per_session", f"RSS per /replicas session ({REPLICAS:,}) over "
                                                "an idle session",
                          per_session, TARGET_MB, "MB", f"marginal {marginal:.1f} MB"))
    section.target(Target("memory_marginal_session", f"RSS per extra /replicas session "
                                                     f"({REPLICAS:,}), 2nd onwards",
                          marginal, TARGET_MARGINAL_MB, "MB",
                          f"{sessions} sessions; the first {after[0] - baseline:.1f} MB"))
    return section
