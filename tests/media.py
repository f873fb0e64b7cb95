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
