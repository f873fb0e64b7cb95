"""Pieces of the Knowledge screen: add a file or a website, the live table, one document's
actions (rename and retag, recrawl, delete).

Adds and changes are actions on the server's board, claimed in their buttons' callbacks with
the form read by key (lib/ui/actions.py); the table reads the server's one shared documents
list (lib/knowledge/shared.py) and refreshes itself while anything is processing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from lib.clock import parse_time
from lib.conversations.presets import StoredPreset
from lib.knowledge.add import (
    INCOMING_FOLDER,
    AddAttempt,
    add_file_work,
    add_website_work,
    private_hosts_reachable,
)
from lib.knowledge.changes import delete_document_work, recrawl_work, save_document_work
from lib.knowledge.intake import (
    ACCEPTED_SUFFIXES,
    MAX_CRAWL_DEPTH,
    MAX_CRAWL_PAGES,
    MAX_DOCUMENT_BYTES,
    CrawlSettings,
    DocumentRefused,
)
from lib.knowledge.records import DocumentRecord
from lib.knowledge.status import explain_error, status_text
from lib.storage.uploads import format_bytes
from lib.tavus.client import Document, DocumentStatus, Persona
from lib.text import escape_markdown
from lib.ui import actions, cached, shell, times
from lib.ui.uploader import video_uploader
from lib.ui.widgets import show_action_failure

if TYPE_CHECKING:
    from lib.ui.shell import Frame

RECRAWL_COOLDOWN = timedelta(hours=1)  # Tavus: one recrawl of a document an hour
ADD_STEPS = {"checking": "Checking the file", "signing": "Signing the link for Tavus",
             "posting": "Sending it to Tavus", "recording": "Saving the team's note"}


def _show_failure(done, again: str, refused_next: str = "") -> None:
    """Why an action did not finish. A refusal (the file, the address, a value) already says what
    to do, and pressing the same button again would only be refused again: no "press again"."""
    if isinstance(done.error, DocumentRefused):
        st.error(actions.failure_text(done) + refused_next, icon=":material/error:")
    else:
        show_action_failure(done, again)


def _follow_add(action: actions.ActionRef, again: str, *, refused_next: str = "",
                notes: Sequence[str] = ()) -> None:
    def show(done) -> None:
        if done.running:
            st.info(f"Adding… {ADD_STEPS.get(done.step or '', '')}",
                    icon=":material/hourglass_top:")
        elif done.ok and isinstance(done.result, Document):
            with st.container(key="document-added"):
                st.success(f"**{escape_markdown(done.result.document_name or '')}** is in the "
                           "knowledge base: Tavus is processing it (the table follows it).",
                           icon=":material/check:")
                for note in notes:
                    st.caption(escape_markdown(note))
        elif not done.ok:
            _show_failure(done, again, refused_next)
    actions.follow(action, show)


def _refusal(action: actions.ActionRef) -> None:
    problem = actions.refused(action)
    if problem is not None:
        with st.container(key="document-problem"):
            st.error(escape_markdown(str(problem)), icon=":material/error:")


def show_add_file(frame: Frame) -> None:
    state = st.session_state
    round_ = state.setdefault("doc_round", 0)
    uploaded = video_uploader(
        f"doc-upload-{round_}", store=frame.services.store, accept=ACCEPTED_SUFFIXES,
        max_bytes=MAX_DOCUMENT_BYTES, label="Document (PDF, TXT, DOCX, DOC, PNG, JPG, PPTX, "
        "CSV or XLSX)", prefix=INCOMING_FOLDER, noun="document")
    name_key, tags_key = f"doc_name_{round_}", f"doc_tags_{round_}"
    if uploaded is not None and not state.get(name_key):
        state[name_key] = uploaded.filename.rsplit(".", 1)[0]
    st.text_input("Name", key=name_key, max_chars=120,
                  placeholder="Shown in the table and to personas' editors")
    _tags_input(tags_key)
    attempts = state.setdefault("doc_attempts", {})
    ident = uploaded.key if uploaded else "none"
    action = actions.ref("document-add", ident)
    attempt = attempts.setdefault(ident, AddAttempt())
    records = cached.document_records(frame)
    changed = cached.documents_changed(frame)
    added_by = shell.current_user_email()

    def build():
        if uploaded is None:
            raise ValueError("Choose a file first: it uploads to the team's bucket, then Add "
                             "sends it to Tavus.")
        return add_file_work(frame.services.tavus, frame.services.store, records, attempt,
                             key=uploaded.key, filename=uploaded.filename,
                             size=uploaded.size_bytes, name=str(state.get(name_key) or ""),
                             tags=list(state.get(tags_key) or []), added_by=added_by,
                             after=lambda document: changed())

    left, right = st.columns([2, 1])
    # A refused file's copy is gone from the bucket: Add stays off until another file is chosen.
    actions.button(left, "Add to knowledge base", action=action, build=build, type="primary",
                   icon=":material/upload_file:", name="add document", key="doc-add",
                   disabled=uploaded is None or attempt.refused is not None)
    done = action.get()
    if done is not None and done.ok:
        right.button("Add another", key="doc-another", icon=":material/add:",
                     on_click=lambda: state.update(doc_round=round_ + 1))
    _refusal(action)
    _follow_add(action, "Add to knowledge base",
                refused_next=" Nothing was sent to Tavus: press **Choose another file** in the "
                             "picker above and pick another one (the name and tags stay).",
                notes=attempt.stored.notes if attempt.stored is not None else ())


def _tags_input(key: str) -> None:
    known = sorted({t for d in st.session_state.get("doc_known", ()) for t in d})
    st.multiselect("Tags", known, key=key, accept_new_options=True,
                   placeholder="Type a tag and press Enter",
                   help="Personas and conversations can take every document with a tag.")


def show_add_website(frame: Frame) -> None:
    state = st.session_state
    st.text_input("Address", key="site_url", placeholder="https://example.com/pricing")
    st.text_input("Name", key="site_name", max_chars=120,
                  placeholder="Defaults to the site's name")
    _tags_input("site_tags")
    crawl = st.toggle("Follow links from this page (crawl)", key="site_crawl")
    if crawl:
        a, b = st.columns(2)
        a.number_input("Depth (links deep)", min_value=1, max_value=MAX_CRAWL_DEPTH, value=1,
                       step=1, key="site_depth")
        b.number_input("Pages at most", min_value=1, max_value=MAX_CRAWL_PAGES, value=10,
                       step=1, key="site_pages")
    attempts = state.setdefault("site_attempts", {})
    form = (str(state.get("site_url") or "").strip(), bool(state.get("site_crawl")),
            state.get("site_depth"), state.get("site_pages"))
    action = actions.ref("website-add", repr(form))
    attempt = attempts.setdefault(repr(form), AddAttempt())
    records = cached.document_records(frame)
    changed = cached.documents_changed(frame)
    added_by = shell.current_user_email()
    private_ok = private_hosts_reachable(frame.services.tavus_url)

    def build():
        settings = (CrawlSettings(int(state.get("site_depth") or 1),
                                  int(state.get("site_pages") or 10))
                    if state.get("site_crawl") else None)
        return add_website_work(frame.services.tavus, records, attempt,
                                url=str(state.get("site_url") or ""),
                                name=str(state.get("site_name") or ""),
                                tags=list(state.get("site_tags") or []), crawl=settings,
                                added_by=added_by, allow_private_hosts=private_ok,
                                after=lambda document: changed())

    actions.button(st, "Add website", action=action, build=build, type="primary",
                   icon=":material/language:", name="add website", key="site-add")
    _refusal(action)
    _follow_add(action, "Add website")


# --- The table -----------------------------------------------------------------------------------
def _source(document: Document, record: DocumentRecord | None) -> str:
    if record is not None:
        return "file" if record.source == "file" else (
            "site" if record.kind == "website" else "link")
    return "site" if document.crawled else "—"


def document_rows(documents: Sequence[Document], records: dict[str, DocumentRecord],
                  now: datetime) -> pd.DataFrame:
    """The table's rows, in the viewer's clock."""
    return pd.DataFrame({
        "name": [d.document_name or d.document_id for d in documents],
        "source": [_source(d, records.get(d.document_id)) for d in documents],
        "tags": [", ".join(d.tags) for d in documents],
        "status": [status_text(d) for d in documents],
        "progress": [d.progress if d.state is DocumentStatus.PROCESSING else
                     (100 if d.state is DocumentStatus.READY else None) for d in documents],
        "size": [format_bytes(r.size_bytes) if (r := records.get(d.document_id)) and
                 r.size_bytes else "" for d in documents],
        "added_by": [(records[d.document_id].added_by or "") if d.document_id in records
                     else "" for d in documents],
        "added": [times.shown(records[d.document_id].added_at if d.document_id in records
                              else d.created_at, now=now) for d in documents],
        "problem": [explain_error(d.error_message).what if d.state is DocumentStatus.ERROR
                    else "" for d in documents],
        "document_id": [d.document_id for d in documents],
    })


def toast_changes(documents: Sequence[Document]) -> None:
    """A toast when a document this session saw processing turns ready or fails."""
    seen = st.session_state.setdefault("doc_seen_states", {})
    for document in documents:
        before = seen.get(document.document_id)
        now_state = document.state
        if before is not None and DocumentStatus(before).still_changing and \
                not now_state.still_changing:
            name = escape_markdown(document.document_name or document.document_id)
            if now_state is DocumentStatus.READY:
                st.toast(f"{name} is ready for personas and conversations.",
                         icon=":material/check_circle:")
            else:
                why = escape_markdown(explain_error(document.error_message).what)
                st.toast(f"{name} failed: {why}", icon=":material/error:")
        seen[document.document_id] = str(now_state)


# --- One document ---------------------------------------------------------------------------------
def users_of(document: Document, personas: Sequence[Persona]) -> list[str]:
    """Personas that use the document, by id or by one of its tags."""
    tags = set(document.tags)
    return [p.persona_name or p.persona_id for p in personas
            if document.document_id in p.document_ids or tags & set(p.document_tags)]


def presets_using(document: Document, presets: Sequence[StoredPreset]) -> list[str]:
    """The team's presets that use the document, by id or by one of its tags."""
    tags = set(document.tags)
    return [s.preset.name for s in presets
            if document.document_id in s.preset.document_ids
            or tags & set(s.preset.document_tags)]


def next_recrawl(document: Document, now: datetime) -> datetime | None:
    """When Tavus allows the next recrawl (None: now)."""
    last = parse_time(document.last_crawled_at) or parse_time(document.created_at)
    if last is None:
        return None
    allowed = last + RECRAWL_COOLDOWN
    return allowed if allowed > now else None


def show_document(frame: Frame, document: Document, record: DocumentRecord | None,
                  personas: Sequence[Persona], presets: Sequence[StoredPreset] = ()) -> None:
    """Details, what a failure means and how to fix it, Save (name, tags), Recrawl, Delete."""
    tavus = frame.services.tavus
    changed = cached.documents_changed(frame)
    with st.container(key="document-details", border=True):
        st.markdown(f"#### {escape_markdown(document.document_name or document.document_id)}")
        facts = [f"`{document.document_id}`", status_text(document)]
        if record is not None and record.file_name:
            facts.append(escape_markdown(record.file_name))
        if document.crawled:
            facts.append(f"crawl: depth {document.crawl_depth}, up to "
                         f"{document.crawl_max_pages} pages")
        st.caption(" · ".join(facts))
        if document.state is DocumentStatus.ERROR:
            explained = explain_error(document.error_message)
            with st.container(key="document-error"):
                st.error(f"**{escape_markdown(explained.what)}** "
                         f"{escape_markdown(explained.fix)} (Tavus: `{explained.code}`)",
                         icon=":material/error:")
        ident = document.document_id
        st.text_input("Name", value=document.document_name or "", key=f"dd_name_{ident}")
        st.multiselect("Tags", sorted(set(document.tags)), default=list(document.tags),
                       key=f"dd_tags_{ident}", accept_new_options=True)
        save = actions.ref("document-save", ident)

        def build_save():
            return save_document_work(tavus, ident,
                                      name=str(st.session_state.get(f"dd_name_{ident}") or ""),
                                      tags=list(st.session_state.get(f"dd_tags_{ident}") or []),
                                      after=changed)

        cols = st.columns(3)
        actions.button(cols[0], "Save name and tags", action=save, build=build_save,
                       key="dd-save", icon=":material/save:", name="save document")
        _refusal(save)
        actions.follow(save, lambda done: _done_text(done, "Saved.", "Save name and tags"))
        if document.crawled:
            wait = next_recrawl(document, datetime.now(UTC))
            recrawl = actions.ref("document-recrawl", ident)

            def build_recrawl():
                return recrawl_work(tavus, ident, after=changed)

            actions.button(cols[1], "Recrawl", action=recrawl, build=build_recrawl,
                           key="dd-recrawl", icon=":material/autorenew:", name="recrawl",
                           disabled=wait is not None or document.state.still_changing,
                           help=(f"Tavus allows one recrawl an hour: next at "
                                 f"{times.shown(wait.isoformat())}." if wait else
                                 "Fetch the site again for fresh content."))
            actions.follow(recrawl, lambda done: _done_text(done, "Recrawl started.",
                                                            "Recrawl"))
        users = users_of(document, personas)
        in_presets = presets_using(document, presets)
        confirm = cols[2].popover("Delete…", icon=":material/delete:")
        if users:
            confirm.warning("Used by: " + escape_markdown(", ".join(users)) + ". They lose "
                            "this knowledge.", icon=":material/warning:")
        if in_presets:
            confirm.warning("Presets that use it: " + escape_markdown(", ".join(in_presets))
                            + ". They will not start until it is removed from them (Edit, "
                            "then save).", icon=":material/warning:")
        confirm.caption("Tavus deletes the document for good.")
        delete = actions.ref("document-delete", ident)
        records = cached.document_records(frame)

        def build_delete():
            return delete_document_work(tavus, records, ident, after=changed)

        actions.button(confirm, "Delete", action=delete, build=build_delete, type="primary",
                       key="dd-delete", name="delete document")
        actions.follow(delete, lambda done: _done_text(done, "Deleted.", "Delete"))


def _done_text(done, ok_text: str, again: str) -> None:
    if done.running:
        st.info("Asking Tavus…", icon=":material/hourglass_top:")
    elif done.ok:
        st.success(ok_text, icon=":material/check:")
    else:
        _show_failure(done, again)
