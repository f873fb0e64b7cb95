"""Photo -> S3 -> Tavus -> team ledger: the create path, made safe to retry.

A `CreateAttempt` remembers what already happened (the upload, the replica, the ledger record) so
that a rerun, a double click or a retry after an error never uploads twice or creates a second
replica. The caller stores the attempt before running, so a failure half-way keeps what succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from lib.photos.intake import PreparedPhoto
from lib.storage.ledger import Ledger, LedgerRecord, clean_notes, now_iso
from lib.storage.s3 import ImageStore, StorageError, StoredImage, TrainingUrl
from lib.tavus.client import (
    DEFAULT_MODEL,
    CreatedReplica,
    TavusClient,
    TavusError,
    parse_time,
)

MAX_NAME_LENGTH = 80


class FormError(ValueError):
    """A form value Tavus would refuse; the text says which and how to fix it."""


@dataclass(frozen=True)
class ReplicaForm:
    replica_name: str
    voice_name: str
    model_name: str = DEFAULT_MODEL
    auto_fix_training_image: bool = True
    background_green_screen: bool = False
    callback_url: str | None = None
    notes: str = ""


@dataclass
class CreateAttempt:
    """What one photo has been through so far; kept in the session between reruns."""

    photo_sha256: str
    upload: StoredImage | None = None
    training_url: TrainingUrl | None = field(default=None, repr=False)
    replica_id: str | None = None
    form: ReplicaForm | None = None
    ledger_key: str | None = None
    ledger_error: str | None = None
    # The record is written in the background: a slow S3 never holds the create result up.
    ledger_write: Future[str] | None = field(default=None, repr=False, compare=False)
    # Set when a create was sent but no readable answer came back (timeout, dropped connection,
    # garbled 200): Tavus may have made the replica, so the next try looks before posting.
    unanswered_create: tuple[datetime, ReplicaForm] | None = None


def replica_name_for(name: str, filename: str) -> str:
    """The name typed, else one made from the file name; trimmed to Tavus-friendly length."""
    chosen = " ".join(name.split()) or " ".join(
        filename.rsplit(".", 1)[0].replace("_", " ").replace("-", " ").split())
    return (chosen or "Replica")[:MAX_NAME_LENGTH]


def callback_url_from(text: str) -> str | None:
    """Blank -> None; otherwise an https URL with a host, or FormError."""
    text = text.strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname or " " in text:
        raise FormError("The callback URL must be a full https:// address (for example "
                        "https://example.com/tavus-webhook), or left empty.")
    return text


# Tavus's clock and ours may differ a little; a replica made this long before we sent is not ours.
CLOCK_SKEW = timedelta(minutes=2)


def find_landed_replica(tavus: TavusClient, name: str, sent_at: datetime) -> str | None:
    """The newest user replica with this name created since a create was sent, if any."""
    candidates = []
    for replica in tavus.list_all_replicas(replica_type="user"):
        created = parse_time(replica.created_at)
        if replica.replica_name == name and created and created >= sent_at - CLOCK_SKEW:
            candidates.append((created, replica.replica_id))
    return max(candidates)[1] if candidates else None


def _create_once(tavus: TavusClient, attempt: CreateAttempt | VideoAttempt,
                 form: ReplicaForm | VideoForm, send: Callable[[], CreatedReplica]) -> None:
    """POST the create at most once per attempt: a create whose answer was lost (timeout,
    dropped connection, garbled 200) is looked for before anything is sent again."""
    if attempt.unanswered_create is not None:
        sent_at, sent_form = attempt.unanswered_create
        landed = find_landed_replica(tavus, sent_form.replica_name, sent_at)
        if landed is not None:
            attempt.replica_id, attempt.form = landed, sent_form
            attempt.unanswered_create = None
            return
    sent_at = datetime.now(UTC)
    try:
        created = send()
    except TavusError as error:
        if error.status_code in (None, 200):  # sent, but the answer is unknown
            attempt.unanswered_create = (sent_at, form)
        raise
    attempt.replica_id, attempt.form = created.replica_id, form
    attempt.unanswered_create = None


def attempt_for(photo: PreparedPhoto, previous: CreateAttempt | None) -> CreateAttempt:
    """The attempt to continue for this photo: the previous one if it was the same photo."""
    if previous is not None and previous.photo_sha256 == photo.sha256:
        return previous
    return CreateAttempt(photo_sha256=photo.sha256)


def create_replica_from_photo(
    *,
    tavus: TavusClient,
    store: ImageStore,
    attempt: CreateAttempt,
    photo: PreparedPhoto,
    filename: str,
    form: ReplicaForm,
    ttl_hours: int,
    created_by: str | None = None,
    check_score: int | None = None,
    on_step: Callable[[str], None] = lambda step: None,
    ledger: Ledger | None = None,
    framing_fixed: bool = False,
) -> CreateAttempt:
    """Run the steps not yet done for this photo, recording each in `attempt` as it succeeds.

    Raises StorageError or TavusError for the upload and the create; the caller keeps `attempt`,
    so calling again resumes. The ledger record is written in the background and never raises:
    `settle_ledger` moves its outcome onto the attempt (a failure lands in `ledger_error` and is
    retried on the next call). It goes through `ledger` when given (the server's shared one, so
    every session sees it at once), else through a plain `Ledger` on `store`.
    """
    if attempt.photo_sha256 != photo.sha256:
        raise ValueError("this attempt belongs to another photo; use attempt_for()")
    if attempt.replica_id is None:
        if attempt.upload is None:
            on_step("uploading")
            attempt.upload = store.upload_image(photo.data, filename, photo.content_type)
        on_step("signing")
        attempt.training_url = store.presign_get(attempt.upload.key, ttl_hours=ttl_hours)

        on_step("creating")
        _create_once(tavus, attempt, form, lambda: tavus.create_replica_from_image(
            train_image_url=attempt.training_url.url,
            voice_name=form.voice_name,
            replica_name=form.replica_name,
            auto_fix_training_image=form.auto_fix_training_image,
            callback_url=form.callback_url,
            model_name=form.model_name,
            background_green_screen=form.background_green_screen or None,
        ))

    settle_ledger(attempt)
    if attempt.ledger_key is None and attempt.ledger_write is None:
        on_step("recording")
        used = attempt.form or form  # what the replica was created with, even on a later retry
        record = LedgerRecord(
            replica_id=attempt.replica_id,
            replica_name=used.replica_name,
            photo_key=attempt.upload.key,
            voice_name=used.voice_name,
            model_name=used.model_name,
            auto_fix_training_image=used.auto_fix_training_image,
            background_green_screen=used.background_green_screen,
            created_at=now_iso(),
            created_by=created_by,
            check_score=check_score,
            notes=clean_notes(used.notes),
            framing_fixed=framing_fixed,
        )
        attempt.ledger_error = None
        attempt.ledger_write = _ledger_writer.submit((ledger or Ledger(store)).write, record)
    return attempt


# --- From a video ---------------------------------------------------------------------------------
CONSENT_MODES = ("in_clip", "separate")


@dataclass(frozen=True)
class VideoForm:
    replica_name: str
    model_name: str = DEFAULT_MODEL
    consent_mode: str = "in_clip"  # the statement opens the clip, or comes as its own clip
    background_green_screen: bool = False
    callback_url: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class TrainingClip:
    """A checked clip already in the bucket (the converted one, when it was converted)."""

    key: str
    duration_seconds: float
    width: int
    height: int
    score: int | None = None


@dataclass
class VideoAttempt:
    """What one clip (and consent clip) has been through; kept in the session between reruns.

    The clips are already in S3 (the browser put them there): there is no upload step, so a
    retry can only repeat signing, the create (guarded like the photo path) and the record."""

    video_key: str
    consent_key: str | None = None
    poster_key: str | None = None
    training_url: TrainingUrl | None = field(default=None, repr=False)
    consent_url: TrainingUrl | None = field(default=None, repr=False)
    replica_id: str | None = None
    form: VideoForm | None = None
    ledger_key: str | None = None
    ledger_error: str | None = None
    ledger_write: Future[str] | None = field(default=None, repr=False, compare=False)
    unanswered_create: tuple[datetime, VideoForm] | None = None


def video_attempt_for(video_key: str, consent_key: str | None,
                      previous: VideoAttempt | None) -> VideoAttempt:
    """The attempt to continue for these clips: the previous one if it was the same clips."""
    if (previous is not None and previous.video_key == video_key
            and previous.consent_key == consent_key):
        return previous
    return VideoAttempt(video_key=video_key, consent_key=consent_key)


def create_replica_from_video(
    *,
    tavus: TavusClient,
    store: ImageStore,
    attempt: VideoAttempt,
    clip: TrainingClip,
    form: VideoForm,
    ttl_hours: int,
    poster_jpeg: bytes | None = None,
    created_by: str | None = None,
    on_step: Callable[[str], None] = lambda step: None,
    ledger: Ledger | None = None,
) -> VideoAttempt:
    """Sign the clips, create the replica once, and record it for the team (in the background).

    Sends `train_video_url` (and `consent_video_url` for a separate consent clip) as presigned
    GETs valid `ttl_hours`; never a voice (Tavus clones it from the clip) nor an image. Raises
    StorageError or TavusError; the caller keeps `attempt`, so calling again resumes without a
    second replica."""
    if attempt.video_key != clip.key:
        raise ValueError("this attempt belongs to another clip; use video_attempt_for()")
    if form.consent_mode == "separate" and not attempt.consent_key:
        raise FormError("Add the consent clip, or choose 'at the start of the clip'.")
    if attempt.replica_id is None:
        on_step("signing")
        attempt.training_url = store.presign_get(attempt.video_key, ttl_hours=ttl_hours)
        consent_url = None
        if form.consent_mode == "separate":
            attempt.consent_url = store.presign_get(attempt.consent_key, ttl_hours=ttl_hours)
            consent_url = attempt.consent_url.url

        on_step("creating")
        _create_once(tavus, attempt, form, lambda: tavus.create_replica_from_video(
            train_video_url=attempt.training_url.url,
            consent_video_url=consent_url,
            replica_name=form.replica_name,
            callback_url=form.callback_url,
            model_name=form.model_name,
            background_green_screen=form.background_green_screen,
        ))

    settle_ledger(attempt)
    if attempt.ledger_key is None and attempt.ledger_write is None:
        on_step("recording")
        used = attempt.form or form
        if attempt.poster_key is None:
            # A still from the clip stands in for the photo in the table; the record's key
            # follows it, beside the clip (same stem).
            attempt.poster_key = attempt.video_key.rsplit(".", 1)[0] + ".jpg"
        record = LedgerRecord(
            replica_id=attempt.replica_id,
            replica_name=used.replica_name,
            photo_key=attempt.poster_key,
            voice_name="",
            model_name=used.model_name,
            auto_fix_training_image=False,
            background_green_screen=used.background_green_screen,
            created_at=now_iso(),
            created_by=created_by,
            check_score=clip.score,
            notes=clean_notes(used.notes),
            kind="video",
            video_key=attempt.video_key,
            consent_key=attempt.consent_key if used.consent_mode == "separate" else None,
            consent_mode=used.consent_mode,
            duration_seconds=round(clip.duration_seconds, 1),
            width=clip.width,
            height=clip.height,
        )
        attempt.ledger_error = None
        attempt.ledger_write = _ledger_writer.submit(
            _write_video_record, store, ledger or Ledger(store), record, poster_jpeg)
    return attempt


def _write_video_record(store: ImageStore, ledger: Ledger, record: LedgerRecord,
                        poster_jpeg: bytes | None) -> str:
    if poster_jpeg:
        store.put_bytes(record.photo_key, poster_jpeg, "image/jpeg")
    return ledger.write(record)


# One long-lived worker: records are small and few, and a thread per create would be waste.
_ledger_writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ledger")


def settle_ledger(attempt: CreateAttempt | VideoAttempt) -> None:
    """Move a finished background write's outcome onto the attempt (key, or the error text)."""
    future = attempt.ledger_write
    if future is None or not future.done():
        return
    attempt.ledger_write = None
    try:
        attempt.ledger_key = future.result()
    except StorageError as error:
        attempt.ledger_error = error.message


def wait_for_ledger(attempt: CreateAttempt | VideoAttempt, timeout: float | None = None) -> None:
    """Block until the record is written or failed (tests, and callers that must know)."""
    if attempt.ledger_write is not None:
        wait([attempt.ledger_write], timeout=timeout)
    settle_ledger(attempt)
