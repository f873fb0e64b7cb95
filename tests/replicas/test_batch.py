"""Several photos at once (lib/replicas/batch.py) over moto's S3 and the simulator."""

from __future__ import annotations

import threading

import pytest
from PIL import ImageEnhance, ImageOps

from lib.config import S3Settings
from lib.photos.analysis import analyse_photo
from lib.replicas.batch import BatchRow, check_all, create_all, replace_photo, summary
from lib.replicas.create import ReplicaForm, wait_for_ledger
from lib.storage.ledger import Ledger
from lib.storage.s3 import ImageStore
from lib.tavus.client import TavusClient
from lib.tavus.simulator import TavusSimulator
from tests.media import astronaut, cat, encode, small_png

KEY = "batch-test-key"


def batch_of_six() -> list[tuple[str, bytes]]:
    """4 good astronaut variants, a cat (no face) and a photo too small."""
    face = astronaut()
    return [
        ("ada_lovelace.png", encode(face)),
        ("grace-hopper.jpg", encode(face, "JPEG", quality=90)),
        ("katherine johnson.png", encode(ImageOps.mirror(face))),
        ("mae_jemison.png", encode(ImageEnhance.Brightness(face).enhance(1.1))),
        ("chelsea.png", encode(cat().resize((768, 512)))),
        ("tiny.png", small_png()),
    ]


def form_for(row: BatchRow) -> ReplicaForm:
    return ReplicaForm(replica_name=row.name, voice_name=row.voice_name or "anna")


def create(rows: list[BatchRow], tavus: TavusClient, settings: S3Settings) -> list[BatchRow]:
    return create_all(rows, tavus=tavus, store=ImageStore(settings), form_for=form_for,
                      ttl_hours=72, created_by="ana@example.com")


def creates(simulator: TavusSimulator) -> int:
    return sum(1 for r in simulator.requests if r.method == "POST" and r.path == "/v2/replicas")


def test_check_all_marks_ready_and_blocked_rows_with_their_reason() -> None:
    rows = check_all(batch_of_six(), analyse_photo, max_workers=3)
    assert [r.filename for r in rows] == [f for f, _ in batch_of_six()]
    assert [r.status for r in rows] == ["ready"] * 4 + ["blocked"] * 2
    assert rows[0].name == "ada lovelace" and rows[2].name == "katherine johnson"
    assert rows[4].reason == "No face found."
    assert "below Tavus's 512x512 minimum" in rows[5].reason
    assert rows[0].reason == "Looks good." or rows[0].analysis.report.warned
    assert len({r.fingerprint for r in rows}) == 6


def test_check_all_reports_an_unreadable_file_as_blocked() -> None:
    (row,) = check_all([("notes.png", b"not an image")], analyse_photo)
    assert row.status == "blocked" and row.error and row.replica_id is None


def test_a_fixed_photo_replaces_a_blocked_row_keeping_its_name_and_voice() -> None:
    (row,) = check_all([("tiny.png", small_png())], analyse_photo)
    row.name, row.voice_name = "Tiny Tim", "james"
    replace_photo(row, analyse_photo(encode(astronaut()), "tiny.png"))
    assert (row.status, row.error, row.name, row.voice_name) == ("ready", None, "Tiny Tim",
                                                                 "james")


def test_a_batch_of_six_creates_exactly_the_four_ready_ones_once_even_on_a_double_click(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    rows = check_all(batch_of_six(), analyse_photo)
    barrier = threading.Barrier(2)
    ran: list[list[BatchRow]] = []

    def click() -> None:
        barrier.wait()
        ran.append(create(rows, tavus, s3_settings))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join(30)
    # The second click found every ready row taken (in flight or done): nothing sent twice.
    assert sorted(len(r) for r in ran) == [0, 4]
    assert creates(simulator) == 4
    assert [r.status for r in rows] == ["created"] * 4 + ["blocked"] * 2
    ids = {r.replica_id for r in rows[:4]}
    assert len(ids) == 4 and None not in ids
    names = {tavus.get_replica(rid).replica_name for rid in ids}
    assert names == {"ada lovelace", "grace hopper", "katherine johnson", "mae jemison"}

    # A rerun of the page (the same rows) changes nothing.
    assert create(rows, tavus, s3_settings) == []
    assert creates(simulator) == 4
    for row in rows[:4]:
        wait_for_ledger(row.attempt, timeout=10)
    records = Ledger(ImageStore(s3_settings)).read_all()
    assert {r.replica_id for r in records.values()} == ids
    assert {r.created_by for r in records.values()} == {"ana@example.com"}
    photos = [k for k in ImageStore(s3_settings).list_keys(s3_settings.prefix)
              if not k.endswith(".json")]
    assert len(photos) == 4  # one upload per created row


def test_unchosen_rows_are_left_out(tavus: TavusClient, simulator: TavusSimulator,
                                    s3_settings: S3Settings) -> None:
    rows = check_all(batch_of_six()[:2], analyse_photo)
    rows[1].chosen = False
    rows[0].voice_name = "james"
    assert [r.filename for r in create(rows, tavus, s3_settings)] == ["ada_lovelace.png"]
    assert [r.status for r in rows] == ["created", "ready"]
    assert simulator.replica_request(rows[0].replica_id)["voice_name"] == "james"


def test_a_tavus_500_on_one_row_leaves_the_others_created_and_that_row_retryable(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    rows = check_all(batch_of_six(), analyse_photo)
    simulator.inject_fault("500", count=1, path_prefix="/v2/replicas")
    ran = create(rows, tavus, s3_settings)
    assert ran == rows[:4]  # the four ready rows were claimed, in order
    assert summary(rows) == {"created": 3, "failed": 1, "blocked": 2}
    (failed,) = [r for r in rows if r.status == "failed"]
    assert failed.error and failed.replica_id is None and failed.attempt.upload is not None
    assert failed.action.state == "failed" and all(r.action.ok for r in ran if r is not failed)
    assert creates(simulator) == 4  # 3 created + the one answered 500

    simulator.reset_requests()
    retried = create(rows, tavus, s3_settings)
    assert retried == [failed]
    assert failed.status == "created" and failed.error is None and failed.replica_id
    assert creates(simulator) == 1
    assert summary(rows) == {"created": 4, "blocked": 2}
    photos = [k for k in ImageStore(s3_settings).list_keys(s3_settings.prefix)
              if not k.endswith(".json")]
    assert len(photos) == 4  # the retry reused its upload


def test_a_row_left_creating_with_no_worker_is_retryable_and_then_created_once(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    from lib.actions.board import ActionBoard
    from lib.replicas.batch import INTERRUPTED, recover_interrupted, start_all

    rows = check_all(batch_of_six()[:3], analyse_photo)
    # Row 0: claimed by a run that was cut before any worker got it (the bug this prevents).
    rows[0].status = "creating"
    # Row 1: offered to a board that takes nothing any more (a server going away).
    dead = ActionBoard(max_workers=1)
    dead.close()
    with pytest.raises(RuntimeError):  # a closed pool takes nothing: the claim is not kept
        start_all(rows[1:2], board=dead, key_for=lambda r: "x", tavus=tavus,
                  store=ImageStore(s3_settings), form_for=form_for, ttl_hours=72)
    assert rows[1].status == "ready" and rows[1].action is None  # neither claimed nor lost
    assert recover_interrupted(rows) == [rows[0]]
    assert [r.status for r in rows] == ["failed", "ready", "ready"]
    assert rows[0].error == INTERRUPTED and "press Create all again" in rows[0].error

    created = create(rows, tavus, s3_settings)
    assert created == rows
    assert [r.status for r in rows] == ["created"] * 3 and creates(simulator) == 3
    assert create(rows, tavus, s3_settings) == [] and creates(simulator) == 3
