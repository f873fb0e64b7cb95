"""Replicas: the create path, the live tracker, the table, one replica's facts, outcomes, voices."""
