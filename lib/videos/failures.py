"""Tavus training failures: from an `error_message` text to a documented type and its fix.

Tavus reports a failed training as `status: error` with an `error_message` text only (no code
field; tavus-api.md, "Training from a video"). The documented types below name what went wrong;
the text is matched by keywords because its exact wording is not documented and may change.
Plain Python: no Streamlit.
"""

from __future__ import annotations

import re

__all__ = ["ERROR_TYPES", "FIXES", "error_type_for", "fix_for"]

# One line per documented type: what to do about it, in the user's terms.
FIXES: dict[str, str] = {
    # file checks
    "download_link": "Use a public or presigned link that stays downloadable for at least 24 "
    "hours.",
    "file_size": "Keep the file under 750 MB: trim it to about 2 minutes or re-export it smaller.",
    "video_format": "Upload an .mp4 file (export or convert the recording to MP4).",
    "video_codec": "Encode the video as H.264 with AAC audio (most editors call it 'MP4 H.264').",
    "video_codec_and_format": "Convert the recording to an .mp4 file with H.264 video and AAC "
    "audio.",
    "video_duration": "Record at least 1 minute (phoenix-3: 2 minutes); 1.5–2 minutes is "
    "comfortable.",
    "video_fps": "Record at 25 frames per second or more (30 fps is safest).",
    # content checks
    "consent_phrase_mismatch": "Open the clip with the consent statement, word for word with "
    "your full name, or send a separate consent video.",
    "face_or_obstruction_detected": "Keep your whole face visible and uncovered, centred in the "
    "frame, for the whole clip.",
    "lighting_change_detected": "Record under steady light: no lamps switched, no passing sun or "
    "auto-exposure swings.",
    "background_noise_detected": "Record in a quiet room with the device's built-in microphone "
    "and noise suppression off.",
    "video_editing_detected": "Upload one continuous, unedited take: no cuts, filters or overlays.",
    "community_guidelines_violation": "Record content that follows Tavus's community guidelines.",
    "excessive_movement_detected": "Sit still with the camera on a stand: little head movement "
    "while listening.",
    "video_processing": "Tavus could not process the video: re-export it as a plain MP4 and try "
    "again.",
    "audio_processing": "Tavus could not process the audio: re-export with an AAC track and "
    "clear speech.",
    # quality checks after training
    "hands_obstructing_face": "Keep your hands away from your face throughout the recording.",
    "second_person_detected": "Record alone: nobody else in the frame, not even in the "
    "background.",
    "improper_distance": "Sit so that your face fills at least 25 % of the frame, waist-up.",
    "inconsistent_distance": "Keep the same distance from the camera for the whole clip.",
    "face_turned_away": "Face the camera straight on for the whole recording.",
    "improper_camera_angle": "Put the camera at eye level, straight in front of you.",
    "poor_lighting": "Light your face evenly from the front; avoid backlight and deep shadows.",
    "teeth_not_visible": "While speaking, articulate clearly so that your teeth show.",
    "quality_issue_detected": "Record again following the recording guide: steady camera, even "
    "light, quiet room.",
    "other_quality_issue": "Record again following the recording guide; contact Tavus support if "
    "it keeps failing.",
}
ERROR_TYPES: tuple[str, ...] = tuple(FIXES)

# "There was an issue processing your training file: …" says nothing about the cause, and its
# "processing" would otherwise look like a video_processing failure: only the rest is matched.
_PREFIX = re.compile(r"^\s*there was an (?:issue|error|problem) (?:while )?processing your "
                     r"[\w ]{1,40}?(?::|\.|$)\s*")
_TYPE_NAME = re.compile(r"\b(" + "|".join(ERROR_TYPES) + r")\b")

# (type, any of these words) in order: specific before general, because one text can carry
# several words (a codec message names the format it wants; "face turned away" names a face).
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("file_size", ("larger than", "too large", "file size", "too big", "exceeds")),
    ("download_link", ("download", "could not be accessed", "presigned", "url expired",
                       "access denied", "not accessible", "http 4", "http 5")),
    ("consent_phrase_mismatch", ("consent",)),
    ("video_fps", ("fps", "frame rate", "frames per second", "framerate")),
    ("video_duration", ("long", "duration", "too short", "minute", "seconds of")),
    ("video_codec_and_format", ()),  # both kinds of word: decided in error_type_for
    ("video_codec", ("codec", "h.264", "h264", "hevc", "h.265", "aac", "audio track",
                     "no audio", "vp9", "encoded")),
    ("video_format", ("mp4", "format", "not a video", "file type", "container", ".mov",
                      "webm", "could not be read")),
    ("hands_obstructing_face", ("hands", "hand over", "hand in front", "hand covering")),
    ("second_person_detected", ("second person", "another person", "more than one person",
                                "multiple people", "multiple faces", "two people")),
    ("face_turned_away", ("turned away", "looking away", "face turned", "not facing",
                          "profile view")),
    ("improper_camera_angle", ("camera angle", "eye level", "angle")),
    ("inconsistent_distance", ("inconsistent distance", "distance changes",
                               "distance varies", "distance from the camera changes",
                               "moved closer", "moved away")),
    ("improper_distance", ("distance", "too close", "too far", "too small in the frame")),
    ("teeth_not_visible", ("teeth",)),
    ("lighting_change_detected", ("lighting change", "light change", "lighting changed",
                                  "lighting changes", "changing light", "lighting varies")),
    ("poor_lighting", ("lighting", "too dark", "underexposed", "overexposed", "poorly lit",
                       "backlit")),
    ("background_noise_detected", ("noise", "noisy")),
    ("video_editing_detected", ("edited", "editing", "cuts", "spliced", "unedited")),
    ("community_guidelines_violation", ("community guidelines", "guidelines",
                                        "inappropriate")),
    ("excessive_movement_detected", ("movement", "moving", "motion", "moves")),
    ("face_or_obstruction_detected", ("face", "obstruct", "covered")),
    ("audio_processing", ("audio",)),
    ("video_processing", ("processing", "process the video", "could not process")),
    ("other_quality_issue", ("other quality",)),
    ("quality_issue_detected", ("quality",)),
)
_FORMAT_WORDS = ("mp4", "format", "container")
_CODEC_WORDS = ("codec", "h.264", "h264")


def error_type_for(message: str | None) -> str | None:
    """The documented type a Tavus failure text belongs to, or None when nothing fits."""
    if not isinstance(message, str) or not message.strip():
        return None
    text = message.strip().lower()
    named = _TYPE_NAME.search(text)  # a message that spells the type out says it best
    if named:
        return named.group(1)
    detail = _PREFIX.sub("", text, count=1).strip()
    if not detail:  # the prefix alone names no cause
        return None
    for error_type, words in _RULES:
        if error_type == "video_codec_and_format":
            if any(w in detail for w in _FORMAT_WORDS) and any(w in detail for w in _CODEC_WORDS):
                return error_type
            continue
        if any(word in detail for word in words):
            return error_type
    return None


def fix_for(error_type: str | None) -> str:
    """One line telling the user what to change; a generic line for an unknown type."""
    return FIXES.get(error_type or "", "Check the recording against Tavus's training video "
                     "requirements, then try again with a new recording.")
