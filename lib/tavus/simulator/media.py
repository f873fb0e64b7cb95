"""Media for the simulator: voice preview tones, training-image downloads and image checks.

Pillow and httpx are imported lazily so that `import lib.tavus.simulator` stays cheap.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MIN_SIDE = 512
DOWNLOAD_TIMEOUT = 10.0
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
SUPPORTED_MIME = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG"}

log = logging.getLogger("replica_studio.simulator")


# ------------------------------------------------------------------------------------------------
# audio
# ------------------------------------------------------------------------------------------------
def tone_wav(pitch_hz: float, seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A mono 16-bit WAV: a sine at `pitch_hz` with short fades, as a voice preview stand-in."""
    frames = int(seconds * rate)
    fade = max(1, int(0.02 * rate))
    samples = bytearray()
    for i in range(frames):
        envelope = min(1.0, i / fade, (frames - 1 - i) / fade)
        value = 0.4 * envelope * math.sin(2 * math.pi * pitch_hz * i / rate)
        samples += struct.pack("<h", int(value * 32767))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(samples))
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageInfo:
    """What the checks look at. `format` is "PNG"/"JPEG"/other Pillow name, None if unreadable."""

    data: bytes
    format: str | None
    width: int | None
    height: int | None
    mime_type: str | None = None
    model: str = "phoenix-4"


def inspect_image(
    data: bytes, *, mime_type: str | None = None, model: str = "phoenix-4"
) -> ImageInfo:
    """Decode fully with Pillow (a header alone can lie); never raises."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            fmt, (w, h) = img.format, img.size
            img.load()
        return ImageInfo(data, fmt, w, h, mime_type, model)
    except Exception:  # any decoder failure means "not a readable image"
        return ImageInfo(data, None, None, None, mime_type, model)


def check_format(info: ImageInfo) -> dict[str, Any]:
    return {
        "id": "format",
        "label": "The file is a PNG or JPEG image",
        "passed": info.format in ("PNG", "JPEG"),
    }


def check_mime_type(info: ImageInfo) -> dict[str, Any]:
    expected = SUPPORTED_MIME.get((info.mime_type or "").lower())
    return {
        "id": "mime_type",
        "label": "The image matches its declared mimeType",
        "passed": info.format is not None and info.format == expected,
    }


def check_resolution(info: ImageInfo) -> dict[str, Any]:
    ok = (
        info.width is not None
        and info.height is not None
        and min(info.width, info.height) >= MIN_SIDE
    )
    return {"id": "resolution", "label": f"At least {MIN_SIDE}×{MIN_SIDE} pixels", "passed": ok}


# The image-validation rules, in order. To extend, append a callable
# ImageInfo -> {id, label, passed}.
IMAGE_CHECKS: list[Callable[[ImageInfo], dict[str, Any]]] = [
    check_format,
    check_mime_type,
    check_resolution,
]


def _project_checks(info: ImageInfo) -> list[dict[str, Any]]:
    """Face checks from `lib.photos.checks.tavus_style_checks`, when that module exists."""
    if info.format not in ("PNG", "JPEG"):
        return []
    try:
        from lib.photos.checks import tavus_style_checks  # type: ignore[import-not-found]
    except ImportError as e:
        if e.name == "lib.photos.checks":  # no such module (or no such function) yet
            return []
        raise
    try:
        results = tavus_style_checks(info.data)
    except Exception:  # their bug must not take the endpoint down; the log says so
        log.warning("lib.photos.checks.tavus_style_checks failed", exc_info=True)
        return []
    return [
        {"id": str(c.get("id")), "label": str(c.get("label")), "passed": bool(c.get("passed"))}
        for c in results
        if isinstance(c, dict)
    ]


def run_image_checks(info: ImageInfo) -> dict[str, Any]:
    """-> the image-validation answer {passed, checks, details} (details: a readable string)."""
    checks = [rule(info) for rule in IMAGE_CHECKS]
    checks += _project_checks(info)
    failed = [c["label"] for c in checks if not c["passed"]]
    if info.format is None:
        details = "The image could not be read as a PNG or JPEG image."
    else:
        details = f"{info.width}x{info.height} {info.format}. " + (
            "Failed: " + "; ".join(failed) + "." if failed else "All checks passed."
        )
    return {"passed": not failed, "checks": checks, "details": details}


# ------------------------------------------------------------------------------------------------
# training-image download
# ------------------------------------------------------------------------------------------------
DOWNLOAD_THREAD_PREFIX = "tavus-sim-download-"


class _HideDownloadRequests(logging.Filter):
    """httpx logs every request with its full URL at INFO. From our download threads that URL
    may be presigned (a credential in the query), so those records are dropped; other threads'
    httpx records pass untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(DOWNLOAD_THREAD_PREFIX)


_HIDE_FILTER = _HideDownloadRequests()


def _install_httpx_filter() -> None:
    logger = logging.getLogger("httpx")
    if _HIDE_FILTER not in logger.filters:
        logger.addFilter(_HIDE_FILTER)


class TrainingImageError(Exception):
    """Why training from an image failed, in Tavus's words (becomes error_message)."""


def presigned_expiry(url: str) -> tuple[float, str] | None:
    """-> (expiry as epoch seconds, how it was read) for presigned S3/GCS URLs, else None.

    Local S3 servers (moto) do not enforce expiry, so the simulator checks it itself.
    """
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    for prefix in ("x-amz-", "x-goog-"):
        date, expires = query.get(prefix + "date"), query.get(prefix + "expires")
        if date and expires:
            try:
                signed = dt.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
                return signed.timestamp() + int(expires), f"{prefix}expires={int(expires)}"
            except ValueError:
                return None
    if "expires" in query and ("awsaccesskeyid" in query or "signature" in query):
        try:  # SigV2: Expires is an absolute epoch time
            return float(int(query["expires"])), "expires"
        except ValueError:
            return None
    return None


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1] or "the host"
    except ValueError:
        return "the host"


def download_training_image(
    url: str, *, wall_now: float, timeout: float = DOWNLOAD_TIMEOUT
) -> bytes:
    """Fetch the image like Tavus would.

    Messages name the host only: the query string may be a credential.
    """
    expiry = presigned_expiry(url)
    if expiry is not None and wall_now > expiry[0]:
        when = dt.datetime.fromtimestamp(expiry[0], tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise TrainingImageError(
            "Failed to download the training image: the presigned URL expired at "
            f"{when} (HTTP 403 AccessDenied: Request has expired). The training image URL must "
            "stay downloadable for at least 24 hours."
        )
    import httpx

    _install_httpx_filter()
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as resp,
        ):
            if not 200 <= resp.status_code < 300:
                raise TrainingImageError(
                    "Failed to download the training image: HTTP "
                    f"{resp.status_code} {resp.reason_phrase} from {_host(url)}"
                )
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise TrainingImageError(
                        "Failed to download the training image: the file is larger than "
                        f"{MAX_DOWNLOAD_BYTES // (1024 * 1024)} MiB."
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException:
        raise TrainingImageError(
            f"Failed to download the training image: {_host(url)} timed out."
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):
        raise TrainingImageError(
            f"Failed to download the training image: could not connect to {_host(url)}."
        ) from None


def check_training_image(data: bytes) -> None:
    info = inspect_image(data)
    if info.format not in ("PNG", "JPEG"):
        raise TrainingImageError("The training image could not be read as a PNG or JPEG image.")
    if min(info.width or 0, info.height or 0) < MIN_SIDE:
        raise TrainingImageError(
            f"ImageQualityError: the training image is {info.width}x{info.height}; at least "
            f"{MIN_SIDE}x{MIN_SIDE} pixels are required."
        )
