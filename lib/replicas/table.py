"""Replicas as a table: one pandas row per replica, in a stable order, with the "why".

Plain Python (no Streamlit): the Replicas page renders what this builds. Status always comes from
`lib.tavus.client.replica_status` (via `Replica.state`): this module only turns it into labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lib.tavus.client import Replica, ReplicaStatus, item_id, parse_time, replica_status
from lib.videos.failures import error_type_for, fix_for

if TYPE_CHECKING:  # annotations only: importing the ledger would load boto3 for every table
    from lib.storage.ledger import LedgerRecord

# In the order the status filter offers them: usable first.
STATUS_LABELS = {
    ReplicaStatus.READY: "Ready",
    ReplicaStatus.PREVIEW: "Preview (watermarked) · tuning",
    ReplicaStatus.PREVIEW_ONLY: "Preview only — tuning failed",
    ReplicaStatus.TRAINING: "Training",
    ReplicaStatus.FAILED: "Failed",
}
STATUS_FILTER_OPTIONS = tuple(STATUS_LABELS.values())
STUCK_LABEL = "Training (possibly stuck)"
# The "Why it failed" text of a phoenix-4.5 whose tuning failed (Tavus gives no reason for it).
TUNING_FAILED_TEXT = ("Tuning failed: the watermarked preview stays usable. A version without "
                      "the watermark needs a new replica (a new create).")
COLUMNS = ["photo", "name", "replica_id", "status", "progress", "model", "source", "created",
           "elapsed", "eta", "creator", "notes", "error", "type"]

# What a replica made here was trained from (the team record says); "" when not made here.
SOURCE_LABELS = {"photo": "Photo", "video": "Video"}

_DTYPES = {"photo": object, "progress": "int64"}

# Tavus quotes 3-4 hours for a replica; well past that, something is probably wrong.
EXPECTED_TRAINING = (timedelta(hours=3), timedelta(hours=4))
STUCK_AFTER = timedelta(hours=6)
_EXPECTED_MIDPOINT = (EXPECTED_TRAINING[0] + EXPECTED_TRAINING[1]) / 2
# Below this, progress says too little about speed to extrapolate from (1 % after 5 min -> 8 h).
_MIN_PROGRESS_FOR_ETA = 5


# --- Order ---------------------------------------------------------------------------------------
def created_times(created: Iterable[object]) -> pd.Series:
    """Tavus's created_at values as UTC times, NaT where unreadable: one vectorised parse ("Z",
    offsets and fractions all accepted) for the table's order and its Created column alike."""
    # Anything but text is no time at all (a number would be read as nanoseconds).
    text = [c if type(c) is str else None for c in created]
    return pd.to_datetime(pd.Series(text, dtype=object), utc=True, format="ISO8601",
                          errors="coerce")


def _table_order(created: Sequence[object], ids: Sequence[str]) -> list[int]:
    """Positions in table order: newest created first, unknown times last, ties by replica_id."""
    times = created_times(created)
    unknown = times.isna().to_numpy()
    # Newest first is the smallest key; unknown times get the largest.
    keys = np.full(len(times), np.iinfo(np.int64).max)
    np.negative(times.dt.tz_convert(None).to_numpy().view("int64"), out=keys, where=~unknown)
    key_list = keys.tolist()
    return sorted(range(len(key_list)), key=lambda i: (key_list[i], ids[i]))


def sort_replicas(replicas: Iterable[Replica]) -> list[Replica]:
    """Newest created first, ties by replica_id, unknown times last.

    A stable order keeps a positional table selection on the same replica across refreshes.
    """
    replicas = list(replicas)
    order = _table_order([r.created_at for r in replicas], [r.replica_id for r in replicas])
    return [replicas[i] for i in order]


def sort_items(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Tavus's replica objects as received, in the order of `sort_replicas`."""
    items = list(items)
    order = _table_order([d.get("created_at") for d in items], [item_id(d) for d in items])
    return [items[i] for i in order]


# --- Progress and training time ------------------------------------------------------------------
def replica_progress(replica: Replica) -> int:
    """Percent trained; a usable replica (ready, or a phoenix-4.5 preview: its training is done,
    tuning has no progress figure) is 100 whatever its progress string says."""
    if replica.state.usable:
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
    # A video's failure names its documented type by its words (lib/videos/failures.py); the
    # photo hints below would read a video's download failure as a photo's.
    video_type = error_type_for(message) if "video" in text or "training file" in text else None
    if video_type:
        return fix_for(video_type)
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

    The same table as `items_frame`, for replicas held as `Replica` objects.
    """
    ordered = sort_replicas(replicas)
    return items_frame([r.as_item() for r in ordered], states=[r.state for r in ordered],
                       now=now, ledger=ledger, error_messages=error_messages, photos=photos)


def items_frame(
    items: Sequence[Mapping[str, Any]],
    *,
    states: Sequence[ReplicaStatus] | None = None,
    now: datetime | None = None,
    ledger: Mapping[str, LedgerRecord] | None = None,
    error_messages: Mapping[str, str] | None = None,
    photos: Mapping[str, str] | None = None,
    ids: Sequence[str] | None = None,
    created: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per Tavus replica object (as received), in the order given, columns as in COLUMNS.

    `states`, `ids` (`item_id` of each item) and `created` (`created_times` of their created_at)
    are taken when the caller holds them already: the tracker keeps them from one load to the
    next, since a tick never changes an id or a creation time. `ledger`,
    `error_messages` (read for failed rows only) and `photos` are keyed by replica id; a replica
    missing from them gets empty text (photo too: "" draws a blank cell, None would draw "None").
    """
    now = now or datetime.now(UTC)
    ledger = ledger or {}
    error_messages = error_messages or {}
    # Built column by column from the dicts: at 10,000 rows, objects and per-row appends are
    # what the first load would spend its time on (bench/, first load). Ready rows, the bulk of
    # an account, take only the comprehensions; the others get a Replica and the full treatment.
    n = len(items)
    if states is None:
        states = [replica_status(d) for d in items]
    if ids is None:
        ids = [item_id(d) for d in items]
    ready = ReplicaStatus.READY
    status = [STATUS_LABELS[s] for s in states]
    progress = [100] * n  # what replica_progress gives every ready row
    elapsed, eta, error = [""] * n, [""] * n, [""] * n
    for i in [i for i, s in enumerate(states) if s is not ready]:
        replica = Replica.from_api(items[i])
        progress[i] = replica_progress(replica)
        if states[i] is ReplicaStatus.TRAINING:
            timing = training_time(replica, now)
            if timing.stuck:
                status[i] = STUCK_LABEL
            elapsed[i] = format_duration(timing.elapsed)
            eta[i] = format_duration(timing.remaining)
        elif states[i] is ReplicaStatus.PREVIEW_ONLY:
            error[i] = TUNING_FAILED_TEXT
        elif states[i] is ReplicaStatus.FAILED:
            error[i] = _error_text(error_messages.get(ids[i]) or replica.error_message)
    records = [ledger.get(rid) for rid in ids] if ledger else [None] * n
    cols = {
        "photo": [photos.get(rid, "") for rid in ids] if photos else [""] * n,
        "name": [d.get("replica_name") or "" for d in items],
        "replica_id": ids,
        "status": status,
        "progress": progress,
        "model": [d.get("model_name") or "" for d in items],
        "source": [SOURCE_LABELS.get(rec.kind, "") if rec else "" for rec in records],
        "elapsed": elapsed,
        "eta": eta,
        "creator": [(rec.created_by or "") if rec else "" for rec in records],
        "notes": [(rec.notes or "") if rec else "" for rec in records],
        "error": error,
        "type": [d.get("replica_type") or "" for d in items],
    }
    series = {
        # Explicit dtypes, so an empty table still has text columns that .str works on, and
        # photo is "" (not None or NaN) for replicas without one.
        name: pd.Series(values, dtype=_DTYPES.get(name, "str")) for name, values in cols.items()
    }
    series["created"] = (created.reset_index(drop=True) if created is not None
                         else created_times(d.get("created_at") for d in items))
    return pd.DataFrame(series, columns=COLUMNS)


def filter_frame(
    frame: pd.DataFrame,
    *,
    search: str = "",
    statuses: Sequence[str] = (),
    models: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows matching all given filters, in the same order; empty filters mean "all".

    `search` is a case-insensitive substring of the name or the id; `statuses` are labels from
    STATUS_FILTER_OPTIONS, so a possibly stuck replica counts as Training.
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


# Columns whose text repeats from row to row (a few statuses, models, creators; empty for most).
REPEATED_TEXT = ("status", "model", "source", "elapsed", "eta", "creator", "notes", "error",
                 "type")


def compact_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows and text, with each repeated-text column sent as a dictionary (Arrow's
    categorical): each value once plus a small code per row. Every repaint sends the whole
    table to every tab, so this halves what each one sends and each browser parses (2,000
    rows: 307 KB -> 149 KB)."""
    return frame.astype({name: "category" for name in REPEATED_TEXT if name in frame})


def status_counts(states: Iterable[ReplicaStatus]) -> dict[str, int]:
    """{label: n} for every label of STATUS_LABELS, in its order, every key present even at 0."""
    counts = dict.fromkeys(STATUS_LABELS.values(), 0)
    for state in states:
        counts[STATUS_LABELS[state]] += 1
    return counts


def ready_replicas(replicas: Sequence[Replica]) -> list[Replica]:
    """Done replicas only (phoenix-4.5 tuned); see usable_replicas for what can hold a call."""
    return [r for r in replicas if r.state is ReplicaStatus.READY]


def usable_replicas(replicas: Sequence[Replica]) -> list[Replica]:
    """Replicas that can join a conversation now: ready ones and phoenix-4.5 previews."""
    return [r for r in replicas if r.state.usable]


_PICKER_MARKS = {
    ReplicaStatus.PREVIEW: " · preview, watermarked",
    ReplicaStatus.PREVIEW_ONLY: " · preview only, watermarked (tuning failed)",
}


def picker_label(replica: Replica) -> str:
    """How a conversation's replica picker names a replica: "Name (r123)", and a preview says
    it is watermarked, so nobody shows a client a watermark by surprise."""
    name = f"{replica.replica_name or 'Unnamed'} ({replica.replica_id})"
    return name + _PICKER_MARKS.get(replica.state, "")
