"""Demo history: every conversation of the account, and a debrief of one (`?conversation=<id>`)."""

import pandas as pd
import streamlit as st

from lib.conversations.history import filter_history, history_rows
from lib.errors import user_message
from lib.replicas.table import format_duration
from lib.text import escape_markdown
from lib.ui import cached, debriefs, live, shell, times, widgets

frame = shell.frame("Demo history")
STATUSES = ["active", "ended"]

search_col, status_col, refresh_col = st.columns([4, 2, 1.2], vertical_alignment="bottom")
search = search_col.text_input("Search", placeholder="Name, replica, who started it, preset",
                               key="history_search")
statuses = status_col.multiselect("Status", STATUSES, key="history_statuses")
if refresh_col.button("Refresh", icon=":material/refresh:", key="history_refresh"):
    cached.reload_conversation_history(frame)


@st.fragment(run_every=frame.settings.refresh_seconds)
def history_table() -> None:
    view = cached.conversation_history(frame)
    if view.error is not None:
        st.warning(("Showing the last list read. " if view.loaded else "")
                   + escape_markdown(user_message(view.error)), icon=":material/cloud_off:")
    names = {r.replica_id: r.replica_name or r.replica_id
             for r in live.replica_view(frame, include_system=True).replicas}
    records, _ = cached.ledger_records(frame)
    photos = cached.photo_urls(frame, records)  # replicas made here have a photo
    rows = filter_history(
        history_rows(view.conversations, replica_names=names, reasons=view.reasons,
                     started=cached.call_records(frame), ended_at=view.ended_at),
        search, statuses)
    # The shared list keeps UTC times; each viewer reads them on their own clock.
    now, zone = times.utc_now(), times.zone_name()
    table = pd.DataFrame({
        "photo": pd.Series([photos.get(r.replica_id, "") for r in rows], dtype=object),
        "name": [r.name or r.conversation_id for r in rows],
        "replica": [r.replica_name or r.replica_id for r in rows],
        "started": [times.shown(r.started_at, now=now) for r in rows],
        "duration": [format_duration(r.duration) for r in rows],
        "status": [r.status for r in rows],
        "reason": [r.shutdown_reason for r in rows],
        "by": [r.started_by or "" for r in rows],
        "preset": [r.preset_name or "" for r in rows],
        "conversation_id": [r.conversation_id for r in rows],
    })
    st.caption(f"{len(rows):,} of {len(view.conversations):,} conversations"
               + (f" · updated {times.shown(view.updated_at, seconds=True, now=now)}"
                  if view.updated_at else "")
               + f" · times in {zone}")
    ids = table["conversation_id"].tolist()
    selected = st.query_params.get("conversation")
    event = st.dataframe(
        table, key="history-table", hide_index=True, width="stretch", on_select="rerun",
        selection_mode="single-row",
        selection_default={"selection": {"rows": [ids.index(selected)]}}
        if selected in ids else None,
        column_config={
            "photo": st.column_config.ImageColumn("Photo", width="small"),
            "name": st.column_config.TextColumn("Conversation"),
            "replica": st.column_config.TextColumn("Replica"),
            "started": st.column_config.TextColumn("Started",
                                                   help=f"In your time zone ({zone})."),
            "duration": st.column_config.TextColumn("Duration"),
            "status": st.column_config.TextColumn("Status"),
            "reason": st.column_config.TextColumn("Why it ended", width="medium"),
            "by": st.column_config.TextColumn("Started by"),
            "preset": st.column_config.TextColumn("Preset"),
            "conversation_id": st.column_config.TextColumn("Id"),
        })
    rows_chosen = event.selection.rows
    chosen = ids[rows_chosen[0]] if rows_chosen else None
    if chosen != selected and (chosen is not None or selected in ids):
        if chosen:
            st.query_params["conversation"] = chosen  # a deep link to this debrief
        else:
            del st.query_params["conversation"]
        st.rerun()


with st.container(key="history"):
    history_table()
conversation_id = st.query_params.get("conversation")
if conversation_id:
    try:
        debriefs.show_debrief(frame, conversation_id)
    except Exception as error:  # a stale or mistyped link: said plainly, the table stays
        widgets.show_error(error)
        st.caption(f"Conversation `{escape_markdown(conversation_id)}` could not be opened "
                   f"(tried {times.shown(times.utc_now(), seconds=True)}).")
