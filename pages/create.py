"""Create: a headshot becomes a Tavus replica."""

import streamlit as st

from lib import ui
from lib.create import ReplicaForm, attempt_for, create_replica_from_photo, replica_name_for
from lib.tavus import MODELS

frame = ui.frame("Create a replica")
voices, voice_warning = ui.voice_names(frame)
if voice_warning:
    st.warning(ui.escape_markdown(voice_warning), icon=":material/record_voice_over:")

with st.form("create-replica", clear_on_submit=False, enter_to_submit=False):
    photo = st.file_uploader("Headshot (PNG or JPEG, at least 512×512)",
                             type=["png", "jpg", "jpeg"])
    name = st.text_input("Replica name", max_chars=80, placeholder="Defaults to the file name")
    left, right = st.columns(2)
    voice = left.selectbox("Voice", voices, help="A Tavus stock voice the replica will speak with.")
    model = right.selectbox("Model", MODELS, help="phoenix-4 is Tavus's default.")
    auto_fix = st.checkbox("Let Tavus auto-fix the photo (framing, lighting)", value=True)
    submitted = st.form_submit_button("Create replica", type="primary", icon=":material/bolt:")

if submitted:
    if photo is None:
        st.error("Choose a headshot photo first.", icon=":material/image:")
    else:
        form = ReplicaForm(replica_name=replica_name_for(name, photo.name), voice_name=voice,
                           model_name=model, auto_fix_training_image=auto_fix)
        steps = {"checking": "Checking the photo", "uploading": "Uploading the photo to S3",
                 "signing": "Signing the training URL", "creating": "Asking Tavus to train"}
        failure = None
        with st.status("Creating the replica…", expanded=True) as status:
            try:
                # Stored before running, so that a failure half-way keeps what succeeded.
                attempt = attempt_for(photo.getvalue(), st.session_state.get("create_attempt"))
                st.session_state.create_attempt = attempt
                create_replica_from_photo(
                    tavus=frame.services.tavus, store=frame.services.store, attempt=attempt,
                    photo=photo.getvalue(), filename=photo.name, form=form,
                    ttl_hours=frame.settings.presign_ttl_hours,
                    on_step=lambda step: st.write(steps[step] + "…"))
                ui.forget_replicas()
                status.update(label="Replica created", state="complete", expanded=False)
            except Exception as error:  # shown below; the form keeps its values
                failure = error
                status.update(label="The replica was not created", state="error", expanded=False)
        if failure is not None:
            ui.show_error(failure)  # outside the status box, which is collapsed

attempt = st.session_state.get("create_attempt")
if attempt is not None and attempt.replica_id:
    with st.container(key="create-result"):
        st.success(f"Training started: replica `{attempt.replica_id}`.", icon=":material/check:")
        if attempt.training_url and attempt.training_url.limited_by_session:
            st.warning("The AWS credentials are temporary: the training URL stops working when "
                       "they expire, which may be before Tavus downloads the photo.")
        st.page_link(str(ui.APP_DIR / "pages/replicas.py"), label="Watch it train",
                     icon=":material/table_view:", query_params={"replica": attempt.replica_id})
