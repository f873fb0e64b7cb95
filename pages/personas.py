"""Personas: what a replica is told and how it listens and speaks, made and edited here."""

import hashlib

import pandas as pd
import streamlit as st

from lib.replicas.table import usable_replicas
from lib.storage.s3 import StorageError
from lib.text import escape_markdown
from lib.ui import cached, live, personas, shell, times

frame = shell.frame("Personas")

found, problem = cached.all_personas(frame)
if problem:
    st.warning(f"Tavus did not list the personas: {escape_markdown(problem)}",
               icon=":material/cloud_off:")
replicas = usable_replicas(live.replica_view(frame, include_system=True).replicas)
documents = [d for d in cached.documents(frame).documents if d.state == "ready"]
replica_names = {r.replica_id: r.replica_name or r.replica_id for r in replicas}
try:
    presets, _ = cached.preset_store(frame).list()
except StorageError:  # the presets only name who uses a persona: the screen works without
    presets = []
by_id = {p.persona_id: p for p in found}

search = st.text_input("Search", placeholder="Name, prompt or id", key="persona_search")
needle = search.strip().lower()
shown = [p for p in found if not needle or needle in " ".join(
    [p.persona_name or "", p.system_prompt or "", p.persona_id]).lower()]
now = times.utc_now()
table = pd.DataFrame({
    "name": [p.persona_name or "" for p in shown],
    "kind": ["yours" if (p.persona_type or "user") == "user" else "stock" for p in shown],
    "replica": [replica_names.get(p.default_replica_id or "", p.default_replica_id or "")
                for p in shown],
    "documents": [len(p.document_ids) for p in shown],
    "prompt": [(p.system_prompt or "")[:80] for p in shown],
    "created": [times.shown(p.created_at, now=now) if p.created_at else "" for p in shown],
    "persona_id": [p.persona_id for p in shown],
})
st.caption(f"{len(shown):,} of {len(found):,} personas · times in {times.zone_name()}")
ids = table["persona_id"].tolist()
selected = st.query_params.get("persona")
# Selection is positional: the key follows the rows, so a row deleted (or added) above the
# selected one starts a fresh widget whose selection comes from the URL's id, instead of
# selecting whichever persona slid into that row (whose Delete a second click would press).
order = hashlib.sha256("|".join(ids).encode()).hexdigest()[:12]
event = st.dataframe(
    table, key=f"personas-table-{order}", hide_index=True, width="stretch", on_select="rerun",
    selection_mode="single-row",
    selection_default={"selection": {"rows": [ids.index(selected)]}} if selected in ids else None,
    column_config={"name": "Persona", "kind": "Kind", "replica": "Default replica",
                   "documents": st.column_config.NumberColumn("Documents", format="%d"),
                   "prompt": st.column_config.TextColumn("System prompt", width="large"),
                   "created": "Created", "persona_id": "Id"})
rows = event.selection.rows
chosen = ids[rows[0]] if rows else None
if chosen != selected and (chosen is not None or selected in ids):
    if chosen:
        st.query_params["persona"] = chosen
    else:
        del st.query_params["persona"]
    st.rerun()

left, right = st.columns([3, 2])
with left:
    personas.show_form(frame, replicas, documents, by_id.get(personas.editing() or ""))
with right:
    if selected in by_id:
        used_by = [s.preset.name for s in presets if s.preset.persona_id == selected]
        personas.show_persona_actions(frame, by_id[selected], replicas, used_by)
    else:
        st.caption("Select a persona in the table to edit, duplicate, rehearse or delete it.")
