"""Joining a conversation: the link (with a private room's token) and its QR code for a phone."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import segno

from lib.tavus.client import Conversation


def join_url(conversation: Conversation) -> str:
    """The link to join: conversation_url, plus ?t=<meeting_token> for a private room.

    "" when Tavus gave no URL. Note that only the create answer carries meeting_token: a
    conversation read back from the list has none, so keep the one from `start_conversation`.
    """
    url = conversation.conversation_url or ""
    token = conversation.meeting_token
    if not url or not token:
        return url
    parts = urlsplit(url)
    # Keep any query the URL already has; replace a stale t= rather than send two.
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "t"]
    query.append(("t", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def qr_png(url: str, *, scale: int = 8) -> bytes:
    """A PNG QR code for `url`, to open the demo on a phone.

    Error correction "m" survives a glare on a laptop screen; the default quiet zone (4 modules) is
    kept because scanners, phones and OpenCV alike fail without it. Never a Micro QR: phones
    rarely read those.
    """
    if not url:
        raise ValueError("A URL is needed to draw a QR code")
    if scale < 1:
        raise ValueError("scale must be at least 1")
    qr = segno.make(url, error="m", micro=False, boost_error=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
