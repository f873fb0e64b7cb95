"""Replica Studio: entry point. Navigation only; every page draws its own frame (lib/ui/shell)."""

import streamlit as st

from lib.ui import shell

st.navigation(shell.navigation_pages(), position="hidden").run()
