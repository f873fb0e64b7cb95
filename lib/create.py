"""Photo -> S3 -> Tavus: the create path, made safe to retry.

A `CreateAttempt` remembers what already happened (the upload, the replica) so that a rerun, a
double click or a retry after an error never uploads twice or creates a second replica.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from lib.photo import PhotoInfo, inspect_photo
from lib.storage import ImageStore, StoredImage, TrainingUrl
from lib.tavus import DEFAULT_MODEL, TavusClient

MAX_NAME_LENGTH = 80


@dataclass(frozen=True)
class ReplicaForm:
    replica_name: str
    voice_name: str
    model_name: str = DEFAULT_MODEL
    auto_fix_training_image: bool = True


@dataclass
class CreateAttempt:
    """What one photo has been through so far; kept in the session between reruns."""

    photo_sha256: str
    upload: StoredImage | None = None
    training_url: TrainingUrl | None = field(default=None, repr=False)
    replica_id: str | None = None
    form: ReplicaForm | None = None


def replica_name_for(name: str, filename: str) -> str:
    """The name typed, else one made from the file name; trimmed to Tavus-friendly length."""
    chosen = " ".join(name.split()) or " ".join(
        filename.rsplit(".", 1)[0].replace("_", " ").replace("-", " ").split())
    return (chosen or "Replica")[:MAX_NAME_LENGTH]


def photo_fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attempt_for(photo: bytes, previous: CreateAttempt | None) -> CreateAttempt:
    """The attempt to continue for this photo: the previous one if it was the same photo."""
    fingerprint = photo_fingerprint(photo)
    if previous is not None and previous.photo_sha256 == fingerprint:
        return previous
    return CreateAttempt(photo_sha256=fingerprint)


def create_replica_from_photo(
    *,
    tavus: TavusClient,
    store: ImageStore,
    attempt: CreateAttempt,
    photo: bytes,
    filename: str,
    form: ReplicaForm,
    ttl_hours: int,
    on_step: Callable[[str], None] = lambda step: None,
) -> CreateAttempt:
    """Run the steps not yet done for this photo, recording each in `attempt` as it succeeds.

    Raises PhotoError, StorageError or TavusError; the caller keeps `attempt`, so calling again
    with it resumes (no second upload) instead of starting over.
    """
    if attempt.photo_sha256 != photo_fingerprint(photo):
        raise ValueError("this attempt belongs to another photo; use attempt_for()")
    if attempt.replica_id is not None:
        return attempt  # already created: a second click must not make a second replica

    on_step("checking")
    info: PhotoInfo = inspect_photo(photo)

    if attempt.upload is None:
        on_step("uploading")
        attempt.upload = store.upload_image(photo, filename, info.content_type)
    on_step("signing")
    attempt.training_url = store.presign_get(attempt.upload.key, ttl_hours=ttl_hours)

    on_step("creating")
    created = tavus.create_replica_from_image(
        train_image_url=attempt.training_url.url,
        voice_name=form.voice_name,
        replica_name=form.replica_name,
        auto_fix_training_image=form.auto_fix_training_image,
        model_name=form.model_name,
    )
    attempt.replica_id = created.replica_id
    attempt.form = form
    return attempt
