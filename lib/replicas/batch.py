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
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

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
# one wave, so it takes about as long as one photo; a larger batch goes in waves of 10.
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


def _needs_run(row: BatchRow) -> bool:
    if not row.chosen or row.analysis is None or row.analysis.prepared is None:
        return False
    if row.attempt is not None:
        settle_ledger(row.attempt)
    if row.status == "created":
        # Created; run again only to retry a team record that could not be written.
        return row.attempt is not None and row.attempt.ledger_error is not None
    return row.status in ("ready", "failed")


def _claim(rows: Iterable[BatchRow]) -> list[BatchRow]:
    with _claim_lock:
        claimed = []
        for row in rows:
            if not _needs_run(row):
                continue
            row.attempt = attempt_for(row.analysis.prepared, row.attempt)
            if row.attempt.replica_id is not None and row.attempt.ledger_error is None:
                row.status, row.error = "created", None  # an attempt kept from before
                continue
            row.status, row.error, row.step = "creating", None, None
            claimed.append(row)
        return claimed


def create_all(
    rows: Sequence[BatchRow],
    *,
    tavus: TavusClient,
    store: ImageStore,
    form_for: Callable[[BatchRow], ReplicaForm],
    ttl_hours: int,
    created_by: str | None = None,
    ledger: Ledger | None = None,
    max_workers: int = CREATE_WORKERS,
    on_row: Callable[[BatchRow], None] = lambda row: None,
) -> list[BatchRow]:
    """Create one replica per chosen ready (or failed) row, at most `max_workers` at once.

    Returns the rows this call ran. `on_row` is called in the caller's thread when a row starts
    and when it ends (so a Streamlit page may draw from it). Never raises for one row's failure:
    the row gets status "failed" and the reason in `error`, and the next call retries it.
    """
    claimed = _claim(rows)
    if not claimed:
        return []

    def run(row: BatchRow) -> BatchRow:
        try:
            form = form_for(row)

            def step(name: str) -> None:
                row.step = name

            create_replica_from_photo(
                tavus=tavus, store=store, attempt=row.attempt, photo=row.analysis.prepared,
                filename=row.filename, form=form, ttl_hours=ttl_hours, created_by=created_by,
                check_score=row.analysis.report.score if row.analysis.report else None,
                on_step=step, ledger=ledger)
            row.status, row.error = "created", None
        except Exception as error:  # kept on the row; the other rows go on
            row.status, row.error = "failed", user_message(error)
        finally:
            row.step = None
        return row

    for row in claimed:
        on_row(row)
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(claimed))),
                              thread_name_prefix="batch-create")
    try:
        pending: set[Future[BatchRow]] = {pool.submit(run, row) for row in claimed}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_row(future.result())
    finally:
        # Not waiting: if the caller is interrupted, the rows already sent still finish.
        pool.shutdown(wait=False)
    return claimed


def summary(rows: Sequence[BatchRow]) -> dict[str, int]:
    """How many rows are in each status (for a progress line)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
