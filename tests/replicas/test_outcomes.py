"""What the sidebar watcher and the details panel say about a replica's stage, against the
simulator over real HTTP where Tavus is asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib.replicas.facts import REFUND_CAUTION, delete_caution, replica_summary, stage_text
from lib.replicas.outcomes import finished, toast_text
from lib.tavus.client import Replica, ReplicaStatus, TavusClient
from lib.tavus.simulator.server import TavusSimulator

KEY = "outcomes-test-key-0123456789"
TRAINING_SECONDS = 600


@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    simulator = TavusSimulator(KEY, training_seconds=TRAINING_SECONDS,
                               seed_demo_data=False).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def tavus(sim: TavusSimulator) -> Iterator[TavusClient]:
    with TavusClient(sim.base_url, KEY, sleep=lambda s: None) as client:
        yield client


def test_finished_tells_a_preview_and_keeps_it_marked_as_still_changing(
        sim: TavusSimulator, tavus: TavusClient) -> None:
    [preview_id] = sim.add_replicas(1, training=1, model_name="phoenix-4.5")
    [training_id] = sim.add_replicas(1, training=1, training_seconds=TRAINING_SECONDS * 10)
    watched = [preview_id, training_id]
    assert finished(tavus, watched) == []  # both still training
    sim.advance(TRAINING_SECONDS / 60 + 1)
    [told] = finished(tavus, watched)
    assert (told.replica_id, told.state) == (preview_id, ReplicaStatus.PREVIEW)
    assert told.still_changing and told.usable
    sim.advance(TRAINING_SECONDS)
    [told] = finished(tavus, watched)
    assert (told.replica_id, told.state, told.still_changing) == (
        preview_id, ReplicaStatus.READY, False)
    assert finished(tavus, []) == []


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
