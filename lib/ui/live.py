"""Live replicas for this session: the server's shared list, the trainings it waits for, each
stage told once per tab."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import streamlit as st
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner_utils.script_run_context import (
    ThreadState,
    get_script_run_ctx,
)

from lib.actions.board import Action
from lib.replicas.outcomes import toast_text
from lib.replicas.shared import ReplicaView, SharedReplicas
from lib.replicas.tracker import StatusChange
from lib.tavus.client import ReplicaStatus
from lib.text import escape_markdown
from lib.ui import cached

if TYPE_CHECKING:
    from lib.ui.shell import Frame


@st.cache_resource(show_spinner=False)
def _failure_messages(settings_key: str) -> dict[str, str]:
    # Shared by every session: Tavus's reason for a failure never changes, fetch it once.
    return {}


@st.cache_resource(show_spinner=False, on_release=SharedReplicas.close)
def _shared(settings_key: str, include_system: bool, refresh_seconds: float) -> SharedReplicas:
    # One per account and filter for the whole server process: every tab reads it.
    return SharedReplicas(include_system=include_system,
                          messages=_failure_messages(settings_key),
                          fast_seconds=refresh_seconds, slow_seconds=60)


def shared_replicas(frame: Frame, *, include_system: bool = False) -> SharedReplicas:
    return _shared(frame.cache_key, include_system, frame.settings.refresh_seconds)


def forget_replicas(frame: Frame) -> None:
    """After a create, rename or delete made here, the next read must see it (both filters)."""
    cached.forget_replica_lists()
    for include_system in (False, True):
        shared_replicas(frame, include_system=include_system).reload_soon()
    # The next paint of this tab waits for that reload, even one the ticker took up first: a
    # table painted from the old view would stay so until the next timed tick (up to a minute).
    st.session_state["replicas_changed_here"] = True


def reload_after(frame: Frame) -> Callable[[Action], None]:
    """For an action's `on_end`: once it made or changed a replica, the shared lists reload, even
    if no page is left to see it (called in the worker's thread; resolved here, in the run)."""
    lists = [shared_replicas(frame, include_system=s) for s in (False, True)]

    def reload(action: Action) -> None:
        if action.ok:
            cached.forget_replica_lists()
            for shared in lists:
                shared.reload_soon()

    return reload


def saw_created(replica_ids: Iterable[str]) -> None:
    """This session saw replicas it made: watch them (a toast when each is ready), and the next
    paint of a table waits for the reload that includes them (once per replica)."""
    seen = st.session_state.setdefault("created_seen", set())
    new = [rid for rid in replica_ids if rid and rid not in seen]
    if new:
        seen.update(new)
        watch(new)
        st.session_state["replicas_changed_here"] = True


def replica_view(frame: Frame, *, include_system: bool) -> ReplicaView:
    """Open the shared list for this session: 0 Tavus calls when it is fresh; the first page
    only (the rest arriving in the background) on a cold server."""
    shared = shared_replicas(frame, include_system=include_system)
    seqs = st.session_state.setdefault("replica_seqs", {})
    seqs.setdefault(include_system, shared.change_seq)  # no toasts for what happened before
    return shared.open(frame.services.tavus, frame.services.live,
                       after_change=st.session_state.pop("replicas_changed_here", False))


def refresh_view(frame: Frame, *, include_system: bool) -> tuple[ReplicaView, list[StatusChange]]:
    """A tab's timed refresh: the latest shared view (the server's ticker calls Tavus, once for
    everyone) and the changes this session has not been told about yet."""
    shared = shared_replicas(frame, include_system=include_system)
    shared.keep_alive(frame.services.live)
    seqs = st.session_state.setdefault("replica_seqs", {})
    changes, seqs[include_system] = shared.changes_since(seqs.get(include_system,
                                                                  shared.change_seq))
    return shared.view(), changes


def _push_to(session_id: str, fragment_id: str, page_script_hash: str,
             query_string: str) -> Callable[[], bool]:
    """A callback that asks one session to rerun one fragment, as its browser's `run_every`
    timer would. Streamlit has no public API for this: it goes through the runtime's internals
    (Runtime.get_app_session, AppSession.request_rerun with a ClientState naming the fragment),
    on the runtime's event loop. A fragment rerun queued this way never interrupts a run in
    progress: it runs after it. False when the session is gone (the watcher is dropped)."""

    def push() -> bool:
        if not Runtime.exists():
            return False
        runtime = Runtime.instance()
        session = runtime.get_app_session(session_id)
        if session is None:
            return False

        def rerun() -> None:  # on the event loop, where the session's state may be read
            # The query string and page of the session's last run (kept by Streamlit, updated
            # when a run sets st.query_params); before any ended, those of the fragment's run.
            latest = session._client_state
            if latest.page_script_hash and latest.page_script_hash != page_script_hash:
                return  # the tab is on another page now
            client_state = ClientState(
                fragment_id=fragment_id, page_script_hash=page_script_hash,
                query_string=latest.query_string if latest.page_script_hash else query_string,
                is_auto_rerun=True)
            if latest.HasField("context_info"):
                client_state.context_info.CopyFrom(latest.context_info)
            # No widget states: the session keeps the values it has (a fragment rerun reads
            # them), and a pending rerun's are merged in (ScriptRequests coalesces).
            session.request_rerun(client_state)

        runtime._get_async_objs().eventloop.call_soon_threadsafe(rerun)
        return True

    return push


# A pushed tab's own timer is only a fallback (a push lost, the ticker between lives): it runs
# at this multiple of the interval, so a tab repaints about once per look, not twice.
FALLBACK_INTERVALS = 4


def table_pace(view: ReplicaView) -> float:
    """Seconds between a live table's own timed reruns: fast while the first load's rows
    arrive; once loaded, the server pushes a repaint after each look (see `follow`) and the
    timer is the fallback; where nothing can push (AppTest, no runtime), the timer is it."""
    if view.loading:
        return 0.5
    pushed = Runtime.exists() and get_script_run_ctx(suppress_warning=True) is not None
    return view.interval_seconds * (FALLBACK_INTERVALS if pushed else 1)


def follow(shared: SharedReplicas) -> None:
    """Called by a live fragment on each of its runs: the server reruns it right after each look
    (see SharedReplicas.watch); its own `run_every` stays as a fallback (`table_pace`).
    Outside a fragment, or without a runtime (AppTest), nothing is registered."""
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not Runtime.exists():
        return
    fragment_id = ThreadState.get().fragment_id
    if not fragment_id:
        return
    query = urlencode([(k, v) for k in st.query_params for v in st.query_params.get_all(k)])
    key = f"{ctx.session_id}:{fragment_id}"
    # The Stock toggle switches this tab to another shared list: leave the old one at once, or
    # its looks would keep repainting this tab until the registration expired.
    followed = st.session_state.get("followed_list")
    if followed is not None and followed[0] is not shared:
        followed[0].unwatch(followed[1])
    st.session_state["followed_list"] = (shared, key)
    shared.watch(key, _push_to(ctx.session_id, fragment_id, ctx.page_script_hash, query))


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
    (the table changing pace) would drop a toast shown before it.

    A toast shown by a run that was then interrupted (a rerun preempting it) is taken back by
    the browser when the next run ends; the change cursor has moved on, so it would never be
    told again. Shown toasts stay unconfirmed until the run that showed them reaches
    `confirm_toasts()`; the next run shows the unconfirmed ones again."""
    unconfirmed = st.session_state.setdefault("unconfirmed_toasts", [])
    for toast in st.session_state.pop("pending_toasts", []):
        if toast not in unconfirmed:
            unconfirmed.append(toast)
    # A run flushes more than once (the frame, then the table): each toast once per run.
    run = _run_token()
    token, shown = st.session_state.get("toasts_shown_in_run", (None, []))
    if token != run:
        shown = []
    for toast in unconfirmed:
        if toast not in shown:
            shown.append(toast)
            text, icon = toast
            st.toast(text, icon=icon, duration="long")
    st.session_state["toasts_shown_in_run"] = (run, shown)


def _run_token() -> int | None:
    """Tells one script run from the next: Streamlit makes a new parallel-fragment coordinator
    for each run (ScriptRunContext.reset), alive while the run is (an internal detail)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else id(getattr(ctx, "parallel_coordinator", None))


def confirm_toasts() -> None:
    """The run that showed the toasts got to its end (not interrupted): they stay shown."""
    st.session_state.pop("unconfirmed_toasts", None)


def watch_trainings(frame: Frame) -> None:
    """A small sidebar fragment that toasts each stage a watched replica reaches: ready or
    failed, or a phoenix-4.5's preview, then its tuning's end.

    It reads the server's shared list (no Tavus call of its own): a change in the log, or a
    watched replica first seen at a later stage (made and trained between two reads)."""
    if not st.session_state.get("watch_ids"):
        return
    shared_replicas(frame).open(frame.services.tavus, frame.services.live, wait_seconds=0)

    @st.fragment(run_every=frame.settings.refresh_seconds)
    def watcher() -> None:
        ids = st.session_state.get("watch_ids")
        if not ids:
            return
        view, changes = refresh_view(frame, include_system=False)
        for change in changes:
            if change.replica_id in ids:
                announce(change.replica_id, change.replica_name, change.new, change.error_message,
                         change.previous)
        for replica_id in list(ids):
            state = view.state_of(replica_id)
            if state is not None and state is not ReplicaStatus.TRAINING:
                replica = view.by_id(replica_id)
                announce(replica_id, replica.replica_name if replica else replica_id, state,
                         view.error_message(replica_id))
        flush_toasts()
        confirm_toasts()

    with st.sidebar:
        watcher()
