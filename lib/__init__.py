"""Replica Studio library layer: plain Python, no Streamlit (except lib/ui.py)."""
