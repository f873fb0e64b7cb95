"""Showing user and Tavus text literally inside Streamlit's Markdown."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown (and Streamlit's :directives:) so text shows as typed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
