"""2. First load of 10,000 replicas: from the first request to the DataFrame, against the raw
paged HTTP fetch alone.

raw  = httpx GET of every page (same page size, same query as the app), bodies read, not parsed.
full = `ReplicaTracker(page_size=…).load(tavus)` + `items_frame(tracker.items,
       states=tracker.states)`, which is what the server does for the first paint of the
       Replicas table (lib/replicas/shared.py, pages/replicas.py): page 1, then the other pages
       8 at a time (`walk_pages`).
Raw and full alternate within each repetition. Page sizes 50–1000 are tried; the app uses
ReplicaTracker's default, 100. With +50 ms per call (a round trip to a remote API), the app's
parallel load is compared with the sequential raw fetch: the target is ≤ 0.25× (the floor at 8
in flight is about 1/8 plus page 1 alone, ~0.14×).
"""

from __future__ import annotations

import json
import math
import time

import httpx

from bench.common import TAVUS_KEY, Ratio, Section, Simulator, Stat, Target, gc_collected

PAGE_SIZES = (50, 100, 250, 500, 1000)
APP_PAGE_SIZE = 100  # ReplicaTracker's default, used by lib/ui/live.py
N = 10_000
REPS = 5
TARGET_RATIO = 1.5
TARGET_WAN_RATIO = 0.25
WAN_DELAY = 0.05  # seconds added to each list call in the "with a network" rows
WAN_REPS = {100: 3, 250: 2, 1000: 3}  # page size -> runs (median)


def run(sim: Simulator, *, reps: int = REPS, wan: bool = True) -> Section:
    from lib.replicas.table import items_frame
    from lib.replicas.tracker import ReplicaTracker
    from lib.tavus.client import TavusClient

    section = Section("first_load", f"2. First load of {N:,} replicas")
    print(f"\n{section.title}", flush=True)
    sim.add(N - sim.count)
    tavus = TavusClient(sim.url, TAVUS_KEY)
    http = httpx.Client(base_url=sim.url, headers={"x-api-key": TAVUS_KEY,
                                                   "accept": "application/json"})

    def raw(page_size: int) -> float:
        with gc_collected():
            start = time.perf_counter()
            for page in range(1, math.ceil(N / page_size) + 1):
                response = http.get("/v2/replicas", params={
                    "page": page, "limit": page_size, "verbose": "true", "replica_type": "user"})
                response.raise_for_status()
                response.read()
            return (time.perf_counter() - start) * 1000

    def raw_json(page_size: int) -> float:
        """The raw fetch plus json.loads of each body (the floor of any client that parses)."""
        with gc_collected():
            start = time.perf_counter()
            for page in range(1, math.ceil(N / page_size) + 1):
                response = http.get("/v2/replicas", params={
                    "page": page, "limit": page_size, "verbose": "true", "replica_type": "user"})
                response.raise_for_status()
                json.loads(response.read())
            return (time.perf_counter() - start) * 1000

    frame_only = Stat()

    def full(page_size: int, frame_stat: Stat | None = None, concurrency: int | None = None
             ) -> float:
        with gc_collected():
            start = time.perf_counter()
            tracker = ReplicaTracker(page_size=page_size, messages={},
                                     **({"concurrency": concurrency} if concurrency else {}))
            report = tracker.load(tavus)
            loaded = time.perf_counter()
            frame = items_frame(tracker.items, states=tracker.states)
            end = time.perf_counter()
        if report.error is not None or len(frame) != N:
            raise RuntimeError(f"load failed: {report.error} ({len(frame)} rows)")
        if frame_stat is not None:
            frame_stat.add((end - loaded) * 1000)
        return (end - start) * 1000

    results: dict[int, tuple[Stat, Stat]] = {}
    parsed = Stat()
    for page_size in PAGE_SIZES:
        raw_stat, full_stat = Stat(), Stat()
        for _ in range(reps):
            raw_stat.add(raw(page_size))
            full_stat.add(full(page_size, frame_stat=frame_only
                               if page_size == APP_PAGE_SIZE else None))
            if page_size == APP_PAGE_SIZE:
                parsed.add(raw_json(page_size))
        results[page_size] = (raw_stat, full_stat)
        ratio = Ratio(full_stat, raw_stat)
        pages = math.ceil(N / page_size)
        section.row(f"page size {page_size:>4} ({pages:>3} calls): raw fetch", raw_stat.fmt())
        section.row(f"page size {page_size:>4}: tracker load + DataFrame", full_stat.fmt())
        section.row(f"page size {page_size:>4}: full / raw", ratio.fmt())
        section.figures[f"page_{page_size}"] = {
            "calls": pages, "raw_ms": raw_stat.to_json(), "full_ms": full_stat.to_json(),
            "full_over_raw": ratio.to_json()}

    raw_app, full_app = results[APP_PAGE_SIZE]
    section.row(f"page size {APP_PAGE_SIZE}: raw fetch + json.loads (parsing floor)", parsed.fmt())
    section.row(f"page size {APP_PAGE_SIZE}:   of the full load, items_frame alone",
                frame_only.fmt())
    section.figures[f"page_{APP_PAGE_SIZE}"].update(raw_json_ms=parsed.to_json(),
                                                    frame_ms=frame_only.to_json())
    fastest = min(PAGE_SIZES, key=lambda size: results[size][1].median)
    section.note(f"fastest full load: page size {fastest} "
                 f"({results[fastest][1].median:.0f} ms vs {full_app.median:.0f} ms at "
                 f"{APP_PAGE_SIZE}); the app uses {APP_PAGE_SIZE}")
    section.figures["app_page_size"] = APP_PAGE_SIZE
    section.figures["fastest_page_size"] = fastest
    app_ratio = Ratio(full_app, raw_app)
    section.target(Target("first_load_ratio", f"First load of {N:,} / raw fetch (page size "
                                              f"{APP_PAGE_SIZE})",
                          app_ratio.value, TARGET_RATIO, "x",
                          f"{full_app.median:.0f} ms vs {raw_app.median:.0f} ms raw"))
    if wan:
        # The same load with each call held 50 ms, as a round trip to Tavus over the internet
        # would be at least: what the page size and the client's own cost mean in practice.
        section.figures["with_50ms_per_call"] = {}
        for page_size, runs in WAN_REPS.items():
            pages = math.ceil(N / page_size)
            slow_raw, slow_full, slow_serial = Stat(), Stat(), Stat()
            for _ in range(runs):
                sim.delay_next(pages, WAN_DELAY)
                slow_raw.add(raw(page_size))
                sim.delay_next(pages, WAN_DELAY)
                slow_full.add(full(page_size))
                if page_size == APP_PAGE_SIZE:
                    sim.delay_next(pages, WAN_DELAY)
                    slow_serial.add(full(page_size, concurrency=1))
            sim.clear_faults()
            ratio = Ratio(slow_full, slow_raw)
            section.row(f"+{WAN_DELAY * 1000:.0f} ms per call, page size {page_size:>4}: "
                        "sequential raw / app load", f"{slow_raw.median:.0f} / "
                        f"{slow_full.median:.0f} ms ({ratio.value:.2f}×, n={runs})")
            section.figures["with_50ms_per_call"][f"page_{page_size}"] = {
                "raw_ms": slow_raw.to_json(), "full_ms": slow_full.to_json(),
                "full_over_raw": ratio.to_json()}
            if page_size == APP_PAGE_SIZE:
                section.row(f"+{WAN_DELAY * 1000:.0f} ms per call, page size {page_size:>4}: "
                            "app load one page at a time (before)",
                            f"{slow_serial.median:.0f} ms "
                            f"({Ratio(slow_serial, slow_raw).value:.2f}× raw)")
                section.figures["with_50ms_per_call"]["serial_full_ms"] = slow_serial.to_json()
                section.target(Target(
                    "first_load_wan_ratio", f"First load of {N:,} at +50 ms a call / "
                    "sequential raw", ratio.value, TARGET_WAN_RATIO, "x",
                    f"{slow_full.median:.0f} ms vs {slow_raw.median:.0f} ms; one page at a "
                    f"time {slow_serial.median:.0f} ms"))
    tavus.close()
    http.close()
    return section
