"""Replica Studio: entry point. Navigation only; every page draws its own frame (lib/ui/shell)."""

import streamlit as st

from lib.ui import live, shell

st.navigation(shell.navigation_pages(), position="hidden").run()
live.confirm_toasts()  # the page ran to its end: the toasts it showed stay (see flush_toasts)
