"""Watching replicas in training from any page: one cheap call, and each stage told once."""

from __future__ import annotations

from collections.abc import Iterable

from lib.tavus.client import Replica, ReplicaStatus, TavusClient


def finished(tavus: TavusClient, watched: Iterable[str]) -> list[Replica]:
    """The watched replicas past training, with one `replica_ids=` call: ready, failed, or a
    phoenix-4.5 preview. A preview is still changing (tuning): tell it once, keep watching it
    (`ReplicaStatus.still_changing`) until it is tuned or its tuning fails."""
    ids = sorted(set(watched))
    if not ids:
        return []
    page = tavus.list_replicas(replica_ids=ids, limit=max(len(ids), 1))
    return [r for r in page.replicas if r.state is not ReplicaStatus.TRAINING]


def toast_text(name: str, state: ReplicaStatus, error_message: str | None = None,
               previous: ReplicaStatus | None = None) -> str:
    """What a toast says when a replica reaches `state` (from `previous`, when known)."""
    if state is ReplicaStatus.READY:
        if previous is ReplicaStatus.PREVIEW:  # a phoenix-4.5 preview whose tuning completed
            return f"{name} is tuned: the watermark is gone."
        return f"{name} is ready: you can start a conversation."
    if state is ReplicaStatus.PREVIEW:
        return (f"{name}'s preview is ready (watermarked): you can start a conversation; "
                "tuning continues.")
    if state is ReplicaStatus.PREVIEW_ONLY:
        return f"{name}'s tuning failed: the watermarked preview stays usable."
    if state is ReplicaStatus.TRAINING:
        return f"{name} is training."  # not an outcome; said plainly should anyone ask
    reason = f": {error_message}" if error_message else "."
    return f"{name} failed to train{reason}"
