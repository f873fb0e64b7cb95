"""Conversations: a live call with a ready replica."""

import streamlit as st

from lib import ui
from lib.replica_table import ready_replicas

frame = ui.frame("Conversations")
try:
    replicas = ready_replicas(ui.all_replicas(frame, include_system=True))
except Exception as error:
    ui.show_error(error)
    st.stop()

if not replicas:
    st.info("No replica is ready yet. Create one, or wait for training to finish.")
    st.stop()

labels = {r.replica_id: f"{r.replica_name} ({r.replica_id})" for r in replicas}
wanted = st.query_params.get("replica")
ids = list(labels)
replica_id = st.selectbox("Replica", ids, format_func=labels.__getitem__,
                          index=ids.index(wanted) if wanted in labels else 0)
name = st.text_input("Conversation name (optional)", max_chars=120)

if st.button("Start conversation", type="primary", icon=":material/videocam:"):
    try:
        st.session_state.conversation = frame.services.tavus.create_conversation(
            replica_id=replica_id, conversation_name=name.strip() or None,
            # A demo should not bill for an hour if someone forgets to hang up.
            properties={"max_call_duration": 600})
    except Exception as error:
        ui.show_error(error)

conversation = st.session_state.get("conversation")
if conversation is not None:
    with st.container(key="conversation-result"):
        st.success(f"Conversation `{conversation.conversation_id}` is {conversation.status}.")
        st.link_button("Open conversation", conversation.conversation_url, type="primary",
                       icon=":material/open_in_new:")
        st.code(conversation.conversation_url, language=None)
