"""Conversation presets: named, team-shared conversation settings, as JSON in the team bucket.

Each preset is one object, `{S3_PREFIX}presets/<slug>.json`, the slug made from the name: names
that differ only in case, accents, spaces or punctuation are one name. Writes are conditional so a
teammate's work is never silently overwritten: a new preset is PUT with `If-None-Match: *` (fails
if the name is taken) and an edit with `If-Match: <the ETag read>` (fails if it changed since).
Reads go through one per-process `SharedObjects` copy refreshed by ETag.

moto 5.2.5 (the test and demo S3 server) honours both conditions, but checks and writes without a
lock, so two truly simultaneous creates can both succeed there; S3 itself decides atomically (one
gets 412, or 409 when they overlap). See tests/conversations/test_presets.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime

from lib.clock import relative
from lib.conversations.requests import (
    DEFAULT_MAX_CALL_MINUTES,
    ConversationForm,
    ConversationFormError,
    conversation_request,
)
from lib.storage.ledger import now_iso
from lib.storage.s3 import ImageStore, StorageError
from lib.storage.shared_objects import SharedObjects

log = logging.getLogger("replica_studio.presets")

PRESET_VERSION = 1
PRESETS_FOLDER = "presets/"
MAX_PRESET_NAME_LENGTH = 80
MAX_SLUG_LENGTH = 60
WRITE_TIMEOUT_SECONDS = 5.0
_NON_SLUG = re.compile(r"[^a-z0-9]+")


class PresetError(Exception):
    """A preset cannot be saved or read as asked; the message says what to do."""


class PresetConflict(PresetError):
    """Someone else saved that name, or changed or deleted the preset, meanwhile."""


@dataclass(frozen=True)
class Preset:
    name: str
    replica_id: str
    conversation_name: str = ""
    custom_greeting: str = ""
    conversational_context: str = ""
    language: str = "english"
    persona_id: str | None = None
    max_call_minutes: int = DEFAULT_MAX_CALL_MINUTES
    participant_absent_timeout: int = 300
    participant_left_timeout: int = 60
    require_auth: bool = False
    enable_closed_captions: bool = False
    record: bool = False
    created_by: str | None = None
    created_at: str = ""
    updated_at: str = ""
    last_used_at: str | None = None
    updated_by: str | None = None  # who saved it last: the conflict message names them
    # Knowledge for the call on top of the persona's (lists in the file).
    document_ids: tuple[str, ...] = ()
    document_tags: tuple[str, ...] = ()
    document_retrieval_strategy: str | None = None
    version: int = PRESET_VERSION

    def form(self) -> ConversationForm:
        """The conversation form this preset fills in (a dry run is chosen per start)."""
        return ConversationForm(
            replica_id=self.replica_id,
            persona_id=self.persona_id,
            conversation_name=self.conversation_name,
            custom_greeting=self.custom_greeting,
            conversational_context=self.conversational_context,
            language=self.language,
            max_call_minutes=self.max_call_minutes,
            participant_absent_timeout=self.participant_absent_timeout,
            participant_left_timeout=self.participant_left_timeout,
            require_auth=self.require_auth,
            enable_closed_captions=self.enable_closed_captions,
            record=self.record,
            document_ids=tuple(self.document_ids),
            document_tags=tuple(self.document_tags),
            document_retrieval_strategy=self.document_retrieval_strategy,
        )

    @classmethod
    def from_form(cls, name: str, form: ConversationForm, *, by: str | None) -> Preset:
        """A new preset from a form; raises PresetError saying which value to fix."""
        clean = clean_name(name)
        try:
            # Recording depends on this deployment's settings, checked when a call starts.
            conversation_request(replace(form, record=False))
        except ConversationFormError as error:
            raise PresetError(f"Preset {clean!r} was not saved: {error}") from None
        now = now_iso()
        return cls(
            name=clean,
            replica_id=form.replica_id.strip(),
            conversation_name=form.conversation_name,
            custom_greeting=form.custom_greeting,
            conversational_context=form.conversational_context,
            language=form.language.strip().lower(),
            persona_id=(form.persona_id or "").strip() or None,
            max_call_minutes=int(form.max_call_minutes),
            participant_absent_timeout=int(form.participant_absent_timeout),
            participant_left_timeout=int(form.participant_left_timeout),
            require_auth=bool(form.require_auth),
            enable_closed_captions=bool(form.enable_closed_captions),
            record=bool(form.record),
            document_ids=tuple(d.strip() for d in form.document_ids if d.strip()),
            document_tags=tuple(t.strip() for t in form.document_tags if t.strip()),
            document_retrieval_strategy=form.document_retrieval_strategy or None,
            created_by=by,
            created_at=now,
            updated_at=now,
            updated_by=by,
        )

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode()


# Field -> accepted JSON types: a hand-edited file with a wrong type is a problem, not a crash.
_TYPES: dict[str, tuple[type, ...]] = {
    **{n: (str,) for n in ("name", "replica_id", "conversation_name", "custom_greeting",
                           "conversational_context", "language", "created_at", "updated_at")},
    **{n: (str, type(None)) for n in ("persona_id", "created_by", "last_used_at",
                                      "updated_by", "document_retrieval_strategy")},
    **{n: (list,) for n in ("document_ids", "document_tags")},
    **{n: (int,) for n in ("max_call_minutes", "participant_absent_timeout",
                           "participant_left_timeout", "version")},
    **{n: (bool,) for n in ("require_auth", "enable_closed_captions", "record")},
}


def parse_preset(key: str, data: bytes) -> Preset:
    """A preset from its file; ValueError with a plain-language problem otherwise."""
    where = key.rsplit("/", 1)[-1]
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"The preset file {where} is not valid JSON; fix or delete it in the "
                         "bucket.") from None
    if not isinstance(raw, dict):
        raise ValueError(f"The preset file {where} is not a preset; fix or delete it in the "
                         "bucket.")
    label = repr(raw["name"]) if isinstance(raw.get("name"), str) else where
    version = raw.get("version", PRESET_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > PRESET_VERSION:
        raise ValueError(f"{label} was saved by a newer version of the app; update to edit it.")
    known = {f.name for f in fields(Preset)}
    values = {k: v for k, v in raw.items() if k in known}  # unknown fields: a newer app's
    for name in ("name", "replica_id"):
        if not isinstance(values.get(name), str) or not values[name].strip():
            raise ValueError(f"The preset file {where} has no {name}; fix or delete it in the "
                             "bucket.")
    for name, value in values.items():
        allowed = _TYPES[name]
        wrong = not isinstance(value, allowed) or (
            isinstance(value, bool) and bool not in allowed)
        if wrong:
            raise ValueError(f"{label} has an unreadable {name} ({value!r}); fix or delete it "
                             "in the bucket.")
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ValueError(f"{label} has an unreadable {name} ({value!r}); fix or "
                                 "delete it in the bucket.")
            values[name] = tuple(value)
    return Preset(**values)


def clean_name(name: str) -> str:
    """The name as stored: trimmed, inner whitespace collapsed; PresetError if unusable."""
    clean = " ".join((name or "").split())
    if not clean:
        raise PresetError("Give the preset a name.")
    if len(clean) > MAX_PRESET_NAME_LENGTH:
        raise PresetError(f"Shorten the preset name to {MAX_PRESET_NAME_LENGTH} characters or "
                          f"fewer (it has {len(clean)}).")
    return clean


def preset_slug(name: str) -> str:
    """'Sales Démo!' -> 'sales-demo': the key part, the same for names that read the same.

    A name with no Latin letters or digits (e.g. all CJK) gets a stable hash instead.
    """
    folded = clean_name(name).casefold()
    ascii_text = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    slug = _NON_SLUG.sub("-", ascii_text).strip("-")[:MAX_SLUG_LENGTH].strip("-")
    return slug or "preset-" + hashlib.sha256(folded.encode()).hexdigest()[:12]


def preset_readiness(preset: Preset, usable_replica_ids: set[str] | frozenset[str], *,
                     persona_ids: set[str] | frozenset[str] | None = None,
                     document_states: Mapping[str, str] | None = None) -> str | None:
    """None if the preset can start a call now, else what is wrong and what to do.

    `persona_ids`: the personas that exist (None: not known, not judged). `document_states`:
    document id -> Tavus status of every document (None: not known)."""
    if preset.replica_id not in usable_replica_ids:
        return (f"{preset.name!r} uses replica {preset.replica_id}, which is not ready or no "
                "longer exists: pick a ready replica and save the preset again.")
    if persona_ids is not None and preset.persona_id and preset.persona_id not in persona_ids:
        return (f"{preset.name!r} uses persona {preset.persona_id}, which no longer exists: "
                "Edit the preset, pick another persona and save it again.")
    if document_states is not None:
        gone = [d for d in preset.document_ids if d not in document_states]
        if gone:
            return (f"{preset.name!r} uses {len(gone)} document(s) that no longer exist "
                    f"({', '.join(gone)}): Edit the preset, remove them and save it again.")
        failed = [d for d in preset.document_ids if document_states[d] == "error"]
        if failed:
            return (f"{preset.name!r} uses document(s) Tavus could not process "
                    f"({', '.join(failed)}): add them again on the Knowledge page, or Edit the "
                    "preset without them.")
        waiting = [d for d in preset.document_ids if document_states[d] != "ready"]
        if waiting:
            return (f"{preset.name!r} uses document(s) Tavus has not finished processing "
                    f"({', '.join(waiting)}): wait until they are ready (the Knowledge page "
                    "shows their progress), or Edit the preset without them.")
    return None


@dataclass(frozen=True)
class StoredPreset:
    preset: Preset
    key: str
    etag: str | None  # None: the server sent none, so edits cannot be checked (never on S3)


class PresetStore:
    """The team's presets in the bucket, shared by every session of one server process."""

    def __init__(self, store: ImageStore, *, max_age_seconds: float = 30.0) -> None:
        self.store = store
        self.folder = store.settings.prefix + PRESETS_FOLDER
        self._objects: SharedObjects[Preset] = SharedObjects(
            store, self.folder, parse_preset, max_age_seconds=max_age_seconds)

    def key_for(self, name: str) -> str:
        return f"{self.folder}{preset_slug(name)}.json"

    def list(self, *, force: bool = False) -> tuple[list[StoredPreset], list[str]]:
        """Presets by name, and problems (unreadable files, newer versions) in plain words.

        Raises StorageError only when the bucket cannot be listed at all.
        """
        entries = self._objects.refresh(force=force)
        presets = [StoredPreset(e.value, e.key, e.etag)
                   for e in entries.values() if e.value is not None]
        problems = [e.problem for e in entries.values() if e.value is None and e.problem]
        presets.sort(key=lambda s: (s.preset.name.casefold(), s.key))
        return presets, sorted(problems)

    def invalidate(self) -> None:
        self._objects.invalidate()

    def create(self, preset: Preset) -> StoredPreset:
        """Save a new preset; PresetConflict if the name is taken, never an overwrite."""
        key = self.key_for(preset.name)
        try:
            etag = self.store.put_bytes(key, preset.to_json(), "application/json",
                                        timeout=WRITE_TIMEOUT_SECONDS, if_none_match=True)
        except StorageError as error:
            if error.precondition_failed:
                raise PresetConflict(self._taken(key, preset.name)) from None
            raise
        self._objects.wrote(key, preset, etag)
        return StoredPreset(preset, key, etag)

    def update(self, stored: StoredPreset, preset: Preset, *, by: str | None = None
               ) -> StoredPreset:
        """Save an edit of `stored` (as read); PresetConflict if it changed or went since.

        A new name moves the preset: the new key is created first (never overwriting another
        preset), then the old one is deleted only if still as read.
        """
        edited = replace(preset, updated_at=now_iso(), updated_by=by or preset.updated_by,
                         created_at=stored.preset.created_at,
                         created_by=stored.preset.created_by)
        key = self.key_for(edited.name)
        if key != stored.key:
            moved = self.create(edited)
            try:
                self.delete(stored)
            except PresetConflict:
                raise PresetConflict(
                    f"Saved as {edited.name!r}, but {stored.preset.name!r} was changed by "
                    "someone else meanwhile, so it was kept: reload and delete it if it is no "
                    "longer needed.") from None
            return moved
        etag = self._put_if_match(stored, edited)
        return StoredPreset(edited, key, etag)

    def delete(self, stored: StoredPreset) -> None:
        """Delete the preset if it is still as read; PresetConflict if it changed since."""
        try:
            self.store.delete(stored.key, if_match=stored.etag)
        except StorageError as error:
            if error.code == "NoSuchKey":  # already gone: what the caller wanted
                self._objects.deleted(stored.key)
                return
            if error.precondition_failed:
                raise PresetConflict(self._changed(stored)) from None
            raise
        self._objects.deleted(stored.key)

    def duplicate(self, stored: StoredPreset, new_name: str, *, by: str | None) -> StoredPreset:
        """A copy under a new name, owned by `by`; PresetConflict if that name is taken, or if
        the preset was deleted meanwhile (a stale button's click: nothing is copied)."""
        if self._read(stored.key) is None:
            raise PresetConflict(f"{stored.preset.name!r} was deleted meanwhile: nothing was "
                                 "copied.")
        now = now_iso()
        copy = replace(stored.preset, name=clean_name(new_name), created_by=by, created_at=now,
                       updated_at=now, updated_by=by, last_used_at=None)
        return self.create(copy)

    def touch_used(self, stored: StoredPreset) -> StoredPreset | None:
        """Note that the preset started a call. Best effort: never an error for the caller.

        If someone edited it meanwhile, their version is re-read and stamped instead, once;
        their edit always wins. Returns the stored preset, or None if it could not be noted.
        """
        current = stored
        for _ in range(2):
            used = replace(current.preset, last_used_at=now_iso())
            try:
                return StoredPreset(used, current.key, self._put_if_match(current, used))
            except PresetConflict:
                fresh = self._read(current.key)
                if fresh is None:
                    return None  # deleted meanwhile: nothing to note
                current = fresh
            except StorageError as error:
                log.warning("last use of %s not noted: %s", stored.key,
                            error.code or error.status_code or "")
                return None
        return None

    # --- helpers ---------------------------------------------------------------------------------
    def _put_if_match(self, stored: StoredPreset, preset: Preset) -> str | None:
        try:
            etag = self.store.put_bytes(stored.key, preset.to_json(), "application/json",
                                        timeout=WRITE_TIMEOUT_SECONDS,
                                        if_match=stored.etag or "*")
        except StorageError as error:
            if error.precondition_failed or error.code == "NoSuchKey":
                raise PresetConflict(self._changed(stored)) from None
            raise
        self._objects.wrote(stored.key, preset, etag)
        return etag

    def _read(self, key: str) -> StoredPreset | None:
        """The preset as it is now (a direct read, not the shared copy); None if gone."""
        try:
            listed = self.store.call("head_object", Key=key)
            data = self.store.read_object(key)
        except StorageError as error:
            if error.code in ("NoSuchKey", "404") or error.status_code == 404:
                return None
            raise
        try:
            preset = parse_preset(key, data)
        except ValueError as error:
            raise PresetError(str(error)) from None
        # HEAD then GET: if it changed in between, the older ETag makes the next write fail
        # safely (a conflict), never overwrite.
        return StoredPreset(preset, key, listed.get("ETag"))

    def _taken(self, key: str, name: str) -> str:
        try:
            current = self._read(key)
        except (StorageError, PresetError):
            current = None
        if current is None:
            return (f"A preset named {name!r} was being saved by someone else at the same time: "
                    "reload, then pick another name or edit theirs.")
        who = _by(current.preset.updated_by or current.preset.created_by)
        return (f"A preset named {current.preset.name!r} already exists (saved{who}"
                f"{_ago(current.preset.updated_at)}): pick another name, or open it and edit it.")

    def _changed(self, stored: StoredPreset) -> str:
        try:
            current = self._read(stored.key)
        except (StorageError, PresetError):
            current = None
        self._objects.invalidate()
        if current is None:
            return (f"{stored.preset.name!r} was deleted by someone else meanwhile; reload, and "
                    "save your settings as a new preset if you still want them.")
        who = _by(current.preset.updated_by or current.preset.created_by)
        return (f"{stored.preset.name!r} was changed{who}{_ago(current.preset.updated_at)}, "
                "after you opened it; reload it and make your change again.")


def _by(person: str | None) -> str:
    return f" by {person}" if person else ""


def _ago(stamp: str) -> str:
    """" 3 min ago": when, in words no time zone can misread (the message is made on the server,
    read by whoever hit the conflict); "" for a stamp that is no time (a hand-edited file)."""
    ago = relative(stamp, datetime.now(UTC))
    return f" {ago}" if ago else ""


__all__ = [
    "PRESET_VERSION",
    "Preset",
    "PresetConflict",
    "PresetError",
    "PresetStore",
    "StoredPreset",
    "clean_name",
    "parse_preset",
    "preset_readiness",
    "preset_slug",
]
