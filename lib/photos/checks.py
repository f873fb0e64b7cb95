"""Pre-flight photo checks: will Tavus train a replica from this photo? Local, instant, no network.

A replica trained from a bad photo fails hours later (LookingStraightAtCameraError,
HeadNotFullyInFrameError, ImageQualityError). These checks predict that in well under a second with
OpenCV's bundled Haar cascades plus simple pixel statistics, and say why and how to fix it.

Faces are found on a downscaled, edge-padded copy (never at full resolution: a 16-MP upscale gave a
false second face there, and it is slow); the padding lets a face cut by the frame still be found,
so "head cut off" is reported as such rather than as "no face".
"""

from __future__ import annotations

import io
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

from lib.photos.intake import MAX_PIXELS, MIN_SIDE

# ------------------------------------------------------------------------------------------------
# thresholds. Measured on the test photos (tests/test_checks.py):
#   astronaut 512: face (176,64,98,98) = 19% of the height, 6% off centre; estimated crown 0.15
#     face heights below the top edge (her hair really ends ~0.3 below it), chin 3.4 above the
#     bottom; face luminance 153, halves 0.85; sharpness 171 (JPEG q85: 172; 12-MP upscale: 183).
#   cut through the forehead: crown -0.54; crown just touching the edge: -0.10 (WARN).
#   darkened (Brightness 0.3): luminance 45, sharpness still 190. Gaussian blur r=6: 6; r=1: 23.
#   off-centre canvas: 35% left of centre. Faces on the cat, coffee: none (profile: none);
#   the cameraman (camera()): no frontal face, a profile one.
# ------------------------------------------------------------------------------------------------
GOOD_SIDE = 1080  # short side below this trains a softer replica: WARN
DETECT_AREA = 512 * 512  # pixels in the detection copy (about 70 ms of cascades on this box)
PAD_Y, PAD_X = 0.20, 0.10  # edge padding of the detection copy, as a fraction of its size
MIN_FACE = 0.07  # smallest face searched for, as a fraction of the detection copy's short side
SECOND_FACE_SHARE = 0.5  # another face counts if it scores this share of the strongest one's
CENTRE_WARN, CENTRE_FAIL = 0.15, 0.30  # face centre off the image centre, fraction of width
CROWN_ABOVE, CHIN_BELOW, HEAD_SIDES = 0.50, 0.15, 0.15  # head box from the face box, face heights
TOP_FAIL, TOP_WARN = -0.15, 0.0  # room above the estimated crown, in face heights
BOTTOM_FAIL, BOTTOM_WARN = -0.10, 0.50  # room below the chin (neck and shoulders), face heights
SIDE_FAIL = -0.15  # head box past the left or right edge, in face heights
FACE_FAIL, FACE_WARN, FACE_BIG = 0.08, 0.13, 0.70  # face height / image height
# Tavus's head-and-shoulders rule. The head-and-shoulders region is estimated from the face box:
# SHOULDERS_WIDE face widths across, from the crown down to SHOULDERS_BELOW face heights under the
# chin. A photo where it covers under FILL_WARN of the frame is mostly background: WARN, "crop to
# head and shoulders". Measured: astronaut 512 px: 33%; the 12-MP 4:3 test photo (face 19% of the
# height): 23%; the astronaut at 1080 px centred on 1920x1080: 18%; at 800 px: 11%.
# In a frame wider than WIDE_ASPECT (3:2), the face must also be WIDE_FACE of the height.
SHOULDERS_WIDE, SHOULDERS_BELOW = 3.0, 1.5
FILL_WARN = 0.20
WIDE_ASPECT, WIDE_FACE = 1.5, 0.25
DARK_FAIL, DARK_WARN, BRIGHT_WARN = 30, 60, 215  # mean luminance of the face, 0..255
CLIPPED_WARN = 0.25  # fraction of face pixels crushed to black or blown to white
SHADOW_WARN = 0.60  # darker half of the face / brighter half
SHARP_SIDE = 128  # face crop is resized to this height before measuring sharpness
SHARP_STD = 50.0  # ...and its contrast normalised to this standard deviation
SHARP_FAIL, SHARP_WARN = 15.0, 60.0  # variance of the Laplacian on that crop
TILT_WARN = 20.0  # degrees between the eyes' line and the horizontal

# Score: start at 100, lose WARN_COST per warning and FAIL_COST per failure, never below 0.
# Simple on purpose: the verdict, not the score, decides whether to go ahead.
WARN_COST, FAIL_COST = 10, 35
FRAMING = frozenset({"centred", "head_in_frame", "face_size"})  # auto_fix_training_image can fix

LABELS = {
    "format": "PNG or JPEG image",
    "resolution": f"At least {MIN_SIDE} px ({GOOD_SIDE}+ recommended)",
    "one_face": "Exactly one face",
    "frontal": "Looking straight at the camera",
    "head_in_frame": "Whole head in frame",
    "centred": "Face centred",
    "face_size": "Face large enough",
    "lighting": "Even, bright enough lighting",
    "sharpness": "Sharp, in focus",
}


class Level(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class Verdict(StrEnum):
    READY = "ready"  # nothing fails
    FIXABLE = "fixable"  # only framing fails: Tavus's auto_fix_training_image can rescue it
    LIKELY_FAIL = "likely_fail"  # training will most likely fail: use another photo


@dataclass(frozen=True)
class CheckResult:
    id: str
    label: str
    level: Level
    reason: str  # one line: why
    fix: str  # one line: what to do ("" when PASS)
    tavus_error: str | None = None  # the Tavus error code this predicts
    crop_fix: bool = False  # a WARN a crop to head and shoulders mends: the verdict is FIXABLE


@dataclass(frozen=True)
class Box:
    """Pixel box in the (upright) image; may reach past the edges when the head is cut off."""

    x: int
    y: int
    w: int
    h: int

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> int:
        return self.y + self.h


@dataclass(frozen=True)
class PhotoReport:
    checks: list[CheckResult]
    faces: list[Box]  # largest first
    head: Box | None  # whole head (crown to chin) estimated from the largest face
    width: int
    height: int
    score: int  # 0..100
    verdict: Verdict

    @property
    def blocking(self) -> bool:
        return any(c.level is Level.FAIL for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.level is Level.FAIL]

    @property
    def warned(self) -> list[CheckResult]:
        return [c for c in self.checks if c.level is Level.WARN]

    def get(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)


# ------------------------------------------------------------------------------------------------
# cascades: loaded once (about 50 ms each), used under a lock (OpenCV's CascadeClassifier keeps
# per-call state in the object, so two Streamlit sessions must not share one at the same time)
# ------------------------------------------------------------------------------------------------
_CASCADE_FILES = {
    "frontal": "haarcascade_frontalface_default.xml",
    "frontal_alt2": "haarcascade_frontalface_alt2.xml",
    "profile": "haarcascade_profileface.xml",
    "eye": "haarcascade_eye.xml",
}
_cascades: dict[str, cv2.CascadeClassifier] = {}
_side_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="photo-checks")
_cascade_locks = {name: threading.Lock() for name in _CASCADE_FILES}  # one each: two differently
# named cascades may run at once (the eye and profile searches of one check do, on two threads)


def _detect(name: str, image: np.ndarray, scale: float, neighbours: int, min_side: int,
            max_side: int = 0, weights: bool = False) -> tuple[list[tuple[int, ...]], list[float]]:
    """-> (boxes as (x, y, w, h), level weights when asked) from a cached cascade."""
    with _cascade_locks[name]:
        cascade = _cascades.get(name)
        if cascade is None:
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + _CASCADE_FILES[name])
            if cascade.empty():
                raise RuntimeError(f"OpenCV has no {_CASCADE_FILES[name]}; opencv 4.x is needed")
            _cascades[name] = cascade
        size, biggest = (min_side, min_side), (max_side, max_side) if max_side else (0, 0)
        if weights:
            boxes, _, levels = cascade.detectMultiScale3(
                image, scale, neighbours, minSize=size, maxSize=biggest, outputRejectLevels=True)
            return [tuple(int(v) for v in b) for b in boxes], [float(w) for w in np.ravel(levels)]
        boxes = cascade.detectMultiScale(image, scale, neighbours, minSize=size, maxSize=biggest)
        return [tuple(int(v) for v in b) for b in boxes], []


# ------------------------------------------------------------------------------------------------
# measurements
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Detection:
    faces: list[Box]  # confirmed frontal faces, largest first
    profile: Box | None  # a face in profile, looked for only when no frontal face was found


def _resize(grey: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1:
        return grey
    h, w = grey.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over the smaller box's area."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / max(1, min(aw * ah, bw * bh))


def _confirmed(padded: np.ndarray, box: tuple[int, ...]) -> bool:
    """A second, differently trained cascade (alt2) agrees there is a face here."""
    x, y, w, h = box
    m = w // 3
    region = padded[max(0, y - m):y + h + m, max(0, x - m):x + w + m]
    scale = 120 / max(1, w)  # the face at about 120 px: quick, and well inside alt2's range
    region = _resize(region, scale)
    hits, _ = _detect("frontal_alt2", region, 1.1, 3, max(24, round(w * scale * 0.6)))
    ox, oy = (x - max(0, x - m)) * scale, (y - max(0, y - m)) * scale
    mine = (round(ox), round(oy), round(w * scale), round(h * scale))
    return any(_overlap(mine, hit) > 0.5 for hit in hits)


def find_faces(grey: np.ndarray, *, area: int = DETECT_AREA, pad: bool = True,
               min_face: float = MIN_FACE, max_face: float = 0.0) -> list[Box]:
    """Frontal faces in a grey image (largest first), searched on a copy of at most `area`
    pixels, none smaller than `min_face` of its short side (nor 24 px) nor, if set, larger than
    `max_face`; `pad=False` skips the edge padding (faster; a face cut by the frame may be
    missed)."""
    return _find_faces(grey, area, pad, min_face, max_face).faces


def _find_faces(grey: np.ndarray, area: int = DETECT_AREA, pad: bool = True,
                min_face: float = MIN_FACE, max_face: float = 0.0) -> _Detection:
    height, width = grey.shape
    scale = min(1.0, math.sqrt(area / (width * height)))
    small = _resize(grey, scale)
    sh, sw = small.shape
    py, px = (round(sh * PAD_Y), round(sw * PAD_X)) if pad else (0, 0)
    padded = cv2.copyMakeBorder(small, py, py, px, px, cv2.BORDER_REPLICATE)
    min_side = max(24, round(min_face * min(sh, sw)))
    max_side = max(min_side, round(max_face * min(sh, sw))) if max_face else 0
    boxes, weights = _detect("frontal", padded, 1.1, 5, min_side, max_side, weights=True)

    # Keep faces centred inside the real picture, strongest first; drop a box inside a kept one.
    strength = dict(zip(map(tuple, boxes), weights, strict=False))
    kept: list[tuple[int, ...]] = []
    for box in sorted(boxes, key=lambda b: -strength.get(b, 0.0)):
        x, y, w, h = box
        if not (px <= x + w / 2 < px + sw and py <= y + h / 2 < py + sh):
            continue
        if any(_overlap(box, k) > 0.5 for k in kept):
            continue
        kept.append(box)
    # A second, differently trained cascade (alt2) must agree. The strongest face is kept even
    # unconfirmed (a missed real face costs more than a doubtful one; "frontal" still looks for
    # its eyes). Others must also score at least half the strongest: on the astronaut's suit
    # both cascades agree on a "face" that scores ~1.5 against her real face's ~4.5.
    confirmed = [b for b in kept if _confirmed(padded, b)]
    primary = confirmed[0] if confirmed else (kept[0] if kept else None)
    chosen = [] if primary is None else [primary] + [
        b for b in confirmed
        if b is not primary and strength.get(b, 0.0) >= SECOND_FACE_SHARE * strength[primary]]

    def to_image(b: tuple[int, ...]) -> Box:
        x, y, w, h = b
        return Box(round((x - px) / scale), round((y - py) / scale), round(w / scale),
                   round(h / scale))

    faces = sorted((to_image(b) for b in chosen), key=lambda f: -f.h)
    profile = None
    if not faces:
        # Looking away? A profile face of a real size, in the picture or its mirror image.
        side = max(24, round(0.12 * min(sh, sw)))
        for flipped in (False, True):
            view = cv2.flip(small, 1) if flipped else small
            hits, _ = _detect("profile", view, 1.1, 5, side)
            if hits:
                x, y, w, h = max(hits, key=lambda b: b[2])
                x = sw - x - w if flipped else x
                profile = Box(round(x / scale), round(y / scale), round(w / scale),
                              round(h / scale))
                break
    return _Detection(faces, profile)


def _head_box(face: Box) -> Box:
    """Crown to chin and ear to ear, estimated from the frontal face box (brow to mouth/chin)."""
    top = face.y - CROWN_ABOVE * face.h
    bottom = face.bottom + CHIN_BELOW * face.h
    left = face.x - HEAD_SIDES * face.w
    return Box(round(left), round(top), round(face.w * (1 + 2 * HEAD_SIDES)), round(bottom - top))


def _crop(grey: np.ndarray, box: Box) -> np.ndarray:
    h, w = grey.shape
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(w, box.x + box.w), min(h, box.bottom)
    return grey[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else grey


def _sharpness(region: np.ndarray) -> float:
    """Variance of the Laplacian at a fixed size and contrast, so neither the photo's resolution
    nor its brightness moves the number: only focus and motion blur do."""
    scaled = _resize(region, SHARP_SIDE / region.shape[0]).astype(np.float32)
    std = float(scaled.std())
    if std < 1:
        return 0.0  # a flat patch has no detail at all
    normalised = (scaled - scaled.mean()) * (SHARP_STD / std)
    return float(cv2.Laplacian(normalised, cv2.CV_32F).var())


def _eyes(grey: np.ndarray, face: Box) -> list[Box]:
    """Eyes in the upper part of the face box, in face-crop coordinates scaled to 120 px wide."""
    crop = _crop(grey, face)
    scale = 120 / max(1, crop.shape[1])
    upper = _resize(crop, scale)[: round(0.62 * crop.shape[0] * scale)]
    hits, _ = _detect("eye", upper, 1.1, 5, 18, 54)
    return [Box(*h) for h in hits]


def _profile_strength(grey: np.ndarray, face: Box) -> int:
    """How many profile detections (picture and mirror) are around the face, at a fixed size."""
    m = face.w // 4
    region = _crop(grey, Box(face.x - m, face.y - m, face.w + 2 * m, face.h + 2 * m))
    region = _resize(region, 160 / max(1, region.shape[0]))
    count = 0
    for view in (region, cv2.flip(region, 1)):
        hits, _ = _detect("profile", view, 1.1, 5, 64)
        count += len(hits)
    return count


# ------------------------------------------------------------------------------------------------
# the checks
# ------------------------------------------------------------------------------------------------
def _result(check_id: str, level: Level, reason: str, fix: str = "",
            tavus_error: str | None = None, crop_fix: bool = False) -> CheckResult:
    return CheckResult(check_id, LABELS[check_id], level, reason,
                       "" if level is Level.PASS else fix, tavus_error,
                       crop_fix and level is Level.WARN)


def _not_checked(check_id: str, why: str) -> CheckResult:
    return _result(check_id, Level.WARN, f"Not checked: {why}.", "Fix the face check first.")


def _check_resolution(width: int, height: int) -> CheckResult:
    short = min(width, height)
    if short < MIN_SIDE:
        return _result("resolution", Level.FAIL,
                       f"{width}x{height} px is below Tavus's {MIN_SIDE}x{MIN_SIDE} minimum.",
                       f"Use a larger original photo ({GOOD_SIDE} px or more on the short side); "
                       "don't enlarge a small one.", "ImageQualityError")
    if short < GOOD_SIDE:
        return _result("resolution", Level.WARN,
                       f"{width}x{height} px meets the {MIN_SIDE} px minimum, but a short side "
                       f"under {GOOD_SIDE} px trains a softer replica.",
                       f"Use the original photo if it is larger ({GOOD_SIDE}+ px).")
    return _result("resolution", Level.PASS, f"{width}x{height} px.")


def _check_faces(found: _Detection) -> CheckResult:
    n = len(found.faces)
    if n == 0:
        extra = " facing the camera (a face in profile was found)" if found.profile else ""
        return _result("one_face", Level.FAIL, f"No face found{extra}.",
                       "Use a photo of one person's face, upright and looking straight at the "
                       "camera; if the face is small in the photo, crop in to head and shoulders.",
                       "LookingStraightAtCameraError" if found.profile else None)
    if n > 1:
        return _result("one_face", Level.FAIL, f"More than one person: {n} faces found.",
                       "Crop the photo to just your face and shoulders, or use a solo photo.")
    return _result("one_face", Level.PASS, "One face found.")


def _check_frontal(grey: np.ndarray, found: _Detection) -> CheckResult:
    error = "LookingStraightAtCameraError"
    if not found.faces:
        if found.profile:
            return _result("frontal", Level.FAIL, "Looking away from the camera: the face is "
                           "seen from the side.", "Face the camera squarely, eyes to the lens.",
                           error)
        return _not_checked("frontal", "no face was found")
    face = found.faces[0]
    turned = _side_pool.submit(_profile_strength, grey, face)  # beside the eye search: ~7 ms
    eyes = _eyes(grey, face)
    mid = 60  # the face crop is 120 px wide
    left = [e for e in eyes if e.cx < mid]
    right = [e for e in eyes if e.cx >= mid]
    sideways = turned.result()
    if not (left and right):
        turned = " and the face looks turned to one side" if sideways else ""
        return _result("frontal", Level.WARN, f"Could not find both eyes{turned}.",
                       "Look straight at the lens with both eyes open; no sunglasses, glare, "
                       "hair or shadow over the eyes.", error)
    a = max(left, key=lambda e: e.w)
    b = max(right, key=lambda e: e.w)
    tilt = abs(math.degrees(math.atan2((b.y + b.h / 2) - (a.y + a.h / 2), b.cx - a.cx)))
    if tilt > TILT_WARN:
        return _result("frontal", Level.WARN, f"The head is tilted about {tilt:.0f}°.",
                       "Hold your head level, in a natural upright pose.", error)
    if sideways >= 2:
        return _result("frontal", Level.WARN, "Both eyes are visible, but the face looks "
                       "partly turned to one side.", "Turn to face the camera squarely.", error)
    return _result("frontal", Level.PASS, "Facing the camera: both eyes found, head level.")


def _check_head(face: Box | None, head: Box | None, width: int, height: int) -> CheckResult:
    error = "HeadNotFullyInFrameError"
    if face is None or head is None:
        return _not_checked("head_in_frame", "no single face was found")
    above = head.y / face.h  # room above the estimated crown, in face heights
    below = (height - head.bottom) / face.h  # room below the estimated chin
    sides = min(head.x, width - (head.x + head.w)) / face.h
    if face.y < 0 or above < TOP_FAIL:
        return _result("head_in_frame", Level.FAIL, "The top of the head is cut off by the frame.",
                       "Use a photo with space above the hair (or zoom out / step back).", error)
    if face.bottom > height or below < BOTTOM_FAIL:
        return _result("head_in_frame", Level.FAIL, "The chin is cut off by the frame.",
                       "Use a photo showing the whole head, neck and shoulders.", error)
    if sides < SIDE_FAIL:
        return _result("head_in_frame", Level.FAIL, "The side of the head is cut off.",
                       "Use a photo with the whole head in frame, centred.", error)
    if above < TOP_WARN:
        return _result("head_in_frame", Level.WARN, "Very little room above the head.",
                       "Leave some space above the hair.", error)
    if below < BOTTOM_WARN:
        return _result("head_in_frame", Level.WARN, "Little room below the chin for the neck "
                       "and shoulders.", "Use a head-and-shoulders photo.", error)
    return _result("head_in_frame", Level.PASS,
                   "Whole head in frame, with room above the head and below the chin.")


def _check_centred(face: Box | None, width: int) -> CheckResult:
    if face is None:
        return _not_checked("centred", "no single face was found")
    off = (face.cx - width / 2) / width
    side = "left" if off < 0 else "right"
    text = f"The face is {abs(off):.0%} of the width {side} of centre."
    fix = ("Crop so the face is in the middle (or turn on Tavus's auto-fix for the training "
           "image).")
    if abs(off) > CENTRE_FAIL:
        return _result("centred", Level.FAIL, text, fix)
    if abs(off) > CENTRE_WARN:
        return _result("centred", Level.WARN, text, fix)
    return _result("centred", Level.PASS, "The face is centred.")


def _check_face_size(face: Box | None, width: int, height: int) -> CheckResult:
    if face is None:
        return _not_checked("face_size", "no single face was found")
    share = face.h / height
    text = f"The face is {share:.0%} of the photo's height."
    if share < FACE_FAIL:
        return _result("face_size", Level.FAIL, text + " The subject is too small.",
                       "Crop in to head and shoulders, or move closer to the camera.",
                       "ImageQualityError")
    if share < FACE_WARN:
        return _result("face_size", Level.WARN, text + " The subject is small.",
                       "Crop to head and shoulders, or move closer to the camera.",
                       "ImageQualityError", crop_fix=True)
    if share > FACE_BIG:
        return _result("face_size", Level.WARN, text + " That close, the head is probably "
                       "cropped.", "Step back: head and shoulders, with room around the head.",
                       "HeadNotFullyInFrameError")
    fill = head_and_shoulders_share(face, width, height)
    wide = width / height > WIDE_ASPECT
    if fill < FILL_WARN or (wide and share < WIDE_FACE):
        frame = "wide frame" if wide else "frame"
        return _result("face_size", Level.WARN, f"{text} Head and shoulders fill only "
                       f"{fill:.0%} of the {frame}; Tavus wants them to fill it.",
                       "Crop to head and shoulders.", "ImageQualityError", crop_fix=True)
    return _result("face_size", Level.PASS, text)


def head_and_shoulders(face: Box) -> Box:
    """The head-and-shoulders region Tavus wants filling the frame, estimated from the face box
    (may reach past the frame's edges)."""
    top = face.y - CROWN_ABOVE * face.h
    bottom = face.bottom + (CHIN_BELOW + SHOULDERS_BELOW) * face.h
    width = SHOULDERS_WIDE * face.w
    return Box(round(face.cx - width / 2), round(top), round(width), round(bottom - top))


def head_and_shoulders_share(face: Box, width: int, height: int) -> float:
    """Share of the frame's area the head-and-shoulders region covers (inside the frame)."""
    region = head_and_shoulders(face)
    w = max(0, min(width, region.x + region.w) - max(0, region.x))
    h = max(0, min(height, region.bottom) - max(0, region.y))
    return w * h / max(1, width * height)


def _check_lighting(region: np.ndarray, on_face: bool) -> CheckResult:
    where = "face" if on_face else "photo (no face found)"
    mean = float(region.mean())
    clipped = float(np.count_nonzero((region <= 3) | (region >= 252))) / region.size
    fix_dark = "Retake facing a window or lamp, or brighten the photo; avoid backlight."
    if mean < DARK_FAIL:
        return _result("lighting", Level.FAIL, f"Far too dark: the {where} averages "
                       f"{mean:.0f}/255.", fix_dark, "ImageQualityError")
    if mean < DARK_WARN:
        return _result("lighting", Level.WARN, f"Too dark: the {where} averages {mean:.0f}/255.",
                       fix_dark, "ImageQualityError")
    if mean > BRIGHT_WARN:
        return _result("lighting", Level.WARN, f"Too bright: the {where} averages "
                       f"{mean:.0f}/255.", "Use softer light or lower the exposure.",
                       "ImageQualityError")
    if on_face and clipped > CLIPPED_WARN:
        return _result("lighting", Level.WARN, f"{clipped:.0%} of the face is pure black or "
                       "white (lost detail).", "Use softer, even light; avoid harsh flash.",
                       "ImageQualityError")
    if on_face:
        half = region.shape[1] // 2
        sides = float(region[:, :half].mean()), float(region[:, half:].mean())
        if min(sides) / max(1.0, max(sides)) < SHADOW_WARN:
            return _result("lighting", Level.WARN, "One side of the face is in deep shadow.",
                           "Light the face evenly, from the front.", "ImageQualityError")
    return _result("lighting", Level.PASS, f"Well lit: the {where} averages {mean:.0f}/255.")


def _check_sharpness(value: float, on_face: bool) -> CheckResult:
    where = "face" if on_face else "photo (no face found)"
    fix = "Use a sharper photo: in focus, steady camera, not enlarged from a small one."
    if value < SHARP_FAIL:
        return _result("sharpness", Level.FAIL, f"The {where} is very blurry "
                       f"(detail {value:.0f}, want {SHARP_WARN:.0f}+).", fix, "ImageQualityError")
    if value < SHARP_WARN:
        return _result("sharpness", Level.WARN, f"The {where} is a little soft "
                       f"(detail {value:.0f}, want {SHARP_WARN:.0f}+).", fix, "ImageQualityError")
    return _result("sharpness", Level.PASS, f"The {where} is sharp (detail {value:.0f}).")


def _score(checks: list[CheckResult]) -> int:
    warns = sum(c.level is Level.WARN for c in checks)
    fails = sum(c.level is Level.FAIL for c in checks)
    return max(0, 100 - WARN_COST * warns - FAIL_COST * fails)


def _verdict(checks: list[CheckResult]) -> Verdict:
    failed = {c.id for c in checks if c.level is Level.FAIL}
    if not failed:
        return Verdict.FIXABLE if any(c.crop_fix for c in checks) else Verdict.READY
    return Verdict.FIXABLE if failed <= FRAMING else Verdict.LIKELY_FAIL


def decode_image(photo: bytes, mode: str, fit: int = 0) -> tuple[Image.Image | None, str,
                                                             tuple[int, int]]:
    """-> (the upright image in `mode` or None, Pillow's format name or why it is unreadable,
    the full (width, height)).

    `fit` > 0 lets a JPEG decode at a reduced scale no smaller than that (for previews); greyscale
    JPEGs decode straight to luminance, which is several times faster than RGB at 12 MP.
    """
    try:
        with Image.open(io.BytesIO(photo)) as image:
            fmt, size = image.format or "unknown", image.size
            if image.width * image.height > MAX_PIXELS:
                return None, f"{image.width}x{image.height} pixels, too many to check", size
            if fmt == "JPEG":
                image.draft(mode, (fit, fit) if fit else image.size)
            image.load()
            orientation = image.getexif().get(0x0112, 1)
            if orientation != 1:  # normally gone: prepare_photo applies it
                image = ImageOps.exif_transpose(image)
                if orientation in (5, 6, 7, 8):  # a quarter turn swaps width and height
                    size = (size[1], size[0])
            return (image if image.mode == mode else image.convert(mode)), fmt, size
    except Exception:  # any decoder failure: report it as a failed "format" check, never raise
        return None, "not a readable image", (0, 0)


def unreadable_report(why: str) -> PhotoReport:
    """The report for a photo that cannot be decoded: its "format" check fails."""
    fail = _result("format", Level.FAIL, f"The file is {why}.",
                   "Export the photo as PNG or JPEG and upload that.", "ImageQualityError")
    return PhotoReport([fail], [], None, 0, 0, _score([fail]), Verdict.LIKELY_FAIL)


def check_photo(photo: bytes) -> PhotoReport:
    """Run every check on decodable image bytes (normally PreparedPhoto.data), at full
    resolution; never raises for a bad image: an unreadable one gives a report whose "format"
    check fails. The Create page judges a small copy instead (check_image, lib/photos/analysis.py)
    and gets the same levels (tests/photos/test_verdict.py)."""
    image, fmt, size = decode_image(photo, "L")
    if image is None:
        return unreadable_report(fmt)
    return check_image(image, fmt, size)


def check_image(image: Image.Image, fmt: str, size: tuple[int, int]) -> PhotoReport:
    """Run every check on an upright decoded image, possibly a downscaled copy of a photo whose
    real (width, height) is `size`: the resolution is judged from `size`, everything else from
    the pixels (the measures are shares of the frame and of the face, so the scale drops out), and
    the boxes in the report are in full-size pixels."""
    width, height = size
    grey = np.asarray(image if image.mode == "L" else image.convert("L"))
    gh, gw = grey.shape
    checks = [
        _result("format", Level.PASS, f"{fmt} image.") if fmt in ("PNG", "JPEG") else
        _result("format", Level.FAIL, f"This is a {fmt} image; Tavus takes PNG or JPEG.",
                "Export the photo as PNG or JPEG and upload that."),
        _check_resolution(width, height),
    ]
    found = _find_faces(grey)
    face = found.faces[0] if len(found.faces) == 1 else None
    primary = found.faces[0] if found.faces else None
    head = _head_box(face) if face else None  # only for a single face: as the checks see it
    region = _crop(grey, primary) if primary else grey
    checks += [
        _check_faces(found),
        _check_frontal(grey, found),
        _check_head(face, head, gw, gh),
        _check_centred(face, gw),
        _check_face_size(face, gw, gh),
        _check_lighting(region, primary is not None),
        _check_sharpness(_sharpness(region), primary is not None),
    ]
    sx, sy = width / gw, height / gh

    def full(box: Box) -> Box:
        return box if (sx, sy) == (1, 1) else Box(round(box.x * sx), round(box.y * sy),
                                                  round(box.w * sx), round(box.h * sy))

    return PhotoReport(checks, [full(f) for f in found.faces], full(head) if head else None,
                       width, height, _score(checks), _verdict(checks))


# ------------------------------------------------------------------------------------------------
# for the Tavus simulator's POST /v2/replicas/image-validation
# ------------------------------------------------------------------------------------------------
def tavus_style_checks(photo: bytes, model: str = "phoenix-4") -> list[dict[str, Any]]:
    """-> [{"id", "label", "passed"}] from check_photo; a WARN counts as passed.

    "format" and "resolution" are left out: the simulator (lib/tavus/simulator/media.py) reports
    those ids itself, and listing them twice would read as two different checks. `model` is
    accepted for the endpoint's sake; phoenix-4 and phoenix-4.5 are judged alike here.
    """
    del model  # same rules for every model, for now
    report = check_photo(photo)
    return [{"id": c.id, "label": c.label, "passed": c.level is not Level.FAIL}
            for c in report.checks if c.id not in ("format", "resolution")]
