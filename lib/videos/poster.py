"""A still from a clip for the replicas table: one frame, small, clean (no face boxes)."""

from __future__ import annotations

import io
import os

import av

POSTER_HEIGHT = 256


def poster_jpeg(source: str | os.PathLike[str], *, at_seconds: float,
                height: int = POSTER_HEIGHT) -> bytes | None:
    """A JPEG of the first frame at or after `at_seconds`, `height` px high, upright; None when
    the clip has no readable picture there (the table then shows no photo, nothing breaks)."""
    try:
        with av.open(str(source), timeout=20) as container:
            stream = container.streams.video[0]
            if at_seconds > 0 and stream.time_base:
                container.seek(int(at_seconds / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                if frame.time is not None and frame.time + 0.05 < at_seconds:
                    continue
                image = frame.to_image()  # upright: PyAV applies no rotation, so do it here
                rotation = getattr(frame, "rotation", 0) or 0
                if rotation:
                    image = image.rotate(rotation, expand=True)
                image.thumbnail((height * 4, height))
                out = io.BytesIO()
                image.save(out, "JPEG", quality=85)
                return out.getvalue()
    except (av.FFmpegError, IndexError, OSError):
        return None
    return None
