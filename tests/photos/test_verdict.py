"""The instant verdict: judged on a small copy (JPEG draft mode, reduce), it must say what the
full-resolution checks on the prepared photo say; and Tavus's head-and-shoulders framing rule."""

from __future__ import annotations

import io
from functools import cache

import pytest
from PIL import Image, ImageEnhance

from lib.photos import analysis as analysis_module
from lib.photos.analysis import CHECK_SIDE, judge_photo
from lib.photos.checks import Level, PhotoReport, Verdict, check_photo
from lib.photos.intake import prepare_photo
from lib.photos.overlay import PREVIEW_SIDE
from tests.media import astronaut, camera, cat, coffee, encode, on_canvas


def rotated_exif() -> bytes:
    """An upright 512x400 picture stored sideways, with orientation 6 (as a phone writes it)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    upright = astronaut().crop((0, 0, 512, 400))
    return encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92,
                  exif=exif.tobytes())


def two() -> Image.Image:
    canvas = on_canvas(astronaut(), (1024, 512), (0, 0))
    canvas.paste(astronaut(), (512, 0))
    return canvas


PICTURES = {
    "astronaut": astronaut,
    "cat": cat,
    "coffee": coffee,
    "two_faces": two,
    "cropped_head": lambda: astronaut().resize((1024, 1024)).crop((0, 140, 1024, 1024)),
    "small": lambda: astronaut().resize((300, 300)),
    "dark": lambda: ImageEnhance.Brightness(astronaut()).enhance(0.3),
    "greyscale": lambda: astronaut().convert("L"),
    "camera_grey": camera,
    "wide": lambda: on_canvas(astronaut().resize((800, 800)), (1920, 1080), (300, 100)),
}


def upscaled(image: Image.Image, factor: int) -> Image.Image:
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)


def variants() -> dict[str, bytes]:
    """Each picture as is (PNG), and 3x larger as a JPEG and a PNG, so the small copy really is
    smaller: a JPEG decoded in draft mode, a PNG reduced."""
    out = {}
    for name, make in PICTURES.items():
        out[f"{name}-png"] = encode(make())
        out[f"{name}-x3-jpeg"] = encode(upscaled(make(), 3), "JPEG", quality=92)
    out["cropped_head-x3-png"] = encode(upscaled(PICTURES["cropped_head"](), 3))
    out["astronaut-x4-png"] = encode(upscaled(astronaut(), 4))
    out["rotated_exif-jpeg"] = rotated_exif()
    big = upscaled(astronaut(), 6)  # 3072 px: drafted at 1/4 or 1/2
    out["rotated_exif-x6-jpeg"] = encode(big.crop((0, 0, 3072, 2400)).transpose(
        Image.Transpose.ROTATE_90), "JPEG", quality=90, exif=Image.open(
        io.BytesIO(rotated_exif())).getexif().tobytes())
    return out


VARIANTS = variants()


@cache
def both(name: str) -> tuple[PhotoReport, PhotoReport]:
    """(the full-resolution checks on the prepared photo, the verdict on the small copy)"""
    data = VARIANTS[name]
    full = check_photo(prepare_photo(data).data)
    small = judge_photo(data).report
    assert small is not None
    return full, small


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_small_copy_gives_the_full_resolution_verdict(name: str) -> None:
    full, small = both(name)
    assert {c.id: c.level for c in small.checks} == {c.id: c.level for c in full.checks}
    assert small.verdict is full.verdict and small.score == full.score
    assert (small.width, small.height) == (full.width, full.height)  # the real size
    assert small.get("resolution") == full.get("resolution")  # same words too
    assert len(small.faces) == len(full.faces)
    def in_order(faces):  # equal faces (two astronauts) may come in either order
        return sorted(faces, key=lambda f: (f.x, f.y))

    for a, b in zip(in_order(small.faces), in_order(full.faces), strict=True):  # full-size px
        assert abs(a.x - b.x) <= 0.03 * b.w + 4 and abs(a.y - b.y) <= 0.03 * b.h + 4
        assert abs(a.h - b.h) <= 0.1 * b.h + 4


def test_the_variants_cover_what_they_claim() -> None:
    # stored 2400x3072 (sideways), orientation 6: judged upright, 3072x2400, on both paths
    assert Image.open(io.BytesIO(VARIANTS["rotated_exif-x6-jpeg"])).size == (2400, 3072)
    assert (both("rotated_exif-x6-jpeg")[1].width, both("rotated_exif-x6-jpeg")[1].height) == (
        3072, 2400)
    assert both("two_faces-x3-jpeg")[1].get("one_face").level is Level.FAIL
    assert both("cropped_head-x3-png")[1].get("head_in_frame").level is Level.FAIL
    assert both("small-png")[1].get("resolution").level is Level.FAIL
    assert both("dark-x3-jpeg")[1].get("lighting").level is not Level.PASS
    assert both("astronaut-x4-png")[1].verdict is Verdict.READY


def test_resolution_is_judged_from_the_header_not_the_draft() -> None:
    data = encode(upscaled(astronaut(), 2).resize((1100, 1100)), "JPEG", quality=90)
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (550, 550))
    assert image.size == (550, 550)  # the copy that is judged is half the size...
    result = judge_photo(data)
    assert result.report is not None and (result.report.width, result.report.height) == (1100,
                                                                                          1100)
    resolution = result.report.get("resolution")  # ...but the photo passes on its real size
    assert resolution is not None and resolution.level is Level.PASS
    assert "1100x1100" in resolution.reason


def test_the_overlay_is_drawn_on_the_small_copy_never_enlarged() -> None:
    # 2048 px PNG -> its 512 px copy as it is; 1920x1080 JPEG -> a 960x540 draft, fitted to
    # PREVIEW_SIDE; a 400x512 photo turned upright by its EXIF -> as it is.
    for name, size in (("astronaut-x4-png", (512, 512)),
                       ("wide-x3-jpeg", (PREVIEW_SIDE, round(PREVIEW_SIDE * 540 / 960))),
                       ("rotated_exif-jpeg", (512, 400))):
        result = judge_photo(VARIANTS[name])
        assert result.overlay is not None
        overlay = Image.open(io.BytesIO(result.overlay))
        assert overlay.format == "JPEG" and overlay.size == size, name


def test_the_upload_is_prepared_only_when_asked_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = analysis_module.prepare_photo

    def counting(data: bytes, filename: str | None = None):
        calls.append(filename)
        return real(data, filename)

    monkeypatch.setattr(analysis_module, "prepare_photo", counting)
    data = encode(upscaled(astronaut(), 2), "JPEG", quality=91)  # not used by another test
    result = judge_photo(data, "me.jpg")
    assert result.report is not None and result.report.verdict is Verdict.READY
    assert calls == []  # the verdict did not need the full-size photo
    first = result.prepare()
    assert result.prepare() is first and result.prepared is first and calls == ["me.jpg"]
    assert first.sha256 == prepare_photo(data).sha256 and (first.width, first.height) == (1024,
                                                                                          1024)


@pytest.mark.parametrize("make", [
    lambda: encode(astronaut(), "WEBP", quality=80),
    lambda: encode(astronaut(), "WEBP", lossless=True),
    rotated_exif,
    lambda: encode(upscaled(astronaut(), 2).convert("L")),
    lambda: encode(upscaled(astronaut(), 2).convert("CMYK"), "JPEG"),
    lambda: encode(astronaut(), "JPEG", comment=b"shot at home"),
])
def test_the_notes_are_those_of_the_prepared_photo(make) -> None:
    data = make()
    result = judge_photo(data)
    assert result.notes and result.notes == prepare_photo(data).notes


def test_a_refused_photo_has_nothing_to_prepare() -> None:
    result = judge_photo(b"not an image", "me.png")
    assert result.error and "not a readable image" in result.error
    assert result.report is None and result.prepared is None
    with pytest.raises(ValueError, match="refused"):
        result.prepare()


def test_the_checks_run_on_a_copy_of_check_side_and_report_the_full_size(monkeypatch) -> None:
    seen: list[tuple[int, int]] = []
    real = analysis_module.check_image
    monkeypatch.setattr(analysis_module, "check_image",
                        lambda small, *args: seen.append(small.size) or real(small, *args))
    result = judge_photo(encode(upscaled(astronaut(), 4)), "big.png")  # 2048 × 2048
    assert seen and min(seen[0]) == CHECK_SIDE >= 512  # the detection copy, not the photo
    assert result.report.width == result.report.height == 2048


# ------------------------------------------------------------------------------------------------
# Tavus's head-and-shoulders rule
# ------------------------------------------------------------------------------------------------
def test_a_small_off_centre_face_in_a_wide_frame_is_fixable_not_ready() -> None:
    # Before the rule: 90 "ready", with only a centring warning.
    report = check_photo(encode(on_canvas(astronaut().resize((800, 800)), (1920, 1080),
                                          (300, 100))))
    size = report.get("face_size")
    assert size is not None and size.level is Level.WARN and size.crop_fix
    assert size.fix == "Crop to head and shoulders." and "wide frame" in size.reason
    assert report.verdict is Verdict.FIXABLE and report.failed == []


def test_a_centred_face_that_fills_little_of_a_wide_frame_is_fixable() -> None:
    report = check_photo(encode(on_canvas(astronaut().resize((1080, 1080)), (1920, 1080),
                                          (420, 0))))
    assert report.get("centred").level is Level.PASS
    size = report.get("face_size")
    assert size is not None and size.level is Level.WARN and size.crop_fix
    assert "Head and shoulders fill only" in size.reason
    assert report.verdict is Verdict.FIXABLE


def test_a_small_subject_warns_with_a_crop_fix() -> None:
    # face ~12% of the height (the "small" warning), in a portrait frame
    report = check_photo(encode(on_canvas(astronaut().resize((600, 600)), (700, 1000),
                                          (50, 200))))
    size = report.get("face_size")
    assert size is not None and size.level is Level.WARN and size.crop_fix, size
    assert report.verdict is Verdict.FIXABLE


@pytest.mark.parametrize("name", ["astronaut-png", "astronaut-x4-png"])
def test_a_head_and_shoulders_portrait_stays_ready(name: str) -> None:
    full, small = both(name)
    assert full.get("face_size").level is Level.PASS and not full.get("face_size").crop_fix
    assert full.verdict is small.verdict is Verdict.READY


def test_other_warnings_do_not_make_it_fixable() -> None:
    # crown touching the top: a WARN no crop mends; the verdict stays "ready"
    report = check_photo(encode(astronaut().resize((1024, 1024)).crop((0, 56, 1024, 1024))))
    assert report.get("head_in_frame").level is Level.WARN
    assert not any(c.crop_fix for c in report.checks) and report.verdict is Verdict.READY
