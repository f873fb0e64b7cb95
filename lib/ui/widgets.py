"""Pieces of pages shared between screens: the photo report, Tavus's check, errors, voices."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import streamlit as st

from lib.errors import user_message
from lib.replicas.voices import served_locally
from lib.tavus.client import ImageValidation, Voice
from lib.text import escape_markdown
from lib.ui import cached

if TYPE_CHECKING:  # annotations only: importing checks would load OpenCV on every page
    from lib.photos.checks import PhotoReport

log = logging.getLogger("replica_studio.ui")

LEVEL_ICONS = {"pass": ":green[:material/check_circle:]", "warn": ":orange[:material/warning:]",
                "fail": ":red[:material/cancel:]"}


def show_photo_report(report: PhotoReport) -> None:
    """Score, verdict, and one line per check with its reason and fix."""
    verdicts = {
        "ready": (st.success, "Ready: this photo should train well."),
        "fixable": (st.warning, "Fixable: Tavus's auto-fix can likely rescue the framing."),
        "likely_fail": (st.error, "Will likely fail: fix the photo before spending 3–4 hours."),
    }
    show, text = verdicts[str(report.verdict)]
    with st.container(key="photo-verdict"):
        show(f"**Photo score {report.score}/100.** {text}")
    with st.container(key="photo-checks"):
        for check in report.checks:
            line = f"{LEVEL_ICONS[str(check.level)]} **{escape_markdown(check.label)}** — " \
                   f"{escape_markdown(check.reason)}"
            if check.fix:
                line += f"  \n:gray[Fix: {escape_markdown(check.fix)}]"
            st.markdown(line)


def voice_preview(voice: Voice) -> None:
    if not voice.audio_url:
        st.caption("No preview clip for this voice.")
        return
    if served_locally(voice.audio_url):
        clip = cached.preview_clip(voice.audio_url)
        if clip is None:
            st.caption("The preview clip could not be loaded.")
        else:
            st.audio(clip, format="audio/wav")
    else:
        st.audio(voice.audio_url)


def show_tavus_check(result: ImageValidation, model: str) -> None:
    with st.container(key="tavus-check"):
        verdict = "passed" if result.passed else "did not pass"
        (st.success if result.passed else st.error)(f"**Tavus's own check ({model}) {verdict}.**")
        for check in result.checks:
            icon = LEVEL_ICONS["pass" if check.passed else "fail"]
            st.markdown(f"{icon} {escape_markdown(check.label or check.id)}")
        if result.details:
            st.caption(escape_markdown(str(result.details)))


def show_error(error: Exception) -> None:
    log.warning("shown to user: %s", type(error).__name__)
    st.error(escape_markdown(user_message(error)), icon=":material/error:")
