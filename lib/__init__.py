"""Replica Studio's library layer: plain Python grouped by domain; only lib/ui imports Streamlit.

Packages: tavus (client, simulator), storage (S3, ledger, thumbnails), photos (intake, checks,
overlay), replicas (create, tracker, table, facts, outcomes, voices), conversations (requests,
links, history) and ui (the Streamlit layer). Top-level modules are the cross-cutting ones.
"""
