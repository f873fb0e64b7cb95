"""Toasts told by the live table: once per run, and shown again after a run that was cut short."""

from streamlit.testing.v1 import AppTest


def app() -> None:
    import streamlit as st

    from lib.ui import live

    st.session_state.step = st.session_state.get("step", 0) + 1
    if st.session_state.step == 1:
        st.session_state.pending_toasts = [("Replica A is ready", ":material/check_circle:")]
        live.flush_toasts()
        live.flush_toasts()  # the frame, then the table: still one toast
        st.stop()  # cut short before the run's end: not confirmed
    live.flush_toasts()
    live.confirm_toasts()


def test_a_toast_is_shown_once_per_run_and_again_after_a_cut_short_run() -> None:
    at = AppTest.from_function(app).run()
    assert [t.value for t in at.toast] == ["Replica A is ready"]
    at.run()  # the previous run did not end: shown again, then confirmed
    assert [t.value for t in at.toast] == ["Replica A is ready"]
    at.run()
    assert [t.value for t in at.toast] == []
