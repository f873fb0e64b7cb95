"""The facts of one replica, as the details panel lists them."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from lib.clock import local_time, relative
from lib.replicas.table import STATUS_LABELS, format_duration, replica_progress, training_time
from lib.storage.ledger import LedgerRecord
from lib.tavus.client import PREVIEW_MODEL, Replica, ReplicaStatus
from lib.text import escape_markdown

# tavus-api.md: a failed training costs no credits, but deleting the replica right after the error
# can lose the refund. Said beside Delete as a caution, never as a push to delete.
REFUND_CAUTION = ("A failed training costs no credits, but deleting the replica right after the "
                  "failure can lose Tavus's credit refund. Keep it a while before deleting it.")


def delete_caution(replica: Replica) -> str | None:
    """What to know before deleting this replica (a failed one: the refund); None otherwise."""
    return REFUND_CAUTION if replica.state is ReplicaStatus.FAILED else None


def stage_text(replica: Replica) -> str | None:
    """Where a phoenix-4.5 replica is between its watermarked preview and its tuning; None for
    models without those stages."""
    state = replica.state
    if state is ReplicaStatus.PREVIEW:
        return ("Watermarked preview, usable in a conversation now. Tavus is tuning it (a few "
                "hours); the watermark goes when tuning completes.")
    if state is ReplicaStatus.PREVIEW_ONLY:
        return ("Tuning failed. The watermarked preview stays usable; a version without the "
                "watermark needs a new replica (a new create).")
    if state is ReplicaStatus.READY and (replica.model_name or "").strip().lower() == (
            PREVIEW_MODEL):
        return "Tuned: no watermark."
    return None


CONSENT_MODE_TEXT = {"in_clip": "spoken at the start of the clip",
                     "separate": "a separate consent clip"}


def training_clip_text(record: LedgerRecord) -> str:
    """'a video, 1 min 12 s, 1280×720' from what the record knows."""
    parts = ["a video"]
    if record.duration_seconds:
        minutes, seconds = divmod(round(record.duration_seconds), 60)
        parts.append(f"{minutes} min {seconds} s" if minutes else f"{seconds} s")
    if record.width and record.height:
        parts.append(f"{record.width}×{record.height}")
    return ", ".join(parts)


def when_text(value: str | None, tz: str | tzinfo | None, now: datetime) -> str | None:
    """Tavus's ISO time as the viewer reads it: "today 02:27 (3 min ago)" in `tz` (UTC, said
    so, when None); text that is no time is shown as sent; None when there is nothing."""
    if not value:
        return None
    shown = local_time(value, tz, now=now)
    return f"{shown} ({relative(value, now)})" if shown else value


def replica_summary(replica: Replica, record: LedgerRecord | None,
                    now: datetime | None = None, tz: str | tzinfo | None = None) -> str:
    """Markdown lines: status, progress, model, times (in the viewer's zone `tz`), and the team
    record when there is one."""
    now = now or datetime.now(UTC)
    lines = [f"**Status:** {STATUS_LABELS[replica.state]} · {replica_progress(replica)}% trained"]
    stage = stage_text(replica)
    if stage:
        lines.append(f"**Stage:** {stage}")
    if replica.state is ReplicaStatus.TRAINING:
        timing = training_time(replica, now)
        if timing.elapsed is not None:
            eta = format_duration(timing.remaining)
            lines.append(f"**Training for:** {format_duration(timing.elapsed)}"
                         + (f" · about {eta} to go" if eta else "")
                         + (" · **possibly stuck**" if timing.stuck else ""))
    facts = [("Model", replica.model_name), ("Type", replica.replica_type),
             ("Created", when_text(replica.created_at, tz, now)),
             ("Updated", when_text(replica.updated_at, tz, now))]
    if record is not None and record.kind == "video":
        facts += [("Created by", record.created_by),
                  ("Trained from", training_clip_text(record)),
                  ("Voice", "cloned from the clip"),
                  ("Clip score", f"{record.check_score}/100" if record.check_score is not None
                   else None),
                  ("Consent", CONSENT_MODE_TEXT.get(record.consent_mode or ""))]
    elif record is not None:
        facts += [("Created by", record.created_by), ("Voice", record.voice_name),
                  ("Photo score", f"{record.check_score}/100" if record.check_score is not None
                   else None),
                  ("Auto-fix", "on" if record.auto_fix_training_image else "off"),
                  ("Framing", "fixed here" if record.framing_fixed else None)]
    lines += [f"**{label}:** {escape_markdown(str(value))}" for label, value in facts if value]
    return "  \n".join(lines)
