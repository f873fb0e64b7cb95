"""What a replica reaching a new stage is announced with (the sidebar watcher and the table
read the stages from the server's shared list: lib/replicas/shared.py)."""

from __future__ import annotations

from lib.tavus.client import ReplicaStatus


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
