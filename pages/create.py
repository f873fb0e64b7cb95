"""Create: a headshot is checked in seconds, then becomes a Tavus replica."""

import streamlit as st

from lib.replicas import jobs as replica_jobs
from lib.replicas.create import (
    ReplicaForm,
    callback_url_from,
    replica_name_for,
    settle_ledger,
)
from lib.tavus.client import MODELS
from lib.text import escape_markdown
from lib.ui import actions, cached, framing, live, shell, times, widgets
from lib.ui.batch import PHOTO_TYPES, several_photos
from lib.ui.camera import camera_headshot

frame = shell.frame("Create a replica")
state = st.session_state
state.setdefault("create_round", 0)  # bumped by "Create another" to give fresh photo widgets


def reset_for_another() -> None:
    state.create_round += 1  # new photo widgets
    state.pop("create_slot", None)  # a create still running finishes, into the old slot
    # Set, not popped: a popped widget key comes back with the value the browser still holds.
    state.update(replica_name="", notes="", callback_url="", create_anyway=False)


def ledger_status(attempt) -> None:
    """The team record's outcome; while it is being written, look again every second."""

    @st.fragment(run_every=1 if attempt.ledger_write is not None else None)
    def status() -> None:
        pending = attempt.ledger_write is not None
        settle_ledger(attempt)
        if attempt.ledger_write is not None:
            st.caption("Saving the record for the team…")
        elif pending:
            st.rerun()  # written or failed: redraw the page once, which stops this timer
        elif attempt.ledger_error:
            st.warning("The replica is fine, but its team record could not be saved: "
                       f"{escape_markdown(attempt.ledger_error)} It is retried on the next "
                       "Create click.", icon=":material/cloud_off:")

    status()


MODEL_HELP = {
    "phoenix-4": "Tavus's default. Training from an image takes about 3–4 hours.",
    "phoenix-3": "The previous model, for accounts that still use it.",
    "phoenix-4.5": "A watermarked preview is usable in about a minute; the hours-long tuning "
                   "that removes the watermark follows (newer accounts only).",
}

st.page_link(str(shell.APP_DIR / "pages/create_video.py"), label="From a video instead",
             icon=":material/videocam:")
photo_col, form_col = st.columns([3, 2], gap="large")

with photo_col:
    source = st.segmented_control("Photo", ["Upload", "Camera", "Several photos"],
                                  default="Upload", key="photo_source")
if source == "Several photos":
    several_photos(frame)  # its own review table, voice and "Create all ready ones", full width
    st.stop()
with photo_col:
    if source == "Camera":
        # At the camera's own resolution (st.camera_input captures at its display size), named
        # "Camera headshot, 30 Nov 10:24": the name is offered as the replica name.
        shot = camera_headshot(f"camera-{state.create_round}")
    else:
        shot = st.file_uploader("Headshot (PNG, JPEG, WebP or HEIC, at least 512×512)",
                                type=PHOTO_TYPES,
                                key=f"upload-{state.create_round}")
    analysis = cached.analyse_photo(shot.getvalue(), shot.name) if shot is not None else None
    fix = None
    if analysis is not None and analysis.error:
        st.error(escape_markdown(analysis.error), icon=":material/image_not_supported:")
    elif analysis is not None:
        st.image(analysis.overlay, caption="Face box, centre lines and the estimated head with "
                 "its margins", width="stretch",
                 alt="The photo with the face box, centre lines and the estimated head drawn "
                     "over it")
        for note in analysis.notes:
            st.caption(f":material/info: {escape_markdown(note)}")
        widgets.show_photo_report(analysis.report)
        fix = framing.fix_framing_panel(analysis, "fix_framing")
        if fix is not None:
            analysis = fix.applied(analysis)  # the photo to check, create from and record
    tavus_slot = st.container()  # Tavus's own check lands here, beside the local ones

with form_col:
    # The photo's name is offered as the placeholder, never written into the box: a value set
    # by the run that reads a new photo would overwrite what the user types meanwhile.
    st.text_input("Replica name", max_chars=80, key="replica_name",
                  placeholder=replica_name_for("", shot.name) if shot is not None
                  else "Defaults to the file name")
    voice_list, voice_warning = cached.voices(frame)
    if voice_warning:
        st.warning(escape_markdown(voice_warning), icon=":material/record_voice_over:")
    voice = st.selectbox("Voice", voice_list, format_func=lambda v: v.voice_name, key="voice",
                         help="A Tavus stock voice the replica will speak with.")
    widgets.voice_preview(voice)
    model = st.selectbox("Model", MODELS, key="model")
    st.caption(MODEL_HELP[model])
    auto_fix = st.toggle("Let Tavus auto-fix the photo", value=True, key="auto_fix",
                         help="Tavus adjusts framing and lighting to its rules. It cannot fix a "
                              "covered face, a second person or a non-human subject.")
    green_screen = st.toggle("Green-screen background", value=False, key="green_screen")
    with st.expander("More options"):
        callback = st.text_input("Callback URL (optional, https)", key="callback_url",
                                 help="Tavus calls it when training ends. This app polls anyway.")
        notes = st.text_area("Notes for the team", max_chars=2000, key="notes")

    blocking = analysis is not None and analysis.report is not None and analysis.report.blocking
    anyway = blocking and st.checkbox("Create anyway (auto-fix may rescue framing)",
                                      key="create_anyway")
    # The verdict comes from a small copy; the photo to upload is prepared (once) on demand.
    usable = analysis is not None and analysis.error is None and analysis.report is not None
    ready = usable and (not blocking or anyway)
    slot = state.setdefault("create_slot", {})  # the create's attempt, written by its worker
    done = slot.get("attempt")
    if done is not None:
        settle_ledger(done)  # the team record is written in the background
    already_created = bool(ready and done and done.replica_id and analysis.prepared
                           and done.photo_sha256 == analysis.prepared.sha256
                           and not done.ledger_error)
    if already_created:
        st.caption("A replica was already created from this photo. Use *Create another* to "
                   "start over.")
    # Each button claims its action in its callback, the first thing the click's run does
    # (lib/ui/actions.py); the callback reads the form as the click found it.
    create_action = actions.ref("create", str(state.create_round))
    check_action = actions.ref("check", f"{analysis.fingerprint}:{model}") if usable else None
    tavus, store = frame.services.tavus, frame.services.store
    created_by, ledger = shell.current_user_email(), cached.team_ledger(frame)
    photo_name = shot.name if shot is not None else ""
    chosen = analysis  # the photo to send (Fix framing's choice applied)

    def create_now():
        form = ReplicaForm(
            replica_name=replica_name_for(state.get("replica_name", ""), photo_name),
            voice_name=state["voice"].voice_name, model_name=state["model"],
            auto_fix_training_image=state["auto_fix"],
            background_green_screen=state["green_screen"],
            callback_url=callback_url_from(state.get("callback_url", "")),
            notes=state.get("notes", ""))  # a FormError is said below; nothing is sent
        return replica_jobs.create_from_photo(
            tavus=tavus, store=store, analysis=chosen,
            filename=fix.filename(photo_name) if fix else photo_name, form=form,
            framing_fixed=bool(fix and fix.framing_fixed),
            ttl_hours=frame.settings.presign_ttl_hours, created_by=created_by, ledger=ledger,
            slot=slot)

    check_col, create_col = st.columns(2)
    if usable:
        actions.button(check_col, "Check with Tavus", icon=":material/fact_check:",
                       key="check_button", action=check_action, name="Check with Tavus",
                       build=lambda: replica_jobs.check_with_tavus(tavus, chosen, state["model"]))
    else:
        check_col.button("Check with Tavus", disabled=True, icon=":material/fact_check:",
                         key="check_button")
    actions.button(create_col, "Create replica", type="primary", icon=":material/bolt:",
                   disabled=not ready or already_created or create_action.running,
                   key="create_button", action=create_action, name="Create replica",
                   on_end=live.reload_after(frame), build=create_now)
    action_slot = st.container()  # progress, errors and the result, right under the buttons

with tavus_slot:
    actions.follow(check_action, lambda action: widgets.show_tavus_check_action(action, model))

with action_slot:
    problem = actions.refused(create_action)
    if problem is not None:
        widgets.show_error(problem)
    actions.follow(create_action, widgets.show_create_progress)
    attempt = slot.get("attempt")
    if attempt is not None and attempt.replica_id:
        live.saw_created([attempt.replica_id])
        with st.container(key="create-result"):
            st.success(f"Training started: replica `{attempt.replica_id}`.",
                       icon=":material/check:")
            ledger_status(attempt)
            if attempt.training_url:
                until = times.shown(attempt.training_url.expires_at)  # the viewer's clock
                if attempt.training_url.limited_by_session:
                    st.warning(f"The training URL is signed until {until}, but with temporary "
                               "AWS credentials: it stops working as soon as they expire, which "
                               "may be before Tavus downloads the photo.")
                else:
                    st.caption(f"Tavus can download the photo until {until}.")
            link_col, again_col = st.columns(2)
            with link_col:
                st.page_link(str(shell.APP_DIR / "pages/replicas.py"), label="Watch it train",
                             icon=":material/table_view:",
                             query_params={"replica": attempt.replica_id})
            again_col.button("Create another", on_click=reset_for_another,
                             icon=":material/add:")
