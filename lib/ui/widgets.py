"""Pieces of pages shared between screens: the photo report, Tavus's check, errors, voices."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import streamlit as st

from lib.actions.board import Action
from lib.errors import user_message
from lib.replicas.voices import served_locally
from lib.tavus.client import ImageValidation, Voice
from lib.text import escape_markdown
from lib.ui import cached
from lib.ui.actions import failure_text

if TYPE_CHECKING:  # annotations only: importing checks would load OpenCV on every page
    from lib.photos.checks import PhotoReport
    from lib.ui.shell import Frame

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


CREATE_STEPS = {"preparing": "Preparing the photo", "poster": "Taking a still from the clip",
                "uploading": "Uploading the photo to S3", "signing": "Signing the training URL",
                "creating": "Asking Tavus to train", "recording": "Saving the record for the team"}


def show_action_failure(action: Action, again: str) -> None:
    """An action that did not finish: what happened, and that pressing `again` resumes it."""
    st.error(f"{failure_text(action)} Press **{again}** to try again: what already "
             "succeeded is not repeated.", icon=":material/error:")


def show_create_progress(action: Action) -> None:
    """A create running in the server's workers (its step), or why it did not finish."""
    with st.container(key="create-progress"):
        if action.running:
            st.info(f"Creating the replica… {CREATE_STEPS.get(action.step or '', '')}",
                    icon=":material/hourglass_top:")
        elif not action.ok:
            show_action_failure(action, "Create replica")


def show_tavus_check_action(action: Action, model: str) -> None:
    """Tavus's own check: running, its result, or why it could not run."""
    if action.running:
        st.caption(":material/hourglass_top: Asking Tavus to check the photo…")
    elif action.ok:
        show_tavus_check(action.result, model)
    else:
        show_action_failure(action, "Check with Tavus")


def call_knowledge(frame: Frame) -> None:
    """The Start form's documents for one call (on top of the persona's): ready documents,
    tags, and how Tavus searches them. Keys `call_documents`, `call_doc_tags`, `call_strategy`."""
    from lib.conversations.requests import RETRIEVAL_STRATEGIES

    state = st.session_state
    listed = cached.documents(frame).documents
    names = {d.document_id: d.document_name or d.document_id for d in listed
             if str(d.state) == "ready"}
    chosen = [d for d in state.get("call_documents") or [] if d not in names]  # a preset's
    st.multiselect("Documents", [*names, *chosen], key="call_documents",
                   format_func=lambda did: names.get(did, f"{did} (not ready or gone)"),
                   help="Ready documents from the Knowledge page.")
    tags = sorted({t for d in listed for t in d.tags} | set(state.get("call_doc_tags") or ()))
    st.multiselect("Document tags", tags, key="call_doc_tags", accept_new_options=True)
    st.selectbox("Search the documents for", [None, *RETRIEVAL_STRATEGIES], key="call_strategy",
                 format_func=lambda s: "Tavus's default (balanced)" if s is None else s)
