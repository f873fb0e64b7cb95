"""Training-video judging for the simulator: download, probe with PyAV, fail like Tavus would.

The simulator is an independent judge of a clip: it applies Tavus's documented file rules
(tavus-api.md, "Training from a video") with its own probe, and never imports the app's
`lib.videos` checks, so a bug there cannot hide behind the same bug here.

Order of the checks (the first failure wins, as in one Tavus `error_message`):
  1. download (HTTP status, expiry of a presigned URL, the 750 MB cap while streaming)
  2. container and codecs, read from the file's header: the cheapest, and a file that cannot be
     decoded cannot be measured further (video_format / video_codec / video_codec_and_format)
  3. frame rate (video_fps), then length (video_duration): both need the streams' timing
  4. consent: decoding audio, the costliest step, so last: a separate consent clip must pass
     2–3 except length (it holds one ~15 s statement) and have speech; without one, the training
     clip must open with speech (a loudness test: the consent words themselves are not heard).

Files are streamed to a temporary directory that is deleted as soon as the judgement is made.
PyAV and httpx are imported lazily so that `import lib.tavus.simulator` stays cheap.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from .media import DOWNLOAD_TIMEOUT, _host, _install_httpx_filter, presigned_expiry

# "under 750 MB" (tavus-api.md): decimal megabytes, the stricter reading.
MAX_VIDEO_BYTES = 750 * 1000 * 1000
MIN_FPS = 25
MIN_SECONDS = 60.0
MIN_SECONDS_PHOENIX_3 = 120.0  # phoenix-3 wants 1 min speaking + 1 min listening
CONSENT_WINDOW_SECONDS = 5.0  # where the consent statement must be heard
TRAINING_PREFIX = "There was an issue processing your training file: "
CONSENT_PREFIX = "There was an issue processing your consent video: "
_CHUNK = 1 << 20

if TYPE_CHECKING:
    from av.container import InputContainer


class VideoTrainingError(Exception):
    """Why training from a video failed, in Tavus's words (becomes error_message)."""


@dataclass(frozen=True)
class VideoFacts:
    """What the judge reads from a file; None where the file has no such thing."""

    container: str  # "mp4", "mov", "webm", "mkv", "m4a", or the demuxer's own name
    video_codec: str | None
    audio_codec: str | None
    fps: float | None
    seconds: float | None
    width: int | None
    height: int | None


def _status_words(code: int) -> str:
    """"404 Not Found": the standard phrase, not the file server's own (HTTP/2 sends none)."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def download(url: str, folder: Path, *, wall_now: float, max_bytes: int = MAX_VIDEO_BYTES,
             prefix: str = TRAINING_PREFIX, name: str = "training",
             timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Stream `url` into a file in `folder`, never whole in memory; stop past `max_bytes`.

    Messages name the host only: the query string may be a credential.
    """
    expiry = presigned_expiry(url)
    if expiry is not None and wall_now > expiry[0]:
        when = dt.datetime.fromtimestamp(expiry[0], tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise VideoTrainingError(
            f"{prefix}The file could not be downloaded: the presigned URL expired at {when} "
            "(HTTP 403 AccessDenied). The link must stay downloadable for at least 24 hours."
        )
    import httpx

    _install_httpx_filter()
    too_big = VideoTrainingError(
        f"{prefix}The file is larger than {max_bytes / 1_000_000:g} MB. Trim or compress the "
        "video and upload it again."
    )
    path = folder / name
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as resp,
        ):
            if not 200 <= resp.status_code < 300:
                raise VideoTrainingError(
                    f"{prefix}The file could not be downloaded from {_host(url)} (HTTP "
                    f"{_status_words(resp.status_code)}). The link must be publicly "
                    "downloadable for at least 24 hours."
                )
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_big  # no need to read a byte of it
            size = 0
            with path.open("wb") as out:
                for chunk in resp.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise too_big
                    out.write(chunk)
    except httpx.TimeoutException:
        raise VideoTrainingError(
            f"{prefix}The file could not be downloaded: {_host(url)} timed out."
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):
        raise VideoTrainingError(
            f"{prefix}The file could not be downloaded: could not connect to {_host(url)}."
        ) from None
    return path


def _container_name(container: InputContainer) -> str:
    fmt = container.format.name
    if "mp4" in fmt.split(","):  # the one demuxer reads mp4, mov and m4a: the brand tells them
        brand = str(container.metadata.get("major_brand", "")).strip().lower()
        if brand.startswith("qt"):
            return "mov"
        if brand.startswith("m4a"):
            return "m4a"
        return "mp4"
    if "webm" in fmt.split(","):
        return "webm-or-mkv"
    return fmt


def probe(path: Path) -> VideoFacts | None:
    """The file's container, codecs, rate, length and size; None if PyAV cannot read it."""
    import av

    try:
        with av.open(str(path)) as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            name = _container_name(container)
            if name == "webm-or-mkv":
                webm_codecs = {"vp8", "vp9", "av1", "opus", "vorbis", None}
                codecs = {s.codec_context.name if s else None for s in (video, audio)}
                name = "webm" if codecs <= webm_codecs else "mkv"
            fps = None
            seconds = None
            if video is not None:
                rate = video.average_rate or video.guessed_rate
                fps = float(Fraction(rate)) if rate else None
            if container.duration is not None:
                seconds = container.duration / av.time_base
            elif video is not None and video.duration is not None and video.time_base:
                seconds = float(video.duration * video.time_base)
            return VideoFacts(
                container=name,
                video_codec=video.codec_context.name if video is not None else None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                fps=fps,
                seconds=seconds,
                width=video.codec_context.width if video is not None else None,
                height=video.codec_context.height if video is not None else None,
            )
    except (av.error.FFmpegError, OSError, ValueError, StopIteration):
        return None


_CONTAINER_WORDS = {"mov": "a QuickTime MOV file", "webm": "a WebM file",
                    "mkv": "a Matroska (MKV) file", "m4a": "an M4A audio file"}
_CODEC_WORDS = {"h264": "H.264", "hevc": "HEVC (H.265)", "vp9": "VP9", "vp8": "VP8",
                "av1": "AV1", "aac": "AAC", "opus": "Opus", "mp3": "MP3", "vorbis": "Vorbis"}


def _codec(name: str | None) -> str:
    return _CODEC_WORDS.get(name or "", (name or "").upper())


def check_file(facts: VideoFacts | None, *, prefix: str, min_seconds: float | None) -> None:
    """Steps 2–3 of the module's order; raises VideoTrainingError on the first failure."""
    if facts is None:
        raise VideoTrainingError(f"{prefix}The file could not be read as a video: upload an MP4 "
                                 "file.")
    if facts.video_codec is None:
        raise VideoTrainingError(f"{prefix}The file has no video track: upload an MP4 video "
                                 "of yourself.")
    format_ok = facts.container == "mp4"
    codecs_ok = facts.video_codec == "h264" and facts.audio_codec == "aac"
    audio = f"{_codec(facts.audio_codec)} audio" if facts.audio_codec else "no audio track"
    what = f"{_codec(facts.video_codec)} video and {audio}"
    if not format_ok and not codecs_ok:
        kind = _CONTAINER_WORDS.get(facts.container, f"a {facts.container} file")
        raise VideoTrainingError(f"{prefix}The video must be an MP4 file with H.264 video and "
                                 f"AAC audio (this one is {kind} with {what}).")
    if not format_ok:
        kind = _CONTAINER_WORDS.get(facts.container, f"a {facts.container} file")
        raise VideoTrainingError(f"{prefix}The video must be an MP4 file (this one is {kind}).")
    if not codecs_ok:
        raise VideoTrainingError(f"{prefix}The video must use H.264 video with AAC audio (this "
                                 f"one has {what}).")
    if facts.fps is None or round(facts.fps) < MIN_FPS:
        got = f"{facts.fps:.3g} fps" if facts.fps else "an unknown frame rate"
        raise VideoTrainingError(f"{prefix}The video must be at least {MIN_FPS} frames per "
                                 f"second (this one is {got}).")
    # 0.1 s of slack: encoders pad or trim a few audio frames at the ends of an exact minute.
    if min_seconds is not None and (facts.seconds or 0.0) + 0.1 < min_seconds:
        wanted = "1 minute" if min_seconds == 60 else f"{min_seconds / 60:g} minutes"
        raise VideoTrainingError(f"{prefix}The video must be at least {wanted} long (this one "
                                 f"is {facts.seconds or 0:.0f} seconds).")


def speech_at_start(path: Path, seconds: float = CONSENT_WINDOW_SECONDS) -> bool:
    """Is someone speaking in the opening `seconds`? A loudness test, not speech recognition.

    The audio is cut into 100 ms windows; the room's floor is the quietest tenth of them over the
    whole clip. The opening counts as speech when at least 30 % of its windows are well above
    that floor (4×) and above -40 dBFS: a voice is, a quiet room or digital silence is not.
    """
    import av
    import numpy as np

    rate = 16_000
    try:
        with av.open(str(path)) as container:
            stream = next(iter(container.streams.audio), None)
            if stream is None:
                return False
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            parts = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, OSError, ValueError):
        return False
    if not parts:
        return False
    samples = np.concatenate(parts).astype(np.float64)
    window = rate // 10
    usable = len(samples) // window * window
    if usable == 0:
        return False
    rms = np.sqrt(np.mean(samples[:usable].reshape(-1, window) ** 2, axis=1))
    floor = float(np.percentile(rms, 10))
    opening = rms[: max(1, int(seconds * 10))]
    voiced = opening > max(0.01, 4 * floor)
    return bool(voiced.mean() >= 0.3)


def judge(url: str, *, consent_url: str | None, model_name: str, wall_now: float,
          max_bytes: int = MAX_VIDEO_BYTES) -> None:
    """Download and judge a training clip (and its consent clip); raises VideoTrainingError.

    Every downloaded byte is deleted before this returns, pass or fail.
    """
    min_seconds = MIN_SECONDS_PHOENIX_3 if model_name == "phoenix-3" else MIN_SECONDS
    with tempfile.TemporaryDirectory(prefix="tavus-sim-video-") as tmp:
        folder = Path(tmp)
        clip = download(url, folder, wall_now=wall_now, max_bytes=max_bytes)
        check_file(probe(clip), prefix=TRAINING_PREFIX, min_seconds=min_seconds)
        if consent_url is None:
            if not speech_at_start(clip):
                raise VideoTrainingError(
                    f"{TRAINING_PREFIX}The consent statement was not found at the start of the "
                    "video. Open the recording with the consent statement, spoken clearly in "
                    "English with your full name, or send it as a separate consent video."
                )
            return
        clip.unlink()  # judged: do not keep two large files at once
        consent = download(consent_url, folder, wall_now=wall_now, max_bytes=max_bytes,
                           prefix=CONSENT_PREFIX, name="consent")
        check_file(probe(consent), prefix=CONSENT_PREFIX, min_seconds=None)
        if not speech_at_start(consent):
            raise VideoTrainingError(
                f"{CONSENT_PREFIX}The consent statement could not be heard at the start of the "
                "consent video. Record it spoken clearly in English with your full name."
            )
