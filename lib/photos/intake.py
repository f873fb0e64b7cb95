"""Photo intake: turn whatever the user picked into a clean PNG or JPEG that Tavus can train from.

Everything here is local and quick. It refuses what cannot be used (with a message that says what to
do), rotates the photo upright, normalises odd pixel formats and strips every piece of metadata
(EXIF with GPS, XMP, text chunks) before anything is uploaded. Whether the photo will train well
(face, framing, light) is a separate question: see lib/photos/checks.py.

HEIC/HEIF (an iPhone's default, a Mac's Photos export) is read with pillow-heif, registered with
Pillow on the first photo opened. Its orientation: HEIF keeps the rotation and mirroring in the
file's own `irot`/`imir` boxes, which libheif applies while decoding, and an iPhone writes the same
turn into EXIF as well. pillow-heif resets that EXIF orientation to 1 (keeping the original in
`info["original_orientation"]`), so `exif_transpose` below leaves a HEIF alone: turned once, by its
transforms (the HEIF rule: an EXIF orientation inside a HEIF is informational only).
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
from dataclasses import dataclass, field

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

MIN_SIDE = 512  # Tavus's minimum; prepare_photo leaves it to the checks (lib/photos/checks.py)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # below Streamlit's server.maxUploadSize (25 MB)
MAX_PIXELS = 40_000_000  # decompression-bomb guard, checked from the header before decoding

_ACCEPTED = ("PNG", "JPEG", "WEBP", "HEIF")
_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
_FORMAT_NAMES = {"WEBP": "WebP", "HEIF": "HEIC", "TIFF": "TIFF", "BMP": "BMP", "GIF": "GIF",
                 "AVIF": "AVIF", "ICO": "ICO", "PPM": "PPM", "PSD": "Photoshop (PSD)",
                 "JPEG2000": "JPEG 2000"}
# ISO-BMFF brands of HEIC/HEIF (iPhone default): the ones pillow-heif reads.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
                b"mif1", b"msf1"}
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_EXPORT = "Export it as PNG or JPEG and upload that."
_HEIC_AGAIN = ("Copy it from the iPhone or Mac again, or export it as JPEG (Photos: File > "
               "Export), and upload that.")
_HEIF_TURNED = "replica_studio_heif_turned"  # image.info key: libheif applied irot/imir
_HEIF_NOTE = "Rotated upright from the photo's orientation (HEIC)"


class PhotoError(ValueError):
    """The photo cannot be used; the text says what is wrong and what to do (safe to show)."""


@dataclass(frozen=True)
class PreparedPhoto:
    """What gets uploaded, and what was done to get there."""

    data: bytes  # PNG or JPEG, upright, RGB, no metadata
    content_type: str  # "image/png" | "image/jpeg"
    width: int
    height: int
    source_format: str  # Pillow's name for what was picked: "PNG", "JPEG", "WEBP", "MPO"
    converted: bool  # container or pixel format changed (WebP -> PNG, CMYK -> RGB, ...)
    rotated: bool  # the EXIF orientation was applied to the pixels
    metadata_removed: bool  # there was metadata (EXIF, GPS, XMP, text) and it is gone
    sha256: str  # of `data`: identifies the photo across reruns, hashed once here
    notes: list[str] = field(default_factory=list)  # human-readable, one per change


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _too_many_pixels(width: int | None = None, height: int | None = None) -> PhotoError:
    size = (f"is {width}x{height} pixels ({width * height / 1e6:.0f} MP)" if width and height
            else "has far too many pixels")
    return PhotoError(f"The image {size}, over the {MAX_PIXELS / 1e6:.0f} MP limit. Export it "
                      "at a smaller size (for example 2048 px on the long side).")


def _looks_like_heif(data: bytes) -> bool:
    # ISO-BMFF: 4-byte box size, then "ftyp" and the major brand.
    return len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


@functools.cache
def heif_support() -> bool:
    """Teach Pillow HEIC/HEIF (pillow-heif), once per process, on the first photo opened (its
    import takes ~40 ms). False when pillow-heif is not installed: HEIC is refused, saying so."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _heif_turned(image: Image.Image) -> bool:
    """Whether libheif turns this HEIF upright while decoding (an `irot` or `imir` transform).
    Read before load(): pillow-heif drops its handle once the pixels are decoded. pillow-heif has
    no public accessor for the transforms; without one, the EXIF orientation it reset stands in
    (an iPhone writes both)."""
    try:
        heif_file = image._heif_file  # a pillow_heif.HeifFile
        transforms = heif_file[image.tell()]._c_image.transformations
        return any(kind in ("irot", "imir") for kind, *_ in transforms)
    except (AttributeError, IndexError, TypeError, ValueError):
        return image.info.get("original_orientation") in range(2, 9)


def _webp_is_lossless(data: bytes) -> bool:
    """True when the WebP's image chunk is VP8L (lossless); walks the RIFF chunks."""
    pos = 12  # after "RIFF", size, "WEBP"
    while pos + 8 <= len(data):
        fourcc = data[pos:pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
        if fourcc == b"VP8L":
            return True
        if fourcc == b"VP8 ":
            return False
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    return False


def _heic_damaged() -> PhotoError:
    return PhotoError("This HEIC photo is damaged or incomplete (perhaps a cut-off copy or "
                      f"download), so it can't be read. {_HEIC_AGAIN}")


def _refuse_unreadable(data: bytes, filename: str | None) -> PhotoError:
    if _looks_like_heif(data):
        if not heif_support():
            return PhotoError("This is a HEIC photo (the iPhone default), which can't be read "
                              "here. HEIC photos from iPhones: export as JPEG (or set Camera > "
                              "Formats > Most Compatible) and upload that.")
        return _heic_damaged()
    if filename and filename.lower().endswith((".heic", ".heif", ".hif")):
        return PhotoError(f"The file {filename!r} is named as a HEIC photo but is not one (nor "
                          f"PNG, JPEG or WebP) inside. {_HEIC_AGAIN}")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<svg")) or b"<html" in head:
        return PhotoError("This file is a web page or other text, not a photo"
                          f"{f' (despite the name {filename!r})' if filename else ''}. "
                          "Save the image itself as PNG or JPEG and upload that.")
    named = f" {filename!r}" if filename else ""
    return PhotoError(f"The file{named} is not a readable image (not PNG, JPEG, WebP or HEIC "
                      "inside). Choose a PNG or JPEG headshot.")


def _metadata_notes(image: Image.Image) -> list[str]:
    """What identifying metadata the source carries (read before it is dropped)."""
    exif = image.getexif()
    gps = bool(exif.get_ifd(_GPS_IFD)) if exif else False
    info = image.info
    xmp = any(k in info for k in ("xmp", "XML:com.adobe.xmp"))
    text = bool(getattr(image, "text", None)) if image.format == "PNG" else False
    other = any(k in info for k in ("comment", "photoshop", "iptc"))
    if gps:
        return ["Removed location (GPS) and camera metadata"]
    if exif or info.get("exif"):
        return ["Removed camera metadata (EXIF)"]
    if xmp or text or other:
        return ["Removed embedded metadata (XMP, comments or text)"]
    return []


def _to_srgb(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """Apply an embedded colour profile so colours survive dropping it (iPhone P3, Adobe RGB)."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image, []
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = (ImageCms.getProfileDescription(source) or "").strip()
        if "srgb" in description.lower() and image.mode != "CMYK":
            return image, []
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"),
                                              outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image, []  # a broken profile: keep the pixels as they are
    if converted is None:
        return image, []
    return converted, [f"Converted colours to sRGB from the {description or 'embedded'} profile"]


def _to_rgb(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """-> an RGB image and a note per normalisation (what Tavus and our checks expect)."""
    mode = image.mode
    if mode == "RGB":
        return image, []
    if mode.startswith("I;16") or mode == "I":
        # Pillow clips I;16 -> L at 255; scale the 16-bit range down instead.
        grey = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
        return grey.convert("RGB"), ["Converted 16-bit greyscale to 8-bit RGB"]
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] == 255:
            return rgba.convert("RGB"), ["Removed an unused transparency channel"]
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat, ["Filled transparent areas with white"]
    names = {"L": "greyscale", "1": "black-and-white", "P": "palette (indexed colour)",
             "CMYK": "CMYK", "YCbCr": "YCbCr", "LAB": "Lab", "HSV": "HSV", "F": "32-bit"}
    return image.convert("RGB"), [f"Converted {names.get(mode, mode)} to RGB"]


def open_photo(data: bytes, filename: str | None = None) -> Image.Image:
    """Open the photo and refuse from its header alone what prepare_photo would refuse (empty,
    too large, not an image, animated, another format, too many pixels); nothing is decoded.
    The caller closes the image. Raises PhotoError saying what to do instead."""
    if not data:
        raise PhotoError("The file is empty. Choose a PNG or JPEG headshot.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise PhotoError(f"The file is {_mb(len(data))}; the limit is {_mb(MAX_UPLOAD_BYTES)}. "
                         "Export a smaller JPEG (for example 2048 px on the long side).")
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a global someone else could flip; we need full decodes
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; damaged photos would pass")
    heif_support()  # HEIC/HEIF from here on (registered once)
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        raise _refuse_unreadable(data, filename) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    try:
        _refuse_from_header(image)
        if image.format == "HEIF":
            image.info[_HEIF_TURNED] = _heif_turned(image)
    except PhotoError:
        image.close()
        raise
    return image


def prepare_photo(data: bytes, filename: str | None = None) -> PreparedPhoto:
    """Validate and clean an uploaded photo; raises PhotoError saying what to do instead."""
    with open_photo(data, filename) as image:
        return _prepare(image, data)


def _refuse_from_header(image: Image.Image) -> None:
    fmt = image.format or "unknown"
    width, height = image.size
    # MPO is how Pillow names a JPEG that carries extra pictures (previews, depth maps) from many
    # cameras and phones: it is a JPEG, and its first frame is the photo. A HEIF with several
    # images names one primary (the photo; pillow-heif opens at it), like an MPO.
    is_mpo = fmt == "MPO"
    frames = 1 if is_mpo or fmt == "HEIF" else getattr(image, "n_frames", 1)
    if frames > 1:
        raise PhotoError(f"This {_FORMAT_NAMES.get(fmt, fmt)} has {frames} frames (animated or "
                         "multi-page). Use a single still photo: export one frame as PNG or JPEG.")
    if fmt not in _ACCEPTED and not is_mpo:
        raise PhotoError(f"This is a {_FORMAT_NAMES.get(fmt, fmt)} image; Tavus trains from PNG "
                         f"or JPEG only. {_EXPORT}")
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(width, height)


# What a decoder raises on a damaged file (libheif, through pillow-heif, also RuntimeError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  RuntimeError)


def _damaged(image: Image.Image | None = None, error: BaseException | None = None) -> PhotoError:
    if image is not None and image.format == "HEIF":
        if error is not None and "unsupported" in str(error).lower():
            return PhotoError("This HEIF image is coded in a way that can't be read here (not "
                              "the HEVC an iPhone or Mac uses). Export it as JPEG (Photos: File "
                              "> Export) and upload that.")
        return _heic_damaged()
    return PhotoError("The image is damaged or incomplete (perhaps a cut-off download). "
                      f"Open it, check it looks right, and {_EXPORT[0].lower()}{_EXPORT[1:]}")


def target_format(image: Image.Image, data: bytes) -> str:
    """What prepare_photo makes of this photo: "JPEG" or "PNG" (WebP: by how it was coded; a
    HEIC is a camera photo: JPEG, unless it has an alpha channel)."""
    fmt = image.format
    if fmt == "WEBP":
        return "PNG" if _webp_is_lossless(data) or image.mode in ("RGBA", "LA") else "JPEG"
    if fmt == "HEIF":
        return "PNG" if image.mode in ("RGBA", "LA", "RGBa", "La") else "JPEG"
    return "JPEG" if fmt in ("JPEG", "MPO") else "PNG"


def small_copy(image: Image.Image, data: bytes, short_side: int) -> tuple[Image.Image, list[str]]:
    """-> (an upright, sRGB, RGB copy of an opened, not yet loaded photo, the notes prepare_photo
    would give). The copy's short side is reduced towards `short_side`, never below it (nor
    enlarged): a JPEG is decoded at 1/2-1/8 scale (draft mode), anything else decoded, then
    reduced by an integer factor. The pixels go through what prepare_photo does (orientation,
    colour profile, pixel format), so the checks see the same picture, smaller. Raises PhotoError
    when the photo is damaged."""
    width, height = image.size
    factor = max(1, min(width, height) // max(1, short_side))
    try:
        if image.format in ("JPEG", "MPO") and factor > 1:
            image.draft("RGB", (max(1, width // factor), max(1, height // factor)))
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except _DECODE_ERRORS as error:
        raise _damaged(image, error) from None
    notes = _metadata_notes(image)
    icc = image.info.get("icc_profile")
    rest = max(1, min(image.size) // max(1, short_side))  # what draft mode left to do
    pixels = image
    early = rest > 1 and image.mode in ("RGB", "RGBA", "L", "LA", "I", "F")  # reduce() takes
    if early:
        pixels = pixels.reduce(rest)
    if image.getexif().get(_ORIENTATION, 1) in range(2, 9):
        # exif_transpose reads the orientation from the image it is given: keep the source's
        pixels.info["exif"] = image.info.get("exif", b"")
        pixels = ImageOps.exif_transpose(pixels)
        notes.append("Rotated upright from the camera's EXIF orientation")
    elif image.info.get(_HEIF_TURNED):
        notes.append(_HEIF_NOTE)
    if icc:
        pixels.info["icc_profile"] = icc
    pixels, colour_notes = _to_srgb(pixels)
    pixels, mode_notes = _to_rgb(pixels)
    notes += colour_notes + mode_notes
    if rest > 1 and not early:  # palette, CMYK, 16-bit: reduced once normalised to RGB
        pixels = pixels.reduce(rest)
    if image.format in ("WEBP", "HEIF"):
        notes.insert(0, _conversion_note(image, data))
    return pixels, notes


def _conversion_note(image: Image.Image, data: bytes) -> str:
    target = target_format(image, data)
    if image.format == "HEIF":
        return f"Converted from HEIC to {target}; Tavus takes PNG or JPEG"
    why = "lossless or transparent" if target == "PNG" else "lossy"
    return f"Converted from WebP to {target} ({why}); Tavus takes PNG or JPEG"


def _prepare(image: Image.Image, data: bytes) -> PreparedPhoto:
    fmt = image.format or "unknown"
    try:
        image.load()  # a full decode: headers can be fine on a truncated or corrupt file
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except _DECODE_ERRORS as error:
        raise _damaged(image, error) from None

    upright = upright_rgb(image)
    pixels, notes = upright.pixels, upright.notes
    converted = upright.converted

    target = target_format(image, data)
    if fmt in ("WEBP", "HEIF"):
        notes.insert(0, _conversion_note(image, data))
        converted = True

    data = encode_photo(pixels, target, upright.subsampling)
    w, h = pixels.size
    return PreparedPhoto(data=data, content_type=_CONTENT_TYPES[target], width=w,
                         height=h, source_format=fmt, converted=converted,
                         rotated=upright.rotated, metadata_removed=upright.metadata_removed,
                         sha256=hashlib.sha256(data).hexdigest(), notes=notes)


@dataclass(frozen=True)
class Upright:
    """A decoded photo turned upright, in sRGB RGB, and what that took (prepare_photo, and
    Fix framing's crop, which must send what prepare_photo would)."""

    pixels: Image.Image
    notes: list[str]  # one line per change, for the page
    rotated: bool
    metadata_removed: bool
    converted: bool  # the colour profile or the pixel format changed
    subsampling: int  # the source JPEG's chroma subsampling, kept on re-encoding (else 2)


def upright_rgb(image: Image.Image) -> Upright:
    """`image` (loaded) upright by its EXIF orientation, in sRGB, RGB; never `image` itself when
    anything changed (exif_transpose and the conversions copy)."""
    notes = _metadata_notes(image)
    source_jpeg = image.format in ("JPEG", "MPO")
    subsampling = _jpeg_subsampling(image) if source_jpeg else 2
    rotated = image.getexif().get(_ORIENTATION, 1) in range(2, 9)
    icc = image.info.get("icc_profile")
    pixels = ImageOps.exif_transpose(image) if rotated else image
    if rotated:
        notes.append("Rotated upright from the camera's EXIF orientation")
    elif image.info.get(_HEIF_TURNED):  # already turned by the decoder: only said here
        rotated = True
        notes.append(_HEIF_NOTE)
    if icc:
        pixels.info["icc_profile"] = icc  # exif_transpose copies; keep the profile for _to_srgb
    pixels, colour_notes = _to_srgb(pixels)
    pixels, mode_notes = _to_rgb(pixels)
    return Upright(pixels, notes + colour_notes + mode_notes, rotated,
                   metadata_removed=bool(notes), converted=bool(colour_notes or mode_notes),
                   subsampling=subsampling)


def encode_photo(pixels: Image.Image, target: str, subsampling: int = 2) -> bytes:
    """The upload's bytes: JPEG or PNG, with no metadata at all."""
    # Savers copy some info keys on their own (JPEG takes "comment" from it): start from nothing.
    pixels.info = {}
    out = io.BytesIO()
    if target == "JPEG":
        # quality 95 keeps a re-encode close to the original; no exif/icc/comment is passed.
        # No optimize=True: on a 12 MP photo it costs ~80 ms of the checks' 300 ms budget for a
        # file only ~2.5% smaller (bench/, "checks" section).
        pixels.save(out, format="JPEG", quality=95, subsampling=subsampling)
    else:
        # level 3: a 12-MP PNG encodes in ~0.6 s instead of ~1.5 s at 6, for ~15% more bytes
        pixels.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def _jpeg_subsampling(image: Image.Image) -> int:
    """The source's chroma subsampling (0=4:4:4, 1=4:2:2, 2=4:2:0), so re-encoding keeps it."""
    from PIL import JpegImagePlugin  # already loaded: the image is a JPEG

    sampling = JpegImagePlugin.get_sampling(image)
    return sampling if sampling in (0, 1, 2) else 2
