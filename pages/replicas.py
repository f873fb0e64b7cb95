"""Replicas: every replica of the account, refreshed in place."""

from datetime import datetime

import streamlit as st

from lib import ui
from lib.replica_table import replicas_frame

frame = ui.frame("Replicas")
include_system = st.toggle("Include Tavus stock replicas", value=False)


@st.fragment(run_every=frame.settings.refresh_seconds)
def live_table() -> None:
    try:
        table = replicas_frame(ui.all_replicas(frame, include_system=include_system))
        st.session_state.replicas_table = table
        st.session_state.replicas_updated = datetime.now().strftime("%H:%M:%S")
        stale = None
    except Exception as error:
        table = st.session_state.get("replicas_table")
        stale = error
    if stale is not None:
        ui.show_error(stale)
        if table is None:
            return
        st.caption(f"Showing the table as of {st.session_state.replicas_updated}; retrying.")
    with st.container(key="replica-table"):
        st.caption(f"{len(table)} replicas · updated {st.session_state.replicas_updated} · "
                   f"refreshes every {frame.settings.refresh_seconds} s")
        st.dataframe(
            table, hide_index=True, width="stretch",
            column_config={
                "name": st.column_config.TextColumn("Name"),
                "replica_id": st.column_config.TextColumn("Replica id"),
                "status": st.column_config.TextColumn("Status"),
                "progress": st.column_config.ProgressColumn("Training", min_value=0,
                                                            max_value=100, format="%d%%"),
                "model": st.column_config.TextColumn("Model"),
                "created": st.column_config.DatetimeColumn("Created", format="distance"),
                "type": None,
            },
        )


live_table()
