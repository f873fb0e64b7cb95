"""Pieces of the Personas screen: the form (new or edit), and the selected persona's actions.

The form's widgets have keys (`pf_*`); Edit fills them in an on_click callback (before the
widgets exist in that run), and each action's button reads them by key in its own callback and
claims its work there (lib/ui/actions.py): a click elsewhere or another page 0.3 s later cannot
lose or repeat it. A value to fix is said under the form, whose values stay as typed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import streamlit as st

from lib.personas.form import (
    LLM_MODELS,
    MAX_PROMPT_LENGTH,
    PERCEPTION_MODELS,
    PROMPT_WARN_LENGTH,
    TTS_ENGINES,
    TURN_LEVELS,
    PersonaForm,
    form_from_persona,
)
from lib.personas.work import (
    PersonaAttempt,
    Rehearsal,
    SaveOutcome,
    create_work,
    delete_work,
    duplicate_work,
    form_digest,
    rehearsal_request,
    rehearse_work,
    save_work,
)
from lib.tavus.client import Document, Persona, Replica
from lib.text import escape_markdown
from lib.ui import actions, cached
from lib.ui.widgets import show_action_failure

if TYPE_CHECKING:
    from lib.ui.shell import Frame

DEFAULT = "Tavus's default"
KEYS = ("pf_name", "pf_prompt", "pf_replica", "pf_documents", "pf_tags", "pf_llm", "pf_tts",
        "pf_voice", "pf_perception", "pf_patience", "pf_interrupt")
_EDITING = "pf_editing"  # the persona id the form edits; absent: a new persona
_BASE = "pf_base"  # the form as Edit loaded it


def _choice(value: str | None) -> str:
    return value or DEFAULT


def _unchoice(value: object) -> str | None:
    return None if value in (None, "", DEFAULT) else str(value)


def load_into_form(persona: Persona | None) -> None:
    """Edit (a persona's values) or New (an empty form): an on_click callback."""
    state = st.session_state
    if persona is None:
        for key in KEYS:
            state.pop(key, None)
        state.pop(_EDITING, None)
        state.pop(_BASE, None)
        return
    form = form_from_persona(persona.raw)
    state.update(pf_name=form.persona_name, pf_prompt=form.system_prompt,
                 pf_replica=form.default_replica_id or "", pf_documents=list(form.document_ids),
                 pf_tags=list(form.document_tags), pf_llm=_choice(form.llm_model),
                 pf_tts=_choice(form.tts_engine), pf_voice=form.voice_id or "",
                 pf_perception=_choice(form.perception_model),
                 pf_patience=_choice(form.turn_taking_patience),
                 pf_interrupt=_choice(form.replica_interruptibility))
    state[_EDITING] = persona.persona_id
    state[_BASE] = form_from_state()  # as loaded: Save patches only what is changed from it


def form_from_state() -> PersonaForm:
    """The form as the click found it (read by key in a button's callback)."""
    state = st.session_state
    return PersonaForm(
        persona_name=str(state.get("pf_name") or ""),
        system_prompt=str(state.get("pf_prompt") or ""),
        default_replica_id=_unchoice(state.get("pf_replica")),
        document_ids=tuple(state.get("pf_documents") or ()),
        document_tags=tuple(state.get("pf_tags") or ()),
        llm_model=_unchoice(state.get("pf_llm")), tts_engine=_unchoice(state.get("pf_tts")),
        voice_id=_unchoice((state.get("pf_voice") or "").strip()),
        perception_model=_unchoice(state.get("pf_perception")),
        turn_taking_patience=_unchoice(state.get("pf_patience")),
        replica_interruptibility=_unchoice(state.get("pf_interrupt")),
    )


def editing() -> str | None:
    return st.session_state.get(_EDITING)


def show_form(frame: Frame, replicas: Sequence[Replica], documents: Sequence[Document],
              editing_persona: Persona | None) -> None:
    """The persona form: create a new one, or save the one being edited."""
    state = st.session_state
    title = (f"Edit **{escape_markdown(editing_persona.persona_name or '')}**"
             if editing_persona else "New persona")
    with st.container(key="persona-form", border=True):
        head, new_col = st.columns([3, 2], vertical_alignment="center")
        head.markdown(f"#### {title}")
        if editing_persona is not None:
            new_col.button("New instead", key="pf-new", on_click=load_into_form, args=(None,))
        # No max_chars: Streamlit cuts a longer value silently, so a persona made elsewhere with
        # a longer name or prompt would lose its end on Save. The checks say what is too long.
        st.text_input("Name", key="pf_name", placeholder="e.g. Bike shop sales demo")
        st.text_area("System prompt", key="pf_prompt", height=160,
                     placeholder="Who the replica is, who it talks to, what it should do, and "
                                 "what it must never say.")
        length = len(str(state.get("pf_prompt") or "").strip())
        if length > PROMPT_WARN_LENGTH:
            st.caption(f"{length:,} characters (about {length // 4:,} tokens): Tavus works best "
                       f"under 5,000 tokens, and this form takes up to "
                       f"{MAX_PROMPT_LENGTH:,} characters.")
        replica_names = {r.replica_id: r.replica_name or r.replica_id for r in replicas}
        current = state.get("pf_replica") or ""
        options = ["", *replica_names] + ([current] if current and
                                          current not in replica_names else [])
        left, right = st.columns(2)
        left.selectbox("Default replica", options, key="pf_replica",
                       format_func=lambda rid: "None (choose at each start)" if not rid else
                       replica_names.get(rid, f"{rid} (not usable now)"),
                       help="Ready replicas, and phoenix-4.5 previews (watermarked).")
        doc_names = {d.document_id: d.document_name or d.document_id for d in documents}
        chosen_docs = [d for d in state.get("pf_documents") or [] if d not in doc_names]
        right.multiselect("Documents", [*doc_names, *chosen_docs], key="pf_documents",
                          format_func=lambda did: doc_names.get(did, f"{did} (gone)"),
                          help="Knowledge the replica answers from (ready documents).")
        tags = sorted({t for d in documents for t in d.tags} | set(state.get("pf_tags") or ()))
        left.multiselect("Document tags", tags, key="pf_tags", accept_new_options=True,
                         help="Every document with one of these tags, now and later.")
        llm_models = [DEFAULT, *LLM_MODELS]
        if state.get("pf_llm") and state["pf_llm"] not in llm_models:
            llm_models.append(state["pf_llm"])  # a custom model stays as it is
        right.selectbox("LLM model", llm_models, key="pf_llm")
        with st.expander("Voice, perception and turn-taking", expanded=False):
            a, b = st.columns(2)
            a.selectbox("TTS engine", [DEFAULT, *TTS_ENGINES], key="pf_tts")
            b.text_input("Voice id (the engine's)", key="pf_voice",
                         placeholder="Leave empty for the replica's own voice")
            a.selectbox("Perception", [DEFAULT, *PERCEPTION_MODELS], key="pf_perception",
                        help="raven-1 sees and hears the person; off: the replica does not look.")
            b.selectbox("Turn-taking patience", [DEFAULT, *TURN_LEVELS], key="pf_patience")
            a.selectbox("Interruptibility", [DEFAULT, *TURN_LEVELS], key="pf_interrupt")
        if editing_persona is None:
            _create_button(frame)
        else:
            _save_button(frame, editing_persona)


def _after_change(frame: Frame):
    def after(_result: object) -> None:  # in the worker: plain calls only
        cached.forget_personas()
    return after


def _create_button(frame: Frame) -> None:
    attempts = st.session_state.setdefault("persona_attempts", {})
    form = form_from_state()
    digest = form_digest(form, "create")
    action = actions.ref("persona-create", digest)
    attempt = attempts.setdefault(digest, PersonaAttempt())

    def build():
        return create_work(frame.services.tavus, form_from_state(), attempt,
                           after=_after_change(frame))

    actions.button(st, "Create persona", action=action, build=build, type="primary",
                   icon=":material/person_add:", name="create persona", key="pf-create")
    _refusal(action)
    actions.follow(action, _show_made("created", "Create persona"))


def _save_button(frame: Frame, persona: Persona) -> None:
    form = form_from_state()
    action = actions.ref("persona-save", form_digest(form, persona.persona_id))

    base = st.session_state.get(_BASE)

    def build():
        return save_work(frame.services.tavus, persona.persona_id, form_from_state(),
                         base=base, after=_after_change(frame))

    actions.button(st, "Save changes", action=action, build=build, type="primary",
                   icon=":material/save:", name="save persona", key="pf-save")
    _refusal(action)

    def show(done) -> None:
        if done.running:
            st.info("Saving the persona…", icon=":material/hourglass_top:")
        elif done.ok and isinstance(done.result, SaveOutcome):
            with st.container(key="persona-saved"):
                st.success(escape_markdown(done.result.text), icon=":material/check:")
        elif not done.ok:
            show_action_failure(done, "Save changes")

    actions.follow(action, show)


def _refusal(action: actions.ActionRef) -> None:
    problem = actions.refused(action)
    if problem is not None:
        with st.container(key="persona-problem"):
            st.error(escape_markdown(str(problem)), icon=":material/error:")


def _show_made(verb: str, again: str):
    def show(done) -> None:
        if done.running:
            st.info("Asking Tavus…", icon=":material/hourglass_top:")
        elif done.ok and isinstance(done.result, Persona):
            made = done.result
            with st.container(key="persona-made"):
                st.success(f"Persona **{escape_markdown(made.persona_name or '')}** {verb} "
                           f"(`{made.persona_id}`).", icon=":material/check:")
        elif not done.ok:
            show_action_failure(done, again)
    return show


def show_persona_actions(frame: Frame, persona: Persona, replicas: Sequence[Replica],
                         used_by: Sequence[str]) -> None:
    """The selected persona: Edit (yours), Duplicate, Rehearse, Delete (yours)."""
    stock = (persona.persona_type or "user") != "user"
    with st.container(key="persona-actions", border=True):
        st.markdown(f"#### {escape_markdown(persona.persona_name or persona.persona_id)}"
                    + (" · stock" if stock else ""))
        st.caption(f"`{persona.persona_id}`" + (f" · used by presets: "
                                                 f"{escape_markdown(', '.join(used_by))}"
                                                 if used_by else ""))
        if persona.system_prompt:
            with st.expander("System prompt"):
                st.text(persona.system_prompt)
        # Two to a row: in the page's narrower column four would cut their labels to "E…".
        cols = [*st.columns(2), *st.columns(2)]
        if not stock:
            cols[0].button("Edit", key="pa-edit", icon=":material/edit:",
                           on_click=load_into_form, args=(persona,))
        else:
            cols[0].caption("Stock personas cannot be edited: duplicate one instead.")
        _duplicate(frame, persona, cols[1])
        _rehearse(frame, persona, replicas, cols[2])
        if not stock:
            _delete(frame, persona, used_by, cols[3])


def _duplicate(frame: Frame, persona: Persona, where) -> None:
    attempts = st.session_state.setdefault("persona_attempts", {})
    name = f"{persona.persona_name or 'Persona'} (copy)"
    digest = form_digest(PersonaForm(name, ""), "duplicate", persona.persona_id)
    action = actions.ref("persona-duplicate", digest)
    attempt = attempts.setdefault(digest, PersonaAttempt())
    actions.button(where, "Duplicate", action=action, key="pa-duplicate",
                   icon=":material/content_copy:", name="duplicate persona",
                   build=lambda: duplicate_work(frame.services.tavus, persona.persona_id, name,
                                                attempt, after=_after_change(frame)))
    actions.follow(action, _show_made("made", "Duplicate"))


def _rehearse(frame: Frame, persona: Persona, replicas: Sequence[Replica], where) -> None:
    rehearsals = st.session_state.setdefault("persona_rehearsals", {})
    replica_id = persona.default_replica_id or (replicas[0].replica_id if replicas else None)
    action = actions.ref("persona-rehearse", f"{persona.persona_id}/{replica_id}")

    def build():
        request = rehearsal_request(persona, replica_id)
        key = json.dumps(request, sort_keys=True)
        rehearsal = rehearsals.setdefault(key, Rehearsal(request))
        return rehearse_work(frame.services.tavus, rehearsal)

    actions.button(where, "Rehearse", action=action, key="pa-rehearse",
                   icon=":material/science:", name="rehearse persona", build=build,
                   help="A conversation in Tavus's test mode: the replica does not join and "
                        "nothing is billed. Shows the exact request a start sends.")
    _refusal(action)

    def show(done) -> None:
        if done.running:
            st.info("Rehearsing…", icon=":material/hourglass_top:")
        elif done.ok and isinstance(done.result, Rehearsal):
            with st.container(key="persona-rehearsal"):
                made = done.result.conversation
                st.success(f"Tavus accepted the request (test mode): conversation "
                           f"`{made.conversation_id if made else '?'}`, status "
                           f"{escape_markdown(made.status or '') if made else '?'}.",
                           icon=":material/check:")
                st.caption("POST /v2/conversations, exactly as sent (a real start sends the "
                           "same with test_mode false):")
                st.json(done.result.body)
        elif not done.ok:
            show_action_failure(done, "Rehearse")

    actions.follow(action, show)


def _delete(frame: Frame, persona: Persona, used_by: Sequence[str], where) -> None:
    action = actions.ref("persona-delete", persona.persona_id)
    confirm = where.popover("Delete…", icon=":material/delete:")
    if used_by:
        confirm.warning(f"Presets that use it: {escape_markdown(', '.join(used_by))}. They will "
                        "not start until you pick another persona.", icon=":material/warning:")
    confirm.caption("Tavus deletes the persona for good.")

    def after(persona_id: str) -> None:
        cached.forget_personas()

    actions.button(confirm, "Delete", action=action, key="pa-delete", type="primary",
                   name="delete persona",
                   build=lambda: delete_work(frame.services.tavus, persona.persona_id,
                                             after=after))

    def show(done) -> None:
        if done.running:
            st.info("Deleting…", icon=":material/hourglass_top:")
        elif done.ok:
            st.success("Deleted.", icon=":material/check:")
        else:
            show_action_failure(done, "Delete")

    actions.follow(action, show)
