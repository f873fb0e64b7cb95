"""Personas made here: the form the Personas screen edits, its create body and JSON Patch."""
