"""Small previews of the source photos, for the replica table and the details panel."""

from __future__ import annotations

import base64
import io

from PIL import Image

THUMBNAIL_SIDE = 96


def thumbnail_data_url(photo: bytes, *, side: int = THUMBNAIL_SIDE) -> str | None:
    """A JPEG data URL a browser can show anywhere (no S3 URL needed); None if unreadable."""
    try:
        with Image.open(io.BytesIO(photo)) as image:
            image.draft("RGB", (side * 2, side * 2))  # JPEG: decode at reduced size, much faster
            small = image.convert("RGB")
            small.thumbnail((side, side))
            buffer = io.BytesIO()
            small.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
