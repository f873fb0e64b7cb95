"""The create path (lib/replicas/create.py) over real protocols: moto's S3 and the simulator."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

import lib.storage.ledger
from lib.config import S3Settings
from lib.photos.intake import prepare_photo
from lib.replicas.create import (
    CreateAttempt,
    FormError,
    ReplicaForm,
    attempt_for,
    callback_url_from,
    create_replica_from_photo,
    replica_name_for,
    wait_for_ledger,
)
from lib.storage.ledger import Ledger, SharedLedger, record_key
from lib.storage.s3 import ImageStore
from lib.tavus.client import ReplicaStatus, TavusClient, TavusError
from lib.tavus.simulator import TavusSimulator
from tests.media import astronaut_jpeg, astronaut_png

KEY = "create-test-key"
FORM = ReplicaForm(replica_name="Create Test", voice_name="anna", notes="first take")


def photo_keys(settings: S3Settings) -> list[str]:
    return [k for k in ImageStore(settings).list_keys(settings.prefix) if not k.endswith(".json")]


def create(tavus: TavusClient, settings: S3Settings, attempt: CreateAttempt | None = None,
           photo: bytes | None = None, steps: list[str] | None = None,
           form: ReplicaForm = FORM) -> CreateAttempt:
    prepared = prepare_photo(astronaut_png() if photo is None else photo)
    attempt = attempt_for(prepared, attempt)
    return create_replica_from_photo(
        tavus=tavus, store=ImageStore(settings), attempt=attempt, photo=prepared,
        filename="astro.png", form=form, ttl_hours=72, created_by="ana@example.com",
        check_score=88, on_step=(steps if steps is not None else []).append)


def test_photo_goes_to_s3_tavus_trains_from_the_presigned_url_and_the_team_gets_a_record(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    steps: list[str] = []
    attempt = create(tavus, s3_settings, steps=steps)
    assert steps == ["uploading", "signing", "creating", "recording"]
    wait_for_ledger(attempt, timeout=10)
    assert photo_keys(s3_settings) == [attempt.upload.key]
    url = attempt.training_url.url
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(72 * 3600)]

    record = Ledger(ImageStore(s3_settings)).read(record_key(attempt.upload.key))
    assert attempt.ledger_key == record_key(attempt.upload.key)
    assert (record.replica_id, record.created_by, record.check_score, record.notes) == (
        attempt.replica_id, "ana@example.com", 88, "first take")
    assert (record.voice_name, record.model_name, record.auto_fix_training_image) == (
        "anna", "phoenix-4", True)

    assert simulator.wait_for_downloads()


def test_the_record_goes_through_a_shared_ledger_when_given_and_is_seen_at_once(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    shared = SharedLedger(store)
    assert shared.refresh() == {}  # fresh for a minute: only the write can bring the record
    prepared = prepare_photo(astronaut_png())
    attempt = create_replica_from_photo(
        tavus=tavus, store=store, attempt=attempt_for(prepared, None), photo=prepared,
        filename="astro.png", form=FORM, ttl_hours=72, ledger=shared)
    wait_for_ledger(attempt, timeout=10)
    assert shared.refresh()[attempt.replica_id].notes == "first take"
    assert shared.refreshes == 1
    assert simulator.wait_for_downloads()
    replica = tavus.get_replica(attempt.replica_id)
    assert replica.replica_name == "Create Test"
    assert replica.state is ReplicaStatus.TRAINING, replica.error_message
    simulator.advance(61)
    assert tavus.get_replica(attempt.replica_id).state is ReplicaStatus.READY


def test_every_form_option_reaches_tavus(tavus: TavusClient, simulator: TavusSimulator,
                                         s3_settings: S3Settings) -> None:
    form = replace(FORM, model_name="phoenix-3", auto_fix_training_image=False,
                   background_green_screen=True, voice_name="james",
                   callback_url="https://example.com/hook")
    simulator.reset_requests()
    attempt = create(tavus, s3_settings, form=form)
    replica = tavus.get_replica(attempt.replica_id)
    assert replica.model_name == "phoenix-3"
    posts = [r for r in simulator.requests if r.method == "POST"]
    assert len(posts) == 1


def test_jpeg_is_uploaded_as_jpeg(tavus: TavusClient, s3_settings: S3Settings) -> None:
    attempt = create(tavus, s3_settings, photo=astronaut_jpeg())
    assert attempt.upload.content_type == "image/jpeg"
    assert attempt.upload.key.endswith(".jpg")


def test_a_failed_create_keeps_the_upload_and_a_retry_reuses_it(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    simulator.inject_fault("500", count=1, path_prefix="/v2/replicas")
    attempt = attempt_for(prepare_photo(astronaut_png()), None)  # the page stores it first
    with pytest.raises(TavusError) as caught:
        create(tavus, s3_settings, attempt=attempt)
    assert caught.value.status_code == 500
    assert attempt.upload is not None and attempt.replica_id is None
    assert photo_keys(s3_settings) == [attempt.upload.key]

    resumed = create(tavus, s3_settings, attempt=attempt)
    assert resumed is attempt and resumed.replica_id is not None
    assert photo_keys(s3_settings) == [attempt.upload.key]  # no second upload


def test_a_created_attempt_is_not_created_again(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    attempt = create(tavus, s3_settings)
    simulator.reset_requests()
    again = create(tavus, s3_settings, attempt=attempt)
    assert again.replica_id == attempt.replica_id
    assert simulator.requests == []
    assert len(photo_keys(s3_settings)) == 1


def test_a_different_photo_starts_a_new_attempt(tavus: TavusClient,
                                                s3_settings: S3Settings) -> None:
    first = create(tavus, s3_settings)
    second = create(tavus, s3_settings, attempt=first, photo=astronaut_jpeg())
    assert second.replica_id != first.replica_id
    assert len(photo_keys(s3_settings)) == 2


def test_an_attempt_cannot_be_used_for_another_photo(tavus: TavusClient,
                                                     s3_settings: S3Settings) -> None:
    attempt = attempt_for(prepare_photo(astronaut_png()), None)
    with pytest.raises(ValueError, match="another photo"):
        create_replica_from_photo(tavus=tavus, store=ImageStore(s3_settings), attempt=attempt,
                                  photo=prepare_photo(astronaut_jpeg()), filename="a.jpg",
                                  form=FORM, ttl_hours=72)


def test_a_slow_photo_store_does_not_block_creation_it_is_reported_and_retried(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings,
        black_hole: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lib.storage.ledger, "WRITE_TIMEOUT_SECONDS", 0.5)
    prepared = prepare_photo(astronaut_png())
    attempt = attempt_for(prepared, None)
    # The photo went up while S3 was fine; then S3 stops answering.
    attempt.upload = ImageStore(s3_settings).upload_image(prepared.data, "a.png", "image/png")
    slow_store = ImageStore(replace(s3_settings, endpoint_url=black_hole))
    create_replica_from_photo(tavus=tavus, store=slow_store, attempt=attempt, photo=prepared,
                              filename="a.png", form=FORM, ttl_hours=72)
    assert attempt.replica_id is not None  # the replica exists, whatever the record does
    assert attempt.ledger_write is not None  # the record is still on its way
    wait_for_ledger(attempt, timeout=10)
    assert attempt.ledger_key is None and "Could not reach the photo store" in attempt.ledger_error

    simulator.reset_requests()
    create_replica_from_photo(tavus=tavus, store=ImageStore(s3_settings), attempt=attempt,
                              photo=prepared, filename="a.png", form=FORM, ttl_hours=72)
    wait_for_ledger(attempt, timeout=10)
    assert attempt.ledger_key == record_key(attempt.upload.key) and attempt.ledger_error is None
    assert simulator.requests == []  # the retry wrote the record only


@pytest.mark.parametrize(("typed", "filename", "expected"), [
    ("  Jane   Doe ", "x.png", "Jane Doe"),
    ("", "jane_doe-headshot.final.png", "jane doe headshot.final"),
    ("", ".png", "Replica"),
    ("x" * 200, "a.png", "x" * 80),
])
def test_replica_name(typed: str, filename: str, expected: str) -> None:
    assert replica_name_for(typed, filename) == expected


@pytest.mark.parametrize("text", ["http://example.com/hook", "example.com/hook", "https://",
                                  "not a url", "ftp://example.com/x", "https://exa mple.com/"])
def test_callback_url_must_be_https(text: str) -> None:
    with pytest.raises(FormError, match="https://"):
        callback_url_from(text)


def test_callback_url_blank_or_https() -> None:
    assert callback_url_from("  ") is None
    assert callback_url_from(" https://example.com/hook ") == "https://example.com/hook"
