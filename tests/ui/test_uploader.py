"""The uploader's Python side that needs no browser: content types and failure advice.
The handshake itself is exercised in Chromium (tests/e2e/test_upload_journey.py)."""

from __future__ import annotations

import pytest

from lib.ui.uploader import _failure_message, content_type_for


@pytest.mark.parametrize(("name", "browser_type", "expected"), [
    ("a.mp4", "video/mp4", "video/mp4"),
    ("take.MOV", "", "video/quicktime"),  # Chromium on Linux leaves .mov untyped
    ("x.m4v", "", "video/x-m4v"),
    ("x.webm", "application/octet-stream", "video/webm"),
    ("noext", "", "application/octet-stream"),
])
def test_content_type_for(name: str, browser_type: str, expected: str) -> None:
    assert content_type_for(name, browser_type) == expected


@pytest.mark.parametrize(("result", "advice"), [
    ({"reason": "network", "http_status": 0}, "bucket's CORS rule"),
    ({"reason": "etag", "http_status": 200}, "Add ETag to ExposeHeaders"),
    ({"reason": "http", "http_status": 403}, "Press Retry for fresh links"),
    ({"reason": "http", "http_status": 503}, "(HTTP 503, 4 tries per part). Press Retry"),
])
def test_each_failure_says_what_to_do(result: dict, advice: str) -> None:
    message = _failure_message("clip.mp4", result)
    assert "clip.mp4" in message and advice in message
