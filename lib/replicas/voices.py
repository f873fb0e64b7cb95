"""Stock voices for the picker, and their preview clips."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from lib.tavus.client import KNOWN_VOICE_NAMES, Voice

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_CLIP_BYTES = 5 * 1024 * 1024


def fallback_voices() -> list[Voice]:
    """The six slugs Tavus documents, for when the voices call fails (no preview clips)."""
    return sorted_voices([Voice(voice_name=name) for name in KNOWN_VOICE_NAMES])


def sorted_voices(voices: list[Voice]) -> list[Voice]:
    unique = {v.voice_name: v for v in voices if v.voice_name}
    return [unique[name] for name in sorted(unique, key=str.lower)]


def served_locally(url: str) -> bool:
    """A loopback URL (demo mode's simulator) is reachable by the server, not by a browser
    elsewhere (Community Cloud): such clips are fetched server-side and sent as bytes."""
    return (urlsplit(url).hostname or "") in _LOOPBACK


def download_clip(url: str, *, timeout: float = 5.0) -> bytes | None:
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError:
        return None
    if response.status_code != 200 or len(response.content) > MAX_CLIP_BYTES:
        return None
    return response.content
