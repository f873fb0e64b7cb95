"""Conversations: validated requests, join links and QR codes, the history of calls."""
