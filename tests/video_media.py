"""Test clips made in the tests: frames drawn from scikit-image's astronaut with PyAV, a voice from
Debian's espeak-ng, then quiet. Clips are cached on disk by their recipe, so a session draws each
one once."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import uuid
import wave
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageEnhance

from tests.media import astronaut, coffee

# Bump when the drawing changes: cached clips from an older recipe are not reused.
RECIPE_VERSION = 1
CACHE = Path(tempfile.gettempdir()) / "replica-studio-test-clips"

SCRIPT = ("Hello, I am recording this clip to train my replica. The quick brown fox jumps over "
          "the lazy dog. I speak clearly and show my teeth, at an even pace, in a quiet room. ")
CONSENT = ("I, Ada Lovelace, am currently speaking and consent Tavus to create an AI clone of me "
           "by using the audio and video samples I provide. I understand that this AI clone can "
           "be used to create videos that look and sound like me.")

AUDIO_RATE = 44_100


@dataclass(frozen=True)
class Clip:
    """A recipe for a test clip. Defaults: a good 70 s 720p30 training clip (speech, then quiet)."""

    seconds: float = 70.0
    width: int = 1280
    height: int = 720
    fps: int = 30
    container: str = "mp4"          # mp4, mov, webm, m4a (audio only)
    video_codec: str | None = "libx264"   # libx264, libx265, libvpx-vp9; None: no video
    audio_codec: str | None = "aac"       # aac, libopus; None: no audio track
    audio: str = "speech_then_quiet"  # speech_then_quiet, speech, silence
    speech_seconds: float = 35.0    # how long the voice lasts at the start
    text: str = CONSENT + " " + SCRIPT
    faces: int = 1                  # 0: a coffee cup instead, 2: two people side by side
    face_height: float = 0.75       # the portrait's height as a share of the frame's
    pan: bool = False               # the camera pans: the whole picture slides
    lighting_jump: bool = False     # the light halves at mid-clip
    variable_fps: bool = False      # frame durations alternate (a phone's variable frame rate)
    keyframe_seconds: float = 2.0   # GOP length

    def short(self, **changes) -> Clip:
        return replace(self, **changes)


def clip_path(clip: Clip = Clip()) -> Path:
    """The clip's file, drawn on first use and cached by recipe."""
    recipe = json.dumps({"v": RECIPE_VERSION, **asdict(clip)}, sort_keys=True)
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    path = CACHE / f"{digest}.{clip.container}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        # Not numpy's global generator: a test runner may seed it alike in every worker.
        partial = path.with_suffix(f".part-{uuid.uuid4().hex}.{clip.container}")
        _draw(clip, partial)
        partial.replace(path)  # atomic: parallel sessions never see half a clip
    return path


def copy_clip(clip: Clip, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip_path(clip), to)
    return to


# --- Voice ---------------------------------------------------------------------------------------
def speech(text: str, seconds: float) -> np.ndarray:
    """espeak-ng reading `text` (repeated to fill `seconds`), mono float32 at AUDIO_RATE."""
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    wav_path = CACHE / f"voice-{key}.wav"
    if not wav_path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = wav_path.with_suffix(f".{uuid.uuid4().hex}.wav")
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(tmp), text], check=True,
                       capture_output=True)
        tmp.replace(wav_path)
    with wave.open(str(wav_path)) as wav:
        rate = wav.getframerate()
        raw = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    voice = raw.astype(np.float32) / 32768
    # Resample to AUDIO_RATE (linear is plenty for a level meter and a codec).
    positions = np.arange(0, len(voice), rate / AUDIO_RATE)
    voice = np.interp(positions, np.arange(len(voice)), voice).astype(np.float32)
    wanted = int(seconds * AUDIO_RATE)
    reps = int(np.ceil(wanted / max(1, len(voice))))
    return np.tile(voice, reps)[:wanted]


def soundtrack(clip: Clip) -> np.ndarray:
    total = int(clip.seconds * AUDIO_RATE)
    rng = np.random.default_rng(7)
    # A quiet room, not digital zero.
    track = (rng.standard_normal(total) * 0.0005).astype(np.float32)
    if clip.audio == "speech":
        track += speech(clip.text, clip.seconds)
    elif clip.audio == "speech_then_quiet":
        voice = speech(clip.text, min(clip.speech_seconds, clip.seconds))
        track[:len(voice)] += voice
    return np.clip(track, -1, 1)


# --- Pictures ------------------------------------------------------------------------------------
def _background(width: int, height: int) -> Image.Image:
    # A textured wall (so a pan is visible to motion checks), the same in every clip.
    rng = np.random.default_rng(3)
    small = rng.integers(90, 170, size=(max(2, height // 24), max(2, width // 24), 3),
                         dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)


def picture(clip: Clip, *, dark: bool = False) -> np.ndarray:
    """One frame of the clip (RGB), wider than the frame when it pans."""
    pad = clip.width // 3 if clip.pan else 0
    canvas = _background(clip.width + 2 * pad, clip.height)
    side = max(16, int(clip.height * clip.face_height))
    subjects = {0: [coffee()], 1: [astronaut()], 2: [astronaut(), astronaut()]}[clip.faces]
    cx = pad + clip.width // 2
    for i, subject in enumerate(subjects):
        scaled = subject.resize((side, side) if clip.faces else
                                (side, int(side * subject.height / subject.width)))
        offset = 0 if len(subjects) == 1 else (-1 if i == 0 else 1) * (side // 2 + 4)
        x = cx - scaled.width // 2 + offset
        y = clip.height - scaled.height  # seated, waist-up: the bottom edge is the body
        canvas.paste(scaled, (x, max(0, y)))
    if dark:
        canvas = ImageEnhance.Brightness(canvas).enhance(0.45)
    return np.asarray(canvas.convert("RGB"))


def _draw(clip: Clip, path: Path) -> None:
    options = {"movflags": "+faststart"} if clip.container in ("mp4", "mov", "m4a") else {}
    with av.open(str(path), "w", format={"m4a": "ipod"}.get(clip.container, clip.container),
                 options=options) as out:
        vstream = astream = None
        if clip.video_codec:
            vstream = out.add_stream(clip.video_codec, rate=clip.fps)
            vstream.width, vstream.height = clip.width, clip.height
            vstream.pix_fmt = "yuv420p"
            if clip.video_codec in ("libx264", "libx265"):
                vstream.options = {"preset": "ultrafast",
                                   "g": str(int(clip.keyframe_seconds * clip.fps))}
                if clip.video_codec == "libx265":
                    vstream.options["x265-params"] = "log-level=error"
                    vstream.codec_tag = "hvc1"  # as an iPhone writes it
            else:
                vstream.options = {"deadline": "realtime", "cpu-used": "8",
                                   "g": str(int(clip.keyframe_seconds * clip.fps))}
            if clip.variable_fps:
                vstream.codec_context.time_base = Fraction(1, 1000)
                vstream.time_base = Fraction(1, 1000)
        if clip.audio_codec:
            rate = 48_000 if clip.audio_codec == "libopus" else AUDIO_RATE
            astream = out.add_stream(clip.audio_codec, rate=rate)
            astream.layout = "mono"
        if vstream is not None:
            _write_video(clip, out, vstream)
        if astream is not None:
            _write_audio(clip, out, astream)


def _write_video(clip: Clip, out, stream) -> None:
    bright = picture(clip)
    dark = picture(clip, dark=True) if clip.lighting_jump else None
    pad = clip.width // 3 if clip.pan else 0
    cached: dict[tuple[bool, int], av.VideoFrame] = {}
    count = int(clip.seconds * clip.fps)
    pts_ms = 0
    for i in range(count):
        t = i / clip.fps
        use_dark = dark is not None and t >= clip.seconds / 2
        shift = int(2 * pad * (t / clip.seconds)) if pad else 0
        key = (use_dark, shift)
        frame = cached.get(key)
        if frame is None:
            source = dark if use_dark else bright
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(source[:, shift:shift + clip.width]), format="rgb24",
            ).reformat(format="yuv420p")  # once per picture, not once per frame
            cached.clear()
            cached[key] = frame
        if clip.variable_fps:
            frame.pts = pts_ms
            frame.time_base = Fraction(1, 1000)
            pts_ms += 20 if i % 2 else 47  # 30 fps on average, never constant
        else:
            frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def _write_audio(clip: Clip, out, stream) -> None:
    track = soundtrack(clip)
    rate = stream.rate
    if rate != AUDIO_RATE:
        positions = np.arange(0, len(track), AUDIO_RATE / rate)
        track = np.interp(positions, np.arange(len(track)), track).astype(np.float32)
    chunk = 1024 * 8
    for start in range(0, len(track), chunk):
        frame = av.AudioFrame.from_ndarray(track[None, start:start + chunk], format="fltp",
                                           layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
