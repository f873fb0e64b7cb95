"""A photo as the Create page needs it: prepared for upload, checked, and drawn with an overlay.

Imports OpenCV (through lib.photos.checks), so only the Create page and tests import this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.photos.checks import PhotoReport, check_photo
from lib.photos.intake import PhotoError, PreparedPhoto, prepare_photo
from lib.photos.overlay import draw_overlay


@dataclass(frozen=True)
class PhotoAnalysis:
    prepared: PreparedPhoto | None = None
    report: PhotoReport | None = None
    overlay: bytes | None = None
    error: str | None = None  # why the photo cannot be used at all

    @property
    def fingerprint(self) -> str | None:
        return self.prepared.sha256 if self.prepared else None


def analyse_photo(data: bytes, filename: str | None = None) -> PhotoAnalysis:
    try:
        prepared = prepare_photo(data, filename)
    except PhotoError as error:
        return PhotoAnalysis(error=str(error))
    report = check_photo(prepared.data)
    return PhotoAnalysis(prepared=prepared, report=report,
                         overlay=draw_overlay(prepared.data, report))
