"""Pieces of the video screen: the recording guide, the clip's report, checks and conversion run
with a progress bar. Clips are read from S3 through short-lived presigned URLs: no clip ever
passes through this process's memory whole."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from lib.actions.board import Action
from lib.text import escape_markdown
from lib.ui.widgets import LEVEL_ICONS, show_action_failure

log = logging.getLogger("replica_studio.ui.clips")

if TYPE_CHECKING:  # annotations only: PyAV and OpenCV load where clips are checked
    from lib.ui.shell import Frame
    from lib.videos.checks import VideoReport

_VERDICTS = {
    "ready": (st.success, "Ready: this clip should train well."),
    "fixable": (st.warning, "Fixable: convert it here, or follow the fixes below."),
    "likely_fail": (st.error, "Will likely fail: fix the recording before spending 3–4 hours."),
}


def show_recording_guide(full_name: str, model_name: str, *, expanded: bool) -> None:
    """The statement with the name filled in, the steps of the take, a script to read."""
    from lib.videos.guide import recording_guide, speaking_script

    with (st.expander("Recording guide", expanded=expanded, icon=":material/movie:"),
          st.container(key="recording-guide")):
            for step in recording_guide(full_name, model_name):
                st.markdown(f"**{escape_markdown(step.title)}** — {escape_markdown(step.detail)}")
                if step.quote:
                    st.code(step.quote, language=None, wrap_lines=True)  # with a copy button
            st.markdown("**A script for the speaking part**, if you want one:")
            st.code(speaking_script(), language=None, wrap_lines=True)


def check_clip(frame: Frame, key: str, size_bytes: int, filename: str, *, model_name: str,
               consent: str, role: str = "training") -> VideoReport | None:
    """The clip's report, once per clip and settings for this session (a progress bar while it
    runs); None with a message shown when the file cannot be read as a video.

    A file that is not a readable video is deleted from the bucket at once (nothing is kept for
    a refused file) and its message is remembered, so later reruns say the same thing. When only
    the download failed (storage unreachable, link refused) the file is kept and checked again
    on the next run."""
    from lib.videos.checks import check_consent_clip, check_video
    from lib.videos.probe import VideoDownloadError, VideoError

    reports = st.session_state.setdefault("clip_reports", {})
    refusals = st.session_state.setdefault("clip_refusals", {})
    if key in refusals:
        st.error(refusals[key], icon=":material/videocam_off:")
        return None
    wanted = (key, model_name, consent, role)
    if wanted in reports:
        return reports[wanted]
    url = frame.services.store.presign_view(key, seconds=900)
    bar = st.progress(0.0, text=f"Checking {escape_markdown(filename)}…")
    try:
        if role == "consent":
            report = check_consent_clip(url, size_bytes=size_bytes, filename=filename)
        else:
            report = check_video(url, model_name=model_name, consent=consent,
                                 size_bytes=size_bytes, filename=filename,
                                 on_progress=lambda done: bar.progress(min(1.0, done)))
    except VideoDownloadError as error:
        bar.empty()
        st.error(escape_markdown(str(error)), icon=":material/cloud_off:")
        return None
    except VideoError as error:
        bar.empty()
        message = escape_markdown(f"{error} {_remove_refused(frame, key, filename)}")
        refusals[key] = message
        st.error(message, icon=":material/videocam_off:")
        return None
    bar.empty()
    reports[wanted] = report
    return report


def _remove_refused(frame: Frame, key: str, filename: str) -> str:
    """Delete a refused file from the bucket; what to tell the user about it."""
    from lib.storage.s3 import StorageError

    try:
        frame.services.store.delete(key)
    except StorageError as error:
        log.warning("could not delete refused clip %s: %s", key, error.message)
        return (f"{filename} could not be removed from the bucket ({error.message}); choose "
                "another file.")
    return f"{filename} was removed from the bucket; choose another file."


def show_video_report(report: VideoReport, *, key: str) -> None:
    """Verdict and score, one line per check (reason, fix, the Tavus error it predicts), the
    frames that were judged and the sound level over time."""
    show, text = _VERDICTS[str(report.verdict)]
    facts = report.facts
    with st.container(key=f"{key}-verdict"):
        show(f"**Clip score {report.score}/100.** {text}")
        st.caption(f"{facts.width}×{facts.height} · {facts.fps:.4g} fps"
                   f"{'' if facts.constant_fps else ' (variable)'} · "
                   f"{facts.duration_seconds:.1f} s · {facts.container} · "
                   f"{facts.video_codec or 'no video'} / {facts.audio_codec or 'no audio'}")
    with st.container(key=f"{key}-checks"):
        for check in report.checks:
            line = f"{LEVEL_ICONS[str(check.level)]} **{escape_markdown(check.label)}**"
            if check.reason.rstrip(".") != check.label:  # "MP4 file — MP4 file." says it twice
                line += f" — {escape_markdown(check.reason)}"
            if check.fix:
                line += f"  \n:gray[Fix: {escape_markdown(check.fix)}]"
            if check.tavus_error and str(check.level) != "pass":
                line += f" :gray[· Tavus would report `{check.tavus_error}`]"
            st.markdown(line)
    if report.frames:
        st.caption("What was judged: frames across the clip, faces boxed")
        with st.container(key=f"{key}-frames", horizontal=True):
            for sampled in report.frames:
                st.image(sampled.jpeg, caption=f"{sampled.seconds:.0f} s", width=96,
                         alt=f"The clip at {sampled.seconds:.0f} s, faces boxed")
    if report.audio_levels:
        levels = pd.DataFrame(report.audio_levels, columns=["seconds", "level (dBFS)"])
        st.caption("Sound level over time: speech first, then the quiet listening part")
        st.area_chart(levels, x="seconds", y="level (dBFS)", height=140)


def convert_work(frame: Frame, key: str) -> Callable[[Action], tuple[str, object]]:
    """Convert the clip to mp4 / H.264 / AAC (S3 -> a temporary file -> S3) as work for the
    server's action board: it goes on whatever the page does, and reports its progress.
    -> the new object's key and facts; ConversionError or StorageError say what went wrong."""
    from lib.videos.convert import convert_to_store

    store = frame.services.store
    converted_key = key.rsplit(".", 1)[0] + "-converted.mp4"

    def work(action: Action) -> tuple[str, object]:
        action.report(step="converting", progress=0.0)
        return convert_to_store(store, store.presign_view(key, seconds=3600), converted_key,
                                on_progress=lambda done: action.report(progress=done))

    return work


def show_conversion(action: Action) -> None:
    """A conversion under way (its progress), or why it failed."""
    from lib.videos.convert import ConversionError

    if action.running:
        st.progress(action.progress or 0.0,
                    text=f"Converting to mp4 / H.264 / AAC… {action.progress or 0.0:.0%}")
    elif not action.ok:
        if isinstance(action.error, ConversionError):
            st.error(escape_markdown(str(action.error)), icon=":material/error:")
        else:
            show_action_failure(action, "Convert")


def poster(frame: Frame, key: str, duration_seconds: float) -> bytes | None:
    """A clean still from the clip (2 s in, where the person faces the camera) for the table."""
    from lib.videos.poster import poster_jpeg

    return poster_jpeg(frame.services.store.presign_view(key, seconds=300),
                       at_seconds=min(2.0, duration_seconds / 2))
