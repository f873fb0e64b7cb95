"""Pre-flight photo checks on real photographs (scikit-image's bundled data) and Pillow variants."""

from __future__ import annotations

import io
import threading
from functools import cache

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from lib.photos import checks
from lib.photos.checks import (
    Box,
    Level,
    PhotoReport,
    Verdict,
    check_photo,
    tavus_style_checks,
)
from lib.photos.overlay import PREVIEW_SIDE, draw_overlay
from tests.media import astronaut, camera, cat, coffee, encode, on_canvas

ASTRONAUT_FACE = Box(177, 66, 95, 95)  # where her face is in the 512 px photo (eyes, nose, mouth)


# Reports are cached per variant: the photos are fixed, and each check_photo takes ~0.1 s.
@cache
def report_for(name: str) -> PhotoReport:
    return check_photo(PHOTOS[name]())


def big_astronaut() -> bytes:
    """A 12-MP (4000x3000) JPEG with the astronaut scaled to 3000 px in the middle."""
    scaled = astronaut().resize((3000, 3000), Image.Resampling.BICUBIC)
    return encode(on_canvas(scaled, (4000, 3000), (500, 0)), "JPEG", quality=92)


def through_the_forehead() -> bytes:
    # At 1024 px her hair starts at y~56 and her brows at ~150: cut at 140, keeping the short
    # side over 512 so only the framing is wrong.
    return encode(astronaut().resize((1024, 1024)).crop((0, 140, 1024, 1024)))


def _two_astronauts() -> Image.Image:
    two = on_canvas(astronaut(), (1024, 512), (0, 0))
    two.paste(astronaut(), (512, 0))
    return two


PHOTOS = {
    "astronaut": lambda: encode(astronaut()),
    "astronaut_jpeg": lambda: encode(astronaut(), "JPEG", quality=85),
    "cat": lambda: encode(cat()),
    "coffee": lambda: encode(coffee()),
    "camera": lambda: encode(camera()),
    "small": lambda: encode(astronaut().resize((300, 300))),
    "forehead": through_the_forehead,
    "two": lambda: encode(_two_astronauts()),
    "dark": lambda: encode(ImageEnhance.Brightness(astronaut()).enhance(0.3)),
    "blurred": lambda: encode(astronaut().filter(ImageFilter.GaussianBlur(6))),
    "big": big_astronaut,
    "off_centre": lambda: encode(on_canvas(astronaut(), (1536, 512), (0, 0))),
}


def level(report: PhotoReport, check_id: str) -> Level:
    result = report.get(check_id)
    assert result is not None, check_id
    return result.level


def overlap(a: Box, b: Box) -> float:
    iw = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    ih = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return iw * ih / (a.w * a.h + b.w * b.h - iw * ih)


# ------------------------------------------------------------------------------------------------
# the good photo
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["astronaut", "astronaut_jpeg"])
def test_the_astronaut_is_ready(name: str) -> None:
    report = report_for(name)
    assert report.verdict is Verdict.READY and not report.blocking and report.failed == []
    assert (report.width, report.height) == (512, 512)
    assert len(report.faces) == 1 and overlap(report.faces[0], ASTRONAUT_FACE) > 0.8
    # Only the resolution warns: 512 px is Tavus's minimum, not its sweet spot.
    assert [c.id for c in report.warned] == ["resolution"]
    assert report.score == 100 - checks.WARN_COST
    assert {c.id for c in report.checks} == set(checks.LABELS)
    for c in report.checks:
        assert c.label and c.reason and (c.fix == "") == (c.level is Level.PASS), c
    # the head box reaches above the face (hair) and below it (chin), inside the photo
    head, face = report.head, report.faces[0]
    assert head is not None
    assert 0 < head.y < face.y and face.bottom < head.bottom < report.height


# ------------------------------------------------------------------------------------------------
# what Tavus would refuse, and why
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cat", "coffee"])
def test_no_face(name: str) -> None:
    report = report_for(name)
    one_face = report.get("one_face")
    assert one_face is not None and one_face.level is Level.FAIL
    assert one_face.reason.startswith("No face found") and one_face.fix
    assert report.faces == [] and report.head is None
    assert report.verdict is Verdict.LIKELY_FAIL


def test_a_face_seen_from_the_side_is_looking_away() -> None:
    report = report_for("camera")  # the cameraman looks into his viewfinder, side-on
    frontal = report.get("frontal")
    assert frontal is not None and frontal.level is Level.FAIL
    assert "Looking away" in frontal.reason
    assert frontal.tavus_error == "LookingStraightAtCameraError"
    assert report.verdict is Verdict.LIKELY_FAIL


def test_too_small_fails_on_resolution() -> None:
    report = report_for("small")
    resolution = report.get("resolution")
    assert resolution is not None and resolution.level is Level.FAIL
    assert "300x300" in resolution.reason and resolution.tavus_error == "ImageQualityError"
    assert report.verdict is Verdict.LIKELY_FAIL


def test_head_cut_through_the_forehead() -> None:
    report = report_for("forehead")
    head_check = report.get("head_in_frame")
    assert head_check is not None and head_check.level is Level.FAIL
    assert head_check.tavus_error == "HeadNotFullyInFrameError"
    assert "top of the head" in head_check.reason
    # the face was still found (edge padding), so the problem is named as framing
    assert len(report.faces) == 1 and report.head is not None and report.head.y < 0
    assert level(report, "resolution") is Level.WARN  # 1024x884: only the framing fails
    assert report.verdict is Verdict.FIXABLE


def test_crown_touching_the_top_is_a_warning() -> None:
    # cut exactly where her hair ends (y=56 at 1024 px): nothing lost, but no room either
    report = check_photo(encode(astronaut().resize((1024, 1024)).crop((0, 56, 1024, 1024))))
    head_check = report.get("head_in_frame")
    assert head_check is not None and head_check.level is Level.WARN
    assert "room above the head" in head_check.reason
    assert report.verdict is Verdict.READY


def test_a_small_subject_fails_on_face_size() -> None:
    report = check_photo(encode(on_canvas(astronaut().resize((300, 300)), (812, 1000),
                                          (256, 100))))
    size = report.get("face_size")
    assert len(report.faces) == 1
    assert size is not None and size.level is Level.FAIL and "too small" in size.reason
    assert size.tavus_error == "ImageQualityError"
    assert {c.id for c in report.failed} == {"face_size"}
    assert report.verdict is Verdict.FIXABLE


def test_two_people() -> None:
    report = report_for("two")
    one_face = report.get("one_face")
    assert one_face is not None and one_face.level is Level.FAIL
    assert one_face.reason.startswith("More than one person")
    assert len(report.faces) == 2  # not 3: a weak "face" on the suit is not counted
    left, right = sorted(report.faces, key=lambda f: f.x)
    assert overlap(left, ASTRONAUT_FACE) > 0.8
    assert overlap(right, Box(ASTRONAUT_FACE.x + 512, 66, 95, 95)) > 0.8
    assert report.verdict is Verdict.LIKELY_FAIL


def test_dark_photo_warns_on_lighting() -> None:
    report = report_for("dark")
    lighting = report.get("lighting")
    assert lighting is not None and lighting.level in (Level.WARN, Level.FAIL)
    assert "dark" in lighting.reason.lower() and lighting.fix
    assert level(report_for("astronaut"), "lighting") is Level.PASS
    # darkness is not mistaken for blur: sharpness is measured at a normalised contrast
    assert level(report, "sharpness") is Level.PASS


def test_blurred_photo_is_flagged_on_sharpness() -> None:
    report = report_for("blurred")
    sharpness = report.get("sharpness")
    assert sharpness is not None and sharpness.level in (Level.WARN, Level.FAIL)
    assert "blurry" in sharpness.reason or "soft" in sharpness.reason
    assert level(report_for("astronaut"), "sharpness") is Level.PASS


def test_a_12_megapixel_photo_still_has_one_face() -> None:
    report = report_for("big")
    assert (report.width, report.height) == (4000, 3000)
    assert len(report.faces) == 1
    scale = 3000 / 512
    expected = Box(round(500 + ASTRONAUT_FACE.x * scale), round(ASTRONAUT_FACE.y * scale),
                   round(ASTRONAUT_FACE.w * scale), round(ASTRONAUT_FACE.h * scale))
    assert overlap(report.faces[0], expected) > 0.7  # mapped back to full-size coordinates
    assert report.verdict is Verdict.READY


def test_off_centre_is_fixable() -> None:
    report = report_for("off_centre")
    centred = report.get("centred")
    assert centred is not None and centred.level is Level.FAIL
    assert "left of centre" in centred.reason
    assert {c.id for c in report.failed} == {"centred"}
    assert report.verdict is Verdict.FIXABLE
    assert level(report_for("astronaut"), "centred") is Level.PASS


@pytest.mark.parametrize("data", [b"", b"not an image", encode(astronaut())[:2000]])
def test_undecodable_bytes_fail_format_without_raising(data: bytes) -> None:
    report = check_photo(data)
    fmt = report.get("format")
    assert fmt is not None and fmt.level is Level.FAIL and fmt.fix
    assert report.blocking and report.verdict is Verdict.LIKELY_FAIL
    assert report.faces == [] and report.head is None


def test_a_format_tavus_does_not_take_fails_but_is_still_checked() -> None:
    report = check_photo(encode(astronaut(), "WEBP", quality=90))
    assert level(report, "format") is Level.FAIL
    assert len(report.faces) == 1  # the rest still ran
    assert report.verdict is Verdict.LIKELY_FAIL


def test_score_ordering() -> None:
    good, dark, cat_score = (report_for(n).score for n in ("astronaut", "dark", "cat"))
    assert 100 >= good > dark > cat_score >= 0


# ------------------------------------------------------------------------------------------------
# overlay
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["astronaut", "big", "two", "forehead", "cat"])
def test_overlay_is_a_small_png_with_marks(name: str) -> None:
    data, report = PHOTOS[name](), report_for(name)
    overlay = Image.open(io.BytesIO(draw_overlay(data, report)))
    overlay.load()
    assert overlay.format == "PNG" and max(overlay.size) <= PREVIEW_SIDE
    plain = Image.open(io.BytesIO(data)).convert("RGB")
    plain.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    assert abs(overlay.width - plain.width) <= 1 and abs(overlay.height - plain.height) <= 1
    plain = plain.resize(overlay.size)
    changed = np.asarray(ImageChops.difference(overlay.convert("RGB"), plain).convert("L")) > 40
    assert changed.mean() > 0.002  # lines and boxes were drawn
    if report.faces:  # something was drawn along the face box's top edge
        face = report.faces[0]
        s = overlay.width / report.width
        y, x0, x1 = round(face.y * s), round(face.x * s), round((face.x + face.w) * s)
        band = changed[max(0, y - 2):y + 3, x0:x1]
        assert band.any(axis=0).mean() > 0.8


def test_overlay_of_an_unreadable_file_does_not_raise() -> None:
    report = check_photo(b"junk")
    overlay = Image.open(io.BytesIO(draw_overlay(b"junk", report)))
    assert overlay.format == "PNG" and max(overlay.size) <= PREVIEW_SIDE


# ------------------------------------------------------------------------------------------------
# the Tavus simulator's image-validation, and use from several sessions at once
# ------------------------------------------------------------------------------------------------
def test_tavus_style_checks() -> None:
    good = tavus_style_checks(PHOTOS["astronaut"]())
    assert good and all(set(c) == {"id", "label", "passed"} for c in good)
    assert all(c["passed"] for c in good)
    # the simulator reports format and resolution itself
    assert {c["id"] for c in good} == set(checks.LABELS) - {"format", "resolution"}
    bad = {c["id"]: c["passed"] for c in tavus_style_checks(PHOTOS["cat"](), model="phoenix-4.5")}
    assert bad["one_face"] is False
    warned = {c["id"]: c["passed"] for c in tavus_style_checks(PHOTOS["dark"]())}
    assert warned["lighting"] is True  # a WARN counts as passed


def test_the_simulator_uses_the_face_checks() -> None:
    from lib.tavus.simulator import media

    answer = media.run_image_checks(media.inspect_image(PHOTOS["cat"](), mime_type="image/png"))
    failed = {c["id"] for c in answer["checks"] if not c["passed"]}
    assert "one_face" in failed and answer["passed"] is False
    answer = media.run_image_checks(
        media.inspect_image(PHOTOS["astronaut"](), mime_type="image/png"))
    assert answer["passed"] is True and "one_face" in {c["id"] for c in answer["checks"]}


def test_concurrent_checks_agree() -> None:
    # Streamlit runs sessions in threads; the cached cascades must not be used by two at once.
    photos = [PHOTOS["astronaut"](), PHOTOS["two"](), PHOTOS["cat"]()]
    expected = [len(report_for(n).faces) for n in ("astronaut", "two", "cat")]
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append([len(check_photo(p).faces) for p in photos])
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [expected] * 4
    assert expected == [1, 2, 0]


def test_exif_orientation_is_honoured() -> None:
    # prepare_photo removes it, but a raw camera JPEG may still come here: judge it upright.
    upright = astronaut().crop((0, 0, 512, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92,
                  exif=exif.tobytes())
    report = check_photo(data)
    assert (report.width, report.height) == (512, 400)
    assert len(report.faces) == 1 and overlap(report.faces[0], ASTRONAUT_FACE) > 0.7
    overlay = Image.open(io.BytesIO(draw_overlay(data, report)))
    assert overlay.size == (512, 400)
