"""Photo intake: prepare_photo gives a clean, upright PNG or JPEG, or a clear refusal."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageChops, ImageStat, PngImagePlugin

from lib.photos import intake as photo_module
from lib.photos.intake import PhotoError, PreparedPhoto, prepare_photo
from tests.media import astronaut, astronaut_jpeg, astronaut_png, encode, small_png

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def opened(prepared: PreparedPhoto) -> Image.Image:
    image = Image.open(io.BytesIO(prepared.data))
    image.load()
    return image


def assert_clean(image: Image.Image) -> None:
    """No EXIF (so no GPS), no XMP, no text chunks or comments survive."""
    exif = image.getexif()
    assert len(exif) == 0 and not exif.get_ifd(GPS_IFD)
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment", "Author"):
        assert key not in image.info, key
    assert not getattr(image, "text", {})


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference, 0..255."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def refusal(data: bytes, filename: str | None = None) -> str:
    with pytest.raises(PhotoError) as caught:
        prepare_photo(data, filename)
    return str(caught.value)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height; the pixel data never needs to exist."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


# ------------------------------------------------------------------------------------------------
# what passes, and how it comes out
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "fmt", "content_type"), [
    (astronaut_png(), "PNG", "image/png"),
    (astronaut_jpeg(), "JPEG", "image/jpeg"),
])
def test_png_and_jpeg_keep_their_type(data: bytes, fmt: str, content_type: str) -> None:
    prepared = prepare_photo(data, "me." + fmt.lower())
    image = opened(prepared)
    assert (prepared.content_type, image.format, prepared.source_format) == (content_type, fmt, fmt)
    assert (prepared.width, prepared.height) == image.size == (512, 512)
    assert image.mode == "RGB"
    assert not prepared.converted and not prepared.rotated and not prepared.metadata_removed
    assert prepared.notes == []
    assert difference(image, astronaut()) < 3  # same picture (JPEG re-encoded at q95)
    assert_clean(image)


def test_exif_orientation_is_applied_and_dropped() -> None:
    upright = astronaut().crop((0, 0, 512, 320))  # landscape, so a rotation shows in the size
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # "rotate 90 CW to display": what a phone held upright writes
    exif[0x010F] = "PhoneMaker"
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # the sensor's view
    data = encode(sideways, "JPEG", quality=95, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif()[ORIENTATION] == 6  # the input really has it

    prepared = prepare_photo(data, "IMG_0001.jpg")
    image = opened(prepared)
    assert prepared.rotated and prepared.metadata_removed
    assert (prepared.width, prepared.height) == image.size == (512, 320)
    assert difference(image, upright) < 4  # upright, not merely resized
    assert any("Rotated upright" in note for note in prepared.notes)
    assert_clean(image)


def test_gps_and_camera_metadata_are_removed() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model X"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)
    data = encode(astronaut(), "JPEG", quality=90, exif=exif.tobytes(),
                  xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret</x:xmpmeta>",
                  comment=b"shot at home")
    source = Image.open(io.BytesIO(data))
    assert source.getexif().get_ifd(GPS_IFD)  # the input carries a location

    prepared = prepare_photo(data, "holiday.jpg")
    assert prepared.metadata_removed and prepared.content_type == "image/jpeg"
    assert any("location" in note.lower() for note in prepared.notes)
    assert b"secret" not in prepared.data and b"PhoneMaker" not in prepared.data
    assert_clean(opened(prepared))


def test_png_text_chunks_are_removed() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>where</x:xmpmeta>")
    prepared = prepare_photo(encode(astronaut(), "PNG", pnginfo=info))
    assert prepared.metadata_removed and prepared.notes
    assert b"Jane Doe" not in prepared.data
    assert_clean(opened(prepared))


def rgba_with_hole() -> Image.Image:
    image = astronaut().convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 100, 100))  # transparent corner
    return image


def on_white(image: Image.Image) -> Image.Image:
    flat = Image.new("RGB", image.size, (255, 255, 255))
    flat.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
    return flat


@pytest.mark.parametrize(("make", "options", "target"), [
    (astronaut, {"quality": 80}, "JPEG"),  # lossy photo -> JPEG
    (astronaut, {"lossless": True}, "PNG"),  # lossless -> PNG, no generation loss
    (rgba_with_hole, {"quality": 80}, "PNG"),  # transparency -> PNG, flattened on white
])
def test_webp_is_converted(make, options: dict, target: str) -> None:
    source = make()
    prepared = prepare_photo(encode(source, "WEBP", **options), "me.webp")
    image = opened(prepared)
    assert prepared.converted and prepared.source_format == "WEBP"
    assert image.format == target and image.mode == "RGB"
    assert prepared.content_type == f"image/{target.lower()}"
    assert any(f"from WebP to {target}" in note for note in prepared.notes)
    assert difference(image, on_white(source)) < 6
    if source.mode == "RGBA":
        assert image.getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.parametrize(("make", "fmt", "note"), [
    (lambda: astronaut().convert("L"), "PNG", "greyscale"),
    (lambda: astronaut().convert("L").point(lambda v: v * 256, "I").convert("I;16"), "PNG",
     "16-bit"),
    (lambda: astronaut().convert("CMYK"), "JPEG", "CMYK"),
    (lambda: astronaut().convert("P", palette=Image.Palette.ADAPTIVE), "PNG", "palette"),
    (rgba_with_hole, "PNG", "transparent"),
])
def test_unusual_pixel_formats_become_rgb(make, fmt: str, note: str) -> None:
    source = make()
    data = encode(source, fmt)
    assert Image.open(io.BytesIO(data)).mode == source.mode  # the input really is that mode
    prepared = prepare_photo(data)
    image = opened(prepared)
    assert image.mode == "RGB" and image.format == fmt and prepared.converted
    assert any(note in n for n in prepared.notes), prepared.notes
    # still the same picture, in sensible brightness (16-bit scaled, not clipped to white)
    grey_diff = difference(image.convert("L"), astronaut().convert("L").crop((0, 0, 512, 512)))
    if note == "transparent":
        assert image.getpixel((10, 10)) == (255, 255, 255)  # flattened on white
        assert image.getpixel((300, 300)) == astronaut().getpixel((300, 300))
    else:
        assert grey_diff < 12, grey_diff


def test_a_camera_jpeg_with_extra_pictures_mpo_is_a_jpeg() -> None:
    # Many cameras and phones write MPO: a JPEG followed by more pictures (preview, depth).
    buffer = io.BytesIO()
    astronaut().save(buffer, "MPO", save_all=True,
                     append_images=[astronaut().resize((160, 160))], quality=90)
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    prepared = prepare_photo(data, "DSCF0001.JPG")
    image = opened(prepared)
    assert image.format == "JPEG" and image.size == (512, 512)
    assert getattr(image, "n_frames", 1) == 1


def test_small_photos_are_left_to_the_checks() -> None:
    prepared = prepare_photo(small_png(300))
    assert (prepared.width, prepared.height) == (300, 300)


# ------------------------------------------------------------------------------------------------
# refusals: each says what is wrong and what to do
# ------------------------------------------------------------------------------------------------
def test_empty_file() -> None:
    message = refusal(b"", "me.png")
    assert "empty" in message and "PNG or JPEG" in message


@pytest.mark.parametrize(("data", "filename", "says"), [
    (b"hello, this is just text\n" * 20, "headshot.png", "not a readable image"),
    (b"<!DOCTYPE html><html><body>Sign in to continue</body></html>", "photo.jpg", "web page"),
    (b"\n  <html><head><title>403</title></head></html>", None, "web page"),
])
def test_not_an_image(data: bytes, filename: str | None, says: str) -> None:
    message = refusal(data, filename)
    assert says in message and "PNG or JPEG" in message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_images_are_refused(fmt: str) -> None:
    data = encode(astronaut(), fmt)
    message = refusal(data[: len(data) // 2])
    assert "damaged or incomplete" in message and "PNG or JPEG" in message


@pytest.mark.parametrize(("fmt", "options"), [
    ("GIF", {}),
    ("WEBP", {"quality": 80}),
    ("PNG", {}),  # APNG
    ("TIFF", {}),  # multi-page
])
def test_animated_or_multi_frame_is_refused(fmt: str, options: dict) -> None:
    frames = [astronaut(), astronaut().rotate(10)]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], **options)
    assert Image.open(io.BytesIO(buffer.getvalue())).n_frames == 2
    message = refusal(buffer.getvalue())
    assert "2 frames" in message and "single still photo" in message and "PNG or JPEG" in message


@pytest.mark.parametrize(("fmt", "name"), [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF")])
def test_other_formats_are_named_and_refused(fmt: str, name: str) -> None:
    message = refusal(encode(astronaut(), fmt), "me." + fmt.lower())
    assert f"This is a {name} image" in message and "Export it as PNG or JPEG" in message


def test_a_heic_header_with_nothing_readable_after_it() -> None:
    # HEIC itself is accepted (tests/photos/test_heic.py); this one is only its ftyp box.
    message = refusal(b"\x00\x00\x00\x18ftypheic" + b"\x00\x00\x00\x00mif1heic" + b"\0" * 200,
                      "IMG_1234.HEIC")
    assert "HEIC photo is damaged or incomplete" in message and "export it as JPEG" in message


def test_over_the_upload_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photo_module, "MAX_UPLOAD_BYTES", 100_000)
    data = astronaut_png()
    assert len(data) > 100_000
    message = refusal(data)
    assert f"{len(data) / 1024 / 1024:.1f} MB" in message and "limit is 0.1 MB" in message
    assert "Export a smaller JPEG" in message


def test_pixel_bomb_is_refused_from_the_header() -> None:
    # 20000x20000 is past Pillow's own hard limit: refused at open, nothing is decoded.
    message = refusal(png_header_only(20_000, 20_000))
    assert "too many pixels" in message and "smaller size" in message
    # 8000x6000 (48 MP) is under Pillow's limit but over ours: refused before load().
    message = refusal(png_header_only(8_000, 6_000))
    assert "8000x6000" in message and "40 MP limit" in message and "smaller size" in message


def test_pixel_limit_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photo_module, "MAX_PIXELS", 512 * 511)
    assert "512x512" in refusal(astronaut_png())
