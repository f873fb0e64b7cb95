"""The create path (lib/create.py) over real protocols: moto's S3 server and the Tavus simulator."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from lib.config import S3Settings
from lib.create import (
    CreateAttempt,
    ReplicaForm,
    attempt_for,
    create_replica_from_photo,
    replica_name_for,
)
from lib.photo import PhotoError
from lib.simulator import TavusSimulator
from lib.storage import ImageStore
from lib.tavus import ReplicaStatus, TavusClient, TavusError
from tests.photos import astronaut_jpeg, astronaut_png, small_png

KEY = "create-test-key"
FORM = ReplicaForm(replica_name="Create Test", voice_name="anna")


@pytest.fixture(scope="module")
def simulator() -> Iterator[TavusSimulator]:
    sim = TavusSimulator(KEY, training_seconds=60, seed_demo_data=False).start()
    yield sim
    sim.stop()


@pytest.fixture
def tavus(simulator: TavusSimulator) -> Iterator[TavusClient]:
    simulator.clear_faults()
    with TavusClient(simulator.base_url, KEY, sleep=lambda _: None) as client:
        yield client


def objects(settings: S3Settings) -> list[str]:
    listing = ImageStore(settings)._s3.list_objects_v2(Bucket=settings.bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


def create(tavus: TavusClient, settings: S3Settings, attempt: CreateAttempt | None = None,
           photo: bytes | None = None, steps: list[str] | None = None) -> CreateAttempt:
    photo = astronaut_png() if photo is None else photo
    attempt = attempt_for(photo, attempt)
    return create_replica_from_photo(
        tavus=tavus, store=ImageStore(settings), attempt=attempt, photo=photo,
        filename="astro.png", form=FORM, ttl_hours=72,
        on_step=(steps if steps is not None else []).append)


def test_photo_goes_to_s3_and_tavus_trains_from_the_presigned_url(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    steps: list[str] = []
    attempt = create(tavus, s3_settings, steps=steps)
    assert steps == ["checking", "uploading", "signing", "creating"]
    assert objects(s3_settings) == [attempt.upload.key]
    url = attempt.training_url.url
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(72 * 3600)]

    assert simulator.wait_for_downloads()
    replica = tavus.get_replica(attempt.replica_id)
    assert replica.replica_name == "Create Test"
    assert replica.state is ReplicaStatus.TRAINING, replica.error_message
    simulator.advance(61)
    assert tavus.get_replica(attempt.replica_id).state is ReplicaStatus.READY


def test_jpeg_is_uploaded_as_jpeg(tavus: TavusClient, s3_settings: S3Settings) -> None:
    attempt = create(tavus, s3_settings, photo=astronaut_jpeg())
    assert attempt.upload.content_type == "image/jpeg"
    assert attempt.upload.key.endswith(".jpg")


def test_a_failed_create_keeps_the_upload_and_a_retry_reuses_it(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    simulator.inject_fault("500", count=1, path_prefix="/v2/replicas")
    attempt = attempt_for(astronaut_png(), None)  # the page stores this before running
    with pytest.raises(TavusError) as caught:
        create(tavus, s3_settings, attempt=attempt)
    assert caught.value.status_code == 500
    assert attempt.upload is not None and attempt.replica_id is None
    assert objects(s3_settings) == [attempt.upload.key]

    resumed = create(tavus, s3_settings, attempt=attempt)
    assert resumed is attempt and resumed.replica_id is not None
    assert objects(s3_settings) == [attempt.upload.key]  # no second upload


def test_an_attempt_cannot_be_used_for_another_photo(tavus: TavusClient,
                                                     s3_settings: S3Settings) -> None:
    attempt = attempt_for(astronaut_png(), None)
    with pytest.raises(ValueError, match="another photo"):
        create_replica_from_photo(tavus=tavus, store=ImageStore(s3_settings), attempt=attempt,
                                  photo=astronaut_jpeg(), filename="a.jpg", form=FORM,
                                  ttl_hours=72)


def test_a_created_attempt_is_not_created_again(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    attempt = create(tavus, s3_settings)
    simulator.reset_requests()
    again = create(tavus, s3_settings, attempt=attempt)
    assert again.replica_id == attempt.replica_id
    assert simulator.requests == []
    assert len(objects(s3_settings)) == 1


def test_a_different_photo_starts_a_new_attempt(tavus: TavusClient,
                                                s3_settings: S3Settings) -> None:
    first = create(tavus, s3_settings)
    second = create(tavus, s3_settings, attempt=first, photo=astronaut_jpeg())
    assert second.replica_id != first.replica_id
    assert len(objects(s3_settings)) == 2


def test_a_bad_photo_is_refused_before_anything_is_uploaded(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    simulator.reset_requests()
    for photo in (small_png(300), b"", b"not an image at all"):
        with pytest.raises(PhotoError):
            create(tavus, s3_settings, photo=photo)
    assert objects(s3_settings) == []
    assert simulator.requests == []


@pytest.mark.parametrize(("typed", "filename", "expected"), [
    ("  Jane   Doe ", "x.png", "Jane Doe"),
    ("", "jane_doe-headshot.final.png", "jane doe headshot.final"),
    ("", ".png", "Replica"),
    ("x" * 200, "a.png", "x" * 80),
])
def test_replica_name(typed: str, filename: str, expected: str) -> None:
    assert replica_name_for(typed, filename) == expected
