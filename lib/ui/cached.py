"""Clients' data shared by every session of the server: Streamlit caches keyed by the account.

Each cached function takes the frame's `cache_key` (the Tavus URL and mode, never a secret) and the
client as an unhashed argument, so every session of one account shares one fetch.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Mapping
from dataclasses import astuple, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import streamlit as st

from lib.config import S3Settings
from lib.conversations.calls import CallLog, CallRecord
from lib.conversations.debrief import Debrief, debrief_from
from lib.conversations.presets import PresetStore
from lib.conversations.shared import ConversationsView, SharedConversations
from lib.errors import user_message
from lib.knowledge.records import DocumentRecords
from lib.knowledge.shared import DocumentsView, SharedDocuments
from lib.replicas.voices import download_clip, fallback_voices, sorted_voices
from lib.services import Services
from lib.storage.ledger import LedgerRecord, SharedLedger
from lib.storage.s3 import ImageStore, StorageError
from lib.storage.thumbnails import thumbnail_data_url
from lib.tavus.client import Persona, TavusError, Voice

if TYPE_CHECKING:  # annotations only: importing analysis would load OpenCV on every page
    from lib.photos.analysis import PhotoAnalysis
    from lib.ui.shell import Frame


@st.cache_data(ttl=3600, show_spinner=False)
def _voices(settings_key: str, _services: Services) -> tuple[list[Voice], str | None]:
    try:
        voices = sorted_voices(_services.tavus.list_voices())
        if voices:
            return voices, None
        return fallback_voices(), "Tavus listed no voices; showing the documented ones."
    except TavusError as error:
        return fallback_voices(), ("The voice list could not be loaded, so the documented voices "
                                   "are offered without previews. " + user_message(error))


def voices(frame: Frame) -> tuple[list[Voice], str | None]:
    """Stock voices from Tavus (cached an hour), or the documented six with a warning."""
    return _voices(frame.cache_key, frame.services)


@st.cache_data(ttl=3600, max_entries=32, show_spinner=False)
def preview_clip(url: str) -> bytes | None:
    """A loopback voice clip fetched by the server (a remote browser cannot reach it)."""
    return download_clip(url)


@st.cache_data(max_entries=16, show_spinner="Checking the photo…")
def analyse_photo(data: bytes, filename: str | None) -> PhotoAnalysis:
    # The verdict and overlay from a small copy; the upload is made later by .prepare().
    # Imported here: OpenCV loads only where photos are checked.
    from lib.photos.analysis import analyse_photo as analyse

    return analyse(data, filename)


@st.cache_data(ttl=600, show_spinner=False)
def _personas(settings_key: str, _services: Services) -> tuple[list[Persona], str | None]:
    try:
        page = _services.tavus.list_personas(limit=100)
        return sorted(page.personas, key=lambda p: (p.persona_name or "").lower()), None
    except TavusError as error:
        return [], user_message(error)


def personas(frame: Frame) -> tuple[list[Persona], str | None]:
    """The account's and Tavus's personas (cached 10 min), or none and why."""
    return _personas(frame.cache_key, frame.services)


@st.cache_data(ttl=600, show_spinner=False)
def _all_personas(settings_key: str, _services: Services) -> tuple[list[Persona], str | None]:
    try:
        # By type, twice: list items need not say their type, and stock ones cannot be edited.
        found = [replace(p, persona_type=kind)
                 for kind in ("user", "system")
                 for p in _services.tavus.list_all_personas(persona_type=kind)[0]]
        return sorted(found, key=lambda p: (p.persona_type != "user",
                                            (p.persona_name or "").lower())), None
    except TavusError as error:
        return [], user_message(error)


def all_personas(frame: Frame) -> tuple[list[Persona], str | None]:
    """Every persona of the account and Tavus's stock ones (all pages; cached 10 min, cleared
    by a change made here), or none and why."""
    return _all_personas(frame.cache_key, frame.services)


def forget_personas() -> None:
    """After a create, edit or delete here, every list of personas is read again."""
    _personas.clear()
    _all_personas.clear()


@st.cache_resource(show_spinner=False, max_entries=8)
def _shared_documents(settings_key: str) -> SharedDocuments:
    return SharedDocuments()


def documents(frame: Frame) -> DocumentsView:
    """The account's documents, shared by every session: 0 Tavus calls when fresh, one
    `limit=1` list when nothing moves (lib/knowledge/shared.py)."""
    shared = _shared_documents(frame.cache_key)
    return shared.refresh(frame.services.live, max_age_seconds=frame.settings.refresh_seconds)


def reload_documents(frame: Frame) -> DocumentsView:
    return _shared_documents(frame.cache_key).refresh(frame.services.live, max_age_seconds=0,
                                                      force=True)


@st.cache_resource(show_spinner=False, max_entries=8)
def _document_records(store_key: str, _store: ImageStore) -> DocumentRecords:
    return DocumentRecords(_store)


def document_records(frame: Frame) -> DocumentRecords:
    """The team's records of documents added here (who, when, from what), one per server."""
    store = frame.services.store
    return _document_records(_store_key(store.settings), store)


def documents_changed(frame: Frame) -> Callable[[], None]:
    """A callable (for a worker thread) that makes the next documents refresh read them all."""
    return _shared_documents(frame.cache_key).changed


@st.cache_data(ttl=10, show_spinner=False)
def _active_calls(settings_key: str, _services: Services) -> int | None:
    try:
        return _services.live.list_conversations(status="active", limit=1).total_count
    except TavusError:
        return None


def active_calls(frame: Frame) -> int | None:
    """How many conversations are live (billed) right now; None when Tavus cannot say."""
    return _active_calls(frame.cache_key, frame.services)


def forget_conversations() -> None:
    _active_calls.clear()


def forget_replica_lists() -> None:
    """After a create, rename or delete, the next read of the ledger must see it.

    The ledger keeps its records (a refresh then costs the listing and GETs of what changed);
    this app's own writes reach it at once anyway, this catches the rest.
    """
    for ledger in list(_shared_ledgers):
        ledger.invalidate()


LEDGER_MAX_AGE_SECONDS = 60  # how stale the team records may be when written elsewhere
# Every SharedLedger the cache below has made, so that forget_replica_lists can reach them.
_shared_ledgers: weakref.WeakSet[SharedLedger] = weakref.WeakSet()


def _store_key(settings: S3Settings) -> str:
    # A digest, not the values: the secret is part of it (new credentials, new ledger).
    return hashlib.sha256(repr(astuple(settings)).encode()).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=8)
def _shared_ledger(store_key: str, _store: ImageStore) -> SharedLedger:
    ledger = SharedLedger(_store, max_age_seconds=LEDGER_MAX_AGE_SECONDS)
    _shared_ledgers.add(ledger)
    return ledger


def team_ledger(frame: Frame) -> SharedLedger:
    """The team ledger every session of this server shares (one per store: endpoint, bucket,
    prefix and credentials).

    Write records through it (create, notes) so that every session sees them on its next read.
    """
    store = frame.services.store
    return _shared_ledger(_store_key(store.settings), store)


def ledger_records(frame: Frame) -> tuple[Mapping[str, LedgerRecord], str | None]:
    """The team's records by replica id (at most a minute old), and why they may be stale.

    A refresh lists the prefix and reads only new or changed records. When S3 fails, the last
    records read stay, with the reason (remembered a minute, so sessions do not each retry).
    """
    ledger = team_ledger(frame)
    try:
        return ledger.refresh(), None
    except StorageError as error:
        return ledger.records, error.message


@st.cache_data(ttl=50 * 60, max_entries=5000, show_spinner=False)
def _photo_url(photo_key: str, settings_key: str, _store: ImageStore, inline: bool) -> str | None:
    # Cached under the URL's 1 h life, so the table's image URLs do not change on every tick.
    try:
        if inline:
            # Demo mode's S3 listens on the server's loopback, which a remote browser cannot
            # reach: send a small thumbnail instead of a URL.
            return thumbnail_data_url(_store.read_object(photo_key))
        return _store.presign_view(photo_key)
    except StorageError:
        return None


def photo_urls(frame: Frame, records: Mapping[str, LedgerRecord]) -> dict[str, str]:
    inline = frame.services.demo_mode  # not "is the endpoint on loopback": a local MinIO is fine
    urls = {rid: _photo_url(r.photo_key, frame.cache_key, frame.services.store, inline)
            for rid, r in records.items()}
    return {rid: url for rid, url in urls.items() if url}


@st.cache_resource(show_spinner=False, max_entries=8)
def _shared_conversations(settings_key: str) -> SharedConversations:
    return SharedConversations()


def conversation_history(frame: Frame) -> ConversationsView:
    """Every conversation of the account, shared by every session: a refresh costs 0 Tavus
    calls when fresh, one `limit=1` list when nothing changed (lib/conversations/shared.py)."""
    shared = _shared_conversations(frame.cache_key)
    return shared.refresh(frame.services.live, max_age_seconds=frame.settings.refresh_seconds)


def reload_conversation_history(frame: Frame) -> ConversationsView:
    shared = _shared_conversations(frame.cache_key)
    return shared.refresh(frame.services.live, max_age_seconds=0, force=True)


@st.cache_data(max_entries=500, show_spinner=False)
def _finished_debrief(conversation_id: str, settings_key: str, _services: Services) -> Debrief:
    return debrief_from(_services.tavus.get_conversation(conversation_id, verbose=True))


def debrief(frame: Frame, conversation_id: str) -> Debrief:
    """One conversation's debrief. A finished one (ended, transcript in, nothing more awaited)
    never changes: it is read once per server; a live or recent one is read each time."""
    key = (conversation_id, frame.cache_key)
    finished = st.session_state.setdefault("finished_debriefs", set())
    if key in finished:
        return _finished_debrief(conversation_id, frame.cache_key, frame.services)
    found = debrief_from(frame.services.tavus.get_conversation(conversation_id, verbose=True))
    record = call_records(frame).get(conversation_id)
    recording_awaited = bool(record and record.record) and found.recording is None and \
        found.waiting_for_recording(datetime.now(UTC), allowed=True)
    if found.transcript_ready and found.ended and (found.perception or not found.joined) \
            and not recording_awaited:
        finished.add(key)
    return found


@st.cache_data(ttl=50 * 60, max_entries=200, show_spinner=False)
def recording_source(bucket: str, key: str, settings_key: str, _store: ImageStore,
                     inline: bool) -> str | bytes | None:
    """What st.video plays: a presigned GET (1 h), or in demo mode the bytes (its S3 listens on
    the server's loopback, which a remote browser cannot reach; demo recordings are seconds
    long). None when the recording's file is not in the bucket."""
    if bucket != _store.bucket:
        return None  # recordings go to the team's bucket; another one we cannot sign for
    try:
        _store.call("head_object", Key=key)
        return _store.read_object(key) if inline else _store.presign_view(key)
    except StorageError:
        return None


@st.cache_resource(show_spinner=False, max_entries=8)
def _call_log(store_key: str, _store: ImageStore) -> CallLog:
    return CallLog(_store)


def call_log(frame: Frame) -> CallLog:
    """Who started which call here, with which preset: shared by every session."""
    store = frame.services.store
    return _call_log(_store_key(store.settings), store)


def call_records(frame: Frame) -> Mapping[str, CallRecord]:
    """The call records by conversation id; empty (the history says nothing of who) when S3
    cannot be listed: that must not take the history down with it."""
    try:
        return call_log(frame).records()
    except StorageError:
        return {}


@st.cache_resource(show_spinner=False, max_entries=8)
def _preset_store(store_key: str, _store: ImageStore) -> PresetStore:
    return PresetStore(_store)


def preset_store(frame: Frame) -> PresetStore:
    """The team's demo presets, shared by every session (read by ETag, written conditionally)."""
    store = frame.services.store
    return _preset_store(_store_key(store.settings), store)
