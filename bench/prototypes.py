"""Prototypes of the product fixes the bench recommends, applied by monkeypatching in the bench
process only (lib/ is never edited here). Figures measured with them are labelled "prototype".

Each is a context manager that restores what it patched. They are sketches of the fix, written
to be measured, not the fix itself: the report names the file and function to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


# --- 2. First load --------------------------------------------------------------------------------
def columnwise_frame(replicas, *, now=None, ledger=None, error_messages=None, photos=None):
    """lib/replica_table.py replicas_frame built column by column (one comprehension per column,
    a Python loop only over the rows that are not ready) from an input already in
    `sort_replicas` order (the tracker's), instead of re-sorting and appending to 13 lists per
    row. Same frame, same dtypes."""
    from datetime import UTC, datetime

    import pandas as pd

    import lib.replica_table as t
    from lib.tavus import ReplicaStatus

    now = now or datetime.now(UTC)
    ledger = ledger or {}
    error_messages = error_messages or {}
    ordered = list(replicas)  # the tracker's list is already in sort_replicas order
    n = len(ordered)
    ready = ReplicaStatus.READY
    states = [r.state for r in ordered]
    status = [t.STATUS_LABELS[s] for s in states]
    progress = [100 if s is ready else (r.progress or 0) for r, s in zip(ordered, states,
                                                                          strict=True)]
    elapsed, eta, error = [""] * n, [""] * n, [""] * n
    for i in [i for i, s in enumerate(states) if s is not ready]:
        r = ordered[i]
        if states[i] is ReplicaStatus.TRAINING:
            timing = t.training_time(r, now)
            if timing.stuck:
                status[i] = t.STUCK_LABEL
            elapsed[i] = t.format_duration(timing.elapsed)
            eta[i] = t.format_duration(timing.remaining)
        else:
            error[i] = t._error_text(error_messages.get(r.replica_id) or r.error_message)
    ids = [r.replica_id for r in ordered]
    records = [ledger.get(rid) for rid in ids] if ledger else [None] * n
    cols = {
        "photo": [photos.get(rid, "") for rid in ids] if photos else [""] * n,
        "name": [r.replica_name or "" for r in ordered],
        "replica_id": ids,
        "status": status,
        "progress": progress,
        "model": [r.model_name or "" for r in ordered],
        "elapsed": elapsed,
        "eta": eta,
        "creator": [(rec.created_by or "") if rec else "" for rec in records],
        "notes": [(rec.notes or "") if rec else "" for rec in records],
        "error": error,
        "type": [r.replica_type or "" for r in ordered],
    }
    series = {name: pd.Series(values, dtype=t._DTYPES.get(name, "str"))
              for name, values in cols.items()}
    series["created"] = pd.to_datetime(pd.Series([r.created_at for r in ordered], dtype=object),
                                       utc=True, format="ISO8601", errors="coerce")
    return pd.DataFrame(series, columns=t.COLUMNS)


def dict_columns_load(tavus, page_size: int = 100):
    """A sketch of the floor, not a drop-in: walk the pages keeping Tavus's JSON dicts (no
    Replica objects), order them by their created_at strings (Tavus's fixed ISO format sorts as
    text) and build the table's columns straight from the dicts. It skips what only non-ready
    rows need (training times, failure text) and the id tie-break. -> (dicts, DataFrame)."""
    import pandas as pd

    import lib.replica_table as t
    from lib.tavus import REPLICAS_PATH, ReplicaStatus, parse_progress, replica_status

    seen: dict[str, dict] = {}
    page = 1
    while True:
        body = tavus._get_json(REPLICAS_PATH, {"page": page, "limit": page_size,
                                               "verbose": True, "replica_type": "user"})
        before = len(seen)
        for item in body.get("data") or []:
            seen.setdefault(item.get("replica_id"), item)
        if len(seen) == before or len(seen) >= body.get("total_count", 0):
            break
        page += 1
    items = sorted(seen.values(), key=lambda d: d.get("created_at") or "", reverse=True)
    n = len(items)
    states = [replica_status(d.get("status")) for d in items]
    ready = ReplicaStatus.READY
    cols = {
        "photo": [""] * n, "name": [d.get("replica_name") or "" for d in items],
        "replica_id": [d.get("replica_id") for d in items],
        "status": [t.STATUS_LABELS[s] for s in states],
        "progress": [100 if s is ready else (parse_progress(d.get("training_progress")) or 0)
                     for d, s in zip(items, states, strict=True)],
        "model": [d.get("model_name") or "" for d in items], "elapsed": [""] * n,
        "eta": [""] * n, "creator": [""] * n, "notes": [""] * n, "error": [""] * n,
        "type": [d.get("replica_type") or "" for d in items],
    }
    series = {name: pd.Series(values, dtype=t._DTYPES.get(name, "str"))
              for name, values in cols.items()}
    series["created"] = pd.to_datetime(pd.Series([d.get("created_at") for d in items],
                                                 dtype=object),
                                       utc=True, format="ISO8601", errors="coerce")
    return items, pd.DataFrame(series, columns=t.COLUMNS)
