"""Create from a video: a training clip checked in seconds, fixed here when only the file is
wrong, and sent to Tavus straight from S3."""

from functools import partial

import streamlit as st

from lib.replicas import jobs as replica_jobs
from lib.replicas.create import (
    CONSENT_MODES,
    TrainingClip,
    VideoForm,
    callback_url_from,
    replica_name_for,
    settle_ledger,
)
from lib.tavus.client import MODELS
from lib.text import escape_markdown
from lib.ui import actions, cached, clips, live, shell, times, widgets
from lib.ui.uploader import video_uploader

frame = shell.frame("Create from a video")
state = st.session_state
state.setdefault("video_round", 0)  # bumped by "Create another" to give fresh upload widgets
store = frame.services.store
CLIP_TYPES = [".mp4", ".mov", ".m4v", ".webm"]
MAX_UPLOAD_BYTES = 4_000_000_000  # a 4K original may be big: it is converted on its way in


def reset_for_another() -> None:
    state.video_round += 1
    for key in ("video_slot", "clip_reports", "clip_refusals", "converted_clips"):
        state.pop(key, None)
    state.update(video_replica_name="", video_notes="", video_callback_url="")


MODEL_HELP = {
    "phoenix-4": "Tavus's default: 30 s speaking, then 30 s listening; at least 1 minute.",
    "phoenix-4.5": "A watermarked preview in minutes, then hours of tuning; 30 s + 30 s.",
    "phoenix-3": "The previous model: 1 minute speaking, then 1 minute listening.",
}
CONSENT_LABELS = {"in_clip": "At the start of the clip", "separate": "A separate consent clip"}

st.page_link(str(shell.APP_DIR / "pages/create.py"), label="From a photo instead",
             icon=":material/add_a_photo:")
clip_col, form_col = st.columns([3, 2], gap="large")

with form_col:
    full_name = st.text_input("Full name of the person filmed", max_chars=80,
                              key="video_full_name", help="Spoken in the consent statement.")
    st.text_input("Replica name", max_chars=80, key="video_replica_name",
                  placeholder="Defaults to the full name")
    model = st.selectbox("Model", MODELS, key="video_model")
    st.caption(MODEL_HELP.get(model, ""))
    consent_mode = st.radio("Consent statement", CONSENT_MODES, key="video_consent",
                            format_func=CONSENT_LABELS.get, horizontal=True)
    st.caption(":material/record_voice_over: No voice to pick: Tavus clones the voice from "
               "the clip.")
    green_screen = st.toggle("Green-screen background", value=False, key="video_green_screen")
    with st.expander("More options"):
        callback = st.text_input("Callback URL (optional, https)", key="video_callback_url")
        notes = st.text_area("Notes for the team", max_chars=2000, key="video_notes")

with clip_col:
    training = video_uploader(f"train-clip-{state.video_round}", store=store,
                              accept=CLIP_TYPES, max_bytes=MAX_UPLOAD_BYTES,
                              label="Training clip (mp4, mov, m4v or webm)")
    consent_clip = None
    if consent_mode == "separate":
        consent_clip = video_uploader(f"consent-clip-{state.video_round}", store=store,
                                      accept=CLIP_TYPES, max_bytes=MAX_UPLOAD_BYTES,
                                      label="Consent clip: the statement alone")
    converted = state.setdefault("converted_clips", {})
    report = consent_report = None
    clip_key = converting = None
    if training is not None:
        # Convert is an action on the server's board: it goes on (and is found again) whatever
        # this page does meanwhile; its result becomes the clip that is checked and sent.
        converting = actions.ref("convert", training.key)
        conversion = converting.get()
        if conversion is not None and conversion.ok and training.key not in converted:
            converted[training.key] = (conversion.result[0], conversion.result[1].size_bytes)
        clip_key, clip_name, clip_size = training.key, training.filename, training.size_bytes
        if training.key in converted:
            clip_key, clip_size = converted[training.key]
            clip_name = f"{training.filename} (converted)"
        report = clips.check_clip(frame, clip_key, clip_size, clip_name, model_name=model,
                                  consent=consent_mode)
        if report is not None:
            clips.show_video_report(report, key="training-clip")
            # Also for file warnings alone (a variable frame rate, above 1080p): their fix
            # says "Use Convert", so the button must be there.
            if report.convertible and training.key not in converted:
                st.info("Only the file is wrong: convert it here to mp4 / H.264 / AAC at "
                        "25–30 fps, at most 1080p. The result is checked again.",
                        icon=":material/autorenew:")
                convert = clips.convert_work(frame, training.key)
                actions.button(st, "Convert", icon=":material/autorenew:", key="convert_button",
                               disabled=converting.running, action=converting, name="Convert",
                               build=lambda: convert)
                actions.follow(converting, clips.show_conversion)
    if consent_clip is not None:
        consent_report = clips.check_clip(frame, consent_clip.key, consent_clip.size_bytes,
                                          consent_clip.filename, model_name=model,
                                          consent="separate", role="consent")
        if consent_report is not None:
            clips.show_video_report(consent_report, key="consent-clip")
    failed = report is not None and report.blocking
    clips.show_recording_guide(full_name, model, expanded=training is None or failed)

with form_col:
    consent_missing = consent_mode == "separate" and (consent_report is None
                                                      or consent_report.blocking)
    blocking = report is None or report.blocking or consent_missing
    done = state.get("video_slot", {}).get("attempt")
    if done is not None:
        settle_ledger(done)
    already_created = bool(done and done.replica_id and clip_key and done.video_key == clip_key)
    if already_created:
        st.caption("A replica was already created from this clip. Use *Create another* to "
                   "start over.")
    elif training is not None and blocking:
        st.caption("Create unlocks when the clip passes its checks"
                   + (" and the consent clip is added." if consent_missing else "."))
    # The button claims the create in its callback (lib/ui/actions.py), reading the form as the
    # click found it; the clip and its checks are the ones drawn above.
    slot = state.setdefault("video_slot", {})
    creating = actions.ref("video-create", str(state.video_round))
    created_by, ledger = shell.current_user_email(), cached.team_ledger(frame)
    clip_facts = report.facts if report is not None else None
    consent_key = consent_clip.key if consent_clip else None
    training_name = training.filename if training is not None else ""

    def create_now():
        form = VideoForm(
            replica_name=replica_name_for(state.get("video_replica_name", ""),
                                          state.get("video_full_name") or training_name),
            model_name=state["video_model"], consent_mode=state["video_consent"],
            background_green_screen=state["video_green_screen"],
            callback_url=callback_url_from(state.get("video_callback_url", "")),
            notes=state.get("video_notes", ""))  # a FormError is said below; nothing is sent
        return replica_jobs.create_from_video(
            tavus=frame.services.tavus, store=store,
            clip=TrainingClip(key=clip_key, duration_seconds=clip_facts.duration_seconds,
                              width=clip_facts.width, height=clip_facts.height,
                              score=report.score),
            consent_key=consent_key, form=form, ttl_hours=frame.settings.presign_ttl_hours,
            poster=partial(clips.poster, frame, clip_key, clip_facts.duration_seconds),
            created_by=created_by, ledger=ledger, slot=slot)

    actions.button(st, "Create replica", type="primary", icon=":material/bolt:",
                   disabled=blocking or already_created or creating.running,
                   key="video_create_button", action=creating, name="Create replica",
                   on_end=live.reload_after(frame), build=create_now)
    action_slot = st.container()

with action_slot:
    problem = actions.refused(creating)
    if problem is not None:
        widgets.show_error(problem)
    actions.follow(creating, widgets.show_create_progress)
    attempt = slot.get("attempt")
    if attempt is not None and attempt.replica_id:
        live.saw_created([attempt.replica_id])
        with st.container(key="video-create-result"):
            st.success(f"Training started: replica `{attempt.replica_id}`.",
                       icon=":material/check:")
            if attempt.ledger_error:
                st.warning("The replica is fine, but its team record could not be saved: "
                           f"{escape_markdown(attempt.ledger_error)} It is retried on the next "
                           "Create click.", icon=":material/cloud_off:")
            if attempt.training_url:
                st.caption("Tavus can download the clip until "
                           f"{times.shown(attempt.training_url.expires_at)}.")
            link_col, again_col = st.columns(2)
            with link_col:
                st.page_link(str(shell.APP_DIR / "pages/replicas.py"), label="Watch it train",
                             icon=":material/table_view:",
                             query_params={"replica": attempt.replica_id})
            again_col.button("Create another", on_click=reset_for_another,
                             icon=":material/add:")
