"""Turn a recording into a clip Tavus accepts: mp4, H.264 + AAC, constant 25 or 30 fps, at most
1080p, upright. Frames stream from decoder to encoder one at a time, so memory stays flat
whatever the clip's length; the source may be a local file or an http(s) URL (a presigned S3
GET, which FFmpeg reads with range requests)."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import av.error

log = logging.getLogger("replica_studio.videos")

MAX_LONG, MAX_SHORT = 1920, 1080
AUDIO_RATE = 48_000
# Chosen by measurement (bench/ video_convert; 2-min 1080p HEVC with motion, 2 busy cores):
# veryfast 0.81x the clip's length (16 MB), superfast 0.46x (34 MB), ultrafast 0.40x (54 MB).
# superfast keeps CABAC (ultrafast drops it), at half veryfast's time; crf 21 keeps a face sharp.
PRESET = "superfast"
CRF = "21"
PROGRESS_INTERVAL = 0.1  # seconds between on_progress calls: a UI needs no more than ~10/s
VFR_SPREAD = 1.5  # frame gaps differing by more than this factor: a variable frame rate
_PROBE_PACKETS = 120


class ConversionError(Exception):
    """The clip could not be converted. The text is for the user and says what to do."""


@dataclass(frozen=True)
class ConvertedVideo:
    path: Path
    width: int
    height: int
    fps: int
    duration_seconds: float
    size_bytes: int


class FileStore(Protocol):
    def upload_file(self, path: Path, key: str, content_type: str, *,
                    on_bytes: Callable[[int], None] | None = None) -> None: ...


def conversion_plan(width: int, height: int, fps: float, *, variable_fps: bool = False
                    ) -> tuple[int, int, int]:
    """The output's (width, height, fps) for an upright source of this size and frame rate.

    Fits in 1920x1080 (1080x1920 portrait) keeping the aspect, even sides (H.264 in yuv420p needs
    them), never upscaled. 30 fps above 30 or for a variable rate (phones), 25 for ~25, otherwise
    the source's rate rounded into 25..30 (Tavus wants at least 25).
    """
    if width <= 0 or height <= 0:
        raise ConversionError("The video has no picture size. Record the clip again.")
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, MAX_LONG / long_side, MAX_SHORT / short_side)
    out_w = max(2, int(width * scale + 1e-6) // 2 * 2)
    out_h = max(2, int(height * scale + 1e-6) // 2 * 2)
    if variable_fps or fps > 30.5 or fps <= 0:
        rate = 30
    elif abs(fps - 25) < 0.5:
        rate = 25
    else:
        rate = min(30, max(25, round(fps)))
    return out_w, out_h, rate


@dataclass(frozen=True)
class _Source:
    width: int  # upright, after rotation
    height: int
    rotation: int  # counter-clockwise degrees from the display matrix: 0, 90, 180, -90
    fps: float
    variable_fps: bool
    duration: float
    channels: int
    start: Fraction  # the first picture's timestamp, in seconds


def _open(source: str, **kwargs: Any) -> av.container.InputContainer:
    try:
        return av.open(source, **kwargs)
    except (av.error.FFmpegError, OSError) as exc:
        log.info("cannot open video: %s", type(exc).__name__)
        raise ConversionError("This file is not a video we can read. Upload an mp4, mov or "
                              "webm recording.") from None


def _probe(source: str) -> _Source:
    """What the conversion needs to know before the first frame is encoded: a short first pass
    (headers, a few packets, one decoded frame for the display matrix)."""
    with _open(source) as container:
        if not container.streams.video:
            raise ConversionError("This file has no picture. Upload a video recording.")
        if not container.streams.audio:
            raise ConversionError("This clip has no sound. Tavus learns the voice from it: "
                                  "record again with the microphone on.")
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        # The container's declared rates differ on a variable-rate clip; packet gaps confirm it.
        average = float(video.average_rate or 0)
        base = float(video.base_rate or 0)
        variable = bool(average and base and abs(base - average) / average > 0.05)
        pts: list[int] = []
        try:
            for packet in container.demux(video):
                if packet.pts is not None:
                    pts.append(packet.pts)
                if len(pts) >= _PROBE_PACKETS:
                    break
            pts.sort()
            gaps = [b - a for a, b in itertools.pairwise(pts) if b > a]
            if len(gaps) >= 4 and max(gaps) > VFR_SPREAD * min(gaps):
                variable = True
            container.seek(0)
            frame = next(container.decode(video), None)
        except av.error.FFmpegError:
            frame = None
        if frame is None:
            raise ConversionError("The video's picture could not be decoded. Export the "
                                  "recording again as mp4 or mov and upload that.")
        rotation = round((frame.rotation or 0) / 90) * 90 % 360
        rotation = -90 if rotation == 270 else rotation
        width, height = frame.width, frame.height
        if rotation in (90, -90):
            width, height = height, width
        duration = (container.duration / av.time_base if container.duration else
                    float((video.duration or 0) * video.time_base))
        return _Source(width=width, height=height, rotation=rotation,
                       fps=average or base or 30.0, variable_fps=variable, duration=duration,
                       channels=min(2, max(1, audio.channels or 1)),
                       start=Fraction(frame.pts or 0) * video.time_base)


class _Progress:
    """on_progress at most every PROGRESS_INTERVAL, never going backwards."""

    def __init__(self, callback: Callable[[float], None] | None, duration: float) -> None:
        self._callback = callback
        self._duration = duration
        self._last_call = 0.0
        self._last_value = 0.0

    def at(self, seconds: float) -> None:
        if self._callback is None or self._duration <= 0:
            return
        now = time.monotonic()
        if now - self._last_call < PROGRESS_INTERVAL:
            return
        # Below 1.0 until the file is finished: the end of decoding is not the end of the work.
        value = min(0.99, max(self._last_value, seconds / self._duration))
        self._last_call, self._last_value = now, value
        self._callback(value)

    def done(self) -> None:
        if self._callback is not None:
            self._callback(1.0)


def _rotation_graph(stream: av.video.stream.VideoStream, rotation: int) -> av.filter.Graph:
    # FFmpeg's own autorotate, which libav* leaves to the caller: transpose by the display matrix.
    graph = av.filter.Graph()
    src = graph.add_buffer(template=stream)
    steps = {90: [("transpose", "cclock")], -90: [("transpose", "clock")],
             180: [("hflip", None), ("vflip", None)]}[rotation]
    nodes = [src] + [graph.add(name, args) for name, args in steps] + [graph.add("buffersink")]
    graph.link_nodes(*nodes).configure()
    return graph


def _upright(frames: Iterator[av.VideoFrame], graph: av.filter.Graph | None
             ) -> Iterator[av.VideoFrame]:
    for frame in frames:
        if graph is None:
            yield frame
            continue
        graph.push(frame)
        while True:
            try:
                yield graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break


def convert_video(source: str | os.PathLike[str], destination: str | os.PathLike[str], *,
                  on_progress: Callable[[float], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> ConvertedVideo:
    """Write `source` (a path or an http(s) URL) to `destination` as a Tavus-ready mp4.

    Raises ConversionError (a message for the user) if the file is no video, has no sound, breaks
    mid-way, or `should_stop()` turns true; `destination` is then left absent. on_progress gets
    the share done (0..1, at most ~10 calls a second, 1.0 once the file is complete).
    """
    src = os.fspath(source)
    dest = Path(destination)
    info = _probe(src)
    width, height, fps = conversion_plan(info.width, info.height, info.fps,
                                         variable_fps=info.variable_fps)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        frames = _transcode(src, partial, info, width, height, fps,
                            _Progress(on_progress, info.duration), should_stop)
        partial.replace(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if on_progress is not None:
        on_progress(1.0)
    return ConvertedVideo(path=dest, width=width, height=height, fps=fps,
                          duration_seconds=frames / fps, size_bytes=dest.stat().st_size)


def _transcode(src: str, out_path: Path, info: _Source, width: int, height: int, fps: int,
               progress: _Progress, should_stop: Callable[[], bool] | None) -> int:
    """Decode, make upright, scale, re-time to constant `fps`, encode; returns frames written."""
    rate = Fraction(fps)
    layout = "stereo" if info.channels == 2 else "mono"
    with _open(src) as container, av.open(str(out_path), "w", format="mp4",
                                          options={"movflags": "+faststart"}) as out:
        video_in = container.streams.video[0]
        audio_in = container.streams.audio[0]
        video_in.thread_type = "AUTO"  # frame threads: decoding HEVC is half the work

        video_out = out.add_stream("libx264", rate=fps)
        video_out.width, video_out.height = width, height
        video_out.pix_fmt = "yuv420p"
        video_out.codec_context.time_base = 1 / rate
        video_out.options = {"preset": PRESET, "crf": CRF}
        audio_out = out.add_stream("aac", rate=AUDIO_RATE, layout=layout)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=AUDIO_RATE)

        graph = _rotation_graph(video_in, info.rotation) if info.rotation else None
        start = info.start  # the first picture's time: output time zero
        held: av.VideoFrame | None = None  # the latest source frame, not yet shown in every slot
        held_scaled: av.VideoFrame | None = None
        held_end = Fraction(0)
        slot = 0  # the next output frame's index
        audio_pts: int | None = None

        def emit(until: Fraction) -> None:
            # Constant rate: each output slot n shows the last source frame that started at or
            # before n/fps (+ half a slot). Gaps repeat a frame, surplus frames are dropped.
            nonlocal slot, held_scaled
            while held is not None and (slot + Fraction(1, 2)) / rate < until:
                if held_scaled is None:
                    held_scaled = held.reformat(width=width, height=height, format="yuv420p",
                                                interpolation="BILINEAR")
                held_scaled.pts = slot
                held_scaled.time_base = 1 / rate
                out.mux(video_out.encode(held_scaled))
                slot += 1

        def audio_frames(frame: av.AudioFrame) -> None:
            nonlocal audio_pts
            for piece in resampler.resample(frame):
                if audio_pts is None:
                    # Keep the source's offset from the picture, as a sample count.
                    # (Sound that starts before the picture is shifted, not trimmed: phones
                    # differ by a few ms at most.)
                    offset = Fraction(frame.pts or 0) * audio_in.time_base - start
                    audio_pts = max(0, round(offset * AUDIO_RATE))
                piece.pts = audio_pts
                piece.time_base = Fraction(1, AUDIO_RATE)
                audio_pts += piece.samples
                out.mux(audio_out.encode(piece))

        def show(frames: Iterator[av.VideoFrame]) -> None:
            nonlocal held, held_scaled, held_end
            for frame in _upright(frames, graph):
                if frame.pts is None:
                    continue
                t = Fraction(frame.pts) * video_in.time_base - start
                emit(t)
                held, held_scaled = frame, None
                step = (Fraction(frame.duration) * video_in.time_base if frame.duration
                        else 1 / Fraction(info.fps))
                held_end = t + step
                progress.at(float(t))

        try:
            for packet in container.demux(video_in, audio_in):
                if should_stop is not None and should_stop():
                    raise ConversionError("Conversion stopped")
                if packet.stream is audio_in:
                    for frame in packet.decode():
                        audio_frames(frame)
                else:
                    show(iter(packet.decode()))
            # demux() ends each stream with an empty packet that drained its decoder; the last
            # picture still needs its own length of slots.
            emit(held_end)
            for piece in resampler.resample(None):
                if audio_pts is not None:
                    piece.pts = audio_pts
                    piece.time_base = Fraction(1, AUDIO_RATE)
                    audio_pts += piece.samples
                    out.mux(audio_out.encode(piece))
            out.mux(video_out.encode(None))
            out.mux(audio_out.encode(None))
        except av.error.FFmpegError as exc:
            log.info("conversion failed: %s", exc, exc_info=True)
            raise ConversionError("The video could not be read to the end: the file may be "
                                  "damaged or cut short. Export the recording again and upload "
                                  "that.") from None
        if slot == 0:
            raise ConversionError("The video has no pictures we can read. Record it again.")
        # FFmpeg decodes what is there and stops quietly: a file cut short (an upload that did
        # not finish) must not become a short clip without a word.
        if info.duration > 0 and info.duration - slot / fps > max(0.5, 0.05 * info.duration):
            raise ConversionError("The video stops before its end: the file is cut short. "
                                  "Upload the whole recording again.")
        if audio_pts is None:
            raise ConversionError("The clip's sound could not be read. Record again with the "
                                  "microphone on.")
        return slot


def convert_to_store(store: FileStore, source_url: str, key: str, *,
                     work_dir: Path | None = None,
                     on_progress: Callable[[float], None] | None = None,
                     should_stop: Callable[[], bool] | None = None
                     ) -> tuple[str, ConvertedVideo]:
    """Convert the clip at `source_url` (a presigned GET) and upload the result to `key`.

    The result goes through a temporary file on disk (`work_dir`, else the system's), never
    memory, and is deleted once uploaded; the returned facts' `path` is where it was. Progress
    runs 0..0.9 while converting and 0.9..1.0 while uploading (the upload's calls come from
    boto3's threads, one at a time). Raises ConversionError for the
    clip and the store's StorageError for S3.
    """
    folder = Path(tempfile.mkdtemp(prefix="convert-", dir=work_dir))
    try:
        result = convert_video(source_url, folder / "converted.mp4", should_stop=should_stop,
                               on_progress=(lambda f: on_progress(0.9 * f)) if on_progress
                               else None)
        sent = 0
        lock = threading.Lock()  # boto3 reports from its transfer threads

        def on_bytes(count: int) -> None:
            nonlocal sent
            with lock:
                sent += count
                if on_progress is not None and result.size_bytes:
                    on_progress(0.9 + 0.1 * min(1.0, sent / result.size_bytes))

        store.upload_file(result.path, key, "video/mp4", on_bytes=on_bytes)
        if on_progress is not None:
            on_progress(1.0)
        return key, result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
