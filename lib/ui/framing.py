"""The Create page's "Fix framing" block: crop here, compare before / after, choose what to send.

Imports OpenCV (through lib.photos), so only the Create page and tests import this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import streamlit as st

from lib.actions.board import Action
from lib.photos.analysis import PhotoAnalysis
from lib.photos.checks import FRAMING, Level, PhotoReport, check_photo
from lib.photos.framing import CropPlan, CropRefusal, apply_crop, plan_crop
from lib.photos.intake import PreparedPhoto
from lib.text import escape_markdown
from lib.ui import actions
from lib.ui.widgets import show_action_failure

NAME_SUFFIX = "-framed"  # added to the uploaded file's name when the fixed photo is sent
SEND_OPTIONS = ("Original", "Fixed")
VERDICTS = {"ready": (st.success, "Ready"), "fixable": (st.warning, "Fixable"),
            "likely_fail": (st.error, "Will likely fail")}


@dataclass(frozen=True)
class FixChoice:
    """What to send: the original photo or its framing fix, with the report that goes with it."""

    photo: PreparedPhoto
    report: PhotoReport
    framing_fixed: bool
    name_suffix: str  # "" or NAME_SUFFIX

    @property
    def data(self) -> bytes:
        return self.photo.data

    def applied(self, analysis: PhotoAnalysis) -> PhotoAnalysis:
        """`analysis` with the chosen photo and its report, for the rest of the page (its
        fingerprint is the chosen photo's; the overlay is the original's, drawn above)."""
        if not self.framing_fixed:
            return analysis
        return replace(analysis, replacement=self.photo, report=self.report)

    def filename(self, original: str) -> str:
        """`original` with the suffix before its extension: "me.jpg" -> "me-framed.jpg"."""
        stem, dot, ext = original.rpartition(".")
        return f"{stem}{self.name_suffix}.{ext}" if dot and stem else original + self.name_suffix


@dataclass(frozen=True)
class _Fixed:
    fingerprint: str  # of the original photo
    photo: PreparedPhoto
    report: PhotoReport


def fix_photo(analysis: PhotoAnalysis, plan: CropPlan) -> tuple[PreparedPhoto, PhotoReport]:
    """The crop and its checks (about 0.2 s)."""
    photo = apply_crop(analysis.prepared.data, plan)
    return photo, check_photo(photo.data)


def _fix_work(analysis: PhotoAnalysis, plan: CropPlan,
              action: Action) -> tuple[PreparedPhoto, PhotoReport]:
    action.report(step="cropping")
    return fix_photo(analysis, plan)


def _show_fixing(action: Action) -> None:
    if action.running:
        st.caption(":material/hourglass_top: Cropping and checking…")
    elif not action.ok:
        show_action_failure(action, "Fix framing")


def _verdict(report: PhotoReport, title: str) -> None:
    show, text = VERDICTS[str(report.verdict)]
    show(f"**{title}: {text}**, score {report.score}/100")
    for check in report.checks:
        if check.id in FRAMING and check.level is not Level.PASS:
            st.caption(f"{check.label}: {escape_markdown(check.reason)}")


def fix_framing_panel(analysis: PhotoAnalysis | None, key: str) -> FixChoice | None:
    """Offer "Fix framing" when a crop can mend the photo's framing; once fixed, show before and
    after with their verdicts and a "Send" choice. -> the choice, or None when no fix was made
    (send `analysis.prepared` as it is). The fix is kept in session state for this photo only
    (by its fingerprint), so it survives reruns and is dropped when another photo is picked."""
    if analysis is None or analysis.error is not None or analysis.report is None:
        return None  # the full-size photo is made only when a fix is asked for
    fingerprint = analysis.fingerprint
    state_key = f"{key}-fixed"
    fixed: _Fixed | None = st.session_state.get(state_key)
    if fixed is not None and fixed.fingerprint != fingerprint:
        fixed = None
        del st.session_state[state_key]  # another photo's fix: not kept
    plan = plan_crop(analysis.report)
    if plan is None:
        return None
    if isinstance(plan, CropRefusal):
        st.info(f"**Framing can't be fixed here.** {escape_markdown(plan.reason)}",
                icon=":material/crop_free:")
        return None

    # The crop is an action on the server's board, claimed in the button's callback: a click
    # elsewhere while it runs does not lose it, a second click repeats nothing.
    fixing = actions.ref("fix-framing", f"{key}:{fingerprint}")
    if fixed is None:
        done = fixing.get()
        if done is not None and done.ok:
            fixed = _Fixed(fingerprint, *done.result)
            st.session_state[state_key] = fixed
    if fixed is None:
        mends = ", ".join(p.lower() for p in plan.fixes)
        work = partial(_fix_work, analysis, plan)
        actions.button(st, "Fix framing", key=f"{key}-button", icon=":material/crop_portrait:",
                       disabled=fixing.running, action=fixing, name="Fix framing",
                       build=lambda: work,
                       help=f"Crop here to a centred head-and-shoulders portrait ({mends}), "
                            "then compare before and after and choose which to send.")
        actions.follow(fixing, _show_fixing)
        return None

    before_col, after_col = st.columns(2)
    with before_col:
        st.image(analysis.prepared.data, width="stretch",
                 caption=f"Before: {analysis.prepared.width}×{analysis.prepared.height}",
                 alt="The photo as uploaded, before the crop")
        _verdict(analysis.report, "Before")
    with after_col:
        st.image(fixed.photo.data, width="stretch",
                 caption=f"After: {fixed.photo.width}×{fixed.photo.height}",
                 alt="The photo after the crop: head and shoulders, face centred")
        _verdict(fixed.report, "After")
        for note in plan.notes:
            st.caption(f":material/info: {escape_markdown(note)}")
    choice = st.radio("Send", SEND_OPTIONS, index=1, horizontal=True,
                      key=f"{key}-send-{fingerprint}",
                      help="Which photo Tavus trains from. The team record notes a fixed one.")
    if choice == "Fixed":
        return FixChoice(fixed.photo, fixed.report, framing_fixed=True, name_suffix=NAME_SUFFIX)
    return FixChoice(analysis.prepared, analysis.report, framing_fixed=False, name_suffix="")
