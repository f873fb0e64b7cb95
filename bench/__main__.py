"""Run the benchmarks: `.venv/bin/python -m bench` from the project root (see bench/README.md).

Prints every figure and a PASS/MISS line per target, writes bench/results/<UTC time>.json and,
for a full run, bench/latest.json (committed, so runs can be compared: the summary shows the
previous latest.json's figures next to this run's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.common import ROOT, S3Server, Section, Simulator, product_logging

BENCH_DIR = ROOT / "bench"
RESULTS = BENCH_DIR / "results"
LATEST = BENCH_DIR / "latest.json"
ALL = ("tick", "load", "cold", "create", "batch", "memory", "ledger", "team", "video_checks",
       "video_convert", "video_memory", "verdict", "knowledge")
# Long: run only when asked for (--only soak: 11 minutes; --only idle: 6½ minutes).
OPTIONAL = ("soak", "idle")
PACKAGES = ("streamlit", "pandas", "pyarrow", "numpy", "httpx", "boto3", "moto", "pillow",
            "opencv-python-headless", "playwright")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True,
                                  text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = None
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "chromium": chromium, "packages": packages}


def git() -> dict[str, Any]:
    def out(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True
                              ).stdout.strip()

    return {"commit": out("rev-parse", "HEAD"),
            "dirty_outside_bench": bool(out("status", "--porcelain", "--", ".", ":!bench"))}


def summary(sections: list[Section], previous: dict[str, Any] | None) -> None:
    before = {t["key"]: t for t in (previous or {}).get("targets", [])}
    print("\nTargets" + (f" (previous: {previous['started_utc']})" if previous else ""))
    print(f"  {'':4}  {'target':<56} {'measured':>11} {'limit':>10}  {'margin':<10} previous")
    for section in sections:
        for t in section.targets:
            old = before.get(t.key)
            was = (f"{t.value_text(old['measured'])} {'PASS' if old['pass'] else 'MISS'}"
                   if old else "")
            print(f"  {'PASS' if t.passed else 'MISS'}  {t.label:<56} {t.value_text():>11} "
                  f"{'≤ ' + t.value_text(t.limit):>10}  {t.margin:<10} {was}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(ALL),
                        help=f"comma-separated subset of {','.join(ALL + OPTIONAL)} "
                             f"(default: all but {','.join(OPTIONAL)})")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions (a smoke run; figures are noisier)")
    parser.add_argument("--no-latest", action="store_true",
                        help="do not update bench/latest.json even on a full run")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(ALL + OPTIONAL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if Path.cwd().resolve() != ROOT:
        os.chdir(ROOT)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    product_logging()

    # A SIGTERM must still stop the servers the bench started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now(UTC)
    t0 = time.monotonic()
    info = machine()
    print(f"Replica Studio bench · {started:%Y-%m-%d %H:%M:%S} UTC · {info['cpu']}, "
          f"{info['cores']} cores, {info['memory_gb']} GB · Python {info['python']} · "
          f"streamlit {info['packages']['streamlit']}", flush=True)
    busy = info["load_average_at_start"][0]
    if busy > 0.5:
        print(f"  ! load average {busy:.2f} at start (another job, or a run that just ended): "
              "on 2 cores the figures will be noisier", flush=True)
    reps = {"quick": args.quick}
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    sections: list[Section] = []
    sim = s3 = None
    try:
        if {"tick", "load", "create", "batch", "team", "knowledge", "idle"} & set(chosen):
            sim = Simulator("bench").start()
        if {"cold", "create", "batch", "memory", "team", "knowledge", "idle"} & set(chosen):
            s3 = S3Server().start()
        if "tick" in chosen:
            from bench import tick

            sections.append(tick.run(sim, ticks=3 if reps["quick"] else tick.TICKS))
        if "load" in chosen:
            from bench import first_load

            sections.append(first_load.run(sim, reps=2 if reps["quick"] else first_load.REPS,
                                           wan=not reps["quick"]))
        if "create" in chosen:
            from bench import create_path

            sections.append(create_path.run(sim, s3, reps=3 if reps["quick"]
                                            else create_path.REPS))
        if "batch" in chosen:
            from bench import batch

            sections.append(batch.run(sim, s3, reps=2 if reps["quick"] else batch.REPS))
        if "cold" in chosen:
            from bench import cold_start

            sections.append(cold_start.run(s3, runs=2 if reps["quick"] else cold_start.RUNS,
                                           artifacts=logs))
        if "memory" in chosen:
            from bench import memory

            sections.append(memory.run(s3, sessions=memory.SESSIONS, artifacts=logs))
        if "ledger" in chosen:  # starts its own seeded S3 servers
            from bench import ledger

            sections.append(ledger.run(reps=2 if reps["quick"] else ledger.REPS))
        if "team" in chosen:
            from bench import team

            sections.append(team.run(sim, s3, artifacts=logs, quick=reps["quick"]))
        if "knowledge" in chosen:  # the add on the bench's servers; the table in demo mode
            from bench import knowledge

            sections.append(knowledge.run(sim, s3, artifacts=logs, quick=reps["quick"]))
        if "idle" in chosen:
            from bench import idle

            sections.append(idle.run(sim, s3, artifacts=logs, quick=reps["quick"]))
        if "video_checks" in chosen:
            from bench import video_checks

            sections.append(video_checks.run(reps=1 if reps["quick"] else video_checks.REPS))
        if "video_convert" in chosen:  # local files, no server
            from bench import video_convert

            sections.append(video_convert.run(quick=reps["quick"]))
        if "verdict" in chosen:  # local, no server
            from bench import verdict

            sections.append(verdict.run(reps=5 if reps["quick"] else verdict.REPS))
        if "video_memory" in chosen:  # starts its own S3 server and simulator
            from bench import video_memory

            sections.append(video_memory.run(artifacts=logs))
        if "soak" in chosen:  # starts its own S3 server, simulator and browser
            from bench import soak

            sections.append(soak.run_section(soak.QUICK if reps["quick"] else soak.SoakPlan(),
                                             artifacts=logs))
    finally:
        if sim is not None:
            sim.stop()
        if s3 is not None:
            s3.stop()

    previous = json.loads(LATEST.read_text()) if LATEST.exists() else None
    summary(sections, previous)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result = {
        "schema": 1,
        "started_utc": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": round(time.monotonic() - t0, 1),
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "complete": set(ALL) <= set(chosen) and not args.quick,
        "machine": info,
        "git": git(),
        "targets": [t.to_json() for s in sections for t in s.targets],
        "sections": {s.key: {"title": s.title, "figures": s.figures, "notes": s.notes,
                             "rows": [list(r) for r in s.rows]} for s in sections},
    }
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    path = RESULTS / f"{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(text)
    print(f"\nwrote {path.relative_to(ROOT)}", end="")
    if result["complete"] and not args.no_latest:
        LATEST.write_text(text)
        print(f" and {LATEST.relative_to(ROOT)}", end="")
    print(f" ({result['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
