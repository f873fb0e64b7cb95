"""Demo presets on the Conversations screen: start one in one click, edit, duplicate, delete,
and save the current settings as one. The store is the team's (lib/conversations/presets.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import streamlit as st

from lib.conversations.presets import (
    Preset,
    PresetError,
    StoredPreset,
    preset_readiness,
)
from lib.conversations.requests import ConversationForm
from lib.storage.s3 import StorageError
from lib.text import escape_markdown
from lib.ui import cached, times, widgets

if TYPE_CHECKING:
    from lib.tavus.client import Persona
    from lib.ui.shell import Frame

# The Start form's widget keys, filled from a preset by Edit (before the widgets are drawn).
FORM_KEYS = ("call_name", "call_greeting", "call_context", "call_language", "call_persona",
             "call_minutes", "call_absent", "call_left", "call_private", "call_captions",
             "call_record")


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
        editing_preset=stored.key, preset_name=preset.name)


def show_presets(frame: Frame, usable_ids: frozenset[str], names: dict[str, str],
                 personas: Sequence[Persona],
                 start: Callable[[ConversationForm, str], None]) -> None:
    """The team's presets, each with Start (one click, one call), Edit, Duplicate, Delete."""
    store = cached.preset_store(frame)
    done = st.session_state.pop("preset_done", None)
    if done:
        st.toast(done, icon=":material/check:")
    try:
        presets, problems = store.list()
    except StorageError as error:
        st.warning("The team's presets could not be read: " + escape_markdown(error.message),
                   icon=":material/cloud_off:")
        return
    with st.container(key="presets", border=True):
        st.subheader("Demo presets", anchor=False)
        for problem in problems:
            st.warning(escape_markdown(problem), icon=":material/report:")
        if not presets:
            st.caption("No preset yet: set a conversation up below and *Save as preset*.")
        now = times.utc_now()
        for stored in presets:
            preset = stored.preset
            with st.container(key=f"preset-{stored.key.rsplit('/', 1)[-1][:-5]}"):
                info, go, more = st.columns([4, 1.3, 1], vertical_alignment="center")
                info.markdown(f"**{escape_markdown(preset.name)}** · "
                              f"{escape_markdown(names.get(preset.replica_id, preset.replica_id))}"
                              f"  \n:gray[{escape_markdown(preset_times(preset, now))}"
                              f"{' · records' if preset.record else ''}]")
                problem = preset_readiness(preset, usable_ids)
                if problem:
                    info.caption(f":material/warning: {escape_markdown(problem)}")
                if go.button("Start", key=f"start-{stored.key}", type="primary",
                             icon=":material/play_arrow:", disabled=problem is not None):
                    try:
                        form = preset.form()
                    except Exception as error:  # an old preset Tavus would now refuse
                        widgets.show_error(error)
                    else:
                        store.touch_used(stored)
                        start(form, preset.name)
                with more.popover("…", help="Edit, duplicate or delete"):
                    st.button("Edit", key=f"edit-{stored.key}", icon=":material/edit:",
                              on_click=load_into_form, args=(stored, personas))
                    copy_name = st.text_input("Name of the copy", key=f"copy-{stored.key}",
                                              value=f"{preset.name} (copy)")
                    if st.button("Duplicate", key=f"dup-{stored.key}",
                                 icon=":material/content_copy:"):
                        act(lambda s=stored, n=copy_name: store.duplicate(
                            s, n, by=frame_user()), "Preset duplicated.")
                    if st.button("Delete", key=f"del-{stored.key}", icon=":material/delete:"):
                        act(lambda s=stored: store.delete(s), "Preset deleted.")


def save_controls(frame: Frame, form: ConversationForm | None) -> None:
    """Save the Start form's settings as a new preset, or update the one being edited."""
    store = cached.preset_store(frame)
    name_col, save_col = st.columns([3, 2], vertical_alignment="bottom")
    name = name_col.text_input("Preset name", key="preset_name", max_chars=80,
                               placeholder="e.g. Acme — CFO demo")
    editing = st.session_state.get("editing_preset")
    stored = None
    if editing:
        stored = next((s for s in store.list()[0] if s.key == editing), None)
    label = f"Update “{stored.preset.name}”" if stored else "Save as preset"
    if save_col.button(label, key="save_preset", icon=":material/bookmark_add:",
                       disabled=form is None or not name.strip()):
        def save() -> None:
            preset = Preset.from_form(name, form, by=frame_user())
            if stored is not None:
                store.update(stored, preset, by=frame_user())
            else:
                store.create(preset)
            st.session_state.pop("editing_preset", None)  # saved: the form is new again

        act(save, "Preset saved.")


def act(action: Callable[[], object], done: str) -> None:
    """Run one preset action; a conflict or a refusal is said plainly and nothing else moves."""
    try:
        action()
    except (PresetError, StorageError, ValueError) as error:
        st.error(escape_markdown(getattr(error, "message", None) or str(error)),
                 icon=":material/block:")
        return
    # Redrawn from the top: the list above this button was drawn before the change.
    st.session_state["preset_done"] = done
    st.rerun()


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
