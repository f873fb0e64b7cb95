"""What a video file is: container, codecs, size in pixels, frame rate, duration, rotation.

PyAV (FFmpeg in its wheel) reads only the header, a few seconds of packets and one packet near
the end, so a local path and an http(s) URL (a presigned S3 GET, read with range requests) cost
about the same: the whole file is never downloaded.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import av

# Packets whose timestamps decide constant_fps: the first few seconds are enough to see a phone's
# variable frame rate (it varies from the very start) and cost a few hundred kB of reading.
FPS_SAMPLE_SECONDS = 4.0
# A frame duration this far (relative) from the median one counts as variable: timestamps in
# a 1/15360 or 1/1000 time base round a 30 fps frame to ±1 tick, far below this.
FPS_TOLERANCE = 0.1
OPEN_TIMEOUT = 20.0  # seconds, for an URL: connect and each read

_MOV_BRANDS = {"qt": "mov", "m4a": "m4a", "m4v": "m4v", "3gp4": "3gp", "3gp5": "3gp",
               "3gp6": "3gp"}
_MOV_EXTS = {"mp4", "mov", "m4a", "m4v", "3gp", "3g2"}
_WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}


class VideoError(Exception):
    """Not a readable video; str(e) is a one-line message for the user naming what to do."""


class VideoDownloadError(VideoError):
    """The link could not be read (missing object, refused, storage unreachable): says nothing
    about the file itself, so a caller must not treat the file as bad."""


@dataclass(frozen=True)
class VideoFacts:
    container: str  # "mp4", "mov", "webm", "mkv", "m4a", ...: short, lower-case
    video_codec: str | None  # "h264", "hevc", "vp9", ...; None when there is no video stream
    audio_codec: str | None  # "aac", "opus", ...; None when there is no audio track
    width: int  # as displayed (rotation applied)
    height: int
    fps: float  # average frame rate
    constant_fps: bool  # from the first seconds' packet timestamps
    duration_seconds: float
    size_bytes: int | None
    rotation: int  # 0, 90, 180 or 270


def is_url(source: str | os.PathLike[str]) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def open_input(source: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open for reading; raises VideoError with a user message when FFmpeg cannot."""
    try:
        if is_url(source):
            # reconnect: a presigned GET over a flaky link resumes instead of failing the probe.
            return av.open(str(source), timeout=OPEN_TIMEOUT,
                           options={"reconnect": "1", "reconnect_streamed": "1"})
        return av.open(os.fspath(source))
    except av.error.HTTPNotFoundError as e:
        raise VideoDownloadError("Could not download the video: there is no file at this link "
                                 "(404). Upload it again.") from e
    except (av.error.HTTPForbiddenError, av.error.HTTPUnauthorizedError) as e:
        raise VideoDownloadError("Could not download the video: the link was refused (expired or "
                                 "not signed for this file). Make a new link and try again.") from e
    except (av.error.HTTPError, av.error.HTTPClientError, av.error.HTTPServerError) as e:
        raise VideoDownloadError(f"Could not download the video ({e.strerror or e}): check that "
                                 "the link works and has not expired, then try again.") from e
    except (ConnectionError, TimeoutError) as e:
        if not is_url(source):
            raise VideoError("The video file could not be read: upload it again.") from e
        host = urlsplit(str(source)).netloc  # the host only: the query string is a credential
        raise VideoDownloadError(f"Could not reach the storage at {host} to read the video "
                                 f"({type(e).__name__}): check the network and the S3 settings, "
                                 "then try again. The file itself was not judged.") from e
    except (av.error.FileNotFoundError, FileNotFoundError) as e:
        raise VideoError("The video file was not found: upload it again.") from e
    except (av.error.FFmpegError, OSError) as e:
        where = "link" if is_url(source) else "file"
        raise VideoError(f"This {where} is not a readable video: export or record it again as an "
                         "MP4 (H.264 video, AAC audio) and upload that.") from e


def _container_name(container: av.container.InputContainer, filename: str | None,
                    codecs: set[str]) -> str:
    ext = Path(filename).suffix.lower().lstrip(".") if filename else ""
    names = set(container.format.name.split(","))
    if "mp4" in names or "mov" in names:
        # The ISO family shares one demuxer: the major brand says what the file claims to be.
        brand = str(container.metadata.get("major_brand", "")).strip().lower()
        if brand in _MOV_BRANDS:
            return _MOV_BRANDS[brand]
        if ext in _MOV_EXTS and ext != "m4a":
            return ext
        return "mp4"
    if "matroska" in names or "webm" in names:
        if ext in ("webm", "mkv"):
            return ext
        return "webm" if codecs and codecs <= _WEBM_CODECS else "mkv"
    return ext or sorted(names)[0]


def _constant_fps(container: av.container.InputContainer, stream: av.VideoStream) -> bool:
    """Frame durations in the first seconds, from packet timestamps only (demuxed, not decoded)."""
    tb = float(stream.time_base)
    stamps: list[int] = []
    start = None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        start = packet.pts if start is None else start
        stamps.append(packet.pts)
        if (packet.pts - start) * tb > FPS_SAMPLE_SECONDS and len(stamps) > 30:
            break
    stamps.sort()  # B-frames arrive out of presentation order
    steps = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    if len(steps) < 3:
        return True  # too short to tell: say nothing alarming
    steps.sort()
    median = steps[len(steps) // 2]
    # Ignore the last frame or two (a short tail is normal at a cut), judge the rest.
    body = steps[: max(1, len(steps) - 2)]
    return all(abs(s - median) <= FPS_TOLERANCE * median for s in body)


def _has_tail(container: av.container.InputContainer, stream: av.VideoStream,
              duration: float) -> bool:
    """A packet can be read near the end: a file cut short (half an upload) has an index that
    promises frames its bytes no longer hold."""
    try:
        container.seek(int(max(0.0, duration - 1.5) * 1_000_000), any_frame=False)
        return any(packet.size for packet in container.demux(stream))
    except av.error.FFmpegError:
        return False


def probe_video(source: str | os.PathLike[str], *, size_bytes: int | None = None,
                filename: str | None = None) -> VideoFacts:
    """Facts about a local file or an http(s) URL; raises VideoError when it is not a video."""
    if filename is None:
        # A presigned URL's path ends with the object's key, extension included.
        filename = urlsplit(source).path if is_url(source) else os.fspath(source)
    if size_bytes is None and not is_url(source):
        try:
            size_bytes = os.path.getsize(source)
        except OSError as e:
            raise VideoError("The video file was not found: upload it again.") from e
    if size_bytes == 0:  # over HTTP an empty object answers a range read with 416, not "empty"
        raise VideoError("The file is empty (0 bytes): nothing was recorded or the export "
                         "failed. Export or record it again as an MP4 and upload that.")
    with open_input(source) as container:
        if size_bytes is None and container.size and container.size > 0:
            size_bytes = int(container.size)  # the server's Content-Length
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_codec = audio.codec_context.name if audio is not None else None
        if not container.streams.video:
            what = "a sound recording" if audio is not None else "not a video"
            raise VideoError(f"This file has no picture ({what}): upload the video itself, "
                             "recorded with the camera, as an MP4.")
        if container.format.name.endswith("_pipe") or container.format.name == "image2":
            # FFmpeg reads a photo as a one-frame "video": say what it is.
            raise VideoError("This is a still picture, not a video: upload the video recording "
                             "itself, as an MP4.")
        stream = container.streams.video[0]
        video_codec = stream.codec_context.name
        codecs = {video_codec} | ({audio_codec} if audio_codec else set())
        name = _container_name(container, filename, codecs)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if container.duration:
            duration = container.duration / 1_000_000
        elif stream.duration:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = 0.0
        try:
            # The first frame carries the display matrix (a phone's portrait clip is stored
            # landscape and turned on playback).
            first = next(container.decode(stream), None)
            if first is None:
                raise VideoError("The video has no frames that can be read: record or export it "
                                 "again and upload the new file.")
            rotation = round(first.rotation or 0) % 360
            rotation = min((0, 90, 180, 270), key=lambda r: abs(r - rotation))
            width, height = stream.codec_context.width, stream.codec_context.height
            if rotation in (90, 270):
                width, height = height, width
            container.seek(0)
            constant = _constant_fps(container, stream)
            tail = _has_tail(container, stream, duration)
        except av.error.FFmpegError as e:
            raise VideoError("The video is damaged and cannot be read: record or export it "
                             "again and upload the new file.") from e
        if not tail:
            raise VideoError("The video is cut short (incomplete upload or damaged file): upload "
                             "the whole file again.")
    return VideoFacts(container=name, video_codec=video_codec, audio_codec=audio_codec,
                      width=width, height=height, fps=round(fps, 3), constant_fps=constant,
                      duration_seconds=round(duration, 3), size_bytes=size_bytes,
                      rotation=rotation)
