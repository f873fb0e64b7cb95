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


def create_replica_from_photo(
    *,
    tavus: TavusClient,
    store: ImageStore,
    attempt: CreateAttempt | None,
    photo: bytes,
    filename: str,
    form: ReplicaForm,
    ttl_hours: int,
    on_step: Callable[[str], None] = lambda step: None,
) -> CreateAttempt:
    """Run the steps not yet done for this photo and return the updated attempt.

    Raises PhotoError, StorageError or TavusError; the attempt passed in keeps what succeeded, so
    calling again with it resumes instead of starting over.
    """
    fingerprint = photo_fingerprint(photo)
    if attempt is None or attempt.photo_sha256 != fingerprint:
        attempt = CreateAttempt(photo_sha256=fingerprint)
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
