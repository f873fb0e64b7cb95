"""The batch flow on its own page, beside the app's real pages (Replicas for the result links),
until pages/create.py offers "Several photos". Run by tests/ui/test_batch.py (AppTest) and
tests/e2e/test_batch_journey.py (`streamlit run`)."""

from __future__ import annotations

import streamlit as st

from lib.ui import shell
from lib.ui.batch import several_photos


def batch_page() -> None:
    frame = shell.frame("Create several replicas")
    several_photos(frame)


st.navigation(
    [st.Page(batch_page, title="Several photos", url_path="several", default=True),
     *[st.Page(shell.APP_DIR / p.script, title=p.title, icon=p.icon, url_path=p.url_path)
       for p in shell.PAGES]],
    position="hidden").run()
