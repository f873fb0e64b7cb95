"""The debrief panel: what happened in one conversation, refreshed by itself while the transcript
is on its way, then still."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import streamlit as st

from lib.conversations.debrief import (
    Debrief,
    dialogue_markdown,
    page_of,
    transcript_json,
    transcript_markdown,
)
from lib.replicas.table import format_duration
from lib.tavus.client import parse_time
from lib.text import escape_markdown
from lib.ui import cached, times

if TYPE_CHECKING:
    from lib.ui.shell import Frame

WAIT_REFRESH_SECONDS = 5
TURNS_PER_PAGE = 200
COPY_LIMIT_TURNS = 1000  # beyond it, the copy box would weigh the page down: download instead


def show_debrief(frame: Frame, conversation_id: str) -> None:
    first = [cached.debrief(frame, conversation_id)]  # the first draw reuses this read
    record = cached.call_records(frame).get(conversation_id)
    allowed = bool(record and record.record)  # recording was allowed when it started here
    looking = first[0].waiting(datetime.now(UTC), recording_allowed=allowed)
    waiting = first[0].waiting_for_transcript(datetime.now(UTC))

    @st.fragment(run_every=WAIT_REFRESH_SECONDS if looking else None)
    def panel() -> None:
        found = first.pop() if first else cached.debrief(frame, conversation_id)
        if found.waiting(datetime.now(UTC), recording_allowed=allowed) != looking:
            st.rerun()  # it arrived, or the wait is over: redraw once, which stops the timer
        draw(frame, found, waiting=waiting)

    panel()


def draw(frame: Frame, found: Debrief, *, waiting: bool) -> None:
    cid = found.conversation_id
    view = cached.conversation_history(frame)
    conversation = next((c for c in view.conversations if c.conversation_id == cid), None)
    title = (conversation.conversation_name if conversation else None) or cid
    record = cached.call_records(frame).get(cid)
    with st.container(key="debrief", border=True):
        st.subheader(f"Debrief: {escape_markdown(title)}", anchor=False)
        facts = [f"**Status:** {escape_markdown(found.status or 'unknown')}"]
        if found.shutdown_reason:
            facts.append(f"**Why it ended:** {escape_markdown(found.shutdown_reason)}")
        started = parse_time(conversation.created_at) if conversation else None
        if started is not None:  # on the viewer's clock; the cached debrief keeps UTC
            facts.append(f"**Started:** {times.shown_with_age(started)}")
        if found.ended_at:
            facts.append(f"**Ended:** {times.shown_with_age(found.ended_at)}")
        if found.ended_at and started is not None:
            facts.append(f"**Lasted:** {format_duration(found.ended_at - started) or '< 1 min'}")
        if record is not None:
            who = record.started_by or "this app (nobody signed in)"
            facts.append(f"**Started by:** {escape_markdown(who)}"
                         + (f" · preset {escape_markdown(record.preset_name)}"
                            if record.preset_name else ""))
        st.markdown("  \n".join(facts))
        st.code(cid, language=None)

        if waiting and not found.ended:
            st.info("The call is live: its transcript comes after it ends. This panel looks "
                    f"again every {WAIT_REFRESH_SECONDS} s.",
                    icon=":material/radio_button_checked:")
        elif waiting:
            st.info("Waiting for the transcript: it usually arrives within a minute of the end. "
                    f"This panel looks again every {WAIT_REFRESH_SECONDS} s for a few minutes.",
                    icon=":material/hourglass_top:")
        elif found.ended and not found.transcript_ready and not found.joined:
            st.info("Nobody joined this call, so there is no transcript.", icon=":material/info:")
        elif found.ended and not found.transcript_ready:
            st.warning("No transcript arrived within a few minutes of the end. Tavus may still "
                       "send it: use Refresh later.", icon=":material/hourglass_disabled:")
        for problem in found.problems:
            st.warning(escape_markdown(problem), icon=":material/report:")

        if found.transcript_ready:
            transcript(found, title, started)
        if found.perception:
            st.markdown("**Perception summary** (as Tavus wrote it)")
            st.text(found.perception)  # text, not Markdown or HTML from Tavus
        recording(frame, found, recorded_here=bool(record and record.record))


def transcript(found: Debrief, title: str, started: datetime | None = None) -> None:
    turns = found.turns
    if not turns:
        st.info("The transcript is empty: nothing was said.", icon=":material/info:")
    else:
        _, pages = page_of(turns, 1, TURNS_PER_PAGE)
        page = 1
        if pages > 1:
            page = st.number_input(f"Page (of {pages}, {TURNS_PER_PAGE} turns each)", 1, pages,
                                   1, key=f"debrief-page-{found.conversation_id}")
        shown, _ = page_of(turns, page, TURNS_PER_PAGE)
        st.caption(f"{len(turns):,} turns · the system prompt is never shown")
        with st.container(key="debrief-dialogue", height=420 if len(shown) > 8 else "content"):
            st.markdown(dialogue_markdown(shown))
    # A download is read later: full dates, with the viewer's zone named.
    markdown = transcript_markdown(found, title=title, started_at=started,
                                   tz=times.viewer_zone())
    md_col, json_col = st.columns(2)
    # A download is the browser's alone: the click does not rerun the page (on_click="ignore"),
    # so a double click, or a click just before another one, downloads and interrupts nothing.
    md_col.download_button("Transcript (Markdown)", markdown, file_name=f"{title}.md",
                           mime="text/markdown", icon=":material/download:",
                           key=f"debrief-md-{found.conversation_id}", on_click="ignore")
    json_col.download_button("Transcript (JSON)", transcript_json(found),
                             file_name=f"{title}.json", mime="application/json",
                             icon=":material/data_object:",
                             key=f"debrief-json-{found.conversation_id}", on_click="ignore")
    if turns and len(turns) <= COPY_LIMIT_TURNS:
        with st.expander("Copy the transcript"):
            st.code(markdown, language="markdown", wrap_lines=True)  # has a copy button


def recording(frame: Frame, found: Debrief, *, recorded_here: bool) -> None:
    if found.recording is not None:
        rec = found.recording
        store = frame.services.store
        source = cached.recording_source(rec.bucket_name, rec.s3_key, frame.cache_key, store,
                                         frame.services.demo_mode)
        if source is None:
            st.warning(f"Tavus reported a recording at `s3://{escape_markdown(rec.bucket_name)}/"
                       f"{escape_markdown(rec.s3_key)}`, but it is not in the team's bucket (or "
                       "cannot be read with this app's credentials).",
                       icon=":material/videocam_off:")
        else:
            with st.container(key="debrief-recording"):
                st.markdown("**Recording**"
                            + (f" · {rec.duration:.0f} s" if rec.duration else ""))
                st.video(source, format="video/mp4")
    elif recorded_here:
        st.caption(":material/fiber_manual_record: Recording was allowed for this call, but "
                   "someone in the room must press record; none was reported"
                   + (" yet: this panel looks again every "
                      f"{WAIT_REFRESH_SECONDS} s for a few minutes."
                      if found.waiting_for_recording(datetime.now(UTC), allowed=True) else "."))

