"""Replicas as a table: one pandas row per replica, in a stable order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from lib.tavus import Replica, ReplicaStatus

STATUS_LABELS = {
    ReplicaStatus.READY: "Ready",
    ReplicaStatus.TRAINING: "Training",
    ReplicaStatus.FAILED: "Failed",
}
COLUMNS = ["name", "replica_id", "status", "progress", "model", "created", "type"]


def replica_progress(replica: Replica) -> int:
    """Percent trained; a ready replica is 100 whatever its progress string says."""
    if replica.state is ReplicaStatus.READY:
        return 100
    return replica.progress or 0


def replicas_frame(replicas: Iterable[Replica]) -> pd.DataFrame:
    rows = [
        {
            "name": r.replica_name or "",
            "replica_id": r.replica_id,
            "status": STATUS_LABELS[r.state],
            "progress": replica_progress(r),
            "model": r.model_name or "",
            "created": pd.to_datetime(r.created_at, utc=True, errors="coerce"),
            "type": r.replica_type or "",
        }
        for r in replicas
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # Newest first, ties by id: a stable order keeps a positional selection on the same replica.
    return frame.sort_values(["created", "replica_id"], ascending=[False, True],
                             na_position="last", kind="stable").reset_index(drop=True)


def ready_replicas(replicas: Sequence[Replica]) -> list[Replica]:
    return [r for r in replicas if r.state is ReplicaStatus.READY]
