"""Replicas: every replica of the account, live, cheap to refresh, and explained."""

import hashlib
from functools import partial

import streamlit as st

from lib.errors import user_message
from lib.replicas.facts import delete_caution, replica_summary
from lib.replicas.table import (
    STATUS_FILTER_OPTIONS,
    compact_frame,
    error_hint,
    filter_frame,
    items_frame,
    status_counts,
)
from lib.tavus.client import MODELS, ReplicaStatus
from lib.text import escape_markdown
from lib.ui import actions, cached, live, shell, times, widgets

frame = shell.frame("Replicas", watch_trainings=False)  # the table announces outcomes itself
tavus = frame.services.tavus

search_col, status_col, model_col, stock_col, refresh_col = st.columns(
    [3, 2, 2, 1.2, 1.3], vertical_alignment="bottom")
search = search_col.text_input("Search", placeholder="Name or replica id", key="replica_search")
statuses = status_col.multiselect("Status", STATUS_FILTER_OPTIONS, key="replica_statuses")
models = model_col.multiselect("Model", MODELS, key="replica_models")
include_system = stock_col.toggle("Stock", key="include_system",
                                  help="Also list Tavus's own stock replicas.")
shared = live.shared_replicas(frame, include_system=include_system)
if refresh_col.button("Refresh", icon=":material/refresh:", help="Reload every page now."):
    live.forget_replicas(frame)
    shared.reload_now(frame.services.tavus)
opened = live.replica_view(frame, include_system=include_system)
live.watch(opened.changing_ids)  # so other pages keep announcing these (tuning included)


@st.fragment(run_every=live.table_pace(opened))
def live_table() -> None:
    draw_table()
    live.confirm_toasts()  # reached only when the run was not interrupted (see flush_toasts)


def draw_table() -> None:
    view, changes = live.refresh_view(frame, include_system=include_system)
    live.follow(shared)  # the server reruns this fragment right after each look
    for change in changes:
        live.announce(change.replica_id, change.replica_name, change.new, change.error_message,
                      change.previous)
    pace = live.table_pace(view)
    if pace != st.session_state.setdefault("replica_pace", live.table_pace(opened)):
        st.session_state.replica_pace = pace
        st.rerun()  # loaded, or something started or stopped changing: tick at the new pace
    live.flush_toasts()

    # Always present, so a warning appearing in it does not shift (and re-mount) the table.
    status_slot = st.container(key="replica-status")
    if view.loading:
        status_slot.info(f"{view.count:,} of {view.total_count or 0:,} loaded…",
                         icon=":material/downloading:")
    elif view.stale_since is not None:
        why = escape_markdown(user_message(view.last_error))
        if not view.count:
            status_slot.error(f"The replicas could not be loaded. {why} Retrying every "
                              f"{view.interval_seconds:g} s.", icon=":material/cloud_off:")
            return
        status_slot.warning(f"Stale since {times.shown(view.stale_since)} — retrying. "
                            f"{why}", icon=":material/cloud_off:")
    counts = status_counts(view.states)
    with st.container(key="replica-counts", horizontal=True):
        for label, count in counts.items():
            st.metric(label, f"{count:,}")
        st.metric("All", f"{view.count:,}")

    records, ledger_problem = cached.ledger_records(frame)
    table = filter_frame(
        items_frame(view.items, states=view.states, ids=view.ids, created=view.created,
                    ledger=records, error_messages=view.messages,
                    photos=cached.photo_urls(frame, records)),
        search=search, statuses=statuses, models=models)
    # The shared view holds UTC times: each viewer's clock is applied here, as it is drawn.
    updated = times.shown(view.updated_at or times.utc_now(), seconds=True)
    zone = times.zone_name()
    with st.container(key="replica-updated"):
        st.caption(f"{len(table):,} of {view.count:,} shown · updated {updated}"
                   + f" · times in {zone}"
                   + (" · loading" if view.loading
                      else f" · checks every {view.interval_seconds:g} s")
                   + (" · team records unavailable" if ledger_problem else ""))

    # Selection is positional: the widget key follows the row order, so a new row above the
    # selected one starts a fresh widget whose selection comes from the URL's replica id.
    ids = table["replica_id"].tolist()  # list() would walk the Arrow column: 15x slower
    selected = st.query_params.get("replica")
    # While rows arrive the order changes with every repaint: one key until the load ends, or
    # the grid would be rebuilt (and never drawn) twice a second.
    order = "loading" if view.loading else hashlib.sha256("|".join(ids).encode()).hexdigest()[:12]
    with st.container(key="replica-table"):
        event = st.dataframe(
            compact_frame(table), key=f"replica-table-{order}", hide_index=True, width="stretch",
            on_select="rerun", selection_mode="single-row",
            selection_default={"selection": {"rows": [ids.index(selected)]}}
            if selected in ids else None,
            column_config={
                "photo": st.column_config.ImageColumn("Photo", width="small"),
                "name": st.column_config.TextColumn("Name"),
                "replica_id": st.column_config.TextColumn("Replica id"),
                "status": st.column_config.TextColumn("Status"),
                "progress": st.column_config.ProgressColumn("Training", min_value=0,
                                                            max_value=100, format="%d%%"),
                "model": st.column_config.TextColumn("Model"),
                "source": st.column_config.TextColumn(
                    "Source", help="What it was trained from, for replicas made here."),
                # Formatted by the browser, in the viewer's zone: no per-row work on the server.
                "created": st.column_config.DatetimeColumn(
                    "Created", format="D MMM YYYY, HH:mm", timezone=times.column_zone(),
                    help=f"In your time zone ({zone})."),
                "elapsed": st.column_config.TextColumn("Training for",
                                                       help="Tavus expects 3–4 hours."),
                "eta": st.column_config.TextColumn("ETA"),
                "creator": st.column_config.TextColumn("Created by"),
                "notes": st.column_config.TextColumn("Notes"),
                "error": st.column_config.TextColumn("Why it failed", width="large"),
                "type": None,
            })
    rows = event.selection.rows
    chosen = ids[rows[0]] if rows else None
    if chosen != selected and (chosen is not None or selected in ids):
        if chosen:
            st.query_params["replica"] = chosen  # kept in the URL: survives a browser refresh
        else:
            del st.query_params["replica"]
        st.rerun()  # the details panel lives outside this fragment




def details(replica_id: str) -> None:
    view = shared.view()
    replica = view.by_id(replica_id)
    if replica is None:
        try:
            replica = tavus.get_replica(replica_id)
        except Exception as error:  # a stale or mistyped link: say so, the table stays
            st.warning(f"Replica `{escape_markdown(replica_id)}` could not be opened. "
                       + escape_markdown(user_message(error)))
            return
    records, _ = cached.ledger_records(frame)
    record = records.get(replica_id)
    name = replica.replica_name or replica_id
    with st.container(key="replica-details", border=True):
        st.subheader(escape_markdown(name), anchor=False)  # a name is text, not Markdown
        photo_col, info_col = st.columns([1, 3])
        photo = cached.photo_urls(frame, {replica_id: record} if record else {}).get(replica_id)
        if photo:
            video = record.kind == "video"
            photo_col.image(photo, width="stretch",
                            caption="From the training clip" if video else "Source photo",
                            alt=f"A still from the training clip of {name}" if video
                            else f"The source photo of {name}")
        else:
            photo_col.caption("No source photo: this replica was not made here.")
        with info_col:
            st.code(replica_id, language=None)  # has a copy button
            st.markdown(replica_summary(replica, record, tz=times.viewer_zone()))
            error = view.error_message(replica_id) or replica.error_message
            if replica.state is ReplicaStatus.FAILED and error:
                hint = error_hint(error)
                st.error(escape_markdown(error + (f" — {hint}" if hint else "")),
                         icon=":material/error:")

        # Each action is made before its button and started on the line after it (see
        # lib/ui/actions.py): a second click, another page or a reload never repeats or loses it.
        saving = actions.ref("notes", replica_id)
        renaming = actions.ref("rename", replica_id)
        deleting = actions.ref("delete", replica_id)
        reload_lists = live.reload_after(frame)
        ledger = cached.team_ledger(frame)
        state = st.session_state
        notes_col, rename_col = st.columns(2)
        if record is not None:
            notes_col.text_area("Team notes", value=record.notes, max_chars=2000,
                                key=f"notes-{replica_id}")
            # Through the shared ledger: every session's next read has the new notes.
            actions.button(
                notes_col, "Save notes", key=f"save-notes-{replica_id}", action=saving,
                name="Saving notes",
                build=lambda: partial(_save_notes, ledger, record, state[f"notes-{replica_id}"]))
        new_name = rename_col.text_input("Name", value=replica.replica_name or "", max_chars=80,
                                         key=f"rename-{replica_id}")
        actions.button(rename_col, "Rename", key=f"do-rename-{replica_id}", action=renaming,
                       name="Renaming", on_end=reload_lists,
                       disabled=not new_name.strip() or new_name == replica.replica_name
                       or renaming.running,
                       build=lambda: _rename_work(replica_id, state[f"rename-{replica_id}"]))

        talk_col, delete_col = st.columns(2)
        if talk_col.button("Start conversation", type="primary", icon=":material/videocam:",
                           disabled=not replica.usable, key=f"talk-{replica_id}",
                           help="A ready replica or a watermarked preview can talk."):
            st.switch_page(str(shell.APP_DIR / "pages/conversations.py"),
                           query_params={"replica": replica_id})
        caution = delete_caution(replica)
        if caution:
            delete_col.caption(f":material/savings: {caution}")
        with delete_col.popover("Delete…", icon=":material/delete:"):
            if caution:
                st.warning(caution, icon=":material/savings:")
            st.write("A deleted replica can no longer join conversations.")
            actions.button(st, "Delete", key=f"soft-delete-{replica_id}", action=deleting,
                           name="Deleting", on_end=reload_lists, disabled=deleting.running,
                           build=lambda: partial(_delete_work, replica_id, False))
            st.divider()
            st.write("**Hard delete** also erases its training assets. This cannot be undone.")
            typed = st.text_input(f"Type the name ({escape_markdown(name)}) to confirm",
                                  key=f"confirm-{replica_id}")
            actions.button(
                st, "Delete permanently", type="primary", key=f"hard-delete-{replica_id}",
                disabled=typed != name or deleting.running, action=deleting,
                name="Deleting permanently", on_end=reload_lists,
                build=lambda: partial(_delete_work, replica_id, True)
                if state[f"confirm-{replica_id}"] == name else None)
        actions.follow(saving, lambda action: outcome(action, "Notes saved."))
        actions.follow(renaming, lambda action: outcome(action, "Renamed."))
        actions.follow(deleting)  # its outcome is drawn above the panel (see the page's end)


def _save_notes(ledger, record, notes: str, _action) -> None:
    ledger.update_notes(record, notes)


def _rename_work(replica_id: str, typed: str):
    """The rename as the click asked for it (None: nothing to rename)."""
    clean = " ".join((typed or "").split())
    if not clean:
        return None
    return lambda _action: tavus.rename_replica(replica_id, clean)


def _delete_work(replica_id: str, hard: bool, _action) -> None:
    tavus.delete_replica(replica_id, hard=hard)


def outcome(action, done: str, *, closing: str | None = None) -> None:
    """One action's state: under way, its failure (the panel and its values stay), or done."""
    if action.running:
        st.caption(f":material/hourglass_top: {action.label}…")
    elif not action.ok:
        if action.error is not None:
            widgets.show_error(action.error)
        else:
            widgets.show_action_failure(action, "the button")
    elif actions.first_time_done(action):
        st.session_state["replicas_changed_here"] = True  # the next paint waits for the reload
        if not closing:
            st.toast(done, icon=":material/check:")
            return
        # Told by the next run (a toast shown just before st.rerun() would be dropped). The
        # replica is remembered too: a timed run that set off before this one can bring the
        # old URL back.
        st.session_state.setdefault("pending_toasts", []).append((done, ":material/check:"))
        st.session_state.setdefault("deleted_replicas", set()).add(closing)
        if st.query_params.get("replica") == closing:
            del st.query_params["replica"]
        actions.rerun()


live_table()
if st.query_params.get("replica") in st.session_state.get("deleted_replicas", ()):
    del st.query_params["replica"]
if st.query_params.get("replica"):
    open_id = st.query_params["replica"]
    # A delete's outcome is followed here, not in the panel: once the replica is gone the
    # panel may not draw at all, and the delete must still close it.
    actions.follow(actions.ref("delete", open_id), lambda action: outcome(
        action, "Replica deleted." if action.label == "Deleting"
        else "Replica and training assets deleted.", closing=open_id))
    details(open_id)
