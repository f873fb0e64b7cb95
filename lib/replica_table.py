"""Replicas as a table: one pandas row per replica, in a stable order, with the "why".

Plain Python (no Streamlit): the Replicas page renders what this builds. Status always comes from
`lib.tavus.replica_status` (via `Replica.state`): this module only turns it into labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from lib.tavus import Replica, ReplicaStatus, parse_time

if TYPE_CHECKING:  # annotations only: importing the ledger would load boto3 for every table
    from lib.ledger import LedgerRecord

STATUS_LABELS = {
    ReplicaStatus.READY: "Ready",
    ReplicaStatus.TRAINING: "Training",
    ReplicaStatus.FAILED: "Failed",
}
STUCK_LABEL = "Training (possibly stuck)"
COLUMNS = ["photo", "name", "replica_id", "status", "progress", "model", "created",
           "elapsed", "eta", "creator", "notes", "error", "type"]

_DTYPES = {"photo": object, "progress": "int64"}

# Tavus quotes 3-4 hours for a replica; well past that, something is probably wrong.
EXPECTED_TRAINING = (timedelta(hours=3), timedelta(hours=4))
STUCK_AFTER = timedelta(hours=6)
_EXPECTED_MIDPOINT = (EXPECTED_TRAINING[0] + EXPECTED_TRAINING[1]) / 2
# Below this, progress says too little about speed to extrapolate from (1 % after 5 min -> 8 h).
_MIN_PROGRESS_FOR_ETA = 5


# --- Order ---------------------------------------------------------------------------------------
def sort_replicas(replicas: Iterable[Replica]) -> list[Replica]:
    """Newest created first, ties by replica_id, unknown times last.

    A stable order keeps a positional table selection on the same replica across refreshes.
    """
    def key(r: Replica) -> tuple[bool, float, str]:
        created = parse_time(r.created_at)
        return (created is None, -created.timestamp() if created else 0.0, r.replica_id)

    return sorted(replicas, key=key)


# --- Progress and training time ------------------------------------------------------------------
def replica_progress(replica: Replica) -> int:
    """Percent trained; a ready replica is 100 whatever its progress string says."""
    if replica.state is ReplicaStatus.READY:
        return 100
    return replica.progress or 0


@dataclass(frozen=True)
class TrainingTime:
    elapsed: timedelta | None
    remaining: timedelta | None
    stuck: bool


_NOT_TRAINING = TrainingTime(None, None, False)


def training_time(replica: Replica, now: datetime) -> TrainingTime:
    """How long a training replica has trained, roughly how long is left, and whether it is stuck.

    Ready and failed replicas get nothing. The estimate extrapolates from progress once there is
    enough of it (>= 5 %); before that it uses the middle of Tavus's 3-4 h estimate.
    """
    if replica.state is not ReplicaStatus.TRAINING:
        return _NOT_TRAINING
    created = parse_time(replica.created_at)
    if created is None:
        return _NOT_TRAINING
    # A clock a little behind Tavus's must not give a negative age.
    elapsed = max(timedelta(0), now - created)
    progress = replica.progress
    if progress is not None and progress >= _MIN_PROGRESS_FOR_ETA:
        remaining: timedelta | None = elapsed * (100 - progress) / progress
    else:
        left = _EXPECTED_MIDPOINT - elapsed
        # Past the expectation with no progress to go on, any number would be invented.
        remaining = left if left > timedelta(0) else None
    return TrainingTime(elapsed=elapsed, remaining=remaining, stuck=elapsed > STUCK_AFTER)


def format_duration(td: timedelta | None) -> str:
    """None -> "", 45 min -> "45 min", 2 h 5 min -> "2 h 05 min", 27 h -> "1 d 3 h"."""
    if td is None:
        return ""
    seconds = max(0.0, td.total_seconds())
    minutes = int(seconds / 60 + 0.5)  # to the nearest minute: 2 h 59.99 min reads "3 h 00 min"
    if minutes == 0:
        return "< 1 min" if seconds > 0 else "0 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


# --- Failure hints -------------------------------------------------------------------------------
# (words to look for, lower case) -> what to do. Known Tavus error codes first, then the download
# failures Tavus (and the simulator) report for a photo link it could not use.
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("lookingstraightatcameraerror",),
     "The person must face the camera and look straight into the lens: retake the photo "
     "head-on, not in profile or looking away."),
    (("headnotfullyinframeerror",),
     "The whole head, crown to chin, must be in the photo with room around it: use a wider "
     "shot and don't crop the top of the head or the chin."),
    (("imagequalityerror",),
     "The photo is blurry, dark or the subject is too small: use a sharper, brighter photo "
     "where the face fills more of the frame."),
    (("expired",),
     "The photo's presigned link expired before Tavus downloaded it: create the replica again "
     "so a fresh link is made (links must stay valid for at least 24 hours)."),
    (("download", "could not be read"),
     "Tavus could not download or read the photo: check that its link (presigned URL) is "
     "reachable and the file is a PNG or JPEG, then create the replica again."),
)


def error_hint(message: str | None) -> str | None:
    """A plain-language next step for a known Tavus failure message; None when unknown."""
    if not message:
        return None
    text = message.lower()
    for words, hint in _HINTS:
        if any(word in text for word in words):
            return hint
    return None


def _error_text(message: str | None) -> str:
    if not message:
        return ""
    hint = error_hint(message)
    return f"{message} — {hint}" if hint else message


# --- The frame -----------------------------------------------------------------------------------
def replicas_frame(
    replicas: Iterable[Replica],
    *,
    now: datetime | None = None,
    ledger: Mapping[str, LedgerRecord] | None = None,
    error_messages: Mapping[str, str] | None = None,
    photos: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per replica in the stable order (see `sort_replicas`), columns as in COLUMNS.

    `ledger`, `error_messages` and `photos` are keyed by replica id; a replica missing from them
    gets empty text (photo too: "" draws a blank cell, None would draw "None").
    """
    now = now or datetime.now(UTC)
    ledger = ledger or {}
    error_messages = error_messages or {}
    photos = photos or {}
    ordered = sort_replicas(replicas)
    # Column lists built in one pass and handed to pandas once: per-row DataFrame work is what
    # makes a 10,000-replica table slow.
    cols: dict[str, list] = {name: [] for name in COLUMNS}
    training_label = STATUS_LABELS[ReplicaStatus.TRAINING]
    for r in ordered:
        rid = r.replica_id
        state = r.state  # once per row: it is the hot spot at 10,000 rows
        record = ledger.get(rid)
        if state is ReplicaStatus.TRAINING:
            timing = training_time(r, now)
            label = STUCK_LABEL if timing.stuck else training_label
            elapsed, eta = format_duration(timing.elapsed), format_duration(timing.remaining)
        else:
            label, elapsed, eta = STATUS_LABELS[state], "", ""
        cols["photo"].append(photos.get(rid, ""))  # "" draws blank; None draws "None"
        cols["name"].append(r.replica_name or "")
        cols["replica_id"].append(rid)
        cols["status"].append(label)
        cols["progress"].append(100 if state is ReplicaStatus.READY else (r.progress or 0))
        cols["model"].append(r.model_name or "")
        cols["created"].append(r.created_at)
        cols["elapsed"].append(elapsed)
        cols["eta"].append(eta)
        cols["creator"].append((record.created_by or "") if record else "")
        cols["notes"].append((record.notes or "") if record else "")
        message = error_messages.get(rid) or r.error_message
        cols["error"].append(_error_text(message) if state is ReplicaStatus.FAILED else "")
        cols["type"].append(r.replica_type or "")
    series = {
        # Explicit dtypes, so an empty table still has text columns that .str works on, and
        # photo is "" (not None or NaN) for replicas without one.
        name: pd.Series(values, dtype=_DTYPES.get(name, "str"))
        for name, values in cols.items() if name != "created"
    }
    # One vectorised parse for the whole column ("Z", offsets and fractions all accepted).
    series["created"] = pd.to_datetime(pd.Series(cols["created"], dtype=object), utc=True,
                                       format="ISO8601", errors="coerce")
    return pd.DataFrame(series, columns=COLUMNS)


def filter_frame(
    frame: pd.DataFrame,
    *,
    search: str = "",
    statuses: Sequence[str] = (),
    models: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows matching all given filters, in the same order; empty filters mean "all".

    `search` is a case-insensitive substring of the name or the id; `statuses` are base labels
    (Ready / Training / Failed), so a possibly stuck replica counts as Training.
    """
    mask = pd.Series(True, index=frame.index)
    needle = search.strip().lower()
    if needle:
        mask &= (frame["name"].str.lower().str.contains(needle, regex=False)
                 | frame["replica_id"].str.lower().str.contains(needle, regex=False))
    if statuses:
        base = frame["status"].where(frame["status"] != STUCK_LABEL,
                                     STATUS_LABELS[ReplicaStatus.TRAINING])
        mask &= base.isin(list(statuses))
    if models:
        mask &= frame["model"].isin(list(models))
    # Positions restart at 0 so a positional selection maps straight to the shown rows.
    return frame[mask].reset_index(drop=True)


def status_counts(replicas: Iterable[Replica]) -> dict[str, int]:
    """{"Ready": n, "Training": n, "Failed": n}, every key present even at 0."""
    counts = dict.fromkeys(STATUS_LABELS.values(), 0)
    for r in replicas:
        counts[STATUS_LABELS[r.state]] += 1
    return counts


def ready_replicas(replicas: Sequence[Replica]) -> list[Replica]:
    return [r for r in replicas if r.state is ReplicaStatus.READY]
