"""Conversations: a live demo in one click, on this screen or on a phone, and ended cleanly."""

import streamlit as st

from lib.config import recording_storage
from lib.conversations.calls import CallRecord
from lib.conversations.history import elapsed, shutdown_reason, sort_conversations
from lib.conversations.links import join_url, qr_png
from lib.conversations.presets import StoredPreset
from lib.conversations.requests import (
    DEFAULT_MAX_CALL_MINUTES,
    LANGUAGES,
    ConversationAttempt,
    ConversationForm,
    form_digest,
    refusal_advice,
    start_work,
)
from lib.errors import user_message
from lib.replicas.facts import stage_text
from lib.replicas.table import format_duration, picker_label, usable_replicas
from lib.tavus.client import ReplicaStatus, TavusError
from lib.text import escape_markdown
from lib.ui import actions, cached, live, presets, shell, times, widgets

frame = shell.frame("Conversations")
tavus = frame.services.tavus
state = st.session_state
state.setdefault("call_limits", {})  # conversation id -> max call seconds, for those made here
state.setdefault("call_links", {})  # conversation id -> join link (with a private room's token)

# The server's shared list (stock replicas included): 0 Tavus calls when it is fresh.
listed = live.replica_view(frame, include_system=True)
replicas = usable_replicas(listed.replicas)
if listed.stale_since is not None and listed.last_error is not None:
    widgets.show_error(listed.last_error)  # shown as a message; the calls below still work

recording = recording_storage(frame.settings, frame.services.store.settings)
persona_list, persona_problem = cached.personas(frame)


# One click, one call: each start is an action on the server's board, keyed by its form, whose
# attempt is kept here; a second click or a rerun gets the same conversation instead of
# starting (and billing) another. The click claims it in the button's callback (lib/ui/actions).
attempts = state.setdefault("call_attempts", {})  # form digest -> ConversationAttempt
shown = state.setdefault("call_shown", {})  # "attempt": the one whose room is shown
limits, links = state.call_limits, state.call_links
call_log = cached.call_log(frame)
started_by = shell.current_user_email()
preset_store = cached.preset_store(frame)


def start_job(form: ConversationForm, preset: StoredPreset | None = None):
    """This form's start action and its work (made before the button, started after it)."""
    preset_name = preset.preset.name if preset else None
    digest = form_digest(form, preset_name)
    attempt = attempts.get(digest)
    if attempt is None or attempt.form != form:
        attempt = attempts[digest] = ConversationAttempt(form=form)

    def after(conversation) -> None:  # in the worker: plain objects only
        cid = conversation.conversation_id
        limits[cid] = form.max_call_minutes * 60
        links[cid] = join_url(conversation)
        shown.update(attempt=attempt, digest=digest)
        # Who started it and from which preset, for the history; written in the background.
        call_log.write_later(CallRecord.now(cid, started_by=started_by,
                                            preset_name=preset_name, record=form.record))
        cached.forget_conversations()
        if preset is not None:
            preset_store.touch_used(preset)

    work = start_work(tavus, attempt, recording if form.record else None, after=after)
    return actions.ref("start", digest), work


def form_now(replica_id: str) -> ConversationForm:
    """The Start form as the click found it (read by widget key, in the button's callback)."""
    persona = state.get("call_persona")
    return ConversationForm(
        replica_id=replica_id, persona_id=persona.persona_id if persona else None,
        conversation_name=state.get("call_name", ""),
        custom_greeting=state.get("call_greeting", ""),
        conversational_context=state.get("call_context", ""),
        language=state.get("call_language", "english"),
        max_call_minutes=int(state.get("call_minutes", DEFAULT_MAX_CALL_MINUTES)),
        participant_absent_timeout=int(state.get("call_absent", 300)),
        participant_left_timeout=int(state.get("call_left", 60)),
        require_auth=bool(state.get("call_private")),
        enable_closed_captions=bool(state.get("call_captions")),
        test_mode=bool(state.get("call_dry_run")),
        record=bool(state.get("call_record")) and recording is not None,
        document_ids=tuple(state.get("call_documents") or ()),
        document_tags=tuple(state.get("call_doc_tags") or ()),
        document_retrieval_strategy=state.get("call_strategy"))


def claim_start(replica_id: str | None, preset: StoredPreset | None = None) -> None:
    """A Start click (the form's, or a preset's): claimed and handed over at once."""
    form = preset.preset.form() if preset is not None else form_now(replica_id)
    action, work = start_job(form, preset)
    action.start(work, label="Start conversation")


def show_start(action) -> None:
    """A start under way, or why it did not start (with what to do)."""
    if action.running:
        st.info("Starting the conversation…", icon=":material/hourglass_top:")
    elif not action.ok:
        error = action.error
        advice = refusal_advice(error) if isinstance(error, TavusError) else None
        if error is None:
            widgets.show_action_failure(action, "Start")
        else:
            st.error(escape_markdown(user_message(error))
                     + (f"\n\n**What to do:** {escape_markdown(advice)}" if advice else ""),
                     icon=":material/block:")


start_col, result_col = st.columns([3, 2], gap="large")
if replicas:
    with start_col:
        presets.show_presets(frame, frozenset(r.replica_id for r in replicas),
                             {r.replica_id: r.replica_name or r.replica_id for r in replicas},
                             persona_list, start_job, claim_start, show_start)
with start_col, st.container(border=True, key="start-conversation"):
    st.subheader("Start a conversation", anchor=False)
    if not replicas:
        st.info("No replica can hold a conversation yet. Create one, or wait for training to "
                "finish.")
    else:
        by_id = {r.replica_id: r for r in replicas}
        labels = {r.replica_id: picker_label(r) for r in replicas}
        ids = list(labels)
        wanted = st.query_params.get("replica")
        pick_col, photo_col = st.columns([4, 1], vertical_alignment="center")
        replica_id = pick_col.selectbox("Replica (ready ones, and watermarked previews)", ids,
                                        format_func=labels.__getitem__,
                                        index=ids.index(wanted) if wanted in labels else 0)
        if by_id[replica_id].state is not ReplicaStatus.READY:
            pick_col.caption(f":material/visibility: {stage_text(by_id[replica_id])}")
        records, _ = cached.ledger_records(frame)
        photo = cached.photo_urls(frame, {replica_id: records[replica_id]}
                              if replica_id in records else {}).get(replica_id)
        if photo:
            photo_col.image(photo, width=72, alt=f"The source photo of {labels[replica_id]}")
        st.text_input("Conversation name", max_chars=120, key="call_name",
                      placeholder="e.g. Demo for Acme")
        st.text_input("Custom greeting", max_chars=500, key="call_greeting",
                      placeholder="What the replica says first")
        st.text_area("Conversational context", max_chars=10_000, key="call_context",
                     placeholder="Who the replica is talking to, and about what")
        language_col, persona_col, minutes_col = st.columns(3)
        language_col.selectbox("Language", LANGUAGES, key="call_language")
        persona_col.selectbox(
            "Persona", [None, *persona_list], key="call_persona",
            format_func=lambda p: "Tavus's default" if p is None else p.persona_name
            or p.persona_id, help=persona_problem)
        minutes_col.number_input("Max call (minutes)", min_value=1, max_value=240,
                                 value=DEFAULT_MAX_CALL_MINUTES, key="call_minutes")
        with st.expander("Knowledge for this call"):
            widgets.call_knowledge(frame)
        with st.expander("Room and timeouts"):
            st.number_input("End if nobody joins within (s)", 10, 3600, 300, key="call_absent")
            st.number_input("End after everyone leaves (s)", 10, 3600, 60, key="call_left")
            st.toggle("Private room (the link carries a join token)", key="call_private")
            st.toggle("Closed captions", key="call_captions")
        st.toggle(
            "Record this call", key="call_record", disabled=recording is None,
            help="Allows recording to the team's bucket: someone in the room must still press "
                 "record. " + ("" if recording else "Set RECORDING_ROLE_ARN to offer it."))
        dry_run = st.toggle("Dry run (test mode): the replica does not join, nothing is billed",
                            key="call_dry_run")
        form = form_now(replica_id)  # the widgets above, read as the Start button's callback does
        start_action, _ = start_job(form)
        done = attempts[form_digest(form)].conversation is not None
        actions.button(st, "Start dry run" if dry_run else "Start conversation", type="primary",
                       icon=":material/videocam:", disabled=done, key="start_call",
                       action=start_action, build=lambda: claim_start(replica_id))
        actions.follow(start_action, show_start)
        presets.save_controls(frame, form, lambda: form_now(replica_id))

with result_col:
    attempt = shown.get("attempt")
    conversation = attempt.conversation if attempt else None
    if conversation is not None:
        url = join_url(conversation)
        with st.container(key="conversation-result", border=True):
            if conversation.status == "ended":
                st.info("Dry run created: the conversation exists but is already ended, so "
                        "nothing is billed.", icon=":material/science:")
            st.link_button("Open conversation", url, type="primary", width="stretch",
                           icon=":material/open_in_new:")
            st.image(qr_png(url), caption="Scan with a phone to join", width=220,
                     alt="QR code of the conversation's link, shown below")
            # Wrapped, so that a long link never makes a scrolling box a keyboard cannot reach.
            st.code(url, language=None, wrap_lines=True)  # copy button
            if st.toggle("Show the call here", key="call_embed"):
                st.iframe(url, height=520)  # Streamlit's iframes allow camera and microphone
            if st.button("Start another", icon=":material/add:"):
                # The same settings may start a new call now (this one stays in the list).
                attempts.pop(shown.pop("digest", ""), None)
                shown.pop("attempt", None)
                st.rerun()


def end_job(conversation_id: str):
    """Ending is an action too: a second click while it runs (or just after) sends nothing."""

    def work(action) -> None:
        tavus.end_conversation(conversation_id)  # Tavus treats ending an ended call as done

    return actions.ref("end", conversation_id), work


def forget_calls(action) -> None:
    cached.forget_conversations()


def show_ending(action) -> None:
    if action.running:
        st.caption(":material/hourglass_top: Ending…")
    elif not action.ok:
        widgets.show_action_failure(action, "End")


@st.cache_data(show_spinner=False, max_entries=500)
def ended_reason(conversation_id: str, _key: str) -> str | None:
    # An ended conversation never changes: its reason is fetched once.
    try:
        return shutdown_reason(tavus.get_conversation(conversation_id, verbose=True))
    except TavusError:
        return None


conversations_now = []
try:
    conversations_now = sort_conversations(tavus.list_conversations(limit=25).conversations)
except TavusError as error:
    widgets.show_error(error)
live = any(c.status == "active" for c in conversations_now)


@st.fragment(run_every=frame.settings.refresh_seconds if live else None)
def call_list() -> None:
    try:
        calls = sort_conversations(
            frame.services.live.list_conversations(limit=25).conversations)
    except TavusError as error:
        widgets.show_error(error)
        return
    active = [c for c in calls if c.status == "active"]
    if bool(active) != live:
        st.rerun()  # start or stop ticking
    names = {r.replica_id: r.replica_name for r in replicas}
    st.subheader("Recent conversations", anchor=False)
    st.metric("Live now (billed until ended)", len(active))
    now = times.utc_now()
    for call in calls:
        with st.container(border=True, key=f"call-{call.conversation_id}"):
            info_col, time_col, action_col = st.columns([3, 2, 1], vertical_alignment="center")
            started = times.shown(call.created_at, now=now)  # on the viewer's clock
            info_col.markdown(
                f"**{escape_markdown(call.conversation_name or call.conversation_id)}** · "
                f"{escape_markdown(names.get(call.replica_id or '', call.replica_id or ''))}  \n"
                f"`{call.conversation_id}` · "
                + (f"started {escape_markdown(started)} · " if started else "")
                + (":green[**active**]" if call.status == "active" else f"{call.status}"))
            spent = format_duration(elapsed(call, now))
            limit = state.call_limits.get(call.conversation_id)
            if call.status == "active":
                time_col.markdown(f"{spent or 'just now'}"
                                  + (f" of {limit // 60} min" if limit else ""))
                ending, work = end_job(call.conversation_id)
                actions.button(action_col, "End", key=f"end-{call.conversation_id}",
                               type="primary", disabled=ending.running, action=ending,
                               name="End conversation", on_end=forget_calls,
                               build=lambda work=work: work)
                with info_col:
                    actions.follow(ending, show_ending)
                link = state.call_links.get(call.conversation_id, call.conversation_url)
                if link:
                    action_col.link_button("Rejoin", link)
            else:
                ended = end_job(call.conversation_id)[0].get()
                if ended is not None and actions.first_time_done(ended):
                    st.toast("Conversation ended.", icon=":material/call_end:")
                reason = ended_reason(call.conversation_id, frame.services.tavus_url)
                time_col.caption(f"Ended: {escape_markdown(reason)}" if reason else "Ended")
                with action_col:
                    st.page_link(str(shell.APP_DIR / "pages/history.py"), label="Debrief",
                                 icon=":material/summarize:",
                                 query_params={"conversation": call.conversation_id})


call_list()
