"""8. Pre-flight checks of a training video: the time of `check_video` over the clip's length.

The clip: 2 minutes of 1920x1080 at 30 fps, H.264/AAC, drawn by the tests' recipe
(tests/video_media.py: the astronaut, an espeak-ng voice for 35 s, then quiet; keyframes every
2 s, so every frame is decoded) and cached under the temp directory (~20 s to draw the first time).
One sample = `check_video(path)` from a collected heap: the probe, one decoding pass (a frame a
second judged for faces, light and motion; the sound's levels) and the report. Alone on the
machine (2 cores) it should take at most a tenth of the clip's length.
"""

from __future__ import annotations

import os
import resource
import time

from bench.common import Section, Stat, Target, gc_collected

CLIP_SECONDS = 120.0
REPS = 3
TARGET_RATIO = 0.1


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(*, reps: int = REPS) -> Section:
    from lib.videos.checks import check_video
    from tests.video_media import Clip, clip_path

    section = Section("video_checks", "8. Video pre-flight checks (2-min 1080p30 clip)")
    print(f"\n{section.title}", flush=True)
    started = time.perf_counter()
    path = clip_path(Clip(seconds=CLIP_SECONDS, width=1920, height=1080))
    section.note(f"clip ready in {time.perf_counter() - started:.1f} s "
                 f"({path.stat().st_size / 2**20:.1f} MB; drawn once, then cached)")
    check_video(path)  # warm: imports, cascades loaded, file in the page cache
    seconds, cpu = Stat(), Stat()
    report = None
    for _ in range(reps):
        with gc_collected():
            c0, t0 = _cpu(), time.perf_counter()
            report = check_video(path)
            seconds.add(time.perf_counter() - t0)
            cpu.add(_cpu() - c0)
    assert report is not None
    section.row("check_video, 2-min 1080p30 clip", seconds.fmt("s", 2))
    # CPU time (all threads) is steadier than wall time when other jobs share the 2 cores.
    section.row("… CPU time, all threads", cpu.fmt("s", 2))
    section.row("… load average after", f"{os.getloadavg()[0]:.2f}")
    section.row("verdict / failed checks", f"{report.verdict.value} / "
                f"{[c.id for c in report.failed] or 'none'}")
    ratio = seconds.median / CLIP_SECONDS
    section.figures.update({"seconds": seconds.to_json(3), "cpu_seconds": cpu.to_json(3),
                            "clip_seconds": CLIP_SECONDS,
                            "ratio": round(ratio, 4), "verdict": report.verdict.value})
    section.target(Target("video_checks_ratio",
                          "checks of a 2-min 1080p30 clip / clip length",
                          ratio, TARGET_RATIO, "x",
                          detail=f"median {seconds.median:.2f} s over {len(seconds.samples)}"))
    return section
