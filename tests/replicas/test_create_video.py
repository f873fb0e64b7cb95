"""The video create path (lib/replicas/create.py) over real protocols: the clip in moto's S3,
the simulator downloading and judging it through the presigned URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from lib.config import S3Settings
from lib.replicas.create import (
    FormError,
    TrainingClip,
    VideoForm,
    create_replica_from_video,
    video_attempt_for,
    wait_for_ledger,
)
from lib.storage.ledger import Ledger, record_key
from lib.storage.s3 import ImageStore
from lib.tavus.client import ReplicaStatus, TavusClient, TavusError
from lib.tavus.simulator import TavusSimulator
from tests.video_media import Clip, clip_path

KEY = "create-video-key"
GOOD = Clip()  # 70 s 720p30, the statement spoken first, then quiet
SILENT = Clip(audio="silence")


def put_clip(settings: S3Settings, clip: Clip, name: str) -> str:
    store = ImageStore(settings)
    key = f"{settings.prefix}videos/2026/11/30/{name}.mp4"
    store.put_bytes(key, clip_path(clip).read_bytes(), "video/mp4")
    return key


def create(tavus: TavusClient, settings: S3Settings, video_key: str, *,
           consent_key: str | None = None, form: VideoForm | None = None,
           attempt=None, steps: list[str] | None = None):
    form = form or VideoForm(replica_name="Video Test", notes="from a clip",
                             consent_mode="separate" if consent_key else "in_clip")
    attempt = video_attempt_for(video_key, consent_key, attempt)
    return create_replica_from_video(
        tavus=tavus, store=ImageStore(settings), attempt=attempt,
        clip=TrainingClip(key=video_key, duration_seconds=70.0, width=1280, height=720,
                          score=91),
        form=form, ttl_hours=48, poster_jpeg=b"\xff\xd8poster", created_by="vi@example.com",
        on_step=(steps if steps is not None else []).append)


def test_a_clip_in_s3_trains_from_its_presigned_url_and_the_team_gets_a_video_record(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    video_key = put_clip(s3_settings, GOOD, "good")
    steps: list[str] = []
    attempt = create(tavus, s3_settings, video_key, steps=steps)
    assert steps == ["signing", "creating", "recording"]  # no upload: the browser did it
    url = attempt.training_url.url
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(48 * 3600)]

    sent = simulator.replica_request(attempt.replica_id)
    assert sent["train_video_url"].endswith(video_key.rsplit("/", 1)[1])
    assert not {"voice_name", "train_image_url", "consent_video_url"} & set(sent)

    assert simulator.wait_for_downloads()
    assert tavus.get_replica(attempt.replica_id).state is ReplicaStatus.TRAINING
    simulator.advance(61)
    assert tavus.get_replica(attempt.replica_id).state is ReplicaStatus.READY

    wait_for_ledger(attempt, timeout=10)
    assert attempt.ledger_error is None
    store = ImageStore(s3_settings)
    record = Ledger(store).read(record_key(attempt.poster_key))
    assert (record.kind, record.video_key, record.consent_mode, record.consent_key) == (
        "video", video_key, "in_clip", None)
    assert (record.duration_seconds, record.width, record.height, record.check_score) == (
        70.0, 1280, 720, 91)
    assert (record.created_by, record.notes, record.voice_name) == (
        "vi@example.com", "from a clip", "")
    assert store.read_object(attempt.poster_key) == b"\xff\xd8poster"  # the table's still


def test_a_separate_consent_clip_is_sent_as_consent_video_url(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    video_key = put_clip(s3_settings, SILENT, "silent")  # no statement in the clip itself
    consent_key = put_clip(s3_settings, GOOD.short(seconds=25, speech_seconds=25), "consent")
    attempt = create(tavus, s3_settings, video_key, consent_key=consent_key)
    sent = simulator.replica_request(attempt.replica_id)
    assert sent["consent_video_url"].endswith("consent.mp4")
    assert simulator.wait_for_downloads()
    assert tavus.get_replica(attempt.replica_id).state is ReplicaStatus.TRAINING
    wait_for_ledger(attempt, timeout=10)
    record = Ledger(ImageStore(s3_settings)).read(record_key(attempt.poster_key))
    assert (record.consent_mode, record.consent_key) == ("separate", consent_key)


def test_without_consent_the_simulator_fails_it_like_tavus(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    attempt = create(tavus, s3_settings, put_clip(s3_settings, SILENT, "no-consent"))
    assert simulator.wait_for_downloads()
    replica = tavus.get_replica(attempt.replica_id)
    assert replica.state is ReplicaStatus.FAILED
    assert "consent statement" in replica.error_message


def test_separate_consent_without_its_clip_is_refused_before_anything_is_sent(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    simulator.reset_requests()
    with pytest.raises(FormError, match="consent clip"):
        create(tavus, s3_settings, "k/clip.mp4",
               form=VideoForm(replica_name="X", consent_mode="separate"))
    assert simulator.requests == []


def test_a_failed_create_is_resumed_and_a_created_one_never_sent_again(
        tavus: TavusClient, simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    video_key = put_clip(s3_settings, GOOD, "retry")
    simulator.inject_fault("500", count=1, path_prefix="/v2/replicas")
    attempt = video_attempt_for(video_key, None, None)  # the page stores it first
    with pytest.raises(TavusError):
        create(tavus, s3_settings, video_key, attempt=attempt)
    assert attempt.replica_id is None
    resumed = create(tavus, s3_settings, video_key, attempt=attempt)
    assert resumed is attempt and attempt.replica_id
    wait_for_ledger(attempt, timeout=10)
    simulator.reset_requests()
    again = create(tavus, s3_settings, video_key, attempt=attempt)
    assert again.replica_id == attempt.replica_id
    assert simulator.requests == []  # a rerun or a double click sends nothing


def test_a_create_whose_answer_was_lost_finds_the_replica_instead_of_making_another(
        simulator: TavusSimulator, s3_settings: S3Settings) -> None:
    video_key = put_clip(s3_settings, GOOD, "lost-answer")
    form = VideoForm(replica_name="Lost Answer Video")
    attempt = video_attempt_for(video_key, None, None)
    simulator.inject_fault("slow", delay=1.0, path_prefix="/v2/replicas")  # > the 0.3 s below
    with TavusClient(simulator.base_url, KEY, timeout=0.3, sleep=lambda _: None) as impatient, \
            pytest.raises(TavusError):
        create(impatient, s3_settings, video_key, attempt=attempt, form=form)
    assert attempt.unanswered_create is not None and attempt.replica_id is None
    with TavusClient(simulator.base_url, KEY, sleep=lambda _: None) as tavus:
        deadline = 50
        while deadline and not [r for r in tavus.list_all_replicas()
                                if r.replica_name == "Lost Answer Video"]:
            simulator.wait_for_downloads(0.1)
            deadline -= 1
        create(tavus, s3_settings, video_key, attempt=attempt, form=form)
        named = [r for r in tavus.list_all_replicas() if r.replica_name == "Lost Answer Video"]
    assert [r.replica_id for r in named] == [attempt.replica_id]
