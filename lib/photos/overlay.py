"""The Create page's preview: the photo with the face box(es), centre lines and the head box.

Drawn from a PhotoReport (lib/photos/checks.py) with OpenCV; only the Create page loads it.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from lib.photos.checks import Level, PhotoReport, decode_image

_COLOURS = {Level.PASS: (46, 160, 67), Level.WARN: (230, 150, 0), Level.FAIL: (215, 40, 40)}
PREVIEW_SIDE = 900


def _shade(canvas: np.ndarray, y0: int, y1: int, colour: tuple[int, int, int],
           alpha: float = 0.30) -> None:
    y0, y1 = max(0, y0), min(canvas.shape[0], y1)
    if y1 > y0:
        band = canvas[y0:y1]
        band[:] = (band * (1 - alpha) + np.array(colour) * alpha).astype(np.uint8)


def draw_overlay(photo: bytes, report: PhotoReport) -> bytes:
    """A PNG preview (long side at most PREVIEW_SIDE) with the face box(es), centre lines and the
    estimated head box, its room above the crown shaded green/amber/red as the check came out."""
    image, _, (width, height) = decode_image(photo, "RGB", fit=PREVIEW_SIDE)
    if image is None:
        width, height = PREVIEW_SIDE, PREVIEW_SIDE * 3 // 4
        image = Image.new("RGB", (width, height), (64, 64, 64))
    return draw_overlay_on(image, report, (width, height))


def draw_overlay_on(image: Image.Image, report: PhotoReport,
                    size: tuple[int, int] | None = None, fmt: str = "PNG") -> bytes:
    """draw_overlay on an already decoded, upright RGB copy of the photo (any scale) whose full
    size is `size` (default: the report's): the Create page draws on the copy it judged. `fmt`
    "JPEG" encodes the preview several times faster than PNG (~5 against ~40 ms at 900 px)."""
    width = (size or (report.width, report.height))[0]
    # Boxes are in full-size pixels; the copy may be smaller already (draft mode, reduce). A copy
    # at or under PREVIEW_SIDE is drawn on as it is: enlarging it adds no detail, only time
    # (~15 ms of Lanczos on the Create page's verdict).
    if max(image.size) > PREVIEW_SIDE:
        fit = PREVIEW_SIDE / max(image.size)
        image = image.resize((max(1, round(image.width * fit)), max(1, round(image.height * fit))),
                             Image.Resampling.LANCZOS, reducing_gap=2.0)
    scale = image.width / max(1, width)
    canvas = np.array(image)
    h, w = canvas.shape[:2]
    thick = max(2, round(max(w, h) / 300))

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(x * scale), round(y * scale)

    # centre lines: where a centred face would sit
    cv2.line(canvas, (w // 2, 0), (w // 2, h), (255, 255, 255), max(1, thick // 2), cv2.LINE_AA)
    cv2.line(canvas, (0, h // 2), (w, h // 2), (255, 255, 255), max(1, thick // 2), cv2.LINE_AA)

    head_check = report.get("head_in_frame")
    if report.head is not None:
        level = head_check.level if head_check else Level.PASS
        colour = _COLOURS[level]
        hb = report.head
        top, bottom = pt(hb.x, hb.y), pt(hb.x + hb.w, hb.bottom)
        _shade(canvas, 0, top[1], colour)  # room above the crown (none when cut: see the bar)
        if hb.y < 0:  # crown above the frame: a bar along the top edge
            cv2.rectangle(canvas, (0, 0), (w, thick * 3), _COLOURS[Level.FAIL], -1)
        if hb.bottom > (report.height or 0):
            cv2.rectangle(canvas, (0, h - thick * 3), (w, h), _COLOURS[Level.FAIL], -1)
        cv2.rectangle(canvas, top, bottom, colour, thick, cv2.LINE_AA)
        chin = pt(0, hb.bottom)[1]
        cv2.line(canvas, (top[0] - 3 * thick, chin), (bottom[0] + 3 * thick, chin), colour,
                 thick, cv2.LINE_AA)
    for i, face in enumerate(report.faces):
        colour = (60, 200, 255) if len(report.faces) == 1 else _COLOURS[Level.FAIL]
        cv2.rectangle(canvas, pt(face.x, face.y), pt(face.x + face.w, face.bottom), colour,
                      thick, cv2.LINE_AA)
        if len(report.faces) > 1:
            x, y = pt(face.x, face.y)
            cv2.putText(canvas, str(i + 1), (x + thick, max(0, y) + 12 * thick),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, colour, thick, cv2.LINE_AA)
    out = io.BytesIO()
    if fmt == "JPEG":  # a preview: speed first
        Image.fromarray(canvas).save(out, format="JPEG", quality=90)
    else:
        Image.fromarray(canvas).save(out, format="PNG", compress_level=1)
    return out.getvalue()
