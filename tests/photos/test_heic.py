"""HEIC/HEIF, as an iPhone or a Mac's Photos saves a photo: upright once, a clean JPEG, judged like
any photo; a damaged one refused with what to do. Every HEIC is written here by pillow-heif."""

from __future__ import annotations

import io

import pillow_heif
import pytest
from PIL import Image, ImageChops, ImageStat

from lib.photos import intake as photo_module
from lib.photos.analysis import judge_photo
from lib.photos.checks import Level, Verdict, check_photo
from lib.photos.intake import PhotoError, prepare_photo
from tests.media import (
    GPS_IFD,
    ORIENTATION,
    STORED_FOR_ORIENTATION,
    astronaut,
    astronaut_portrait,
    heic,
    heic_turned_by_exif_only,
    heic_turned_by_transform_only,
    iphone_heic,
)

DAMAGED = ("HEIC photo is damaged or incomplete", "export it as JPEG")


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference, 0..255."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_clean(image: Image.Image, data: bytes) -> None:
    """No EXIF at all (so no GPS, no orientation), no XMP, nothing of the source's text."""
    exif = image.getexif()
    assert not exif.get_ifd(GPS_IFD) and len(exif) == 0
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile"):
        assert key not in image.info, key
    for secret in (b"Apple", b"iPhone", b"Secret Harbour", b"xmpmeta"):
        assert secret not in data, secret


def refusal(data: bytes, filename: str) -> str:
    with pytest.raises(PhotoError) as caught:
        prepare_photo(data, filename)
    message = str(caught.value)
    assert judge_photo(data, filename).error == message  # the page says the same at once
    return message


# ------------------------------------------------------------------------------------------------
# an iPhone photo: stored sideways, orientation 6 in EXIF and in HEIF's transform, GPS, XMP
# ------------------------------------------------------------------------------------------------
def test_an_iphone_heic_comes_out_upright_as_a_clean_jpeg() -> None:
    data = iphone_heic()  # the portrait astronaut, stored sideways
    source = Image.open(io.BytesIO(data))  # what the input really carries:
    assert source.format == "HEIF" and source.info["original_orientation"] == 6  # EXIF: 6
    assert source.getexif().get_ifd(GPS_IFD)  # a location
    assert b"Secret Harbour" in source.info["xmp"]  # XMP
    assert b"irot" in data  # and HEIF's own rotation

    prepared = prepare_photo(data, "IMG_4821.HEIC")
    image = opened(prepared.data)
    assert (prepared.content_type, image.format, image.mode) == ("image/jpeg", "JPEG", "RGB")
    assert prepared.source_format == "HEIF"
    assert prepared.converted and prepared.rotated and prepared.metadata_removed
    assert (prepared.width, prepared.height) == image.size == (512, 704)  # portrait again
    upright = astronaut_portrait()
    assert difference(image, upright) < 4  # upright...
    turned_twice = upright.transpose(Image.Transpose.ROTATE_180)  # (6 applied by irot and EXIF)
    assert difference(image, turned_twice) > 30  # ...and turned once, not twice
    assert prepared.notes == ["Converted from HEIC to JPEG; Tavus takes PNG or JPEG",
                              "Removed location (GPS) and camera metadata",
                              "Rotated upright from the photo's orientation (HEIC)"]
    assert_clean(image, prepared.data)

    # Judged like any photo: the face is found (the frontal-face detector finds none sideways).
    report = check_photo(prepared.data)
    assert report.verdict is Verdict.READY and len(report.faces) == 1, report.failed
    face = report.faces[0]
    assert face.h > face.w * 0.8 and face.y + face.h < 704 * 0.75  # upright, in the upper part


def test_a_sideways_heic_is_not_a_face_until_it_is_turned() -> None:
    """The control for the face check above: the same pixels as stored, not turned, hold no
    face the checks can find."""
    stored = astronaut_portrait().transpose(STORED_FOR_ORIENTATION[6])
    report = check_photo(prepare_photo(heic(stored), "sideways.heic").data)
    assert report.get("one_face").level is Level.FAIL, report.get("one_face")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_comes_out_upright_once(orientation: int) -> None:
    prepared = prepare_photo(iphone_heic(orientation=orientation), "IMG_0001.heic")
    image = opened(prepared.data)
    assert image.size == (512, 704) and difference(image, astronaut_portrait()) < 4
    turned = any("Rotated upright" in n for n in prepared.notes)
    assert turned is prepared.rotated is (orientation != 1)
    assert_clean(image, prepared.data)


def test_a_turn_only_in_heifs_own_transform_is_applied() -> None:
    """irot and no EXIF orientation (it says 1): HEIF's transform alone turns the photo."""
    data = heic_turned_by_transform_only(orientation=6)
    source = Image.open(io.BytesIO(data))
    assert source.getexif().get(ORIENTATION) == 1 and source.info["original_orientation"] is None
    assert b"irot" in data

    prepared = prepare_photo(data, "exported.heic")
    image = opened(prepared.data)
    assert image.size == (512, 704) and difference(image, astronaut_portrait()) < 4
    assert prepared.rotated and "Rotated upright from the photo's orientation (HEIC)" in \
        prepared.notes
    assert_clean(image, prepared.data)


def test_an_exif_orientation_without_heifs_transform_is_not_applied() -> None:
    """The HEIF rule libheif and pillow-heif follow (and an iPhone's files agree with): the turn
    is HEIF's transform; an EXIF orientation inside a HEIF is informational. A file whose EXIF
    says 6 but which has no transform comes out as stored, and is not turned twice elsewhere."""
    stored = astronaut_portrait()
    data = heic_turned_by_exif_only(stored, orientation=6)
    assert b"irot" not in data and Image.open(io.BytesIO(data)).info["original_orientation"] == 6
    prepared = prepare_photo(data, "odd.heic")
    image = opened(prepared.data)
    assert image.size == (512, 704) and difference(image, stored) < 4
    assert not prepared.rotated and not any("Rotated" in n for n in prepared.notes)
    assert_clean(image, prepared.data)


def test_a_mirrored_heic_is_unmirrored_by_its_transform_only() -> None:
    data = heic_turned_by_transform_only(orientation=2)  # imir: a selfie kept mirrored
    assert b"imir" in data
    image = opened(prepare_photo(data, "selfie.heic").data)
    assert difference(image, astronaut_portrait()) < 4


def test_the_verdict_on_the_small_copy_matches_the_full_photo() -> None:
    """A 12 MP-like iPhone HEIC (512 px tiles in a grid, stored sideways): the instant verdict
    is judged upright on its real size, as the full-resolution checks judge it."""
    big = astronaut_portrait().resize((1536, 2112), Image.Resampling.LANCZOS)
    data = iphone_heic(big, orientation=6, tile_size=512)
    assert Image.open(io.BytesIO(data)).size == (1536, 2112)

    quick = judge_photo(data, "IMG_0002.HEIC")
    assert quick.error is None and quick.report is not None
    prepared = quick.prepare()
    full = check_photo(prepared.data)
    assert (quick.report.width, quick.report.height) == (full.width, full.height) == (1536, 2112)
    assert {c.id: c.level for c in quick.report.checks} == {c.id: c.level for c in full.checks}
    assert quick.report.verdict is full.verdict is Verdict.READY
    assert quick.notes == prepared.notes  # what the page says it will do is what is done
    assert difference(opened(prepared.data), big) < 4


def test_a_heic_with_several_images_gives_its_primary_one() -> None:
    """A HEIF can hold several images and name one primary (the photo), like a JPEG's MPO."""
    buffer = io.BytesIO()
    heic(astronaut())  # registers the HEIF saver
    astronaut().save(buffer, "HEIF", save_all=True, append_images=[astronaut().rotate(90)],
                     quality=90)
    data = buffer.getvalue()
    assert len(pillow_heif.open_heif(io.BytesIO(data))) == 2
    prepared = prepare_photo(data, "burst.heic")
    assert difference(opened(prepared.data), astronaut()) < 4


def test_a_heic_with_transparency_becomes_a_png() -> None:
    cutout = astronaut().convert("RGBA")
    cutout.paste((0, 0, 0, 0), (0, 0, 96, 96))
    prepared = prepare_photo(heic(cutout), "cutout.heic")
    assert prepared.content_type == "image/png" and opened(prepared.data).mode == "RGB"
    assert any("transparent" in n for n in prepared.notes)


def test_a_heic_over_the_pixel_limit_is_refused_from_its_header(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photo_module, "MAX_PIXELS", 300_000)  # the 512x704 portrait is 0.36 MP
    message = refusal(iphone_heic(), "IMG_0003.HEIC")
    assert "is 512x704 pixels" in message and "smaller size" in message


# ------------------------------------------------------------------------------------------------
# damaged, or not a HEIC at all
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("cut", "what"), [
    (lambda d: d[: len(d) // 2], "half the file (a cut-off copy)"),
    (lambda d: d[:-2048], "the last 2 KB missing (the metadata and the end of the picture)"),
    (lambda d: d[:200], "the header only"),
    (lambda _: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200,
     "a HEIC's ftyp and nothing readable after it"),
])
def test_a_damaged_heic_is_refused_with_what_to_do(cut, what: str) -> None:
    message = refusal(cut(iphone_heic()), "IMG_4821.HEIC")
    assert all(phrase in message for phrase in DAMAGED), (what, message)
    assert "Copy it from the iPhone or Mac again" in message


@pytest.mark.parametrize(("data", "name"), [
    (b"these are notes, not a photo\n" * 20, "IMG_4821.HEIC"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 300, "IMG_4821.heic"),  # a .mov
])
def test_a_heic_name_on_something_else_is_refused_with_what_to_do(data: bytes, name: str) -> None:
    message = refusal(data, name)
    assert f"{name!r} is named as a HEIC photo but is not one" in message
    assert "export it as JPEG" in message


def test_a_jpeg_named_heic_is_simply_a_jpeg() -> None:
    """What is inside counts, not the name."""
    jpeg = io.BytesIO()
    astronaut().save(jpeg, "JPEG", quality=92)
    prepared = prepare_photo(jpeg.getvalue(), "IMG_4821.HEIC")
    assert prepared.content_type == "image/jpeg" and prepared.source_format == "JPEG"
