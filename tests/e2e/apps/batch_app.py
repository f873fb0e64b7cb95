"""The batch flow alone on a page, beside the app's real pages (Replicas for the result links),
for tests/ui/test_batch.py: AppTest drives it without the Create page's other widgets. The
browser journey uses the real Create page ("Several photos")."""

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
