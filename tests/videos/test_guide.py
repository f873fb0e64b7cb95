"""The recording guide: the exact consent statement, the script, the steps per model."""

from __future__ import annotations

from lib.videos.guide import (
    CONSENT_TEMPLATE,
    NAME_PLACEHOLDER,
    consent_statement,
    recording_guide,
    speaking_script,
)
from tests.video_media import CONSENT


def test_consent_statement_is_tavus_wording_with_the_name() -> None:
    # tests/video_media.py's CONSENT was copied from the Tavus docs independently.
    assert consent_statement("Ada Lovelace") == CONSENT
    assert consent_statement("  Ada   Lovelace ") == CONSENT
    assert "{full_name}" in CONSENT_TEMPLATE


def test_blank_name_gets_a_placeholder() -> None:
    for blank in ("", "   "):
        assert NAME_PLACEHOLDER in consent_statement(blank)
        assert consent_statement(blank).startswith(f"I, {NAME_PLACEHOLDER}, am currently")


def test_script_is_about_thirty_seconds() -> None:
    words = len(speaking_script().split())
    assert 65 <= words <= 95  # ~30 s at 130-190 words a minute


def test_guide_by_model() -> None:
    four = recording_guide("Ada Lovelace", "phoenix-4")
    three = recording_guide("Ada Lovelace", "phoenix-3")
    titles = [s.title for s in four]
    assert titles[:3] == ["Say the consent statement first", "Speak for 30 s", "Listen for 30 s"]
    assert [s.title for s in three][1:3] == ["Speak for 1 min", "Listen for 1 min"]
    assert four[0].quote == CONSENT and not any(s.quote for s in four[1:])
    assert {"Framing", "Light", "Sound"} <= set(titles)
    assert "2 minutes" in three[-1].detail and "1 minute" in four[-1].detail
