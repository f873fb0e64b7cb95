"""The Create pages' actions as work for the server's action board (lib/actions/board.py).

Each function takes everything the action needs, read by the page before its button, and returns
the work the board runs in its own thread. Nothing here reads the session: the work writes what
the page shows into plain objects the page keeps (an attempt in `slot`), and reports its step on
the action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lib.actions.board import Action
from lib.replicas.create import (
    CreateAttempt,
    ReplicaForm,
    TrainingClip,
    VideoAttempt,
    VideoForm,
    attempt_for,
    create_replica_from_photo,
    create_replica_from_video,
    video_attempt_for,
)
from lib.storage.ledger import Ledger
from lib.storage.s3 import ImageStore
from lib.tavus.client import ImageValidation, TavusClient

if TYPE_CHECKING:  # annotations only: importing analysis loads OpenCV
    from lib.photos.analysis import PhotoAnalysis


def check_with_tavus(tavus: TavusClient, analysis: PhotoAnalysis,
                     model: str) -> Callable[[Action], ImageValidation]:
    """Tavus's own image check of the photo that would be sent (prepared in the worker)."""

    def work(action: Action) -> ImageValidation:
        action.report(step="preparing")
        prepared = analysis.prepare()
        action.report(step="checking")
        return tavus.validate_image(prepared.data, prepared.content_type, model=model)

    return work


def create_from_photo(*, tavus: TavusClient, store: ImageStore, analysis: PhotoAnalysis,
                      filename: str, form: ReplicaForm, framing_fixed: bool, ttl_hours: int,
                      created_by: str | None, ledger: Ledger | None,
                      slot: dict[str, CreateAttempt]) -> Callable[[Action], CreateAttempt]:
    """Photo -> S3 -> Tavus -> team record, resumable: the attempt lives in `slot["attempt"]`
    from its first step, so a retry (after a failure or an interruption) continues it and never
    uploads twice nor makes a second replica."""

    def work(action: Action) -> CreateAttempt:
        action.report(step="preparing")
        photo = analysis.prepare()  # the full-size, metadata-free photo, made once
        attempt = attempt_for(photo, slot.get("attempt"))
        slot["attempt"] = attempt  # before running: a failure half-way keeps what succeeded
        create_replica_from_photo(
            tavus=tavus, store=store, attempt=attempt, photo=photo, form=form,
            filename=filename, framing_fixed=framing_fixed, ttl_hours=ttl_hours,
            created_by=created_by,
            check_score=analysis.report.score if analysis.report else None,
            on_step=lambda step: action.report(step=step), ledger=ledger)
        return attempt

    return work


def create_from_video(*, tavus: TavusClient, store: ImageStore, clip: TrainingClip,
                      consent_key: str | None, form: VideoForm, ttl_hours: int,
                      poster: Callable[[], bytes | None], created_by: str | None,
                      ledger: Ledger | None,
                      slot: dict[str, VideoAttempt]) -> Callable[[Action], VideoAttempt]:
    """Sign the clips, create the replica once, record it (resumable like the photo path)."""

    def work(action: Action) -> VideoAttempt:
        attempt = video_attempt_for(clip.key, consent_key, slot.get("attempt"))
        slot["attempt"] = attempt
        poster_jpeg = None
        if attempt.replica_id is None or attempt.ledger_key is None:
            action.report(step="poster")
            poster_jpeg = poster()
        create_replica_from_video(
            tavus=tavus, store=store, attempt=attempt, clip=clip, form=form,
            ttl_hours=ttl_hours, poster_jpeg=poster_jpeg, created_by=created_by,
            on_step=lambda step: action.report(step=step), ledger=ledger)
        return attempt

    return work
