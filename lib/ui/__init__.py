"""The Streamlit layer, the only part of lib/ that imports Streamlit.

- `shell`: the frame every page starts with (page config, navigation, gate, banner, sidebar);
- `cached`: clients and data shared across sessions (st.cache_resource / st.cache_data);
- `live`: the session's replica tracker, watched trainings and toasts;
- `widgets`: shared pieces of pages (photo report, Tavus's check, errors, voice previews).
"""
