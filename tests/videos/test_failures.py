"""lib.videos.failures: Tavus failure texts -> documented types -> one-line fixes."""

from __future__ import annotations

import pytest

from lib.videos.failures import ERROR_TYPES, FIXES, error_type_for, fix_for

P = "There was an issue processing your training file: "

# Realistic wordings (Tavus's exact texts are not documented): every type at least once.
VARIANTS = [
    (P + "The download link is invalid or has expired.", "download_link"),
    ("Failed to download the training video: HTTP 403 Forbidden", "download_link"),
    (P + "The presigned URL expired before the file could be fetched.", "download_link"),
    (P + "The file size exceeds the 750MB limit.", "file_size"),
    ("Video file too large (812 MB). Maximum is 750 MB.", "file_size"),
    (P + "The video must be in .mp4 format.", "video_format"),
    (P + "Unsupported container: .mov", "video_format"),
    (P + "The video must be encoded with H.264.", "video_codec"),
    ("Unsupported codec hevc: please re-encode the video.", "video_codec"),
    (P + "The audio track must be AAC.", "video_codec"),
    (P + "The video must be an .mp4 with the H.264 codec.", "video_codec_and_format"),
    ("Invalid video format and codec: use MP4 with H264.", "video_codec_and_format"),
    (P + "The video must be at least 1 minute long.", "video_duration"),
    ("Training video duration too short (42s).", "video_duration"),
    (P + "The video frame rate must be at least 25 fps.", "video_fps"),
    ("Frame rate of 24 frames per second is below the minimum.", "video_fps"),
    (P + "The consent phrase did not match the required statement.", "consent_phrase_mismatch"),
    ("Consent statement not detected at the beginning of the video.",
     "consent_phrase_mismatch"),
    (P + "Face obstruction detected.", "face_or_obstruction_detected"),
    ("No face detected in the training video.", "face_or_obstruction_detected"),
    (P + "A lighting change was detected during the recording.", "lighting_change_detected"),
    (P + "Background noise detected in the audio.", "background_noise_detected"),
    (P + "The video appears to have been edited (cuts detected).", "video_editing_detected"),
    ("This video violates our community guidelines.", "community_guidelines_violation"),
    (P + "Excessive movement detected.", "excessive_movement_detected"),
    (P + "Error during video processing.", "video_processing"),
    (P + "We could not process the audio.", "audio_processing"),
    ("Hands obstructing face detected in several frames.", "hands_obstructing_face"),
    ("A second person was detected in the frame.", "second_person_detected"),
    ("Improper distance: the face is too small in the frame.", "improper_distance"),
    ("Inconsistent distance from the camera throughout the video.", "inconsistent_distance"),
    ("The face is turned away from the camera.", "face_turned_away"),
    ("Improper camera angle: place the camera at eye level.", "improper_camera_angle"),
    ("Poor lighting: the face is too dark.", "poor_lighting"),
    ("Teeth not visible while speaking.", "teeth_not_visible"),
    ("A quality issue was detected in the trained replica.", "quality_issue_detected"),
    ("Other quality issue.", "other_quality_issue"),
    # a message that spells the type out is taken at its word
    ("error: video_fps", "video_fps"),
    ("Training failed (second_person_detected)", "second_person_detected"),
]


@pytest.mark.parametrize("message,expected", VARIANTS)
def test_realistic_messages_map_to_their_type(message: str, expected: str) -> None:
    assert error_type_for(message) == expected


def test_every_documented_type_is_covered_and_has_a_fix() -> None:
    assert {t for _, t in VARIANTS} == set(ERROR_TYPES)
    assert len(ERROR_TYPES) == 26
    for error_type in ERROR_TYPES:
        fix = fix_for(error_type)
        assert fix == FIXES[error_type] and "\n" not in fix and len(fix) < 120


@pytest.mark.parametrize("message", [None, "", "   ", P, "Something odd happened.",
                                     "HeadNotFullyInFrameError: whole head must be visible"])
def test_unknown_texts_have_no_type(message: str | None) -> None:
    assert error_type_for(message) is None


def test_an_unknown_type_gets_a_generic_fix() -> None:
    assert "requirements" in fix_for(None)
    assert fix_for("nonsense") == fix_for(None)
