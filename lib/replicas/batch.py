"""Several photos at once: check them all, then create one replica per chosen ready photo.

Each row keeps its own `CreateAttempt`, so the batch is as safe to repeat as the single create:
a rerun or a double click never uploads twice nor creates a second replica (rows already created
are skipped, rows in flight are not sent again), a failure stays on its row with its reason while
the others go on, and a later `create_all` retries only the rows that failed.

The rows are plain objects the caller keeps (the page keeps them in the session); the worker
threads write their outcome onto them, so a page run interrupted half-way (Streamlit's rerun)
finds them finished, or still "creating", on its next run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Literal

from lib.actions.board import Action, ActionBoard
from lib.errors import user_message
from lib.replicas.create import (
    CreateAttempt,
    ReplicaForm,
    attempt_for,
    create_replica_from_photo,
    replica_name_for,
    settle_ledger,
)
from lib.storage.ledger import Ledger
from lib.storage.s3 import ImageStore
from lib.tavus.client import TavusClient

if TYPE_CHECKING:  # annotations only: importing analysis loads OpenCV
    from lib.photos.analysis import PhotoAnalysis

Status = Literal["checking", "ready", "blocked", "creating", "created", "failed"]
MAX_WORKERS = 4  # checks: OpenCV work, bounded by the server's cores
# Creates wait on the network (an upload, then Tavus's answer): a batch of up to 10 goes out in
# one wave, so it takes about as long as one photo (the server's board has 16 workers).
CREATE_WORKERS = 10


@dataclass
class BatchRow:
    """One photo of the batch: its check, the user's choices, and how far its create went."""

    filename: str
    analysis: PhotoAnalysis | None = None
    name: str = ""  # the replica name; made from the file name when checked
    voice_name: str | None = None  # a per-row override; None = the batch's voice
    attempt: CreateAttempt | None = None
    status: Status = "checking"
    error: str | None = None  # why it is blocked or why its create failed
    chosen: bool = True  # unticked rows are left out of "Create all ready ones"
    step: str | None = None  # the create's current step while "creating" (uploading, ...)
    action: Action | None = field(default=None, repr=False)  # the worker's, while creating

    @property
    def fingerprint(self) -> str | None:
        return self.analysis.fingerprint if self.analysis is not None else None

    @property
    def replica_id(self) -> str | None:
        return self.attempt.replica_id if self.attempt is not None else None

    @property
    def reason(self) -> str:
        """The main reason for the verdict, one line."""
        if self.error:
            return self.error
        report = self.analysis.report if self.analysis is not None else None
        if report is None:
            return ""
        worst = report.failed or report.warned
        return worst[0].reason if worst else "Looks good."

    @property
    def verdict(self) -> str:
        if self.analysis is None:
            return "checking"
        if self.analysis.report is None:
            return "unusable"
        return str(self.analysis.report.verdict)


def row_from(filename: str, analysis: PhotoAnalysis) -> BatchRow:
    """A checked row: ready when nothing blocks, else blocked with the reason."""
    row = BatchRow(filename=filename, analysis=analysis, name=replica_name_for("", filename))
    if analysis.error or analysis.prepared is None:
        row.status, row.error = "blocked", analysis.error or "This file cannot be used."
    elif analysis.report is not None and analysis.report.blocking:
        # TODO(fix framing): a FIXABLE row gets a "Fix framing" action from the framing work
        # (several_photos(frame, fix_framing=...)); its fixed photo goes through replace_photo.
        row.status = "blocked"
    else:
        row.status = "ready"
    return row


def replace_photo(row: BatchRow, analysis: PhotoAnalysis) -> BatchRow:
    """The row with another version of its photo (Fix framing's result): checked again, the
    name, voice and choice kept; a new photo means a new attempt. A row created or in flight
    keeps its photo."""
    if row.status in ("creating", "created"):
        return row
    fresh = row_from(row.filename, analysis)
    row.analysis, row.status, row.error = fresh.analysis, fresh.status, fresh.error
    if row.attempt is not None and row.attempt.photo_sha256 != analysis.fingerprint:
        row.attempt = None
    return row


def check_all(files: Sequence[tuple[str, bytes]],
              analyse: Callable[[bytes, str], PhotoAnalysis],
              max_workers: int = MAX_WORKERS) -> list[BatchRow]:
    """Check every (filename, bytes) in parallel (at most `max_workers` at once), in order."""
    if not files:
        return []
    workers = max(1, min(max_workers, len(files)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch-check") as pool:
        analyses = list(pool.map(lambda f: analyse(f[1], f[0]), files))
    return [row_from(name, analysis) for (name, _), analysis in zip(files, analyses, strict=True)]


# Claims are taken under one lock: of two calls on the same rows (a double click), only one
# moves a row to "creating", and the other leaves it alone.
_claim_lock = threading.Lock()
INTERRUPTED = "Interrupted before it finished — press Create all again."


def recover_interrupted(rows: Iterable[BatchRow]) -> list[BatchRow]:
    """Rows left "creating" that no worker holds (its worker died, the board shut down, or it
    was never handed over) go back to retryable with a plain reason. -> those rows."""
    recovered = []
    for row in rows:
        action = row.action
        if row.status == "creating" and (action is None or not action.running):
            if action is not None and action.ok and row.replica_id:
                row.status, row.error = "created", None  # finished; its outcome is on the row
            else:
                row.status, row.error, row.step = "failed", INTERRUPTED, None
                recovered.append(row)
    return recovered


def _needs_run(row: BatchRow) -> bool:
    if not row.chosen or row.analysis is None or row.analysis.prepared is None:
        return False
    if row.attempt is not None:
        settle_ledger(row.attempt)
    if row.status == "created":
        # Created; run again only to retry a team record that could not be written.
        return row.attempt is not None and row.attempt.ledger_error is not None
    return row.status in ("ready", "failed")


def start_all(
    rows: Sequence[BatchRow],
    *,
    board: ActionBoard,
    key_for: Callable[[BatchRow], str],
    tavus: TavusClient,
    store: ImageStore,
    form_for: Callable[[BatchRow], ReplicaForm],
    ttl_hours: int,
    created_by: str | None = None,
    ledger: Ledger | None = None,
    attempts: dict[str, CreateAttempt] | None = None,
    on_end: Callable[[Action], None] | None = None,
) -> list[BatchRow]:
    """Claim every chosen ready (or failed) row and hand it to `board`, in one step, and return
    at once: the rows this call claimed.

    Claim and hand-over happen together under one lock, with nothing the caller can interrupt
    in between: a row is "creating" only while a worker holds it. The worker writes the outcome
    onto the row ("created", or "failed" with the reason, retried by the next call); `attempts`
    (by photo fingerprint) keeps each row's attempt, so the same photo is never sent twice."""
    claimed = []
    with _claim_lock:
        recover_interrupted(rows)
        for row in rows:
            if not _needs_run(row):
                continue
            row.attempt = attempt_for(row.analysis.prepared, row.attempt)
            if attempts is not None and row.fingerprint:
                attempts[row.fingerprint] = row.attempt
            if row.attempt.replica_id is not None and row.attempt.ledger_error is None:
                row.status, row.error = "created", None  # an attempt kept from before
                continue
            form = form_for(row)
            action = board.start(
                key_for(row), partial(_create_row, row, form=form, tavus=tavus, store=store,
                                      ttl_hours=ttl_hours, created_by=created_by, ledger=ledger),
                label=row.name, on_end=on_end)
            if not action.running:  # an ended action under that key, not this row's: skip
                continue
            # Still under the lock, before the worker can write its outcome (it waits for it).
            row.status, row.error, row.step, row.action = "creating", None, None, action
            claimed.append(row)
    return claimed


def _create_row(row: BatchRow, action: Action, *, form: ReplicaForm, tavus: TavusClient,
                store: ImageStore, ttl_hours: int, created_by: str | None,
                ledger: Ledger | None) -> CreateAttempt:
    with _claim_lock:  # the claim that handed this row over has marked it "creating"
        pass

    def step(name: str) -> None:
        row.step = name
        action.report(step=name)

    try:
        create_replica_from_photo(
            tavus=tavus, store=store, attempt=row.attempt, photo=row.analysis.prepared,
            filename=row.filename, form=form, ttl_hours=ttl_hours, created_by=created_by,
            check_score=row.analysis.report.score if row.analysis.report else None,
            on_step=step, ledger=ledger)
    except Exception as error:  # kept on the row; the other rows go on
        row.status, row.error = "failed", user_message(error)
        raise
    else:
        row.status, row.error = "created", None
    finally:
        row.step = None
    return row.attempt


def create_all(
    rows: Sequence[BatchRow],
    *,
    tavus: TavusClient,
    store: ImageStore,
    form_for: Callable[[BatchRow], ReplicaForm],
    ttl_hours: int,
    created_by: str | None = None,
    ledger: Ledger | None = None,
    board: ActionBoard | None = None,
    max_workers: int = CREATE_WORKERS,
    timeout: float | None = None,
) -> list[BatchRow]:
    """`start_all`, then wait until the claimed rows end (scripts, tests, the bench). Never
    raises for one row's failure: the row gets status "failed" and the reason in `error`.
    Without a `board`, one of `max_workers` threads is made for this call."""
    own = board is None
    board = board or ActionBoard(max_workers=max_workers)
    keys: dict[int, str] = {}

    def key_for(row: BatchRow) -> str:
        keys[id(row)] = f"batch/{row.fingerprint}"
        return keys[id(row)]

    try:
        claimed = start_all(rows, board=board, key_for=key_for, tavus=tavus, store=store,
                            form_for=form_for, ttl_hours=ttl_hours, created_by=created_by,
                            ledger=ledger)
        for row in claimed:
            board.wait(keys[id(row)], timeout=timeout)
        recover_interrupted(claimed)
        return claimed
    finally:
        if own:
            board.close()


def summary(rows: Sequence[BatchRow]) -> dict[str, int]:
    """How many rows are in each status (for a progress line)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
