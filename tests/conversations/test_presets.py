"""Conversation presets over moto's S3 server (real HTTP on loopback).

On conditional writes: moto 5.2.5 honours `If-None-Match: *` and `If-Match` on PUT (412
PreconditionFailed) and `If-Match` on DELETE; `test_moto_honours_conditional_writes` shows it with
plain sequential requests. But moto checks the condition and then writes without a lock (see
moto/s3/responses.py `put_object`), so two truly simultaneous conditional PUTs can both succeed:
a probe of 300 two-thread races saw that once. S3 decides atomically, so the race test makes moto's
PUT handler atomic (`s3_like_moto`) and checks our code against S3's documented behaviour; without
it that test would be honest about our code but flaky about moto.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from lib.config import S3Settings
from lib.conversations.presets import (
    PRESET_VERSION,
    Preset,
    PresetConflict,
    PresetError,
    PresetStore,
    parse_preset,
    preset_readiness,
    preset_slug,
)
from lib.conversations.requests import ConversationForm, ConversationFormError, conversation_request
from lib.storage.s3 import ImageStore, StorageError

FORM = ConversationForm(
    replica_id="r1234567890a",
    persona_id="p2b3c4d5e6f7",
    conversation_name="Booth demo",
    custom_greeting="Hi! Ask me about the launch.",
    conversational_context="A visitor at our booth.",
    language="French",
    max_call_minutes=25,
    participant_absent_timeout=120,
    participant_left_timeout=30,
    require_auth=True,
    enable_closed_captions=True,
    record=True,
)


@pytest.fixture
def store(s3_settings: S3Settings) -> ImageStore:
    return ImageStore(s3_settings)


@pytest.fixture
def presets(store: ImageStore) -> PresetStore:
    return PresetStore(store)


@pytest.fixture
def s3_like_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's PUT made atomic, as S3's conditional writes are (see the module docstring)."""
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    original = S3Response.put_object

    def put_object(self: S3Response) -> object:
        with lock:
            return original(self)

    monkeypatch.setattr(S3Response, "put_object", put_object)
    yield


# --- S3 itself -----------------------------------------------------------------------------------
def test_moto_honours_conditional_writes(store: ImageStore) -> None:
    key = "photos/presets/probe.json"
    first = store.put_bytes(key, b"1", "application/json", if_none_match=True)
    with pytest.raises(StorageError) as caught:
        store.put_bytes(key, b"2", "application/json", if_none_match=True)
    assert caught.value.precondition_failed and caught.value.status_code == 412

    second = store.put_bytes(key, b"3", "application/json", if_match=first)
    with pytest.raises(StorageError) as caught:
        store.put_bytes(key, b"4", "application/json", if_match=first)  # stale
    assert caught.value.precondition_failed
    with pytest.raises(StorageError) as caught:
        store.delete(key, if_match=first)
    assert caught.value.precondition_failed
    assert store.read_object(key) == b"3"
    store.delete(key, if_match=second)
    assert store.list_keys("photos/presets/") == []


# --- Round trips ---------------------------------------------------------------------------------
def test_a_preset_round_trips_through_the_bucket(presets: PresetStore, store: ImageStore) -> None:
    preset = Preset.from_form("Booth Démo", FORM, by="jane@example.com")
    stored = presets.create(preset)

    assert stored.key == "photos/presets/booth-demo.json"
    listed, problems = PresetStore(store).list()  # a second process: read from S3, not memory
    assert problems == []
    assert [s.preset for s in listed] == [preset]
    assert listed[0].etag == stored.etag
    raw = json.loads(store.read_object(stored.key))
    assert raw["version"] == PRESET_VERSION and raw["created_by"] == "jane@example.com"
    assert preset.language == "french" and preset.created_at == preset.updated_at


def test_preset_form_round_trips_to_a_valid_form() -> None:
    preset = Preset.from_form("Interview", FORM, by=None)
    form = preset.form()

    assert form == replace(FORM, language="french")
    assert conversation_request(replace(form, record=False))["properties"]["language"] == "french"


@pytest.mark.parametrize(("changes", "fix"), [
    ({"language": "en"}, "english"),
    ({"max_call_minutes": 0}, "max_call_minutes"),
    ({"replica_id": " "}, "replica_id"),
    ({"participant_left_timeout": 1}, "participant_left_timeout"),
])
def test_an_invalid_form_is_not_saved_and_says_what_to_fix(changes: dict, fix: str) -> None:
    with pytest.raises(PresetError, match=fix) as caught:
        Preset.from_form("Bad", replace(FORM, **changes), by=None)
    assert "'Bad' was not saved" in str(caught.value)


def test_a_hand_edited_preset_still_fails_at_start_with_the_fix(presets: PresetStore,
                                                                  store: ImageStore) -> None:
    stored = presets.create(Preset.from_form("Edited", FORM, by=None))
    raw = json.loads(store.read_object(stored.key))
    store.put_bytes(stored.key, json.dumps({**raw, "language": "en"}).encode(),
                    "application/json")

    (loaded,), _ = PresetStore(store).list()
    with pytest.raises(ConversationFormError, match="english"):
        conversation_request(replace(loaded.preset.form(), record=False))


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_names_must_be_given_and_short(name: str) -> None:
    with pytest.raises(PresetError, match="name"):
        Preset.from_form(name, FORM, by=None)


def test_names_that_read_the_same_share_a_slug() -> None:
    assert preset_slug("Sales  Demo") == preset_slug("sales demo") == preset_slug("SALES-démo!")
    assert preset_slug("Sales demo") != preset_slug("Sales demo 2")
    assert preset_slug("面试") == preset_slug(" 面试 ") != preset_slug("演示")
    assert preset_slug("面试").startswith("preset-")


# --- Conflicts -----------------------------------------------------------------------------------
def test_a_taken_name_is_a_conflict_not_an_overwrite(presets: PresetStore,
                                                     store: ImageStore) -> None:
    first = presets.create(Preset.from_form("Acme", FORM, by="jane@example.com"))
    other = Preset.from_form("ACME", replace(FORM, custom_greeting="Other"), by="sam@example.com")

    with pytest.raises(PresetConflict) as caught:
        PresetStore(store).create(other)

    assert "already exists" in str(caught.value) and "jane@example.com" in str(caught.value)
    # When, in words no viewer's zone can misread; never the raw ISO stamp.
    assert re.search(r"saved by jane@example\.com (just now|\d+ min ago)\)", str(caught.value))
    assert not re.search(r"\d{4}-\d\d-\d\dT", str(caught.value))
    (listed,), _ = PresetStore(store).list()
    assert listed.preset == first.preset


@pytest.mark.usefixtures("s3_like_moto")
def test_two_creates_of_one_name_at_once_exactly_one_wins(store: ImageStore) -> None:
    # Two server processes: separate stores, separate HTTP pools, nothing shared but S3.
    stores = [PresetStore(ImageStore(store.settings)) for _ in range(2)]
    for round_ in range(5):
        name = f"Launch {round_}"
        mine = [Preset.from_form(name, replace(FORM, custom_greeting=f"from {who}"), by=who)
                for who in ("jane", "sam")]
        start = threading.Barrier(2)
        outcomes: list[object] = [None, None]

        def save(i: int, mine: list[Preset] = mine, start: threading.Barrier = start,
                 outcomes: list[object] = outcomes) -> None:
            start.wait()
            try:
                outcomes[i] = stores[i].create(mine[i])
            except PresetConflict as conflict:
                outcomes[i] = conflict

        threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        conflicts = [o for o in outcomes if isinstance(o, PresetConflict)]
        winners = [i for i, o in enumerate(outcomes) if not isinstance(o, PresetConflict)]
        assert len(conflicts) == 1 and len(winners) == 1, outcomes
        assert "already exists" in str(conflicts[0]) or "same time" in str(conflicts[0])
        listed = {s.preset.name: s.preset for s in PresetStore(store).list()[0]}
        assert listed[name] == mine[winners[0]]  # the winner's content, not the loser's


def test_an_update_from_a_stale_read_is_a_conflict(presets: PresetStore,
                                                   store: ImageStore) -> None:
    stored = presets.create(Preset.from_form("Acme", FORM, by="jane@example.com"))
    other = PresetStore(store)
    (theirs,), _ = other.list()
    other.update(theirs, replace(theirs.preset, custom_greeting="Sam's"), by="sam@example.com")

    with pytest.raises(PresetConflict) as caught:
        presets.update(stored, replace(stored.preset, custom_greeting="Jane's"),
                       by="jane@example.com")

    message = str(caught.value)
    assert "changed by sam@example.com" in message and "reload" in message
    assert re.search(r"changed by sam@example\.com (just now|\d+ min ago), after", message)
    assert not re.search(r"\d{4}-\d\d-\d\dT", message)
    (listed,), _ = PresetStore(store).list()
    assert listed.preset.custom_greeting == "Sam's"


def test_an_update_keeps_creation_and_moves_on_rename(presets: PresetStore,
                                                      store: ImageStore) -> None:
    stored = presets.create(Preset.from_form("Acme", FORM, by="jane@example.com"))
    updated = presets.update(stored, replace(stored.preset, custom_greeting="New"), by="sam")
    assert updated.etag != stored.etag
    assert updated.preset.created_by == "jane@example.com" and updated.preset.updated_by == "sam"

    renamed = presets.update(updated, replace(updated.preset, name="Acme 2"), by="sam")
    listed, _ = PresetStore(store).list()
    assert [s.key for s in listed] == [renamed.key] == ["photos/presets/acme-2.json"]

    presets.create(Preset.from_form("Taken", FORM, by=None))
    with pytest.raises(PresetConflict):
        presets.update(renamed, replace(renamed.preset, name="taken"), by="sam")
    assert len(PresetStore(store).list()[0]) == 2  # nothing lost, nothing overwritten


def test_updating_or_deleting_a_deleted_preset_is_a_conflict(presets: PresetStore,
                                                             store: ImageStore) -> None:
    stored = presets.create(Preset.from_form("Acme", FORM, by=None))
    PresetStore(store).delete(stored)

    with pytest.raises(PresetConflict, match="deleted"):
        presets.update(stored, replace(stored.preset, custom_greeting="x"))
    presets.delete(stored)  # already gone: nothing to do, no error


def test_delete_of_a_changed_preset_is_a_conflict(presets: PresetStore, store: ImageStore) -> None:
    stored = presets.create(Preset.from_form("Acme", FORM, by=None))
    presets.update(stored, replace(stored.preset, custom_greeting="x"), by="sam")

    with pytest.raises(PresetConflict, match="changed by sam"):
        presets.delete(stored)


# --- Problems in the folder ----------------------------------------------------------------------
def test_broken_and_newer_files_are_problems_and_the_rest_still_list(
        presets: PresetStore, store: ImageStore) -> None:
    presets.create(Preset.from_form("Good one", FORM, by=None))
    folder = "photos/presets/"
    store.put_bytes(folder + "broken.json", b"{not json", "application/json")
    store.put_bytes(folder + "list.json", b"[1, 2]", "application/json")
    store.put_bytes(folder + "nameless.json", b'{"replica_id": "r1"}', "application/json")
    store.put_bytes(folder + "typed.json", json.dumps(
        {"name": "Typed", "replica_id": "r1", "require_auth": "yes"}).encode(), "application/json")
    newer = {**json.loads(Preset.from_form("Acme", FORM, by=None).to_json()),
             "version": PRESET_VERSION + 1, "a_new_field": 1}
    store.put_bytes(folder + "acme.json", json.dumps(newer).encode(), "application/json")

    listed, problems = PresetStore(store).list()

    assert [s.preset.name for s in listed] == ["Good one"]
    assert len(problems) == 5
    text = "\n".join(problems)
    assert "'Acme' was saved by a newer version of the app; update to edit it." in problems
    assert "broken.json is not valid JSON" in text
    assert "nameless.json has no name" in text
    assert "'Typed' has an unreadable require_auth" in text


def test_an_older_file_without_new_fields_still_reads(presets: PresetStore,
                                                      store: ImageStore) -> None:
    store.put_bytes("photos/presets/min.json", b'{"name": "Min", "replica_id": "r1"}',
                    "application/json")
    (listed,), problems = presets.list()
    assert problems == [] and listed.preset.form() == ConversationForm(replica_id="r1")


# --- Duplicate, delete, last use ------------------------------------------------------------------
def test_duplicate_copies_settings_under_a_new_owner(presets: PresetStore,
                                                     store: ImageStore) -> None:
    stored = presets.create(Preset.from_form("Acme", FORM, by="jane@example.com"))
    presets.touch_used(stored)

    copy = presets.duplicate(stored, "Acme (copy)", by="sam@example.com")

    assert copy.preset.form() == stored.preset.form()
    assert copy.preset.created_by == "sam@example.com" and copy.preset.last_used_at is None
    names = [s.preset.name for s in PresetStore(store).list()[0]]
    assert names == ["Acme", "Acme (copy)"]
    with pytest.raises(PresetConflict):
        presets.duplicate(stored, "acme", by="sam@example.com")


def test_a_deleted_preset_is_not_copied(presets: PresetStore, store: ImageStore) -> None:
    # A stale Duplicate button (its preset deleted a moment ago) copies nothing.
    stored = presets.create(Preset.from_form("Gone", FORM, by=None))
    presets.delete(stored)
    with pytest.raises(PresetConflict, match="deleted meanwhile"):
        presets.duplicate(stored, "Gone (copy)", by=None)
    assert PresetStore(store).list() == ([], [])


def test_delete_removes_it_for_everyone(presets: PresetStore, store: ImageStore) -> None:
    stored = presets.create(Preset.from_form("Acme", FORM, by=None))
    presets.list()
    presets.delete(stored)
    assert presets.list() == ([], [])  # at once, through the shared copy
    assert PresetStore(store).list() == ([], [])
    assert store.list_keys("photos/presets/") == []


def test_touch_used_stamps_last_use_without_undoing_an_edit(presets: PresetStore,
                                                            store: ImageStore) -> None:
    stored = presets.create(Preset.from_form("Acme", FORM, by=None))
    assert stored.preset.last_used_at is None
    touched = presets.touch_used(stored)
    assert touched is not None and touched.preset.last_used_at is not None
    assert touched.preset.updated_at == stored.preset.updated_at  # use is not an edit

    # Someone edits it; a stale stamp must not bring back the old settings.
    presets.update(touched, replace(touched.preset, custom_greeting="Edited"), by="sam")
    again = presets.touch_used(stored)
    assert again is not None
    (listed,), _ = PresetStore(store).list()
    assert listed.preset.custom_greeting == "Edited" and listed.preset.last_used_at is not None

    PresetStore(store).delete(listed)
    assert presets.touch_used(listed) is None  # gone: nothing to note, no error


# --- Shared copy ---------------------------------------------------------------------------------
def test_the_shared_copy_gets_only_what_changed(presets: PresetStore, store: ImageStore) -> None:
    reader = PresetStore(store, max_age_seconds=0.0)  # every list() refreshes
    for name in ("A", "B", "C"):
        presets.create(Preset.from_form(name, FORM, by=None))
    reader.list()
    gets = reader._objects.gets
    assert gets == 3

    reader.list()
    assert reader._objects.gets == gets  # nothing changed: the listing alone
    (a, *_), _ = presets.list()
    presets.update(a, replace(a.preset, custom_greeting="x"))
    listed, _ = reader.list()
    assert reader._objects.gets == gets + 1
    assert listed[0].preset.custom_greeting == "x"


def test_own_writes_show_without_a_refresh(presets: PresetStore) -> None:
    presets.list()
    refreshes = presets._objects.refreshes
    presets.create(Preset.from_form("A", FORM, by=None))
    assert [s.preset.name for s in presets.list()[0]] == ["A"]
    assert presets._objects.refreshes == refreshes


# --- Readiness -----------------------------------------------------------------------------------
def test_a_preset_whose_replica_is_gone_or_not_ready_says_so() -> None:
    preset = Preset.from_form("Acme", FORM, by=None)
    assert preset_readiness(preset, {"r1234567890a", "rother"}) is None
    message = preset_readiness(preset, {"rother"})
    assert message is not None
    assert "'Acme'" in message and "r1234567890a" in message and "pick a ready replica" in message


# --- Knowledge: the persona and documents a preset starts with ----------------------------------
def _knowing_preset(**changes) -> Preset:
    form = ConversationForm(replica_id="r1", persona_id="p1", document_ids=("d1", "d2"),
                            document_tags=("pricing",), document_retrieval_strategy="quality")
    return replace(Preset.from_form("Acme", form, by=None), **changes)


def test_a_preset_keeps_its_documents_through_its_file() -> None:
    preset = _knowing_preset()
    again = parse_preset("presets/acme.json", preset.to_json())
    assert again.document_ids == ("d1", "d2") and again.document_tags == ("pricing",)
    assert again.form().document_retrieval_strategy == "quality"
    request = conversation_request(again.form())
    assert request["document_ids"] == ("d1", "d2") and request["document_tags"] == ("pricing",)
    assert request["document_retrieval_strategy"] == "quality"


def test_an_older_preset_file_without_documents_reads_as_none() -> None:
    raw = json.loads(_knowing_preset().to_json())
    for name in ("document_ids", "document_tags", "document_retrieval_strategy"):
        raw.pop(name)
    old = parse_preset("presets/acme.json", json.dumps(raw).encode())
    assert (old.document_ids, old.document_tags, old.document_retrieval_strategy) == ((), (),
                                                                                      None)


def test_a_document_list_of_other_things_is_a_problem_not_a_crash() -> None:
    raw = json.loads(_knowing_preset().to_json())
    raw["document_ids"] = ["d1", 7]
    with pytest.raises(ValueError, match="unreadable document_ids"):
        parse_preset("presets/acme.json", json.dumps(raw).encode())


@pytest.mark.parametrize(("personas", "states", "says"), [
    ({"p1"}, {"d1": "ready", "d2": "ready"}, None),
    (set(), {"d1": "ready", "d2": "ready"}, "persona p1, which no longer exists"),
    ({"p1"}, {"d1": "ready"}, "no longer exist (d2)"),
    ({"p1"}, {"d1": "ready", "d2": "processing"}, "not finished processing (d2)"),
    ({"p1"}, {"d1": "error", "d2": "ready"}, "could not process (d1)"),
    (None, None, None),  # lists not known: not judged
])
def test_a_preset_whose_persona_or_documents_are_gone_or_not_ready_says_so(
        personas, states, says) -> None:
    problem = preset_readiness(_knowing_preset(), {"r1"}, persona_ids=personas,
                               document_states=states)
    if says is None:
        assert problem is None
    else:
        assert problem is not None and says in problem


def test_an_unknown_retrieval_strategy_is_refused_before_tavus() -> None:
    with pytest.raises(ConversationFormError, match="speed, balanced, quality"):
        conversation_request(ConversationForm(replica_id="r1",
                                              document_retrieval_strategy="fastest"))
