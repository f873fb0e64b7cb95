"""Pre-flight checks of a training (or consent) clip: will Tavus train a replica from it?

Tavus fails a bad clip hours later. These checks predict that from one pass over the file:
- the file rules (mp4, H.264/AAC, ≥ 25 fps, ≥ 720p, under 750 MB, ≥ 1 min) from probe_video;
- pictures: one frame a second is judged on a small grey copy (one face, its size and place,
  steady light, steady camera); the others are decoded (a P-frame needs its predecessors) but
  never converted, and when the index shows a keyframe every second only keyframes are decoded;
- sound: the audio track in 50 ms RMS windows, mono, a few seconds held at a time. Speech is
  found by energy against the clip's own noise floor (a simple, honest voice-activity detector:
  it hears *that* someone speaks, not *what*; the consent words are never verified).
Face detection runs in a worker thread while the next frames decode (OpenCV and FFmpeg release
the GIL), so the two cores share the work.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import av
import cv2
import numpy as np

from lib.photos.checks import (
    CHIN_BELOW,
    CROWN_ABOVE,
    FAIL_COST,
    WARN_COST,
    Box,
    CheckResult,
    Level,
    Verdict,
    find_faces,
)
from lib.videos.probe import VideoError, VideoFacts, open_input, probe_video

__all__ = ["MAX_BYTES", "MIN_SECONDS", "SampledFrame", "VideoError", "VideoReport",
           "check_consent_clip", "check_video", "min_seconds"]

# ------------------------------------------------------------------------------------------------
# Tavus's file rules (docs "Training from a video"). "Under 750 MB" is read the strict way,
# 750,000,000 bytes (as the simulator does): a clip that might be refused after hours is better
# converted now. Sizes are shown in the same decimal MB as the uploader shows them.
MAX_BYTES = 750_000_000
MIN_FPS = 25.0
MAX_FPS = 30.5  # above 30 fps Tavus is fine, but Convert brings it to 30 (smaller upload)
MIN_HEIGHT = 720  # the short side, as displayed
BIG_HEIGHT = 1080  # above 1080p: larger than needed; Convert scales it down
MIN_SECONDS = {"phoenix-3": 120.0}  # 1 min speaking + 1 min listening
DEFAULT_MIN_SECONDS = 60.0
PART_SECONDS = {"phoenix-3": 60.0}  # speaking and listening parts, each
DEFAULT_PART_SECONDS = 30.0
# Warn below this share of a part's length, fail below the second.
PART_WARN, PART_FAIL = 0.83, 0.5

# ------------------------------------------------------------------------------------------------
# pictures. Measured on the test clips (tests/videos): the Haar box is the brow-to-mouth face,
# ~19 % of the astronaut portrait's height, so the default clip (portrait 75 % of the frame)
# gives a box of ~14 % of the frame height (a whole head of ~24 %), face_height 0.25 one of ~5 %.
# Tavus's "face at least 25 % of the frame" is about the head: its box is ~1.65x the Haar box
# (CROWN_ABOVE + CHIN_BELOW of the photo checks), so the limits below are on that estimate. The
# good clip reads 23-25 % (Haar boxes jitter by a few pixels), hence a WARN only under 20 %;
# face_height 0.25 reads ~8 %, a FAIL (under 14 %).
# ------------------------------------------------------------------------------------------------
SAMPLE_EVERY = 1.0  # seconds between judged frames (at least one a second)
STRIP_FRAMES = 12  # thumbnails a person sees
BACKLOG = 4  # sampled frames waiting for face detection at most
THUMB_HEIGHT = 180
DETECT_HEIGHT = 216  # grey copy for faces, light and motion: ~45 ms of cascades a frame
RETRY_LADDER = (360, 720)  # a frame with no face is searched again larger (a small, far face)
HEAD_PER_FACE = 1 + CROWN_ABOVE + CHIN_BELOW
HEAD_FAIL, HEAD_WARN = 0.14, 0.20  # estimated head height / frame height
SIZE_SPREAD_WARN = 0.35  # face height range / median across the clip: moving to and fro
CENTRE_WARN, CENTRE_FAIL = 0.15, 0.30  # face centre off the frame centre, share of the width
FACELESS_FAIL = 0.2  # share of sampled frames without a face that fails (fewer: WARN)
EXTRA_FACE_FAIL = 2  # sampled frames with a second face that fail (one: WARN, a detector slip)
LIGHT_STEP_WARN, LIGHT_STEP_FAIL = 0.12, 0.25  # brightness change between samples, relative
LIGHT_RANGE_WARN, LIGHT_RANGE_FAIL = 0.20, 0.35  # (max - min) / max over the clip
DARK_WARN = 60  # mean luma of the face
BORDER = 0.2  # left and right strips of the frame where the background is (the person is centred)
SHIFT_MOVE = 0.01  # background shift between samples that counts as camera movement, of the width
MOVING_FAIL = 0.2  # share of sample pairs with a moving camera that fails (any: WARN)

# ------------------------------------------------------------------------------------------------
# sound
# ------------------------------------------------------------------------------------------------
WINDOW = 0.05  # seconds per RMS window for speech detection
LEVEL_EVERY = 0.5  # seconds per reported audio level
SPEECH_ABOVE_FLOOR = 12.0  # dB above the noise floor (10th percentile of windows) is a voice
SPEECH_MIN_DB = -50.0  # ...and never quieter than this (a clip of near digital silence)
GAP_FILL = 1.0  # pauses shorter than this are inside one speech segment (between sentences)
MIN_SEGMENT = 0.3  # shorter blips (a cough, a click) are not speech
CONSENT_START = 2.5  # the statement must open the clip: speech starting within this
CONSENT_LATE = 10.0  # speech starting later than this: the clip does not open with it
CONSENT_MIN, CONSENT_MAX = 12.0, 60.0  # seconds of speech the statement takes, give or take
NOISY_FLOOR = -45.0  # dBFS: a room this loud is noisy

LABELS = {
    "format": "MP4 file",
    "codec": "H.264 video, AAC audio",
    "fps": f"At least {MIN_FPS:.0f} fps, constant",
    "resolution": f"At least {MIN_HEIGHT}p",
    "duration": "Long enough",
    "file_size": "Under 750 MB",
    "audio": "Has a sound track",
    "consent": "Opens with the consent statement",
    "consent_speech": "The consent statement is spoken",
    "speaking": "A speaking part",
    "listening": "A quiet listening part after it",
    "noise": "A quiet room",
    "one_face": "One person, face visible throughout",
    "face_size": "Face large enough",
    "centred": "Face centred",
    "lighting": "Even, steady light",
    "steady": "Steady camera",
    "orientation": "Landscape framing",
}


@dataclass(frozen=True)
class SampledFrame:
    seconds: float
    jpeg: bytes  # a small thumbnail (~180 px high) with the face box(es) drawn
    faces: tuple[Box, ...]  # in full-frame (displayed) pixel coordinates
    brightness: float  # mean luma 0..255


@dataclass(frozen=True)
class VideoReport:
    facts: VideoFacts
    checks: list[CheckResult]
    score: int  # 0..100, like the photo's
    verdict: Verdict  # FIXABLE: every failure is one Convert fixes
    blocking: bool  # any FAIL
    # Convert would clear every failure and file warning: the file's container, codecs, a
    # variable or > 30 frame rate, > 1080p, ≥ 750 MB. Not: < 25 fps, < 720p, too short, no sound
    # (re-encoding cannot add frames, detail, minutes or a voice).
    convertible: bool
    frames: list[SampledFrame]  # the strip a person sees; every sampled frame was judged
    audio_levels: list[tuple[float, float]]  # (seconds, dBFS) every LEVEL_EVERY s
    speech: list[tuple[float, float]]  # speech segments (start, end), seconds

    def get(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.level is Level.FAIL]

    @property
    def warned(self) -> list[CheckResult]:
        return [c for c in self.checks if c.level is Level.WARN]


def min_seconds(model_name: str) -> float:
    return MIN_SECONDS.get(model_name, DEFAULT_MIN_SECONDS)


def _part_seconds(model_name: str) -> float:
    return PART_SECONDS.get(model_name, DEFAULT_PART_SECONDS)


def _result(check_id: str, level: Level, reason: str, fix: str = "",
            tavus_error: str | None = None) -> CheckResult:
    return CheckResult(check_id, LABELS[check_id], level, reason,
                       "" if level is Level.PASS else fix, tavus_error)


def _at(times: list[float], limit: int = 4) -> str:
    shown = ", ".join(f"{t:.1f} s" for t in times[:limit])
    return shown + (", …" if len(times) > limit else "")


# ------------------------------------------------------------------------------------------------
# file checks: (result, whether Convert fixes it)
# ------------------------------------------------------------------------------------------------
def _file_checks(facts: VideoFacts, *, need_seconds: float | None,
                 min_label: str = "") -> list[tuple[CheckResult, bool]]:
    out: list[tuple[CheckResult, bool]] = []
    convert = "Use Convert to make an MP4 (H.264, AAC) of it."
    if facts.container == "mp4":
        out.append((_result("format", Level.PASS, "MP4 file."), False))
    else:
        out.append((_result("format", Level.FAIL, f"This is a .{facts.container} file; Tavus "
                            "takes .mp4 only.", convert, "video_format"), True))

    bad = []
    if facts.video_codec != "h264":
        bad.append(f"{(facts.video_codec or 'no').upper()} video")
    if facts.audio_codec is not None and facts.audio_codec != "aac":
        bad.append(f"{facts.audio_codec.upper()} audio")
    if bad:
        out.append((_result("codec", Level.FAIL, f"{' and '.join(bad)}; Tavus wants H.264 video "
                            "and AAC audio.", convert, "video_codec"), True))
    else:
        out.append((_result("codec", Level.PASS, "H.264 video" + (", AAC audio." if
                            facts.audio_codec else ".")), False))

    fps = facts.fps
    if fps < MIN_FPS:
        out.append((_result("fps", Level.FAIL, f"{fps:.0f} fps is below Tavus's {MIN_FPS:.0f} fps "
                            "minimum (converting cannot add real frames).",
                            "Record again at 30 fps.", "video_fps"), False))
    elif not facts.constant_fps:
        out.append((_result("fps", Level.WARN, f"Variable frame rate (about {fps:.0f} fps on "
                            "average), as phones record; Tavus may reject it.",
                            "Use Convert to make it a constant 30 fps.", "video_fps"), True))
    elif fps > MAX_FPS:
        out.append((_result("fps", Level.PASS, f"{fps:.0f} fps, constant (Convert brings it to "
                            "30 fps, a smaller upload)."), False))
    else:
        out.append((_result("fps", Level.PASS, f"{fps:.0f} fps, constant."), False))

    short = min(facts.width, facts.height)
    size = f"{facts.width}x{facts.height}"
    if short < MIN_HEIGHT:
        # No file check of Tavus's names resolution: a low-resolution clip trains a soft
        # replica, reported after training as a quality issue.
        out.append((_result("resolution", Level.FAIL, f"{size} is below {MIN_HEIGHT}p "
                            "(converting cannot add detail).", "Record again at 1080p (or at "
                            "least 720p), with a desktop recorder rather than a browser.",
                            "quality_issue_detected"), False))
    elif short > BIG_HEIGHT:
        out.append((_result("resolution", Level.WARN, f"{size} is more than the 1080p Tavus "
                            "recommends: a bigger, slower upload.",
                            "Use Convert to scale it to 1080p.", "file_size"), True))
    else:
        out.append((_result("resolution", Level.PASS, f"{size}."), False))

    if need_seconds is not None:
        secs = facts.duration_seconds
        if secs < need_seconds:
            out.append((_result("duration", Level.FAIL, f"{secs:.0f} s is shorter than the "
                                f"{need_seconds:.0f} s {min_label} needs.", "Record a longer "
                                "take (1.5–2 min is comfortable).", "video_duration"), False))
        else:
            out.append((_result("duration", Level.PASS, f"{secs:.0f} s."), False))

    if facts.size_bytes is None:
        out.append((_result("file_size", Level.PASS, "Size unknown (the server did not say); "
                            "Tavus takes files under 750 MB."), False))
    elif facts.size_bytes >= MAX_BYTES:
        out.append((_result("file_size", Level.FAIL, f"{facts.size_bytes / 1e6:,.0f} MB; Tavus "
                            "takes files under 750 MB.", "Use Convert: 1080p H.264 at a sensible "
                            "bitrate is far smaller.", "file_size"), True))
    else:
        out.append((_result("file_size", Level.PASS, f"{facts.size_bytes / 1e6:,.1f} MB."),
                    False))

    if facts.audio_codec is None:
        out.append((_result("audio", Level.FAIL, "The clip has no sound track: Tavus clones the "
                            "voice from it (and hears the consent in it).", "Record again with "
                            "the microphone on (the device's built-in one, no noise "
                            "suppression).", "audio_processing"), False))
    else:
        out.append((_result("audio", Level.PASS, "Has a sound track."), False))

    if facts.height > facts.width:
        out.append((_result("orientation", Level.WARN, f"Portrait framing ({size}): Tavus may "
                            "treat a tall clip as full-body and frame the replica differently.",
                            "Record in landscape (16:9), waist-up and seated."), False))
    else:
        out.append((_result("orientation", Level.PASS, "Landscape framing."), False))
    return out


# ------------------------------------------------------------------------------------------------
# one pass over the file: sampled pictures and the sound's levels
# ------------------------------------------------------------------------------------------------
@dataclass
class _Sample:
    seconds: float
    grey: np.ndarray  # DETECT_HEIGHT-high copy, upright
    faces: Future[list[Box]]  # in the grey copy's pixels
    thumb: np.ndarray | None  # RGB thumbnail for the strip, else None


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    # The display matrix turns the picture counter-clockwise by `rotation` degrees.
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


class _FaceFinder:
    """Faces of the sampled frames, in order, in the worker thread. The photo's detector as it is
    (edge padding included: without it the cascade's scan grid shifts and, on the test clips,
    missed the second of two faces), with no minimum face size but the cascade's 24 px."""

    def __init__(self) -> None:
        self.start = 0  # the rung of RETRY_LADDER to begin with: a far face moves it up
        self.found_at: list[int] = []  # the rung each of the last frames found its face at

    def __call__(self, copies: list[Callable[[], np.ndarray]]) -> list[Box]:
        """`copies`: the frame at DETECT_HEIGHT, then larger copies made only when asked. A face
        under ~11 % of the frame is below the cascade's 24 px window at the small size: a frame
        with no face there is searched again larger, so "too far" is reported as such."""
        base = None
        for rung in range(min(self.start, len(copies) - 1), len(copies)):
            image = copies[rung]()
            if base is None:
                base = image.shape[0] if rung == 0 else copies[0]().shape[0]
            # A larger copy looks only for faces the smaller one was too coarse for (up to 1.5x
            # its 24 px window): a bigger "face" there would have shown at the smaller size, and
            # at 720 px the cascade finds such phantoms in textured walls.
            limit = 0.0
            if rung > 0:
                below = copies[rung - 1]().shape
                limit = 36 * image.shape[0] / below[0] / min(image.shape)
            faces = find_faces(image, area=image.size, min_face=0, max_face=limit)
            if faces or rung == len(copies) - 1:
                # After three frames in a row found only larger, begin there (saves the vain
                # small search); a frame without a face anywhere says nothing about distance.
                if faces:
                    self.found_at = [*self.found_at[-2:], rung]
                    if len(self.found_at) == 3 and min(self.found_at) > self.start:
                        self.start = min(self.found_at)
                scale = base / image.shape[0]
                return [Box(round(f.x * scale), round(f.y * scale), max(1, round(f.w * scale)),
                            max(1, round(f.h * scale))) for f in faces]
        return []


class _Levels:
    """RMS of the sound in WINDOW-second windows, mono, from decoded frames of any format."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.size = max(1, round(rate * WINDOW))
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        self.carry = np.zeros(0, dtype=np.float32)
        self.rms: list[float] = []

    def add(self, frame: av.AudioFrame) -> None:
        for mono in self.resampler.resample(frame):
            self._take(mono.to_ndarray().reshape(-1))

    def _take(self, samples: np.ndarray) -> None:
        data = np.concatenate([self.carry, samples.astype(np.float32, copy=False)])
        whole = len(data) // self.size * self.size
        if whole:
            blocks = data[:whole].reshape(-1, self.size)
            self.rms.extend(np.sqrt(np.mean(blocks * blocks, axis=1)).tolist())
        self.carry = data[whole:]

    def finish(self) -> np.ndarray:
        for mono in self.resampler.resample(None):
            self._take(mono.to_ndarray().reshape(-1))
        if len(self.carry) > self.size // 2:
            self.rms.append(float(np.sqrt(np.mean(self.carry * self.carry))))
        return np.asarray(self.rms, dtype=np.float64)


def _keyframes_every(stream: av.VideoStream, duration: float) -> float:
    """Longest gap between keyframes (seconds) from the container's index (mp4/mov list every
    frame there, for free); infinity when the index does not say (webm's cues)."""
    try:
        entries = stream.index_entries
        stamps = [e.timestamp for e in entries if e.is_keyframe]
        if len(entries) < 2 or len(stamps) == len(entries) == 1:
            return math.inf
    except (AttributeError, av.error.FFmpegError):
        return math.inf
    tb = float(stream.time_base)
    ends = [*stamps, stamps[0] + duration / tb]
    return max(b - a for a, b in itertools.pairwise(ends)) * tb


def _read(source: str | os.PathLike[str], facts: VideoFacts, want_pictures: bool,
          on_progress: Callable[[float], None] | None
          ) -> tuple[list[_Sample], np.ndarray | None]:
    duration = max(facts.duration_seconds, 0.001)
    count = max(1, math.floor(duration / SAMPLE_EVERY))
    # A frame at mid-second, the first at or after it; keyframes only: the keyframe nearest
    # each whole second (they need not fall on it).
    offset, slack = 0.5 * SAMPLE_EVERY, 0.5 / max(facts.fps, 1.0)
    strip = {round(i * (count - 1) / max(1, STRIP_FRAMES - 1)) for i in range(STRIP_FRAMES)}
    samples: list[_Sample] = []
    levels: _Levels | None = None
    with open_input(source) as container, ThreadPoolExecutor(1) as pool:
        streams = []
        video = container.streams.video[0] if want_pictures and container.streams.video else None
        if video is not None:
            # FFmpeg's own threading is left at its default: frame threads cost ~50 % more CPU
            # here, and the other core is busy with face detection anyway.
            if _keyframes_every(video, duration) <= SAMPLE_EVERY:
                video.codec_context.skip_frame = "NONKEY"  # a keyframe a second is enough
                offset, slack = 0.0, 0.5 * SAMPLE_EVERY
            streams.append(video)
        if container.streams.audio:
            audio = container.streams.audio[0]
            levels = _Levels(audio.codec_context.sample_rate or 48_000)
            streams.append(audio)
        if not streams:
            return samples, None
        step = max(0.02, duration / 50)
        next_report = step
        rotation = facts.rotation
        finder = _FaceFinder()
        try:
            for packet in container.demux(*streams):
                for frame in packet.decode():
                    t = frame.time
                    if t is None:
                        continue
                    if isinstance(frame, av.AudioFrame):
                        levels.add(frame)  # type: ignore[union-attr]
                        continue
                    if on_progress is not None and t >= next_report:
                        on_progress(min(1.0, t / duration))
                        next_report = t + step
                    i = len(samples)
                    if i >= count or t < i * SAMPLE_EVERY + offset - slack:
                        continue
                    samples.append(_sample(frame, t, rotation, i in strip, pool, finder))
                    # Each queued sample holds its decoded frame (for a larger copy): a short
                    # queue keeps memory flat when faces are slower than decoding (4K).
                    if i >= BACKLOG:
                        samples[i - BACKLOG].faces.result()
        except av.error.FFmpegError as e:
            if not samples:
                raise VideoError("The video is damaged and cannot be read: record or export it "
                                 "again and upload the new file.") from e
            # A damaged tail: judge what could be read.
        for s in samples:
            s.faces.result()
    if on_progress is not None:
        on_progress(1.0)
    return samples, (levels.finish() if levels is not None else None)


def _sample(frame: av.VideoFrame, t: float, rotation: int, in_strip: bool,
            pool: ThreadPoolExecutor, finder: _FaceFinder) -> _Sample:
    stored_w, stored_h = frame.width, frame.height
    upright_h = stored_w if rotation in (90, 270) else stored_h

    def sized(height: int, fmt: str) -> np.ndarray:
        scale = height / upright_h
        w, h = (stored_w * scale, stored_h * scale)
        image = frame.reformat(width=max(2, round(w)), height=max(2, round(h)),
                               format=fmt).to_ndarray()
        return _upright(image, rotation)

    grey = sized(min(DETECT_HEIGHT, upright_h), "gray")
    # Larger copies are made only when no face is found at the small size (in the worker: the
    # frame holds its own reference to the decoded picture, which the decoder does not reuse).
    copies: list[Callable[[], np.ndarray]] = [lambda: grey]
    for height in RETRY_LADDER:
        if height > grey.shape[0] * 1.4 and height <= upright_h:
            copies.append(lambda height=height: sized(height, "gray"))
    faces = pool.submit(finder, copies)
    thumb = sized(min(THUMB_HEIGHT, upright_h), "rgb24") if in_strip else None
    return _Sample(t, grey, faces, thumb)


# ------------------------------------------------------------------------------------------------
# picture checks
# ------------------------------------------------------------------------------------------------
def _check_faces(samples: list[_Sample], counts: list[int]) -> CheckResult:
    n = len(samples)
    none = [s.seconds for s, c in zip(samples, counts, strict=True) if c == 0]
    extra = [s.seconds for s, c in zip(samples, counts, strict=True) if c > 1]
    if len(extra) >= EXTRA_FACE_FAIL:
        return _result("one_face", Level.FAIL, f"A second face in {len(extra)} of {n} sampled "
                       f"frames (at {_at(extra)}).", "Record alone: nobody else in the frame, "
                       "no photos or posters of faces behind you.", "second_person_detected")
    if none and len(none) >= max(1, FACELESS_FAIL * n):
        return _result("one_face", Level.FAIL, f"No face in {len(none)} of {n} sampled frames "
                       f"(at {_at(none)}).", "Face the camera throughout, nothing over the face "
                       "(hands, hair, hat, mask).", "face_or_obstruction_detected")
    if extra:
        return _result("one_face", Level.WARN, f"A second face, perhaps, at {_at(extra)}.",
                       "Make sure nobody else (or a picture of a face) is in the frame.",
                       "second_person_detected")
    if none:
        return _result("one_face", Level.WARN, f"No face found at {_at(none)}.",
                       "Keep facing the camera; keep hands away from the face.",
                       "face_turned_away")
    return _result("one_face", Level.PASS, f"One face in each of the {n} sampled frames.")


def _check_face_size(heights: list[float]) -> CheckResult:
    if not heights:
        return _result("face_size", Level.WARN, "Not checked: no single face was found.",
                       "Fix the face check first.")
    median = float(np.median(heights))
    head = median * HEAD_PER_FACE
    text = f"The head is about {head:.0%} of the frame's height."
    fix = "Move closer (or zoom in): waist-up and seated, the head at least a quarter of the frame."
    if head < HEAD_FAIL:
        return _result("face_size", Level.FAIL, text + " Too far from the camera.", fix,
                       "improper_distance")
    if head < HEAD_WARN:
        return _result("face_size", Level.WARN, text + " A little far from the camera.", fix,
                       "improper_distance")
    spread = (max(heights) - min(heights)) / median
    if spread > SIZE_SPREAD_WARN:
        return _result("face_size", Level.WARN, text + " The distance to the camera changes "
                       "during the clip.", "Stay seated at one distance from the camera.",
                       "inconsistent_distance")
    return _result("face_size", Level.PASS, text)


def _check_centred(offsets: list[float]) -> CheckResult:
    if not offsets:
        return _result("centred", Level.WARN, "Not checked: no single face was found.",
                       "Fix the face check first.")
    off = float(np.median(offsets))
    side = "left" if off < 0 else "right"
    text = f"The face is {abs(off):.0%} of the width {side} of centre."
    fix = "Sit in the middle of the frame, camera at eye level straight ahead."
    if abs(off) > CENTRE_FAIL:
        return _result("centred", Level.FAIL, text, fix, "improper_camera_angle")
    if abs(off) > CENTRE_WARN:
        return _result("centred", Level.WARN, text, fix, "improper_camera_angle")
    return _result("centred", Level.PASS, "The face is centred.")


def _check_lighting(times: list[float], bright: list[float], face_luma: list[float]
                    ) -> CheckResult:
    fix = "Use even light that does not change: no window light coming and going, no lamps " \
          "switched on or off, auto-exposure locked if you can."
    steps = [(abs(b - a) / max(a, b, 1.0), t) for a, b, t in
             zip(bright, bright[1:], times[1:], strict=False)]
    worst, when = max(steps, default=(0.0, 0.0))
    spread = (max(bright) - min(bright)) / max(max(bright), 1.0) if bright else 0.0
    text = f"The brightness changes by up to {worst:.0%} between seconds (at {when:.0f} s) " \
           f"and by {spread:.0%} over the clip."
    if worst > LIGHT_STEP_FAIL or spread > LIGHT_RANGE_FAIL:
        return _result("lighting", Level.FAIL, text, fix, "lighting_change_detected")
    if worst > LIGHT_STEP_WARN or spread > LIGHT_RANGE_WARN:
        return _result("lighting", Level.WARN, text, fix, "lighting_change_detected")
    if face_luma and float(np.median(face_luma)) < DARK_WARN:
        return _result("lighting", Level.WARN, f"The face is dark (about "
                       f"{float(np.median(face_luma)):.0f}/255).", "Add soft light from the "
                       "front; avoid a bright window behind you.", "poor_lighting")
    return _result("lighting", Level.PASS, "Steady light throughout.")


def _background_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Largest shift (pixels) of the left and right border strips between two grey frames, by
    phase correlation: a pan or a shaking camera moves the background, the person does not count,
    and a change of light alone gives no shift."""
    w = a.shape[1]
    cut = max(8, round(w * BORDER))
    shifts = []
    for sl in (slice(0, cut), slice(w - cut, w)):
        pa = np.float32(a[:, sl])
        pb = np.float32(b[:, sl])
        if pa.std() < 2 or pb.std() < 2:
            continue  # a plain wall: nothing to track (and nothing to see moving)
        window = cv2.createHanningWindow((pa.shape[1], pa.shape[0]), cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(pa, pb, window)
        if response > 0.05:
            shifts.append(math.hypot(dx, dy))
    return min(shifts) if shifts else 0.0  # both sides move when the camera does


def _check_steady(times: list[float], greys: list[np.ndarray]) -> CheckResult:
    if len(greys) < 2:
        return _result("steady", Level.PASS, "Too short to judge camera movement.")
    width = greys[0].shape[1]
    moving = [t for a, b, t in zip(greys, greys[1:], times[1:], strict=False)
              if _background_shift(a, b) > SHIFT_MOVE * width]
    pairs = len(greys) - 1
    fix = "Put the camera on a stand or tripod and keep it still; don't pan or zoom."
    if moving and len(moving) >= MOVING_FAIL * pairs:
        return _result("steady", Level.FAIL, f"The camera moves in {len(moving)} of {pairs} "
                       f"seconds (at {_at(moving)}).", fix, "excessive_movement_detected")
    if moving:
        return _result("steady", Level.WARN, f"The camera moves at {_at(moving)}.", fix,
                       "excessive_movement_detected")
    return _result("steady", Level.PASS, "The camera stays still.")


# ------------------------------------------------------------------------------------------------
# sound
# ------------------------------------------------------------------------------------------------
def _db(rms: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.maximum(rms, 1e-6))


def _speech_segments(rms: np.ndarray) -> tuple[list[tuple[float, float]], float]:
    """-> (speech segments, the noise floor in dBFS). Energy VAD: a window is voiced when it is
    SPEECH_ABOVE_FLOOR dB over the quietest tenth of the clip (the room) and over SPEECH_MIN_DB;
    short pauses join, blips drop."""
    if rms.size == 0:
        return [], -120.0
    db = _db(rms)
    floor = float(np.percentile(db, 10))
    voiced = db > max(floor + SPEECH_ABOVE_FLOOR, SPEECH_MIN_DB)
    segments: list[list[float]] = []
    for i in np.flatnonzero(voiced):
        start, end = i * WINDOW, (i + 1) * WINDOW
        if segments and start - segments[-1][1] < GAP_FILL:
            segments[-1][1] = end
        else:
            segments.append([start, end])
    kept = [(round(float(a), 2), round(float(b), 2)) for a, b in segments
            if b - a >= MIN_SEGMENT]
    return kept, floor


def _audio_levels(rms: np.ndarray) -> list[tuple[float, float]]:
    per = max(1, round(LEVEL_EVERY / WINDOW))
    out = []
    for i in range(0, len(rms), per):
        block = rms[i:i + per]
        value = float(np.sqrt(np.mean(block * block)))
        out.append((round(i * WINDOW, 2), round(float(_db(np.array([value]))[0]), 1)))
    return out


def _parts(speech: list[tuple[float, float]], duration: float) -> tuple[float, float]:
    """-> (seconds of the speaking part, seconds of the quiet listening part after it). The
    listening part is the longest quiet stretch after speech began (normally the end)."""
    if not speech:
        return 0.0, 0.0
    gaps = [(b[0] - a[1], a[1]) for a, b in itertools.pairwise(speech)]
    gaps.append((duration - speech[-1][1], speech[-1][1]))
    quiet, quiet_start = max(gaps)
    return quiet_start - speech[0][0], max(0.0, quiet)


def _check_parts(speech: list[tuple[float, float]], duration: float, model_name: str
                 ) -> list[CheckResult]:
    need = _part_seconds(model_name)
    speaking, listening = _parts(speech, duration)
    out = []
    fix = f"Talk for about {need:.0f} s (clearly, teeth visible), then stay quiet."
    if speaking < PART_FAIL * need:
        out.append(_result("speaking", Level.FAIL, f"About {speaking:.0f} s of speaking; "
                           f"{model_name} needs about {need:.0f} s.", fix, "video_processing"))
    elif speaking < PART_WARN * need:
        out.append(_result("speaking", Level.WARN, f"About {speaking:.0f} s of speaking; "
                           f"{model_name} wants about {need:.0f} s.", fix, "video_processing"))
    else:
        out.append(_result("speaking", Level.PASS, f"About {speaking:.0f} s of speaking."))
    fix = f"After speaking, stay quiet for about {need:.0f} s: lips closed, neutral, still."
    if not speech:
        out.append(_result("listening", Level.WARN, "Not checked: no speech was heard.", fix))
    elif listening < PART_FAIL * need:
        out.append(_result("listening", Level.FAIL, f"Only {listening:.0f} s of quiet after "
                           f"speaking; {model_name} needs a ~{need:.0f} s listening part.",
                           fix, "video_processing"))
    elif listening < PART_WARN * need:
        out.append(_result("listening", Level.WARN, f"{listening:.0f} s of quiet after speaking; "
                           f"{model_name} wants ~{need:.0f} s.", fix, "video_processing"))
    else:
        out.append(_result("listening", Level.PASS, f"{listening:.0f} s of quiet listening after "
                           "speaking."))
    return out


def _opening_speech(speech: list[tuple[float, float]]) -> tuple[float, float] | None:
    """-> (start, length) of the first speech, pauses under 2 s joined (between sentences)."""
    if not speech:
        return None
    start, end = speech[0]
    for a, b in speech[1:]:
        if a - end >= 2.0:
            break
        end = b
    return start, end - start


def _check_consent(speech: list[tuple[float, float]]) -> CheckResult:
    words = "The words themselves are not checked: say the statement exactly, with your full name."
    fix = "Open the clip with the consent statement, spoken clearly in English, right away."
    opening = _opening_speech(speech)
    if opening is None:
        return _result("consent", Level.FAIL, "No speech was heard, so the clip cannot open with "
                       "the consent statement.", fix, "consent_phrase_mismatch")
    start, length = opening
    if start > CONSENT_LATE:
        return _result("consent", Level.FAIL, f"Speech starts only at {start:.0f} s; the consent "
                       "statement must open the clip.", fix, "consent_phrase_mismatch")
    if start > CONSENT_START:
        return _result("consent", Level.WARN, f"Speech starts at {start:.1f} s; the consent "
                       f"statement should open the clip. {words}", fix,
                       "consent_phrase_mismatch")
    if length < CONSENT_MIN:
        return _result("consent", Level.WARN, f"The opening speech lasts {length:.0f} s, shorter "
                       f"than the statement takes (~15–25 s). {words}",
                       "Read the whole statement, at a normal pace.", "consent_phrase_mismatch")
    return _result("consent", Level.PASS, f"Speech from {start:.1f} s for {length:.0f} s, long "
                   f"enough for the statement. {words}")


def _check_consent_speech(speech: list[tuple[float, float]]) -> CheckResult:
    total = sum(b - a for a, b in speech)
    words = "The words themselves are not checked."
    fix = "Record only the consent statement, spoken clearly in English, with your full name."
    if total == 0:
        return _result("consent_speech", Level.FAIL, "No speech was heard.", fix,
                       "consent_phrase_mismatch")
    if total < CONSENT_MIN:
        return _result("consent_speech", Level.FAIL, f"Only about {total:.0f} s of speech; the "
                       f"statement takes ~15–25 s. {words}", fix, "consent_phrase_mismatch")
    if total > CONSENT_MAX:
        return _result("consent_speech", Level.WARN, f"About {total:.0f} s of speech, much "
                       f"longer than the statement. {words}", fix, "consent_phrase_mismatch")
    return _result("consent_speech", Level.PASS, f"About {total:.0f} s of speech, about as long "
                   f"as the statement. {words}")


def _room_level(rms: np.ndarray, speech: list[tuple[float, float]]) -> float | None:
    """Median dBFS outside speech, when there are a few seconds of it to judge (a clip talked
    from end to end has only the short pauses between words, which read louder than the room)."""
    quiet = np.ones(rms.size, dtype=bool)
    for a, b in speech:
        quiet[int(a / WINDOW):math.ceil(b / WINDOW)] = False
    if quiet.sum() * WINDOW < 3.0:
        return None
    return float(np.median(_db(rms[quiet])))


def _check_noise(floor: float) -> CheckResult:
    if floor > NOISY_FLOOR:
        return _result("noise", Level.WARN, f"The room is noisy between words ({floor:.0f} dBFS).",
                       "Record in a quiet room; switch off fans and music.",
                       "background_noise_detected")
    return _result("noise", Level.PASS, f"A quiet room ({floor:.0f} dBFS between words).")


# ------------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------------
def _score(checks: list[CheckResult]) -> int:
    warns = sum(c.level is Level.WARN for c in checks)
    fails = sum(c.level is Level.FAIL for c in checks)
    return max(0, 100 - WARN_COST * warns - FAIL_COST * fails)  # the photo's costs


def _thumbnail(sample: _Sample, faces: list[Box], scale_to_thumb: float) -> bytes:
    image = cv2.cvtColor(sample.thumb, cv2.COLOR_RGB2BGR)
    colour = (80, 200, 60) if len(faces) == 1 else (40, 40, 230)
    for f in faces:
        x, y = round(f.x * scale_to_thumb), round(f.y * scale_to_thumb)
        cv2.rectangle(image, (x, y), (x + round(f.w * scale_to_thumb),
                                      y + round(f.h * scale_to_thumb)), colour, 2)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else b""


def _analyse(source: str | os.PathLike[str], *, consent_clip: bool, model_name: str,
             consent: str, size_bytes: int | None, filename: str | None,
             on_progress: Callable[[float], None] | None) -> VideoReport:
    facts = probe_video(source, size_bytes=size_bytes, filename=filename)
    if consent_clip:
        # A consent clip holds only the statement (~20 s): the training minimum does not apply.
        filed = _file_checks(facts, need_seconds=CONSENT_MIN, min_label="the statement")
    else:
        filed = _file_checks(facts, need_seconds=min_seconds(model_name), min_label=model_name)
    samples, rms = _read(source, facts, True, on_progress)
    checks = [c for c, _ in filed]
    convert_fixes = {c.id for c, fixable in filed if fixable}

    # Faces, mapped from the grey copies to full-frame pixels.
    frames: list[SampledFrame] = []
    counts, heights, offsets, face_luma = [], [], [], []
    times = [s.seconds for s in samples]
    bright = [float(s.grey.mean()) for s in samples]
    for s, brightness in zip(samples, bright, strict=True):
        small = s.faces.result()
        scale = facts.height / s.grey.shape[0]
        full = [Box(round(f.x * scale), round(f.y * scale), round(f.w * scale),
                    round(f.h * scale)) for f in small]
        counts.append(len(small))
        if len(small) == 1:
            f = small[0]
            heights.append(f.h / s.grey.shape[0])
            offsets.append((f.cx - s.grey.shape[1] / 2) / s.grey.shape[1])
            face_luma.append(float(s.grey[max(0, f.y):f.bottom, max(0, f.x):f.x + f.w].mean()))
        if s.thumb is not None:
            thumb_scale = s.thumb.shape[0] / facts.height
            frames.append(SampledFrame(round(s.seconds, 2), _thumbnail(s, full, thumb_scale),
                                       tuple(full), round(brightness, 1)))
    if samples:
        checks.append(_check_faces(samples, counts))
    if not consent_clip and samples:
        checks += [_check_face_size(heights), _check_centred(offsets),
                   _check_lighting(times, bright, face_luma),
                   _check_steady(times, [s.grey for s in samples])]

    speech: list[tuple[float, float]] = []
    levels: list[tuple[float, float]] = []
    if rms is not None:
        speech, _ = _speech_segments(rms)
        levels = _audio_levels(rms)
        if consent_clip:
            checks.append(_check_consent_speech(speech))
        else:
            if consent == "in_clip":
                checks.append(_check_consent(speech))
            checks += _check_parts(speech, facts.duration_seconds, model_name)
        room = _room_level(rms, speech)
        if speech and room is not None:
            checks.append(_check_noise(room))

    failed = {c.id for c in checks if c.level is Level.FAIL}
    file_warned = {c.id for c in checks if c.level is Level.WARN and c.id in convert_fixes}
    convertible = bool(failed | file_warned) and failed <= convert_fixes
    if not failed:
        verdict = Verdict.READY
    else:
        verdict = Verdict.FIXABLE if failed <= convert_fixes else Verdict.LIKELY_FAIL
    return VideoReport(facts=facts, checks=checks, score=_score(checks), verdict=verdict,
                       blocking=bool(failed), convertible=convertible, frames=frames,
                       audio_levels=levels, speech=speech)


def check_video(source: str | os.PathLike[str], *, model_name: str = "phoenix-4",
                consent: str = "in_clip", size_bytes: int | None = None,
                filename: str | None = None,
                on_progress: Callable[[float], None] | None = None) -> VideoReport:
    """Every check of a training clip (a path or an http(s) URL). `consent`: "in_clip" (the clip
    must open with the statement) or "separate" (a consent clip is sent; the opening is not
    judged). Raises VideoError when the file is not a readable video."""
    if consent not in ("in_clip", "separate"):
        raise ValueError(f"consent must be 'in_clip' or 'separate', not {consent!r}")
    return _analyse(source, consent_clip=False, model_name=model_name, consent=consent,
                    size_bytes=size_bytes, filename=filename, on_progress=on_progress)


def check_consent_clip(source: str | os.PathLike[str], *, size_bytes: int | None = None,
                       filename: str | None = None) -> VideoReport:
    """A separate consent clip: the file rules (but not the training minimum length), one person,
    and speech about as long as the statement. Raises VideoError when unreadable."""
    return _analyse(source, consent_clip=True, model_name="", consent="separate",
                    size_bytes=size_bytes, filename=filename, on_progress=None)
