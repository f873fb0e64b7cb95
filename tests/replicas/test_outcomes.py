"""What the toasts and the details panel say about a replica's stage."""

from __future__ import annotations

from datetime import UTC, datetime

from lib.replicas.facts import REFUND_CAUTION, delete_caution, replica_summary, stage_text
from lib.replicas.outcomes import toast_text
from lib.tavus.client import Replica, ReplicaStatus


def test_toast_text_for_each_stage() -> None:
    assert toast_text("Ann", ReplicaStatus.PREVIEW) == (
        "Ann's preview is ready (watermarked): you can start a conversation; tuning continues.")
    assert toast_text("Ann", ReplicaStatus.READY, previous=ReplicaStatus.PREVIEW) == (
        "Ann is tuned: the watermark is gone.")
    assert toast_text("Ann", ReplicaStatus.PREVIEW_ONLY, previous=ReplicaStatus.PREVIEW) == (
        "Ann's tuning failed: the watermarked preview stays usable.")
    # phoenix-4, or a phoenix-4.5 seen only once done: plain "ready".
    for previous in (None, ReplicaStatus.TRAINING):
        assert toast_text("Bo", ReplicaStatus.READY, previous=previous) == (
            "Bo is ready: you can start a conversation.")
    assert toast_text("Bo", ReplicaStatus.FAILED, "ImageQualityError") == (
        "Bo failed to train: ImageQualityError")
    assert toast_text("Bo", ReplicaStatus.FAILED) == "Bo failed to train."


def replica(status: str, model: str, finetune: str | None = None) -> Replica:
    return Replica(replica_id="r1", replica_name="Ann", status=status, model_name=model,
                   finetune_status=finetune, training_progress="100/100")


def test_the_details_say_the_stage() -> None:
    tuning = replica("completed", "phoenix-4.5", "in_progress")
    assert "Watermarked preview, usable" in stage_text(tuning)
    summary = replica_summary(tuning, None)
    assert "**Status:** Preview (watermarked) · tuning · 100% trained" in summary
    assert "**Stage:** Watermarked preview" in summary and "tuning" in summary
    assert stage_text(replica("completed", "phoenix-4.5", "errored")).startswith(
        "Tuning failed. The watermarked preview stays usable")
    assert stage_text(replica("completed", "phoenix-4.5", "completed")) == "Tuned: no watermark."
    assert stage_text(replica("completed", "phoenix-4")) is None  # no stages on phoenix-4
    assert stage_text(replica("started", "phoenix-4.5")) is None
    assert "**Stage:**" not in replica_summary(replica("completed", "phoenix-4"), None)


def test_only_a_failed_replica_warns_about_the_refund_before_delete() -> None:
    failed = replica("error", "phoenix-4")
    assert delete_caution(failed) == REFUND_CAUTION
    assert "no credits" in REFUND_CAUTION and "refund" in REFUND_CAUTION
    for other in (replica("completed", "phoenix-4"), replica("started", "phoenix-4"),
                  replica("completed", "phoenix-4.5", "errored")):
        assert delete_caution(other) is None


def test_the_details_times_are_in_the_viewers_zone() -> None:
    made = Replica(replica_id="r1", replica_name="Ann", status="completed", model_name="phoenix-4",
                   training_progress="100/100", created_at="2026-11-29T15:37:35.947Z",
                   updated_at="2026-11-30T10:27:19Z")
    now = datetime(2026, 11, 30, 10, 30, tzinfo=UTC)

    def lines(summary: str) -> dict[str, str]:
        pairs = (line.split(":** ", 1) for line in summary.split("  \n"))
        return {label.strip("*"): value.replace("\\", "") for label, value in pairs}

    los_angeles = lines(replica_summary(made, None, now, "America/Los_Angeles"))
    assert los_angeles["Created"] == "yesterday 07:37 (18 h ago)"
    assert los_angeles["Updated"] == "today 02:27 (2 min ago)"
    tokyo = lines(replica_summary(made, None, now, "Asia/Tokyo"))
    assert tokyo["Created"] == "today 00:37 (18 h ago)"  # already 30 Nov in Tokyo
    assert tokyo["Updated"] == "today 19:27 (2 min ago)"
    # No zone from the browser: UTC, and said so; never the raw ISO text.
    fallback = lines(replica_summary(made, None, now))
    assert fallback["Created"] == "yesterday 15:37 UTC (18 h ago)"
    assert "T15:37" not in replica_summary(made, None, now)
    # Text that is no time is shown as Tavus sent it.
    odd = Replica(replica_id="r2", replica_name="Bo", status="completed",
                  created_at="last week")
    assert lines(replica_summary(odd, None, now))["Created"] == "last week"
