"""Demo presets on the Conversations screen: start one in one click, edit, duplicate, delete,
and save the current settings as one. The store is the team's (lib/conversations/presets.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

import streamlit as st

from lib.actions.board import Action, Work
from lib.conversations.presets import (
    Preset,
    PresetError,
    StoredPreset,
    preset_readiness,
)
from lib.conversations.requests import ConversationForm
from lib.errors import user_message
from lib.storage.s3 import StorageError
from lib.text import escape_markdown
from lib.ui import actions, cached, times, widgets
from lib.ui.actions import ActionRef

if TYPE_CHECKING:
    from lib.tavus.client import Persona
    from lib.ui.shell import Frame

# The Start form's widget keys, filled from a preset by Edit (before the widgets are drawn).
FORM_KEYS = ("call_name", "call_greeting", "call_context", "call_language", "call_persona",
             "call_minutes", "call_absent", "call_left", "call_private", "call_captions",
             "call_record", "call_documents", "call_doc_tags", "call_strategy")


def load_into_form(stored: StoredPreset, personas: Sequence[Persona]) -> None:
    """Edit: the preset's values into the Start form (an on_click callback, so it runs before
    the form's widgets exist in this run)."""
    preset = stored.preset
    st.query_params["replica"] = preset.replica_id
    by_id = {p.persona_id: p for p in personas}
    st.session_state.update(
        call_name=preset.conversation_name, call_greeting=preset.custom_greeting,
        call_context=preset.conversational_context, call_language=preset.language,
        call_persona=by_id.get(preset.persona_id), call_minutes=preset.max_call_minutes,
        call_absent=preset.participant_absent_timeout,
        call_left=preset.participant_left_timeout, call_private=preset.require_auth,
        call_captions=preset.enable_closed_captions, call_record=preset.record,
        call_documents=list(preset.document_ids), call_doc_tags=list(preset.document_tags),
        call_strategy=preset.document_retrieval_strategy,
        editing_preset=stored.key, preset_name=preset.name)


def show_presets(frame: Frame, usable_ids: frozenset[str], names: dict[str, str],
                 personas: Sequence[Persona],
                 start_job: Callable[[ConversationForm, StoredPreset], tuple[ActionRef, Work]],
                 claim_start: Callable[[str | None, StoredPreset], None],
                 show_start: Callable[[Action], None]) -> None:
    """The team's presets, each with Start (one click, one call), Edit, Duplicate, Delete.

    Every button claims its action in its callback (the rule in lib/ui/actions.py): a second
    click while it runs, or just after, does nothing more."""
    store = cached.preset_store(frame)
    try:
        presets, problems = store.list()
    except StorageError as error:
        st.warning("The team's presets could not be read: " + escape_markdown(error.message),
                   icon=":material/cloud_off:")
        return
    by = frame_user()
    last = _last_action()
    _settle_update(last)
    every_persona, persona_problem = cached.all_personas(frame)
    persona_ids = None if persona_problem else frozenset(p.persona_id for p in every_persona)
    listed = cached.documents(frame)
    document_states = ({d.document_id: str(d.state) for d in listed.documents}
                       if listed.loaded and listed.error is None else None)
    with st.container(key="presets", border=True):
        st.subheader("Demo presets", anchor=False)
        # The last preset action of this session, followed here: the row it acted on may be
        # gone (deleted) or renamed by the time it ends.
        actions.follow(last.ref, show_outcome)
        for problem in problems:
            st.warning(escape_markdown(problem), icon=":material/report:")
        if not presets:
            st.caption("No preset yet: set a conversation up below and *Save as preset*.")
        now = times.utc_now()
        for stored in presets:
            preset = stored.preset
            slug = stored.key.rsplit("/", 1)[-1][:-5]
            with st.container(key=f"preset-{slug}"):
                info, go, more = st.columns([4, 1.3, 1], vertical_alignment="center")
                info.markdown(f"**{escape_markdown(preset.name)}** · "
                              f"{escape_markdown(names.get(preset.replica_id, preset.replica_id))}"
                              f"  \n:gray[{escape_markdown(preset_times(preset, now))}"
                              f"{' · records' if preset.record else ''}]")
                problem = preset_readiness(preset, usable_ids, persona_ids=persona_ids,
                                           document_states=document_states)
                starting = None
                try:
                    form = preset.form()
                except Exception as error:  # an old preset Tavus would now refuse
                    problem = problem or user_message(error)
                else:
                    starting, _ = start_job(form, stored)
                if problem:
                    info.caption(f":material/warning: {escape_markdown(problem)}")
                if starting is not None:
                    actions.button(go, "Start", key=f"start-{stored.key}", type="primary",
                                   icon=":material/play_arrow:", disabled=problem is not None,
                                   action=starting,
                                   build=lambda s=stored: claim_start(None, s))
                with info:
                    actions.follow(starting, show_start)
                with more.popover("…", help="Edit, duplicate or delete"):
                    st.button("Edit", key=f"edit-{stored.key}", icon=":material/edit:",
                              on_click=load_into_form, args=(stored, personas))
                    copy_name = st.text_input("Name of the copy", key=f"copy-{stored.key}",
                                              value=f"{preset.name} (copy)")
                    copying = actions.ref("preset-copy", f"{stored.key}|{copy_name}")
                    deleting = actions.ref("preset-delete", f"{stored.key}|{stored.etag}")
                    actions.button(st, "Duplicate", key=f"dup-{stored.key}",
                                   icon=":material/content_copy:", action=copying,
                                   name=DUPLICATING,
                                   build=lambda s=stored, a=copying: last.note(a, partial(
                                       _duplicate, store, s, _typed(f"copy-{s.key}"), by)))
                    actions.button(st, "Delete", key=f"del-{stored.key}",
                                   icon=":material/delete:", action=deleting, name=DELETING,
                                   build=lambda s=stored, a=deleting: last.note(
                                       a, partial(_delete, store, s)))
                for ref in (copying, deleting):
                    actions.follow(ref)  # redraws the list when it ends; said at the top


def _typed(key: str) -> str:
    return st.session_state.get(key) or ""


def _duplicate(store, stored: StoredPreset, name: str, by: str | None,
               _action: Action) -> StoredPreset:
    return store.duplicate(stored, name, by=by)


def _delete(store, stored: StoredPreset, _action: Action) -> None:
    store.delete(stored)


def save_controls(frame: Frame, form: ConversationForm | None,
                  form_now: Callable[[], ConversationForm]) -> None:
    """Save the Start form's settings as a new preset, or update the one being edited.
    `form_now()` reads the form as the click found it (in the button's callback)."""
    store = cached.preset_store(frame)
    name_col, save_col = st.columns([3, 2], vertical_alignment="bottom")
    name = name_col.text_input("Preset name", key="preset_name", max_chars=80,
                               placeholder="e.g. Acme — CFO demo")
    editing = st.session_state.get("editing_preset")
    stored = None
    if editing:
        stored = next((s for s in store.list()[0] if s.key == editing), None)
    label = f"Update “{stored.preset.name}”" if stored else "Save as preset"
    by = frame_user()
    intent = repr((name.strip(), stored.key if stored else None))  # what, over what
    saving = actions.ref("preset-save", hashlib.sha256(intent.encode()).hexdigest()[:16])
    last = _last_action()

    def claim() -> Callable[[Action], StoredPreset]:
        # In the button's callback: the preset as the click found the form (a value Tavus would
        # refuse raises PresetError, said below; nothing is sent).
        preset = Preset.from_form(_typed("preset_name"), form_now(), by=by)

        def save(_action: Action) -> StoredPreset:
            if stored is not None:
                return store.update(stored, preset, by=by)
            return store.create(preset)

        return last.note(saving, save)

    actions.button(save_col, label, key="save_preset", icon=":material/bookmark_add:",
                   disabled=form is None or not name.strip(), action=saving,
                   name=UPDATING if stored is not None else SAVING, build=claim)
    problem = actions.refused(saving)
    if problem is not None:
        st.error(escape_markdown(getattr(problem, "message", None) or str(problem)),
                 icon=":material/block:")
    actions.follow(saving)  # redraws the list above when it ends; the outcome is said there


DUPLICATING, DELETING, SAVING, UPDATING = "Duplicating", "Deleting", "Saving", "Updating"
DONE = {DUPLICATING: "Preset duplicated.", DELETING: "Preset deleted.", SAVING: "Preset saved.",
        UPDATING: "Preset updated."}


class _LastAction:
    """This session's latest preset action (a plain object kept in the session, written after
    the hand-over without a Streamlit call)."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.settled: tuple[str, int] | None = None  # the update whose end was acted on

    @property
    def ref(self) -> ActionRef | None:
        return ActionRef(actions.board(), self.key) if self.key else None

    def note(self, action: ActionRef, work: Work) -> Work:
        """Remember `action` as the latest (plain Python, in the click's callback): -> work."""
        self.key = action.key
        return work


def _last_action() -> _LastAction:
    return st.session_state.setdefault("preset_last_action", _LastAction())


def _settle_update(last: _LastAction) -> None:
    """Before the form is drawn: once an update is saved, the form is new again."""
    action = last.ref.get() if last.ref else None
    if action is not None and action.ok and action.label == UPDATING \
            and last.settled != (action.key, action.runs):
        # Updated: the form is new again, its name box empty (so the second half of a double
        # click on Update does not land on "Save as preset" with the same name).
        last.settled = (action.key, action.runs)
        st.session_state.pop("editing_preset", None)
        st.session_state["preset_name"] = ""


def show_outcome(action: Action) -> None:
    """A preset action: under way, refused (a conflict, said plainly), or done (a toast)."""
    if action.running:
        st.caption(f":material/hourglass_top: {action.label}…")
    elif action.ok:
        if actions.first_time_done(action):
            st.toast(DONE.get(action.label, "Done."), icon=":material/check:")
    elif isinstance(action.error, (PresetError, StorageError, ValueError)):
        st.error(escape_markdown(getattr(action.error, "message", None) or str(action.error)),
                 icon=":material/block:")
    else:
        widgets.show_action_failure(action, "it")


def preset_times(preset: Preset, now: datetime) -> str:
    """"by ann@x.com · updated yesterday 23:10 by bo@x.com · last used today 02:27", on the
    viewer's clock (the shared preset files keep UTC stamps)."""
    text = f"by {by_whom(preset.created_by)}"
    created = times.shown(preset.created_at, now=now)
    if preset.updated_at and preset.updated_at != preset.created_at:
        updated = times.shown(preset.updated_at, now=now)
        who = preset.updated_by if preset.updated_by and preset.updated_by != preset.created_by \
            else None
        if updated:
            text += f" · updated {updated}" + (f" by {who}" if who else "")
    elif created:
        text += f" · {created}"
    used = times.shown(preset.last_used_at, now=now)
    return text + (f" · last used {used}" if used else "")


def by_whom(email: str | None) -> str:
    return email or "someone not signed in"


def frame_user() -> str | None:
    from lib.ui.shell import current_user_email

    return current_user_email()
