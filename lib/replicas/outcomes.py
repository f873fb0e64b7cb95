"""Watching replicas in training from any page: one cheap call, and each outcome told once."""

from __future__ import annotations

from collections.abc import Iterable

from lib.tavus.client import Replica, ReplicaStatus, TavusClient


def finished(tavus: TavusClient, watched: Iterable[str]) -> list[Replica]:
    """The watched replicas that are no longer training, with one `replica_ids=` call."""
    ids = sorted(set(watched))
    if not ids:
        return []
    page = tavus.list_replicas(replica_ids=ids, limit=max(len(ids), 1))
    return [r for r in page.replicas if r.state is not ReplicaStatus.TRAINING]


def toast_text(name: str, state: ReplicaStatus, error_message: str | None = None) -> str:
    if state is ReplicaStatus.READY:
        return f"{name} is ready: you can start a conversation."
    reason = f": {error_message}" if error_message else "."
    return f"{name} failed to train{reason}"
