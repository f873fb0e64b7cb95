"""9. Converting a training clip: a 2-minute 1080p30 HEVC .mov (an iPhone's format) to the mp4
Tavus accepts, with `lib.videos.convert.convert_video`, against the clip's own length.

The clip is drawn by `tests.video_media` (the astronaut with an espeak-ng voice) with the camera
panning, so every frame differs (a still picture would flatter the encoder). Each conversion
runs in a fresh process, as the app's worker would, which also gives its peak RSS
(VmHWM) against a process that only imported the same modules. Also printed: decoding the
same clip alone (the floor any conversion pays) and the converted file's size.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import PY, ROOT, Section, Stat, Target

SECONDS = 120.0
REPS = 2
TARGET_RATIO = 1.0  # conversion time / clip length
TARGET_RSS_MB = 400.0  # peak RSS over an idle process: Community Cloud gives ~1-2.7 GB in all

# VmHWM, not ru_maxrss: Linux carries the parent's peak across fork + exec into ru_maxrss.
_CHILD = """
import json, sys, time
import av
from lib.videos.convert import convert_video
def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
mode, source, out = sys.argv[1:4]
base = hwm_kb()
start = time.perf_counter()
if mode == "convert":
    convert_video(source, out)
elif mode == "decode":
    with av.open(source) as c:
        c.streams.video[0].thread_type = "AUTO"
        for _ in c.decode(video=0, audio=0):
            pass
seconds = time.perf_counter() - start
peak = hwm_kb()
print(json.dumps({"seconds": seconds, "base_kb": base, "peak_kb": peak}))
"""


def _child(mode: str, source: Path, out: Path) -> dict:
    done = subprocess.run([PY, "-c", _CHILD, mode, str(source), str(out)], cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(*, reps: int = REPS, quick: bool = False) -> Section:
    from tests.video_media import Clip, clip_path

    section = Section("video_convert", "9. Converting a 2-min 1080p HEVC clip")
    print(f"\n{section.title}", flush=True)
    clip = Clip(seconds=SECONDS, width=1920, height=1080, fps=30, container="mov",
                video_codec="libx265", pan=True)
    started = time.perf_counter()
    source = clip_path(clip)  # cached by recipe: drawn once (~3 min here), then reused
    section.note(f"clip {source.stat().st_size / 1e6:.1f} MB, ready in "
                 f"{time.perf_counter() - started:.0f} s")
    convert, decode, rss = Stat(), Stat(), Stat()
    size = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        for _ in range(1 if quick else reps):
            result = _child("decode", source, out)
            decode.add(result["seconds"])
            result = _child("convert", source, out)
            convert.add(result["seconds"])
            rss.add((result["peak_kb"] - result["base_kb"]) / 1024)
            size = out.stat().st_size
    ratio = convert.median / SECONDS
    section.figures.update({"convert_s": convert.to_json(), "decode_s": decode.to_json(),
                            "peak_rss_over_idle_mb": rss.to_json(), "output_bytes": size,
                            "clip_seconds": SECONDS})
    from lib.videos.convert import CRF, PRESET

    section.row(f"conversion ({PRESET}, crf {CRF}; fresh process)", convert.fmt("s"))
    section.row("decoding the source alone", decode.fmt("s"))
    section.row("conversion / decoding", f"{convert.median / decode.median:.2f}×")
    section.row("peak RSS of the conversion over the idle process", rss.fmt("MB"))
    section.row("converted file", f"{size / 1e6:.1f} MB")
    section.target(Target("video_convert_ratio",
                          "conversion of a 2-min 1080p HEVC clip / clip length", ratio,
                          TARGET_RATIO, "x", f"{convert.median:.1f} s for {SECONDS:.0f} s"))
    section.target(Target("video_convert_rss", "conversion's peak RSS over an idle process",
                          rss.median, TARGET_RSS_MB, "MB"))
    return section
