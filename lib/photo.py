"""Photo intake: what Tavus can train from (PNG or JPEG, at least 512x512), decided locally."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MIN_SIDE = 512
MAX_PIXELS = 50_000_000  # refuse decompression bombs long before Pillow's own limit
_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


class PhotoError(ValueError):
    """The photo cannot be used; the text says why and what to do."""


@dataclass(frozen=True)
class PhotoInfo:
    content_type: str
    width: int
    height: int
    size: int


def inspect_photo(data: bytes) -> PhotoInfo:
    if not data:
        raise PhotoError("The file is empty. Choose a PNG or JPEG headshot.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
            if width * height > MAX_PIXELS:
                raise PhotoError(f"The image is {width}x{height} pixels, too large to process. "
                                 "Export it at a smaller size (for example 2048 px wide).")
            image.verify()  # catches truncated and corrupt files without decoding twice
    except PhotoError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise PhotoError(
            "This file is not a readable image. Choose a PNG or JPEG headshot.") from None
    if kind not in _CONTENT_TYPES:
        raise PhotoError(f"This is a {kind} image; Tavus trains from PNG or JPEG only. "
                         "Export the photo as PNG or JPEG.")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise PhotoError(f"The photo is {width}x{height} pixels; Tavus needs at least "
                         f"{MIN_SIDE}x{MIN_SIDE}. Use a larger photo.")
    return PhotoInfo(content_type=_CONTENT_TYPES[kind], width=width, height=height, size=len(data))
