"""The facts of one replica, as the details panel lists them."""

from __future__ import annotations

from datetime import UTC, datetime

from lib.replicas.table import STATUS_LABELS, format_duration, replica_progress, training_time
from lib.storage.ledger import LedgerRecord
from lib.tavus.client import Replica, ReplicaStatus
from lib.text import escape_markdown


def replica_summary(replica: Replica, record: LedgerRecord | None,
                    now: datetime | None = None) -> str:
    """Markdown lines: status, progress, model, times, and the team record when there is one."""
    now = now or datetime.now(UTC)
    lines = [f"**Status:** {STATUS_LABELS[replica.state]} · {replica_progress(replica)}% trained"]
    if replica.state is ReplicaStatus.TRAINING:
        timing = training_time(replica, now)
        if timing.elapsed is not None:
            eta = format_duration(timing.remaining)
            lines.append(f"**Training for:** {format_duration(timing.elapsed)}"
                         + (f" · about {eta} to go" if eta else "")
                         + (" · **possibly stuck**" if timing.stuck else ""))
    facts = [("Model", replica.model_name), ("Type", replica.replica_type),
             ("Created", replica.created_at), ("Updated", replica.updated_at)]
    if record is not None:
        facts += [("Created by", record.created_by), ("Voice", record.voice_name),
                  ("Photo score", f"{record.check_score}/100" if record.check_score is not None
                   else None),
                  ("Auto-fix", "on" if record.auto_fix_training_image else "off")]
    lines += [f"**{label}:** {escape_markdown(str(value))}" for label, value in facts if value]
    return "  \n".join(lines)
