"""Knowledge: the files and websites personas answer from (Tavus documents), added here."""

import hashlib

import streamlit as st

from lib.errors import user_message
from lib.storage.s3 import StorageError
from lib.text import escape_markdown
from lib.ui import cached, knowledge, shell, times

frame = shell.frame("Knowledge")

with st.expander("Add a document", expanded=True, icon=":material/note_add:"):
    source = st.segmented_control("From", ["A file", "A website"], default="A file",
                                  key="doc_source", required=True)
    if source == "A website":
        knowledge.show_add_website(frame)
    else:
        knowledge.show_add_file(frame)

search = st.text_input("Search", placeholder="Name, tag or id", key="doc_search")


@st.fragment(run_every=frame.settings.refresh_seconds)
def documents_table() -> None:
    view = cached.documents(frame)
    if view.error is not None:
        st.warning(("Showing the last list read. " if view.loaded else "")
                   + escape_markdown(user_message(view.error)), icon=":material/cloud_off:")
    try:
        records = dict(cached.document_records(frame).records())
    except StorageError as error:
        records = {}
        st.caption(f"The team's notes could not be read: {escape_markdown(error.message)}")
    st.session_state["doc_known"] = [d.tags for d in view.documents]
    knowledge.toast_changes(view.documents)
    needle = search.strip().lower()
    shown = [d for d in view.documents if not needle or needle in " ".join(
        [d.document_name or "", d.document_id, *d.tags]).lower()]
    now = times.utc_now()
    table = knowledge.document_rows(shown, records, now)
    st.caption(f"{len(shown):,} of {len(view.documents):,} documents"
               + (f" · updated {times.shown(view.updated_at, seconds=True, now=now)}"
                  if view.updated_at else "")
               + f" · times in {times.zone_name()}")
    ids = table["document_id"].tolist()
    selected = st.query_params.get("document")
    # Selection is positional: the key follows the rows, so a row deleted (or added) above the
    # selected one starts a fresh widget whose selection comes from the URL's id, instead of
    # selecting whichever document slid into that row (whose Delete a second click would press).
    order = hashlib.sha256("|".join(ids).encode()).hexdigest()[:12]
    event = st.dataframe(
        table, key=f"documents-table-{order}", hide_index=True, width="stretch", on_select="rerun",
        selection_mode="single-row",
        selection_default={"selection": {"rows": [ids.index(selected)]}}
        if selected in ids else None,
        # Widths that fit the wide layout at 1400 px, so no column (the id last) is cut off.
        column_config={
            "name": st.column_config.TextColumn("Document", width=170),
            "source": st.column_config.TextColumn("Source", width=60),
            "tags": st.column_config.TextColumn("Tags", width=90),
            "status": st.column_config.TextColumn("Status", width=110),
            "progress": st.column_config.ProgressColumn("Progress", min_value=0, max_value=100,
                                                        format="%d %%", width=90),
            "size": st.column_config.TextColumn("Size", width=80),
            "added_by": st.column_config.TextColumn("Added by", width=100),
            "added": st.column_config.TextColumn("Added", help="In your time zone.",
                                                 width=120),
            "problem": st.column_config.TextColumn("Problem", width=180),
            "document_id": st.column_config.TextColumn("Id", width=120)})
    rows = event.selection.rows
    chosen = ids[rows[0]] if rows else None
    if chosen != selected and (chosen is not None or selected in ids):
        if chosen:
            st.query_params["document"] = chosen
        else:
            del st.query_params["document"]
        st.rerun(scope="app")


with st.container(key="documents"):
    documents_table()

selected = st.query_params.get("document")
if selected:
    found = cached.documents(frame).by_id().get(selected)
    if found is None:
        st.caption(f"Document `{escape_markdown(selected)}` is not in the list (deleted?).")
    else:
        personas, _ = cached.all_personas(frame)
        try:
            record = cached.document_records(frame).records().get(selected)
        except StorageError:
            record = None
        try:
            presets, _ = cached.preset_store(frame).list()
        except StorageError:  # the presets only name who uses a document: it works without
            presets = []
        knowledge.show_document(frame, found, record, personas, presets)
