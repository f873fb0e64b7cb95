"""Test photos from scikit-image's bundled data, turned into variants with Pillow."""

from __future__ import annotations

import io

from PIL import Image
from skimage import data


def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())  # 512x512 frontal portrait, public domain


def cat() -> Image.Image:
    return Image.fromarray(data.chelsea())


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def astronaut_png() -> bytes:
    return encode(astronaut(), "PNG")


def astronaut_jpeg() -> bytes:
    return encode(astronaut(), "JPEG", quality=90)


def small_png(side: int = 256) -> bytes:
    return encode(astronaut().resize((side, side)), "PNG")


def coffee() -> Image.Image:
    return Image.fromarray(data.coffee())  # a cup of coffee: no face


def camera() -> Image.Image:
    return Image.fromarray(data.camera())  # greyscale; a man seen from the side at his camera


def on_canvas(image: Image.Image, size: tuple[int, int], at: tuple[int, int],
              fill: tuple[int, int, int] = (128, 128, 128)) -> Image.Image:
    """`image` pasted at `at` on a plain canvas of `size`."""
    canvas = Image.new("RGB", size, fill)
    canvas.paste(image, at)
    return canvas


# -- HEIC, as an iPhone saves a photo (HEVC in HEIF), written here by pillow-heif -----------------
GPS_IFD = 0x8825
ORIENTATION = 0x0112
# For an EXIF orientation: how the upright picture is stored (the inverse of what shows it upright).
STORED_FOR_ORIENTATION = {
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
}
SECRET_XMP = (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf="
              b"'http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
              b"xmlns:photoshop='http://ns.adobe.com/photoshop/1.0/' "
              b"photoshop:City='Secret Harbour'/></rdf:RDF></x:xmpmeta>")


def astronaut_portrait() -> Image.Image:
    """The astronaut on a 512x704 portrait canvas: a quarter turn shows in the size."""
    return on_canvas(astronaut(), (512, 704), (0, 96))


def iphone_exif(orientation: int = 6) -> Image.Exif:
    """What an iPhone writes into a photo's EXIF: maker, model, orientation and where it was."""
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15"
    exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)
    return exif


def heic(image: Image.Image, **options) -> bytes:
    """`image` as a HEIC file, by pillow-heif (libheif + x265). An EXIF orientation passed in
    `exif` is written twice, as an iPhone does: into the EXIF, and as HEIF's own transform
    (`irot`/`imir` boxes) that a reader applies."""
    import pillow_heif

    pillow_heif.register_heif_opener()  # also lets Pillow save HEIF
    return encode(image, "HEIF", **{"quality": 90, **options})


def iphone_heic(upright: Image.Image | None = None, orientation: int = 6, **options) -> bytes:
    """A photo as an iPhone saves it: the pixels stored as the sensor saw them (sideways for
    orientation 6), the turn that makes them `upright` in EXIF and in HEIF's transform, EXIF with
    GPS, and XMP naming a place."""
    upright = astronaut_portrait() if upright is None else upright
    how = STORED_FOR_ORIENTATION[orientation]
    stored = upright if how is None else upright.transpose(how)
    return heic(stored, exif=iphone_exif(orientation).tobytes(), xmp=SECRET_XMP, **options)


def heic_turned_by_transform_only(upright: Image.Image | None = None,
                                  orientation: int = 6) -> bytes:
    """Stored sideways, the turn only in HEIF's own transform (irot/imir): the EXIF says 1
    (normal). pillow-heif writes the transform from an EXIF orientation, so it is written with
    one, then that EXIF entry's value is set to 1 in place (same length: nothing else moves)."""
    upright = astronaut_portrait() if upright is None else upright
    turned, normal = Image.Exif(), Image.Exif()
    turned[ORIENTATION], normal[ORIENTATION] = orientation, 1
    data = heic(upright.transpose(STORED_FOR_ORIENTATION[orientation]), exif=turned.tobytes())
    # The TIFF structure after "Exif\0\0": the same bytes but for the orientation's value.
    was, now = turned.tobytes()[6:], normal.tobytes()[6:]
    assert len(was) == len(now) and data.count(was) == 1, "the EXIF is not where it was expected"
    return data.replace(was, now)


def heic_turned_by_exif_only(stored: Image.Image | None = None, orientation: int = 6) -> bytes:
    """`stored` as it is (no HEIF transform), with an EXIF orientation alone: written with
    orientation 1 (so no transform), then that value set to `orientation` in place."""
    stored = astronaut_portrait() if stored is None else stored
    normal, turned = Image.Exif(), Image.Exif()
    normal[ORIENTATION], turned[ORIENTATION] = 1, orientation
    data = heic(stored, exif=normal.tobytes())
    was, now = normal.tobytes()[6:], turned.tobytes()[6:]
    assert len(was) == len(now) and data.count(was) == 1, "the EXIF is not where it was expected"
    return data.replace(was, now)
