"""11. The Create page's instant verdict on a 12 MP JPEG, against Pillow's full decode of it.

The photo: bench/create_path.py's ~5 MB, 12 MP (3464×3464) JPEG portrait with grain and EXIF.
verdict = `judge_photo` (lib/photos/analysis.py), what the page waits for before it shows a
verdict: open the header, decode a small copy (JPEG draft mode, here 1/4 scale), run every check on
it and draw the overlay preview on it (plus hashing the picked bytes). The full-resolution,
metadata-stripped photo (`prepare_photo`) is no longer in it: the page makes it on Check with
Tavus or Create. decode = `Image.open(...).load()` of the same bytes, the floor of anything that
looks at every pixel. The two alternate, each sample from a collected heap; the target is the
verdict over the decode, best of N each (the least interference from other jobs on the 2 cores),
with the medians' ratio and the per-pair spread printed beside it.
"""

from __future__ import annotations

import io

from bench.common import Ratio, Section, Stat, Target, gc_collected, timed

REPS = 15
TARGET_RATIO = 1.0


def run(*, reps: int = REPS) -> Section:
    from PIL import Image

    from bench.create_path import SIDE, make_photo
    from lib.photos.analysis import CHECK_SIDE, judge_photo
    from lib.photos.checks import check_image
    from lib.photos.intake import open_photo, small_copy
    from lib.photos.overlay import draw_overlay_on

    section = Section("verdict", "12. Instant verdict on a 12 MP JPEG")
    print(f"\n{section.title}", flush=True)
    photo = make_photo()
    section.row("photo", f"{len(photo) / 1e6:.2f} MB JPEG, {SIDE}×{SIDE} "
                         f"({SIDE * SIDE / 1e6:.1f} MP), EXIF")

    def decode() -> Image.Image:
        image = Image.open(io.BytesIO(photo))
        image.load()
        return image

    judge_photo(photo)  # warm: imports, cascades loaded
    decode()
    full, verdict = Stat(), Stat()
    result = None
    for _ in range(reps):
        with gc_collected():
            a, _ = timed(decode)
        with gc_collected():
            b, result = timed(lambda: judge_photo(photo, "portrait.jpg"))
        full.add(a)
        verdict.add(b)
    assert result is not None and result.report is not None

    # Where the verdict's time goes (separate runs of its parts)
    draft, checks, overlay = Stat(), Stat(), Stat()
    small = None
    for _ in range(max(3, reps // 3)):
        def small_decode():
            with open_photo(photo) as image:
                return small_copy(image, photo, CHECK_SIDE)[0]

        with gc_collected():
            t, small = timed(small_decode)
            draft.add(t)
            t, report = timed(lambda s=small: check_image(s, "JPEG", (SIDE, SIDE)))
            checks.add(t)
            t, _ = timed(lambda s=small, r=report: draw_overlay_on(s, r, fmt="JPEG"))
            overlay.add(t)
    assert small is not None

    ratio = Ratio(verdict, full)
    best = verdict.lo / full.lo
    section.row("Pillow full decode (Image.open().load())", full.fmt())
    section.row("verdict = judge_photo (draft decode + checks + overlay)", verdict.fmt())
    section.row(f"… small-copy decode ({small.width}×{small.height}, draft mode)", draft.fmt())
    section.row("… check_image on it", checks.fmt())
    section.row("… draw_overlay_on it (JPEG preview)", overlay.fmt())
    section.row("ratio, best of each", f"{best:.2f}×")
    section.row("ratio, medians", ratio.fmt())
    section.row("verdict on the photo", f"{result.report.verdict} ({result.report.score}/100)")
    section.figures.update({
        "photo_bytes": len(photo), "photo_pixels": SIDE * SIDE,
        "small_copy": [small.width, small.height], "decode_ms": full.to_json(),
        "verdict_ms": verdict.to_json(), "draft_decode_ms": draft.to_json(),
        "check_ms": checks.to_json(), "overlay_ms": overlay.to_json(),
        "ratio_best": round(best, 3), "ratio_median": ratio.to_json(),
        "verdict": str(result.report.verdict)})
    section.target(Target("verdict_over_decode",
                          "verdict (checks + overlay) on a 12 MP JPEG / Pillow full decode",
                          best, TARGET_RATIO, "x",
                          f"best {verdict.lo:.0f} vs {full.lo:.0f} ms; medians {ratio.fmt()}"))
    return section
