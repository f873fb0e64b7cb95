"""Fix framing here: crop a photo whose framing a crop can mend to a head-and-shoulders portrait.

`plan_crop` reads the checks' report (lib/photos/checks.py) and either plans a 4:5 portrait crop
with the face centred and the margins the checks want, refuses with the reason a crop cannot help
(a cut-off crown or chin is never invented), or says there is nothing to fix (None). `apply_crop`
cuts the planned box out of the photo, upright, RGB and without metadata, like prepare_photo.

No padding is ever added: a face near a side edge is handled by shifting the crop (the face may
then sit a little off centre, well inside the "centred" check's tolerance) or by a tighter crop;
a neutral band beside a head would read as a cut-off background, which Tavus may train into the
replica's backdrop.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

from PIL import Image

from lib.photos.checks import (
    BOTTOM_WARN,
    CENTRE_WARN,
    FACE_BIG,
    FACE_WARN,
    FRAMING,
    GOOD_SIDE,
    Box,
    Level,
    PhotoReport,
    _head_box,
)
from lib.photos.intake import _CONTENT_TYPES, MIN_SIDE, PreparedPhoto, encode_photo, upright_rgb

ASPECT = 4 / 5  # width / height of the portrait: Tavus's head-and-shoulders framing
# Vertical layout of the ideal crop, in face heights (the face box is brow to mouth/chin):
ROOM_ABOVE = 0.35  # above the estimated crown
ROOM_BELOW = 1.30  # below the estimated chin: neck and shoulders
# The least the crop may leave, with slack over the checks' thresholds (the checks' face box on
# the crop can move a few pixels from the one measured on the source):
MIN_ABOVE = 0.08  # checks: TOP_WARN = 0
MIN_BELOW = BOTTOM_WARN + 0.20  # checks: 0.5
MAX_OFF = CENTRE_WARN / 2  # face centre off the crop's centre, fraction of the crop's width
GROWN_FACE = FACE_WARN + 0.07  # least face share of a crop grown towards GOOD_SIDE
WIDE = 1.25  # width / height above which a photo counts as a wide frame
SHRINK_STEPS = 12  # tighter crops tried when the ideal one does not fit the photo

TOP_CUT = ("The top of the head is cut off in the photo: a crop cannot bring it back. "
           "Retake with room above the head.")
CHIN_CUT = ("The chin or the shoulders are cut off in the photo: a crop cannot bring them back. "
            "Retake showing the whole head, neck and shoulders.")
SIDE_CUT = ("The face is too close to the side of the photo for a centred crop. Retake with the "
            "face further from the edge.")
NO_FACE = "No single face was found, so there is nothing to frame the crop around."
TOO_CLOSE = ("The face already fills the frame: a crop can only make it tighter. Step back and "
             "retake, head and shoulders.")


@dataclass(frozen=True)
class CropPlan:
    box: Box  # in the upright source's pixels, inside the photo
    size: tuple[int, int]  # (width, height) of the result
    upscaled_from: tuple[int, int] | None  # the crop's own size when it was enlarged to 512
    fixes: list[str] = field(default_factory=list)  # the framing problems it mends, as labels

    @property
    def notes(self) -> list[str]:
        """Human-readable, one per change."""
        b = self.box
        notes = [f"Cropped to head and shoulders: {b.w}×{b.h} px from the photo, face centred"]
        if self.upscaled_from:
            w, h = self.upscaled_from
            notes.append(f"Enlarged from {w}×{h} to {self.size[0]}×{self.size[1]} px to reach "
                         f"Tavus's {MIN_SIDE}×{MIN_SIDE} minimum (no detail is added: a larger "
                         "original photo trains a sharper replica)")
        return notes


@dataclass(frozen=True)
class CropRefusal:
    reason: str  # one or two sentences, safe to show


def _needs_fix(report: PhotoReport) -> list[str]:
    """The framing problems of the photo a crop could be for (labels), empty when none. A wide
    frame alone is not one (a landscape photo whose framing checks pass is left alone); with
    another, the crop also makes it a portrait."""
    problems = [c.label for c in report.checks if c.id in FRAMING and c.level is not Level.PASS]
    if problems and report.width > WIDE * report.height:
        problems.append("Portrait frame")
    return problems


def _place(centre: float, size: int, limit: int) -> int:
    """Start of a span of `size` centred on `centre`, shifted to lie inside 0..limit."""
    return int(min(max(0, round(centre - size / 2)), limit - size))


def plan_crop(report: PhotoReport, width: int | None = None,
              height: int | None = None) -> CropPlan | CropRefusal | None:
    """-> a crop that mends the photo's framing, why none can, or None when nothing needs fixing.

    `width`/`height` are the upright photo's size (default: the report's); when the report was
    made on a scaled copy, its face box is scaled to them."""
    width, height = width or report.width, height or report.height
    problems = _needs_fix(report)
    if not problems:
        return None
    if len(report.faces) != 1 or report.head is None:
        return CropRefusal(NO_FACE)
    face = report.faces[0]
    if report.width and report.height and (width, height) != (report.width, report.height):
        sx, sy = width / report.width, height / report.height
        face = Box(round(face.x * sx), round(face.y * sy), round(face.w * sx), round(face.h * sy))
    head = _head_box(face)
    fh = face.h
    room_above = head.y / fh  # crown to the top edge, in face heights
    room_below = (height - head.bottom) / fh
    if face.y < 0 or room_above < MIN_ABOVE:
        return CropRefusal(TOP_CUT)
    if face.bottom > height or room_below < MIN_BELOW:
        return CropRefusal(CHIN_CUT)
    if fh / height > FACE_BIG:
        return CropRefusal(TOO_CLOSE)

    ideal = (ROOM_ABOVE + head.h / fh + ROOM_BELOW) * fh
    least = (MIN_ABOVE + head.h / fh + MIN_BELOW) * fh
    least = max(least, head.w / (ASPECT * (1 - 2 * MAX_OFF)))  # the head fits across
    tallest = min(ideal, height, width / ASPECT)
    shrinks = [tallest - (tallest - least) * i / SHRINK_STEPS for i in range(SHRINK_STEPS + 1)]
    # Below GOOD_SIDE the checks warn of a softer replica: where the source has the pixels, take
    # a little more around the head instead (the face still a good share of the height).
    grown = min(GOOD_SIDE / ASPECT, fh / GROWN_FACE, height, width / ASPECT)
    if ideal * ASPECT < GOOD_SIDE and grown > tallest:
        shrinks = [grown - (grown - tallest) * i / SHRINK_STEPS
                   for i in range(SHRINK_STEPS)] + shrinks
    for crop_h in (round(h) for h in shrinks if h >= least - 0.5):
        crop_w = min(width, round(crop_h * ASPECT))
        # Vertically: the crown ROOM_ABOVE/ideal of the way down, as in the ideal crop.
        top = int(min(max(0, round(head.y - crop_h * ROOM_ABOVE * fh / ideal)), height - crop_h))
        left = _place(face.cx, crop_w, width)
        above = (head.y - top) / fh
        below = (top + crop_h - head.bottom) / fh
        off = abs(face.cx - (left + crop_w / 2)) / crop_w
        if above < MIN_ABOVE or below < MIN_BELOW or off > MAX_OFF:
            continue
        if fh / crop_h < FACE_WARN or fh / crop_h > FACE_BIG:
            continue
        box = Box(left, top, crop_w, crop_h)
        short = min(crop_w, crop_h)
        if short < MIN_SIDE:
            scale = MIN_SIDE / short
            size = (max(MIN_SIDE, round(crop_w * scale)), max(MIN_SIDE, round(crop_h * scale)))
            return CropPlan(box, size, (crop_w, crop_h), problems)
        return CropPlan(box, (crop_w, crop_h), None, problems)
    return CropRefusal(SIDE_CUT)


def apply_crop(photo: bytes, plan: CropPlan) -> PreparedPhoto:
    """The planned crop of `photo` (any bytes prepare_photo accepts; normally PreparedPhoto.data):
    upright (EXIF orientation applied), sRGB RGB, no metadata; JPEG in, JPEG out, else PNG."""
    with Image.open(io.BytesIO(photo)) as image:
        image.load()
        fmt = image.format or "unknown"
        upright = upright_rgb(image)
        pixels = upright.pixels if upright.pixels is not image else image.copy()
    b = plan.box
    if b.x < 0 or b.y < 0 or b.x + b.w > pixels.width or b.bottom > pixels.height:
        raise ValueError(f"the crop {b} is outside this {pixels.width}x{pixels.height} photo: "
                         "it was planned for another one")
    pixels = pixels.crop((b.x, b.y, b.x + b.w, b.bottom))
    if pixels.size != plan.size:
        pixels = pixels.resize(plan.size, Image.Resampling.LANCZOS)
    notes = [*upright.notes, *plan.notes]

    target = "JPEG" if fmt in ("JPEG", "MPO") else "PNG"
    data = encode_photo(pixels, target, upright.subsampling)
    return PreparedPhoto(data=data, content_type=_CONTENT_TYPES[target], width=pixels.width,
                         height=pixels.height, source_format=fmt, converted=True,
                         rotated=upright.rotated, metadata_removed=upright.metadata_removed,
                         sha256=hashlib.sha256(data).hexdigest(), notes=notes)
