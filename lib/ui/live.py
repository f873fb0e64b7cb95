"""Live replicas for this session: its tracker, the trainings it waits for, each stage told once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import streamlit as st

from lib.replicas.outcomes import finished, toast_text
from lib.replicas.tracker import ReplicaTracker
from lib.tavus.client import ReplicaStatus, TavusError
from lib.text import escape_markdown
from lib.ui import cached

if TYPE_CHECKING:
    from lib.ui.shell import Frame


def forget_replicas() -> None:
    """After a create, rename or delete, the next read must see it."""
    cached.forget_replica_lists()
    st.session_state.pop("replica_tracker", None)


@st.cache_resource(show_spinner=False)
def _failure_messages(settings_key: str) -> dict[str, str]:
    # Shared by every session: Tavus's reason for a failure never changes, fetch it once.
    return {}


def replica_tracker(frame: Frame, *, include_system: bool) -> ReplicaTracker:
    """This session's tracker, loaded on first use; a new one when the stock toggle changes."""
    held = st.session_state.get("replica_tracker")
    if held is not None and held[0] == include_system:
        return held[1]
    tracker = ReplicaTracker(include_system=include_system,
                             messages=_failure_messages(frame.cache_key),
                             fast_seconds=frame.settings.refresh_seconds, slow_seconds=60)
    tracker.load(frame.services.tavus)
    st.session_state.replica_tracker = (include_system, tracker)
    st.session_state.tracker_just_loaded = True  # the table's first tick in this run is skipped
    return tracker


def watch(replica_ids: Iterable[str]) -> None:
    """Replicas whose outcome this session should hear about, on whichever page is open."""
    st.session_state.setdefault("watch_ids", set()).update(replica_ids)


_TOAST_ICONS = {
    ReplicaStatus.READY: ":material/check_circle:",
    ReplicaStatus.PREVIEW: ":material/visibility:",
    ReplicaStatus.PREVIEW_ONLY: ":material/warning:",
}


def announce(replica_id: str, name: str, state: ReplicaStatus, error: str | None = None,
             previous: ReplicaStatus | None = None) -> None:
    """Queue a toast for the stage a replica reached, once per (replica, stage) per session, so
    a phoenix-4.5 tells "preview ready" and later "tuned", once each (see flush_toasts).

    A replica stays watched while it is still changing (a preview tuning). Without `previous`,
    a stage told earlier in this session stands in for it.
    """
    told = st.session_state.setdefault("told_stages", set())
    if not state.still_changing:
        st.session_state.setdefault("watch_ids", set()).discard(replica_id)
    if (replica_id, state) in told:
        return
    if previous is None and (replica_id, ReplicaStatus.PREVIEW) in told:
        previous = ReplicaStatus.PREVIEW
    told.add((replica_id, state))
    icon = _TOAST_ICONS.get(state, ":material/error:")
    st.session_state.setdefault("pending_toasts", []).append(
        (escape_markdown(toast_text(name or replica_id, state, error, previous)), icon))


def flush_toasts() -> None:
    """Show queued toasts. Queued, not shown at once, because an st.rerun() in the same run
    (the table changing pace) would drop a toast shown before it."""
    for text, icon in st.session_state.pop("pending_toasts", []):
        st.toast(text, icon=icon, duration="long")


def watch_trainings(frame: Frame) -> None:
    """A small sidebar fragment that toasts each stage a watched replica reaches: ready or
    failed, or a phoenix-4.5's preview, then its tuning's end."""
    if not st.session_state.get("watch_ids"):
        return

    @st.fragment(run_every=frame.settings.refresh_seconds)
    def watcher() -> None:
        ids = st.session_state.get("watch_ids")
        if not ids:
            return
        try:
            for replica in finished(frame.services.live, ids):
                error = None
                if replica.state is ReplicaStatus.FAILED:
                    messages = _failure_messages(frame.cache_key)  # shared with the table
                    if replica.replica_id not in messages:
                        detail = frame.services.tavus.get_replica(replica.replica_id)
                        messages[replica.replica_id] = detail.error_message or ""
                    error = messages[replica.replica_id] or None
                announce(replica.replica_id, replica.replica_name, replica.state, error)
        except TavusError:
            pass  # the next tick tries again; nothing here is worth an error box
        flush_toasts()

    with st.sidebar:
        watcher()
