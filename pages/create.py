"""Create: a headshot is checked in seconds, then becomes a Tavus replica."""

import streamlit as st

from lib.replicas.create import (
    ReplicaForm,
    attempt_for,
    callback_url_from,
    create_replica_from_photo,
    replica_name_for,
    settle_ledger,
)
from lib.tavus.client import MODELS
from lib.text import escape_markdown
from lib.ui import cached, framing, live, shell, times, widgets
from lib.ui.batch import several_photos
from lib.ui.camera import camera_headshot

frame = shell.frame("Create a replica")
state = st.session_state
state.setdefault("create_round", 0)  # bumped by "Create another" to give fresh photo widgets


def reset_for_another() -> None:
    state.create_round += 1  # new photo widgets
    for key in ("create_attempt", "tavus_check"):
        state.pop(key, None)
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
        shot = st.file_uploader("Headshot (PNG, JPEG or WebP, at least 512×512)",
                                type=["png", "jpg", "jpeg", "webp"],
                                key=f"upload-{state.create_round}")
    analysis = cached.analyse_photo(shot.getvalue(), shot.name) if shot is not None else None
    fix = None
    if analysis is not None and analysis.error:
        st.error(escape_markdown(analysis.error), icon=":material/image_not_supported:")
    elif analysis is not None:
        st.image(analysis.overlay, caption="Face box, centre lines and the estimated head with "
                 "its margins", width="stretch")
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
    done = state.get("create_attempt")
    if done is not None:
        settle_ledger(done)  # the team record is written in the background
    already_created = bool(ready and done and done.replica_id and analysis.prepared
                           and done.photo_sha256 == analysis.prepared.sha256
                           and not done.ledger_error)
    if already_created:
        st.caption("A replica was already created from this photo. Use *Create another* to "
                   "start over.")
    check_col, create_col = st.columns(2)
    check_clicked = check_col.button("Check with Tavus", disabled=not usable,
                                     icon=":material/fact_check:", key="check_button")
    create_clicked = create_col.button("Create replica", type="primary", icon=":material/bolt:",
                                       disabled=not ready or already_created, key="create_button")
    action_slot = st.container()  # progress, errors and the result, right under the buttons

if check_clicked:
    try:
        prepared = analysis.prepare()  # the upload, made now (then kept for Create)
        result = frame.services.tavus.validate_image(
            prepared.data, prepared.content_type, model=model)
        state.tavus_check = (analysis.fingerprint, model, result)
    except Exception as error:  # shown as a message; nothing else changes
        widgets.show_error(error)
tavus_check = state.get("tavus_check")
if analysis is not None and tavus_check and tavus_check[0] == analysis.fingerprint:
    with tavus_slot:
        widgets.show_tavus_check(tavus_check[2], tavus_check[1])

with action_slot:
    if create_clicked:
        failure = None
        with st.status("Creating the replica…", expanded=True) as status:
            try:
                form = ReplicaForm(
                    replica_name=replica_name_for(state.replica_name, shot.name),
                    voice_name=voice.voice_name, model_name=model,
                    auto_fix_training_image=auto_fix, background_green_screen=green_screen,
                    callback_url=callback_url_from(callback), notes=notes)
                # Stored before running, so that a failure half-way keeps what succeeded.
                prepared = analysis.prepare()  # the full-size, metadata-free photo, made once
                attempt = attempt_for(prepared, state.get("create_attempt"))
                state.create_attempt = attempt
                steps = {"uploading": "Uploading the photo to S3",
                         "signing": "Signing the training URL",
                         "creating": "Asking Tavus to train",
                         "recording": "Saving the record for the team"}
                create_replica_from_photo(
                    tavus=frame.services.tavus, store=frame.services.store, attempt=attempt,
                    photo=prepared, form=form,
                    filename=fix.filename(shot.name) if fix else shot.name,
                    framing_fixed=bool(fix and fix.framing_fixed),
                    ttl_hours=frame.settings.presign_ttl_hours,
                    created_by=shell.current_user_email(), check_score=analysis.report.score,
                    on_step=lambda step: st.write(steps[step] + "…"),
                    ledger=cached.team_ledger(frame))
                live.forget_replicas(frame)
                live.watch([attempt.replica_id])  # a toast when it is ready, on any page
                status.update(label="Replica created", state="complete", expanded=False)
            except Exception as error:  # shown below; every field keeps its value
                failure = error
                status.update(label="The replica was not created", state="error", expanded=False)
        if failure is not None:
            widgets.show_error(failure)  # outside the status box, which is collapsed
        else:
            st.rerun()  # redraw with the result and the Create button disabled for this photo

    attempt = state.get("create_attempt")
    if attempt is not None and attempt.replica_id:
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
