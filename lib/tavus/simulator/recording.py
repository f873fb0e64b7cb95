"""Conversation recordings: a small real mp4 drawn here, and put into the customer's S3 bucket.

Tavus assumes a role in the customer's account (`recording_storage.assume_role_arn`) to write the
recording; the simulator cannot, so it is given S3 settings at construction (`RecordingS3`) and
writes with those into the bucket the conversation names. PyAV, numpy, Pillow and boto3 are
imported only when a recording is made.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

log = logging.getLogger("replica_studio.simulator")

WIDTH, HEIGHT, FPS = 320, 180, 15
AUDIO_RATE = 44_100
MIN_SECONDS, MAX_SECONDS = 2, 4  # the clip's length: the recorded time, clamped to this range


@dataclass(frozen=True)
class RecordingS3:
    """Where the simulator writes recordings: an S3 endpoint and credentials (a stand-in for the
    role Tavus would assume). The bucket comes from each conversation's recording_storage."""

    endpoint_url: str | None
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"


@dataclass(frozen=True)
class RecordingJob:
    """What is left to do after a recorded call ends: draw the clip and put it."""

    conversation_id: str
    replica_name: str
    bucket_name: str
    s3_key: str
    seconds: int


def clip_seconds(recorded_seconds: float) -> int:
    return int(min(MAX_SECONDS, max(MIN_SECONDS, round(recorded_seconds))))


def render_mp4(title: str, seconds: int) -> bytes:
    """A `seconds`-long H.264 + AAC mp4 (faststart, yuv420p: Chromium plays it): a colour
    gradient with `title` on it, a bar sweeping across, and a 440 Hz tone."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack(
        [
            (40 + 120 * x / WIDTH).astype(np.uint8),
            (30 + 60 * y / HEIGHT).astype(np.uint8),
            (110 + 100 * (1 - x / WIDTH)).astype(np.uint8),
        ],
        axis=-1,
    )
    img = Image.fromarray(base)
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=18)
    except (TypeError, OSError):  # an older Pillow, or one without FreeType
        font = ImageFont.load_default()
    draw.text((12, 12), _ascii(title)[:40], fill=(255, 255, 255), font=font)
    draw.text((12, HEIGHT - 30), "Tavus simulator recording", fill=(220, 220, 230), font=font)
    background = np.asarray(img)

    # faststart rewrites the file to put the index first: it needs a real file, not a BytesIO.
    with tempfile.TemporaryDirectory(prefix="sim-recording-") as tmp:
        path = os.path.join(tmp, "recording.mp4")
        _encode(path, background, seconds)
        with open(path, "rb") as fh:
            return fh.read()


def _encode(path: str, background: Any, seconds: int) -> None:
    import av
    import numpy as np

    with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vstream = out.add_stream("libx264", rate=FPS)
        vstream.width, vstream.height = WIDTH, HEIGHT
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"preset": "ultrafast", "profile": "baseline"}
        astream = out.add_stream("aac", rate=AUDIO_RATE)
        astream.layout = "mono"
        frames = seconds * FPS
        bar = max(4, WIDTH // 40)
        for i in range(frames):
            picture = background.copy()
            left = int((WIDTH - bar) * i / max(1, frames - 1))
            picture[HEIGHT // 2 - 20 : HEIGHT // 2 + 20, left : left + bar] = (255, 220, 60)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode():
            out.mux(packet)
        samples = seconds * AUDIO_RATE
        t = np.arange(samples, dtype=np.float32) / AUDIO_RATE
        tone = (0.2 * np.sin(2 * math.pi * 440.0 * t)).astype(np.float32)
        chunk = 1024
        for start in range(0, samples, chunk):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(tone[None, start : start + chunk]),
                format="fltp",
                layout="mono",
            )
            frame.sample_rate = AUDIO_RATE
            frame.pts = start
            frame.time_base = Fraction(1, AUDIO_RATE)
            for packet in astream.encode(frame):
                out.mux(packet)
        for packet in astream.encode():
            out.mux(packet)


def put_recording(settings: RecordingS3, bucket: str, key: str, data: bytes) -> None:
    """Put the clip; raises on any S3 failure (a missing bucket included)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region,
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30),
    )
    client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="video/mp4")


def _ascii(text: str) -> str:
    """Pillow's built-in font has no dashes or curly quotes: "Phoenix 4.5 — Tuning" would show a
    box. Fold them, then drop what is left outside ASCII."""
    import unicodedata

    folded = text.translate(str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'",
                                           "“": '"', "”": '"', "…": "..."}))
    return unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()

