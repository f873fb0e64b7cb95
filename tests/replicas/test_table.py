"""The Replicas table: labels, progress, training time, hints, ledger join, filters, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from lib.replicas.table import (
    COLUMNS,
    STATUS_FILTER_OPTIONS,
    STUCK_LABEL,
    TUNING_FAILED_TEXT,
    TrainingTime,
    compact_frame,
    created_times,
    error_hint,
    filter_frame,
    format_duration,
    items_frame,
    picker_label,
    ready_replicas,
    replicas_frame,
    sort_items,
    sort_replicas,
    status_counts,
    training_time,
    usable_replicas,
)
from lib.storage.ledger import LedgerRecord
from lib.tavus.client import Replica, ReplicaStatus

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def replica(
    rid: str,
    status: str = "completed",
    *,
    name: str | None = None,
    progress: str | None = None,
    age: timedelta = timedelta(days=1),
    model: str = "phoenix-4",
    error: str | None = None,
    finetune: str | None = None,
) -> Replica:
    return Replica(replica_id=rid, replica_name=name or f"Replica {rid}", status=status,
                   training_progress=progress, created_at=iso(NOW - age), model_name=model,
                   replica_type="user", error_message=error, finetune_status=finetune)


def preview(rid: str, finetune: str | None = "in_progress", **kwargs: object) -> Replica:
    """A phoenix-4.5 replica past its training: a preview while tuning (or after it failed)."""
    return replica(rid, "completed", model="phoenix-4.5", finetune=finetune, **kwargs)


def ledger_record(rid: str, *, by: str | None, notes: str = "") -> LedgerRecord:
    return LedgerRecord(replica_id=rid, replica_name=rid, photo_key=f"p/{rid}.png",
                        voice_name="anna", model_name="phoenix-4", auto_fix_training_image=True,
                        created_at="2026-03-01T00:00:00Z", created_by=by, notes=notes)


def row(frame: pd.DataFrame, rid: str) -> pd.Series:
    rows = frame[frame["replica_id"] == rid]
    assert len(rows) == 1
    return rows.iloc[0]


# --- Columns, labels, progress ------------------------------------------------------------------
def test_columns_are_the_documented_ones_in_order() -> None:
    frame = replicas_frame([replica("r1")], now=NOW)
    assert list(frame.columns) == COLUMNS
    assert COLUMNS[:8] == ["photo", "name", "replica_id", "status", "progress", "model",
                           "source", "created"]


def test_the_source_column_says_what_a_replica_made_here_was_trained_from() -> None:
    from dataclasses import replace
    records = {"r1": ledger_record("r1", by="a@x.com"),
               "r2": replace(ledger_record("r2", by="b@x.com"), kind="video",
                             video_key="v/r2.mp4")}
    frame = replicas_frame([replica("r1"), replica("r2"), replica("r3")], now=NOW,
                           ledger=records)
    assert (row(frame, "r1")["source"], row(frame, "r2")["source"],
            row(frame, "r3")["source"]) == ("Photo", "Video", "")


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("completed", "Ready"),
        ("ready", "Ready"),
        ("  COMPLETED ", "Ready"),
        ("error", "Failed"),
        ("started", "Training"),
        ("queued-for-something-new", "Training"),  # unknown words are still in progress
        ("", "Training"),
    ],
)
def test_status_labels_come_from_the_one_mapping(raw: str, label: str) -> None:
    # Recent, so a training one is not "possibly stuck".
    frame = replicas_frame([replica("r1", raw, age=timedelta(minutes=10))], now=NOW)
    assert frame.loc[0, "status"] == label


@pytest.mark.parametrize(
    ("status", "progress", "expected"),
    [
        ("started", "42/100", 42),
        ("started", "3/4", 75),
        ("started", None, 0),
        ("started", "", 0),
        ("started", "lots", 0),
        ("started", "5/0", 0),
        ("completed", "17/100", 100),  # ready forces 100
        ("completed", None, 100),
        ("error", "12/100", 12),
    ],
)
def test_progress_in_rows(status: str, progress: str | None, expected: int) -> None:
    frame = replicas_frame([replica("r1", status, progress=progress,
                                    age=timedelta(minutes=10))], now=NOW)
    assert frame.loc[0, "progress"] == expected


def test_created_is_a_utc_datetime_and_rows_are_newest_first_ties_by_id() -> None:
    same = NOW - timedelta(hours=2)
    replicas = [
        replica("r-old", age=timedelta(days=3)),
        Replica("r-b", "B", "completed", created_at=iso(same)),
        Replica("r-a", "A", "completed", created_at=same.isoformat()),  # "+00:00" form
        Replica("r-none", "N", "completed", created_at=None),
        replica("r-new", age=timedelta(minutes=1)),
        Replica("r-junk", "J", "completed", created_at="yesterday"),
    ]
    frame = replicas_frame(replicas, now=NOW)
    assert list(frame["replica_id"]) == ["r-new", "r-a", "r-b", "r-old", "r-junk", "r-none"]
    assert [r.replica_id for r in sort_replicas(replicas)] == list(frame["replica_id"])
    assert frame.loc[1, "created"] == pd.Timestamp(same)
    assert str(frame["created"].dt.tz) == "UTC"
    assert pd.isna(frame.loc[4, "created"])


def test_an_empty_account_gives_an_empty_table_that_still_filters() -> None:
    frame = replicas_frame([], now=NOW)
    assert list(frame.columns) == COLUMNS and len(frame) == 0
    assert len(filter_frame(frame, search="x", statuses=["Ready"], models=["phoenix-4"])) == 0


# --- Training time --------------------------------------------------------------------------------
def test_eta_extrapolates_from_progress() -> None:
    timing = training_time(replica("r1", "started", progress="25/100",
                                   age=timedelta(hours=1)), NOW)
    assert timing == TrainingTime(elapsed=timedelta(hours=1), remaining=timedelta(hours=3),
                                  stuck=False)


def test_seven_hours_at_ninety_percent_is_possibly_stuck() -> None:
    r = replica("r1", "started", progress="90/100", age=timedelta(hours=7))
    timing = training_time(r, NOW)
    assert timing.stuck
    assert timing.elapsed == timedelta(hours=7)
    assert timing.remaining == timedelta(hours=7) * 10 / 90
    frame = replicas_frame([r], now=NOW)
    assert frame.loc[0, "status"] == STUCK_LABEL == "Training (possibly stuck)"
    assert frame.loc[0, "elapsed"] == "7 h 00 min"
    assert frame.loc[0, "eta"] == "47 min"


def test_exactly_six_hours_is_not_yet_stuck() -> None:
    timing = training_time(replica("r1", "started", progress="50/100",
                                   age=timedelta(hours=6)), NOW)
    assert not timing.stuck


def test_little_or_no_progress_uses_the_middle_of_the_expected_three_to_four_hours() -> None:
    early = training_time(replica("r1", "started", progress="4/100",
                                  age=timedelta(hours=1)), NOW)
    assert early.remaining == timedelta(hours=2, minutes=30)
    unknown = training_time(replica("r2", "started", progress=None,
                                    age=timedelta(minutes=30)), NOW)
    assert unknown.remaining == timedelta(hours=3)


def test_past_the_expectation_without_progress_gives_no_eta_rather_than_a_negative_one() -> None:
    timing = training_time(replica("r1", "started", progress="0/100",
                                   age=timedelta(hours=5)), NOW)
    assert timing.remaining is None
    assert timing.elapsed == timedelta(hours=5)
    assert not timing.stuck


def test_ready_and_failed_replicas_have_no_training_time() -> None:
    for status in ("completed", "error"):
        r = replica("r1", status, progress="50/100", age=timedelta(hours=9))
        assert training_time(r, NOW) == TrainingTime(None, None, False)
        frame = replicas_frame([r], now=NOW)
        assert (frame.loc[0, "elapsed"], frame.loc[0, "eta"]) == ("", "")
        assert frame.loc[0, "status"] != STUCK_LABEL


def test_a_creation_time_slightly_in_the_future_counts_as_just_started() -> None:
    timing = training_time(replica("r1", "started", age=-timedelta(seconds=30)), NOW)
    assert timing.elapsed == timedelta(0)


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (None, ""),
        (timedelta(0), "0 min"),
        (timedelta(seconds=20), "< 1 min"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=2, minutes=5), "2 h 05 min"),
        (timedelta(hours=2, minutes=59, seconds=59), "3 h 00 min"),  # to the nearest minute
        (timedelta(days=1, hours=3), "1 d 3 h"),
        (timedelta(minutes=-5), "0 min"),
    ],
)
def test_format_duration(td: timedelta | None, text: str) -> None:
    assert format_duration(td) == text


# --- Failure messages -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("LookingStraightAtCameraError: the subject looks away", "face the camera"),
        ("HeadNotFullyInFrameError: the whole head, from crown to chin, must be visible",
         "crown to chin"),
        ("ImageQualityError: the training image is 300x300", "sharper, brighter"),
        ("Failed to download the training image: the presigned URL expired at 2026-01-01",
         "expired"),
        ("Failed to download the training image: HTTP 404 Not Found from 127.0.0.1:80",
         "presigned URL"),
        ("The training image could not be read as a PNG or JPEG image.", "PNG or JPEG"),
        # A video's failure gets its type's fix, not the photo's download hint.
        ("There was an issue processing your training file: The file could not be downloaded "
         "from 127.0.0.1 (HTTP 404 Not Found).", "24 hours"),
        ("There was an issue processing your training file: The video must be at least 1 "
         "minute long (this one is 20 seconds).", "at least 1 minute"),
        ("There was an issue processing your training file: The consent statement was not "
         "found at the start of the video.", "consent statement"),
        ("There was an issue processing your training file: The video must be at least 25 "
         "frames per second (this one is 15 fps).", "25 frames per second"),
    ],
)
def test_known_failures_get_a_plain_language_hint(message: str, words: str) -> None:
    hint = error_hint(message)
    assert hint is not None and words in hint


def test_unknown_or_missing_failures_get_no_hint() -> None:
    assert error_hint("QuotaExceeded: your plan allows 3 replicas") is None
    assert error_hint("") is None
    assert error_hint(None) is None


def test_the_error_column_shows_the_message_with_its_hint_only_for_failed_replicas() -> None:
    replicas = [
        replica("r-head", "error"),
        replica("r-odd", "error"),
        replica("r-own", "error", error="ImageQualityError: too small"),  # from a detail call
        replica("r-ok", "completed"),
        replica("r-none", "error"),
    ]
    messages = {
        "r-head": "HeadNotFullyInFrameError: chin cut off",
        "r-odd": "Something new went wrong",
        "r-ok": "HeadNotFullyInFrameError: stale message for a replica that is ready now",
    }
    frame = replicas_frame(replicas, now=NOW, error_messages=messages)
    head = row(frame, "r-head")["error"]
    assert head.startswith("HeadNotFullyInFrameError: chin cut off — ")
    assert head.endswith(error_hint("HeadNotFullyInFrameError"))
    assert row(frame, "r-odd")["error"] == "Something new went wrong"
    assert row(frame, "r-own")["error"].startswith("ImageQualityError: too small — ")
    assert row(frame, "r-ok")["error"] == ""
    assert row(frame, "r-none")["error"] == ""


# --- From Tavus's objects as received (the tracker's path) --------------------------------------
def test_items_frame_builds_the_same_table_as_replicas_frame() -> None:
    replicas = [
        replica("r-ready", age=timedelta(days=3)),
        replica("r-train", "started", progress="40/100", age=timedelta(hours=1)),
        replica("r-stuck", "started", progress="2/100", age=timedelta(hours=7)),
        replica("r-head", "error", age=timedelta(days=2)),
        replica("r-own", "error", error="ImageQualityError: too small"),
        replica("r-tie-b", age=timedelta(hours=5)),
        replica("r-tie-a", age=timedelta(hours=5)),
    ]
    kwargs = {
        "now": NOW,
        "ledger": {"r-ready": ledger_record("r-ready", by="jane@example.com", notes="demo")},
        "error_messages": {"r-head": "HeadNotFullyInFrameError: chin cut off"},
        "photos": {"r-train": "data:,"},
    }
    ordered = sort_replicas(replicas)
    items = [r.as_item() for r in ordered]
    from_items = items_frame(items, **kwargs)
    pd.testing.assert_frame_equal(from_items, replicas_frame(replicas, **kwargs))
    # The ids and creation times a tracker keeps from load to load give the very same table.
    held = items_frame(items, ids=[r.replica_id for r in ordered],
                       created=created_times(d["created_at"] for d in items), **kwargs)
    pd.testing.assert_frame_equal(held, from_items)
    order = list(from_items["replica_id"])
    assert order[order.index("r-tie-a") + 1] == "r-tie-b"  # same time: by id
    assert order[-2:] == ["r-head", "r-ready"]  # oldest last
    assert row(from_items, "r-stuck")["status"] == STUCK_LABEL
    assert row(from_items, "r-head")["error"].startswith("HeadNotFullyInFrameError")


def test_the_compact_frame_shows_the_same_text_in_fewer_bytes() -> None:
    import pyarrow as pa

    items = [replica(f"r-{i:04d}", "started" if i % 50 == 0 else "ready", progress="40/100",
                     age=timedelta(minutes=i)).as_item() for i in range(500)]
    table = items_frame(items, now=NOW)
    compact = compact_frame(table)
    assert compact["status"].dtype == "category" and compact["name"].dtype != "category"
    # Every cell reads the same; the ids and names, unique per row, stay plain text.
    assert compact.astype(str).equals(table.astype(str))

    def arrow_bytes(frame: pd.DataFrame) -> int:
        return pa.Table.from_pandas(frame, preserve_index=False).nbytes

    assert arrow_bytes(compact) < 0.7 * arrow_bytes(table)


def test_items_frame_reads_odd_values_in_tavus_objects_without_failing() -> None:
    items = [
        {"replica_id": "r-num", "replica_name": 42, "status": 7, "created_at": 1700000000,
         "training_progress": None, "model_name": None},
        {"replica_id": "r-junk", "status": "error", "created_at": "not a time",
         "error_message": "HeadNotFullyInFrameError"},
        {"replica_id": "r-fine", "status": "completed", "created_at": "2026-03-01T10:00:00Z"},
    ]
    frame = items_frame(items, now=NOW)
    number = row(frame, "r-num")
    assert (number["name"], number["status"], number["progress"]) == ("42", "Training", 0)
    assert pd.isna(number["created"])  # a number is no time, not 1970 plus nanoseconds
    junk = row(frame, "r-junk")
    assert pd.isna(junk["created"]) and junk["error"].startswith("HeadNotFullyInFrameError — ")
    assert row(frame, "r-fine")["created"] == pd.Timestamp("2026-03-01T10:00:00Z")
    assert sort_items(items)[0]["replica_id"] == "r-fine"  # unknown times go last


# --- Ledger and photos ----------------------------------------------------------------------------
def test_creator_notes_and_photo_come_from_the_callers_mappings() -> None:
    replicas = [replica("r-mine"), replica("r-nobody"), replica("r-elsewhere")]
    ledger = {"r-mine": ledger_record("r-mine", by="jane@example.com", notes="for the demo"),
              "r-nobody": ledger_record("r-nobody", by=None)}
    photos = {"r-mine": "https://bucket.example/p/r-mine.png?sig=1"}
    frame = replicas_frame(replicas, now=NOW, ledger=ledger, photos=photos)
    mine, nobody, elsewhere = (row(frame, rid) for rid in ("r-mine", "r-nobody", "r-elsewhere"))
    assert (mine["creator"], mine["notes"]) == ("jane@example.com", "for the demo")
    assert mine["photo"] == photos["r-mine"]
    assert (nobody["creator"], nobody["notes"]) == ("", "")
    assert (elsewhere["creator"], elsewhere["notes"]) == ("", "")
    assert nobody["photo"] == "" and elsewhere["photo"] == ""  # blank in an ImageColumn


# --- Filters and counts ---------------------------------------------------------------------------
@pytest.fixture
def mixed() -> pd.DataFrame:
    replicas = [
        replica("r0aa01", "completed", name="Anna Studio", age=timedelta(hours=1)),
        replica("r0bb02", "started", name="Ben Office", progress="20/100",
                age=timedelta(hours=2)),
        replica("r0cc03", "started", name="Cara Stuck", progress="90/100",
                age=timedelta(hours=8), model="phoenix-3"),
        replica("r0dd04", "error", name="Dan Failed", age=timedelta(hours=9)),
        replica("r0ee05", "completed", name="Eve annex", age=timedelta(hours=10),
                model="phoenix-3"),
    ]
    return replicas_frame(replicas, now=NOW)


def ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["replica_id"])


def test_no_filter_keeps_everything_in_order(mixed: pd.DataFrame) -> None:
    assert ids(filter_frame(mixed)) == ids(mixed)
    assert ids(filter_frame(mixed, search="   ")) == ids(mixed)


def test_search_by_name_or_id_case_insensitive(mixed: pd.DataFrame) -> None:
    assert ids(filter_frame(mixed, search="ANN")) == ["r0aa01", "r0ee05"]  # order kept
    assert ids(filter_frame(mixed, search="R0CC")) == ["r0cc03"]
    assert ids(filter_frame(mixed, search="nobody")) == []
    assert ids(filter_frame(mixed, search="(")) == []  # not a regular expression


def test_status_filter_counts_possibly_stuck_as_training(mixed: pd.DataFrame) -> None:
    assert row(mixed, "r0cc03")["status"] == STUCK_LABEL
    assert ids(filter_frame(mixed, statuses=["Training"])) == ["r0bb02", "r0cc03"]
    assert ids(filter_frame(mixed, statuses=["Ready", "Failed"])) == ["r0aa01", "r0dd04",
                                                                       "r0ee05"]


def test_model_filter_and_combined_filters(mixed: pd.DataFrame) -> None:
    assert ids(filter_frame(mixed, models=["phoenix-3"])) == ["r0cc03", "r0ee05"]
    combined = filter_frame(mixed, search="a", statuses=["Training", "Ready"],
                            models=["phoenix-3"])
    assert ids(combined) == ["r0cc03", "r0ee05"]
    assert list(combined.index) == [0, 1]  # positions restart for a positional selection
    assert ids(filter_frame(mixed, search="anna", statuses=["Failed"])) == []


PREVIEW_LABEL = "Preview (watermarked) · tuning"
PREVIEW_ONLY_LABEL = "Preview only — tuning failed"


def test_status_counts_always_has_every_key() -> None:
    assert status_counts([]) == {"Ready": 0, PREVIEW_LABEL: 0, PREVIEW_ONLY_LABEL: 0,
                                 "Training": 0, "Failed": 0}
    replicas = [replica("a", "completed"), replica("b", "ready"), replica("c", "started"),
                replica("d", "error"), replica("e", "weird")]
    assert status_counts(r.state for r in replicas) == {
        "Ready": 2, PREVIEW_LABEL: 0, PREVIEW_ONLY_LABEL: 0, "Training": 2, "Failed": 1}


# --- phoenix-4.5: the preview stage -------------------------------------------------------------
def test_phoenix_45_rows_say_their_stage() -> None:
    replicas = [
        preview("p1", None, progress="100/100"),
        preview("p2", "in_progress", progress="100/100"),
        preview("p3", "completed", progress="100/100"),
        preview("p4", "errored", progress="100/100"),
        replica("p5", "started", model="phoenix-4.5", progress="40/100", age=timedelta(hours=1)),
        replica("p6", "completed", model="phoenix-4"),  # finetune_status null: plain Ready
    ]
    frame = replicas_frame(replicas, now=NOW)
    assert {rid: row(frame, rid)["status"] for rid in ids(frame)} == {
        "p1": PREVIEW_LABEL, "p2": PREVIEW_LABEL, "p3": "Ready", "p4": PREVIEW_ONLY_LABEL,
        "p5": "Training", "p6": "Ready"}
    # A preview's training is done (its progress string notwithstanding); tuning has no figure.
    assert [row(frame, rid)["progress"] for rid in ("p1", "p2", "p3", "p4", "p5")] == [
        100, 100, 100, 100, 40]
    for rid in ("p1", "p2"):
        assert (row(frame, rid)["elapsed"], row(frame, rid)["eta"], row(frame, rid)["error"]) == (
            "", "", "")
    assert row(frame, "p4")["error"] == TUNING_FAILED_TEXT
    assert "preview stays usable" in TUNING_FAILED_TEXT
    assert row(frame, "p5")["elapsed"] != ""


def test_a_preview_s_progress_is_100_even_when_tavus_says_less() -> None:
    frame = replicas_frame([preview("p1", progress="0/100"), preview("p2", progress=None)],
                           now=NOW)
    assert list(frame["progress"]) == [100, 100]


def test_the_status_filter_offers_and_applies_the_preview_labels() -> None:
    assert STATUS_FILTER_OPTIONS == ("Ready", PREVIEW_LABEL, PREVIEW_ONLY_LABEL, "Training",
                                     "Failed")
    frame = replicas_frame([replica("r1"), preview("p1", age=timedelta(hours=2)),
                            preview("p2", "errored", age=timedelta(hours=3)),
                            replica("t1", "started", model="phoenix-4.5",
                                    age=timedelta(hours=4))], now=NOW)
    assert ids(filter_frame(frame, statuses=[PREVIEW_LABEL])) == ["p1"]
    assert ids(filter_frame(frame, statuses=[PREVIEW_ONLY_LABEL])) == ["p2"]
    assert ids(filter_frame(frame, statuses=["Ready"])) == ["r1"]
    assert ids(filter_frame(frame, statuses=[PREVIEW_LABEL, "Training"])) == ["p1", "t1"]


def test_status_counts_count_previews() -> None:
    replicas = [preview("a"), preview("b", None), preview("c", "errored"),
                preview("d", "completed"), replica("e", "started", model="phoenix-4.5")]
    assert status_counts(r.state for r in replicas) == {
        "Ready": 1, PREVIEW_LABEL: 2, PREVIEW_ONLY_LABEL: 1, "Training": 1, "Failed": 0}


def test_usable_replicas_include_previews_and_the_picker_marks_them() -> None:
    replicas = [replica("r1"), preview("p1", name="Tuning"), preview("p2", "errored",
                name="Untuned"), preview("p3", "completed", name="Tuned"),
                replica("t1", "started"), replica("f1", "error")]
    assert [r.replica_id for r in usable_replicas(replicas)] == ["r1", "p1", "p2", "p3"]
    assert [r.replica_id for r in ready_replicas(replicas)] == ["r1", "p3"]
    labels = [picker_label(r) for r in usable_replicas(replicas)]
    assert labels == [
        "Replica r1 (r1)",
        "Tuning (p1) · preview, watermarked",
        "Untuned (p2) · preview only, watermarked (tuning failed)",
        "Tuned (p3)",
    ]


def test_ready_replicas_still_filters_by_the_mapping() -> None:
    replicas = [replica("a", "completed"), replica("b", "started"), replica("c", "ready")]
    assert [r.replica_id for r in ready_replicas(replicas)] == ["a", "c"]
    assert all(r.state is ReplicaStatus.READY for r in ready_replicas(replicas))
