"""Replica Studio: entry point. Navigation only; every page draws its own frame (see lib/ui.py)."""

import streamlit as st

from lib import ui

st.navigation(ui.navigation_pages(), position="hidden").run()
