"""check_video / check_consent_clip on drawn clips (tests/video_media.py, tests/videos/clips.py).

Each clip is checked once per module (a cached report); clips are short and small wherever the
check under test allows, the 70 s 720p one only where length and structure matter."""

from __future__ import annotations

from functools import cache

import pytest

from lib.photos.checks import Level, Verdict
from lib.videos import checks
from lib.videos.checks import (
    MAX_BYTES,
    VideoError,
    VideoReport,
    check_consent_clip,
    check_video,
)
from tests.video_media import Clip, clip_path
from tests.videos import clips


@cache
def report(clip: Clip, **options) -> VideoReport:
    return check_video(clip_path(clip), **options)


def level(rep: VideoReport, check_id: str) -> Level:
    found = rep.get(check_id)
    assert found is not None, f"no {check_id!r} check in {[c.id for c in rep.checks]}"
    return found.level


# --- a good clip ---------------------------------------------------------------------------------
def test_good_clip_is_ready() -> None:
    rep = report(clips.GOOD)
    assert not rep.failed, [(c.id, c.reason) for c in rep.failed]
    assert rep.verdict is Verdict.READY and not rep.blocking
    assert rep.score >= 80
    assert not rep.convertible  # nothing to convert
    ids = {c.id for c in rep.checks}
    assert {"format", "codec", "fps", "resolution", "duration", "file_size", "audio", "one_face",
            "face_size", "centred", "lighting", "steady", "consent", "speaking",
            "listening"} <= ids
    for c in rep.checks:
        assert c.reason and (c.level is Level.PASS) == (c.fix == "")


def test_good_clip_speech_then_quiet() -> None:
    rep = report(clips.GOOD)
    assert rep.speech, "no speech found"
    start, end = rep.speech[0][0], rep.speech[-1][1]
    assert start < 1.0
    assert 33.0 <= end <= 37.0
    # Quiet after: the levels after the speech sit far below those during it.
    talking = [db for t, db in rep.audio_levels if 5 <= t <= 30]
    quiet = [db for t, db in rep.audio_levels if t >= 38]
    assert min(talking) > max(quiet) + 15
    assert len(rep.audio_levels) == pytest.approx(70 / 0.5, abs=2)


def test_good_clip_frames() -> None:
    rep = report(clips.GOOD)
    assert len(rep.frames) == checks.STRIP_FRAMES
    assert rep.frames[0].seconds < 2 and rep.frames[-1].seconds > 67
    for frame in rep.frames:
        assert frame.jpeg[:2] == b"\xff\xd8"  # a JPEG
        assert len(frame.faces) == 1
        face = frame.faces[0]
        assert abs(face.cx - 640) < 64  # full-frame pixels: centred in the 1280 px frame
        assert 60 < face.h < 200
        assert 40 < frame.brightness < 220


def test_progress_is_reported() -> None:
    seen: list[float] = []
    check_video(clip_path(clips.SMALL), on_progress=seen.append)
    assert seen and seen[-1] == 1.0
    assert seen == sorted(seen)


# --- unreadable input ----------------------------------------------------------------------------
def test_unreadable_inputs_raise(tmp_path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"hello, not a video\n" * 100)
    with pytest.raises(VideoError):
        check_video(fake)
    data = clip_path(clips.SMALL).read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError):
        check_video(half)
    with pytest.raises(VideoError, match="no picture"):
        check_video(clip_path(clips.AUDIO_ONLY))


# --- file rules ----------------------------------------------------------------------------------
def test_no_audio_track_fails() -> None:
    rep = report(clips.NO_AUDIO)
    assert level(rep, "audio") is Level.FAIL
    assert rep.get("audio").tavus_error == "audio_processing"
    assert rep.speech == [] and rep.audio_levels == []


def test_too_short_fails_duration() -> None:
    rep = report(clips.SHORT)
    assert level(rep, "duration") is Level.FAIL
    assert rep.get("duration").tavus_error == "video_duration"


def test_phoenix3_needs_two_minutes() -> None:
    # The model changes only the length rules: judge the good clip's facts and speech by
    # phoenix-3's (check_video(..., model_name="phoenix-3") would decode it all again).
    rep = report(clips.GOOD)
    filed = {c.id: c for c, _ in checks._file_checks(
        rep.facts, need_seconds=checks.min_seconds("phoenix-3"), min_label="phoenix-3")}
    assert filed["duration"].level is Level.FAIL
    assert "120 s" in filed["duration"].reason
    parts = {c.id: c for c in checks._check_parts(rep.speech, 70.0, "phoenix-3")}
    # 35 s of speech and 35 s of quiet are short of phoenix-3's minute each.
    assert parts["speaking"].level is Level.WARN  # 35 s of 60: short, not absent
    assert parts["listening"].level is not Level.PASS
    assert checks.min_seconds("phoenix-4") == 60 and checks.min_seconds("phoenix-3") == 120


def test_phoenix3_end_to_end_on_a_short_clip() -> None:
    rep = report(clips.SHORT, model_name="phoenix-3")
    assert level(rep, "duration") is Level.FAIL and "120 s" in rep.get("duration").reason


def test_low_fps_fails_and_is_not_convertible() -> None:
    rep = report(clips.FPS15)
    assert level(rep, "fps") is Level.FAIL
    assert rep.get("fps").tavus_error == "video_fps"
    assert not rep.convertible


def test_low_resolution_fails() -> None:
    rep = report(clips.SMALL)
    assert level(rep, "resolution") is Level.FAIL
    assert "640x360" in rep.get("resolution").reason
    assert rep.verdict is Verdict.LIKELY_FAIL and not rep.convertible


def test_big_file_fails_without_reading_it() -> None:
    rep = report(clips.SMALL, size_bytes=MAX_BYTES)
    assert MAX_BYTES == 750_000_000  # the strict reading, as the simulator judges it
    assert level(rep, "file_size") is Level.FAIL
    assert rep.get("file_size").tavus_error == "file_size"
    assert level(report(clips.SMALL, size_bytes=MAX_BYTES - 1), "file_size") is Level.PASS
    assert level(report(clips.SMALL), "file_size") is Level.PASS


def test_portrait_warns_of_full_body() -> None:
    rep = report(clips.PORTRAIT)
    assert level(rep, "orientation") is Level.WARN
    assert "full-body" in rep.get("orientation").reason
    assert level(report(clips.SMALL), "orientation") is Level.PASS


# --- convertible: file-only problems, on a clip that is otherwise fine --------------------------
# 12 s of 720p stands in for a full take: the length rules are shortened for these tests only.
FILE_BASE = Clip(seconds=12, speech_seconds=6)


@pytest.fixture
def short_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "DEFAULT_MIN_SECONDS", 10.0)
    monkeypatch.setattr(checks, "DEFAULT_PART_SECONDS", 5.0)


@cache
def file_report(**changes) -> VideoReport:
    return check_video(clip_path(FILE_BASE.short(**changes)))


def test_file_base_is_ready_under_short_rules(short_rules) -> None:
    rep = file_report()
    assert not rep.failed, [(c.id, c.reason) for c in rep.failed]
    assert not rep.convertible


def test_hevc_mov_is_convertible(short_rules) -> None:
    rep = file_report(container="mov", video_codec="libx265")
    assert level(rep, "format") is Level.FAIL and rep.get("format").tavus_error == "video_format"
    assert level(rep, "codec") is Level.FAIL and rep.get("codec").tavus_error == "video_codec"
    assert rep.blocking and rep.convertible
    assert rep.verdict is Verdict.FIXABLE


def test_vp9_webm_is_convertible(short_rules) -> None:
    rep = file_report(container="webm", video_codec="libvpx-vp9", audio_codec="libopus")
    assert {c.id for c in rep.failed} == {"format", "codec"}
    assert "OPUS audio" in rep.get("codec").reason
    assert rep.convertible and rep.verdict is Verdict.FIXABLE


def test_variable_fps_warns_and_is_convertible(short_rules) -> None:
    rep = file_report(variable_fps=True)
    assert level(rep, "fps") is Level.WARN
    assert rep.get("fps").tavus_error == "video_fps"
    assert not rep.blocking and rep.convertible


def test_convertible_needs_every_failure_fixable() -> None:
    # The same HEVC .mov at 360p: resolution cannot be converted back.
    rep = report(clips.HEVC_MOV)
    assert level(rep, "codec") is Level.FAIL and level(rep, "resolution") is Level.FAIL
    assert not rep.convertible and rep.verdict is Verdict.LIKELY_FAIL
    rep = report(clips.VP9_WEBM)
    assert level(rep, "format") is Level.FAIL and not rep.convertible


# --- pictures ------------------------------------------------------------------------------------
def test_small_clip_sees_one_face_still_and_steady() -> None:
    rep = report(clips.SMALL)
    for check_id in ("one_face", "face_size", "centred", "lighting", "steady"):
        assert level(rep, check_id) is Level.PASS, rep.get(check_id).reason


def test_every_second_is_judged() -> None:
    rep = report(clips.SMALL)
    assert "8 sampled frames" in rep.get("one_face").reason  # 8 s: one frame a second


def test_two_faces_fail() -> None:
    rep = report(clips.TWO_FACES)
    assert level(rep, "one_face") is Level.FAIL
    assert rep.get("one_face").tavus_error == "second_person_detected"
    assert all(len(f.faces) == 2 for f in rep.frames)


def test_no_face_fails() -> None:
    rep = report(clips.NO_FACE)
    assert level(rep, "one_face") is Level.FAIL
    assert rep.get("one_face").tavus_error == "face_or_obstruction_detected"


def test_small_face_is_too_far() -> None:
    rep = report(clips.SMALL_FACE)
    assert level(rep, "one_face") is Level.PASS  # found, on a larger copy of the frame
    assert level(rep, "face_size") is Level.FAIL
    assert rep.get("face_size").tavus_error == "improper_distance"


def test_lighting_jump_fails() -> None:
    rep = report(clips.LIGHT_JUMP)
    assert level(rep, "lighting") is Level.FAIL
    assert rep.get("lighting").tavus_error == "lighting_change_detected"
    assert level(rep, "steady") is Level.PASS  # a change of light is not camera movement
    assert rep.frames[-1].brightness < 0.7 * rep.frames[0].brightness


def test_pan_fails_steady() -> None:
    rep = report(clips.PAN)
    assert level(rep, "steady") is Level.FAIL
    assert rep.get("steady").tavus_error == "excessive_movement_detected"
    assert level(rep, "lighting") is Level.PASS


# --- sound: consent and structure ----------------------------------------------------------------
def test_silence_fails_consent_and_speaking() -> None:
    rep = report(clips.SILENT)
    assert rep.speech == []
    assert level(rep, "consent") is Level.FAIL
    assert rep.get("consent").tavus_error == "consent_phrase_mismatch"
    assert level(rep, "speaking") is Level.FAIL


def test_talking_throughout_has_no_listening_part() -> None:
    rep = report(clips.TALKING)
    assert level(rep, "listening") is Level.FAIL
    assert level(rep, "speaking") is Level.PASS
    assert level(rep, "consent") is Level.PASS
    assert "not checked" in rep.get("consent").reason  # honest: the words are not verified
    assert rep.get("noise") is None  # no quiet stretch to measure the room in


def test_consent_separate_is_not_judged_on_the_training_clip() -> None:
    rep = report(clips.SILENT, consent="separate")
    assert rep.get("consent") is None
    assert level(rep, "speaking") is Level.FAIL  # the structure still is
    with pytest.raises(ValueError):
        check_video(clip_path(clips.SMALL), consent="maybe")


def test_consent_clip_with_speech_passes() -> None:
    rep = check_consent_clip(clip_path(clips.CONSENT_CLIP))
    assert not rep.failed, [(c.id, c.reason) for c in rep.failed]
    assert level(rep, "consent_speech") is Level.PASS
    assert level(rep, "duration") is Level.PASS  # the 1-minute rule is the training clip's
    assert rep.get("listening") is None and rep.get("consent") is None


def test_consent_clip_silent_fails() -> None:
    rep = check_consent_clip(clip_path(clips.CONSENT_SILENT))
    assert level(rep, "consent_speech") is Level.FAIL
    assert rep.get("consent_speech").tavus_error == "consent_phrase_mismatch"
    assert rep.blocking and not rep.convertible


# --- over HTTP: a presigned S3 GET ----------------------------------------------------------------
def test_presigned_url_gives_the_local_report(s3_settings) -> None:
    from lib.storage.s3 import ImageStore

    store = ImageStore(s3_settings)
    path = clip_path(clips.SMALL)
    key = "videos/small.mp4"
    store.put_bytes(key, path.read_bytes(), "video/mp4")
    url = store.presign_get(key, ttl_hours=24).url
    assert check_video(url) == report(clips.SMALL)


# --- a phone's portrait-stored clip: turned by its display matrix --------------------------------
def test_rotated_clip_is_judged_upright(tmp_path) -> None:
    """Stored turned a quarter clockwise with a display matrix that turns it back: the faces are
    found only if the frames are turned upright as a player shows them."""
    import av
    import numpy as np

    from tests.video_media import picture

    upright = picture(clips.SMALL)  # 640x360 RGB
    stored = np.ascontiguousarray(np.rot90(upright, -1))  # 360 wide, 640 high
    path = tmp_path / "turned.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = stored.shape[1], stored.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        stream.set_display_rotation(90)  # counter-clockwise on display
        frame = av.VideoFrame.from_ndarray(stored, format="rgb24").reformat(format="yuv420p")
        for i in range(90):
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    rep = check_video(path)
    assert (rep.facts.width, rep.facts.height, rep.facts.rotation) == (640, 360, 90)
    assert level(rep, "one_face") is Level.PASS, rep.get("one_face").reason
    assert level(rep, "centred") is Level.PASS
    assert level(rep, "orientation") is Level.PASS  # shown landscape
    face = rep.frames[0].faces[0]
    assert abs(face.cx - 320) < 40 and face.y < 180  # in the upright frame's pixels


def test_keyframe_each_second_decodes_keyframes_only() -> None:
    import av

    def gap(clip: Clip) -> float:
        with av.open(str(clip_path(clip))) as container:
            stream = container.streams.video[0]
            return checks._keyframes_every(stream, clip.seconds)

    assert gap(clips.KEYFRAME_EACH_SECOND) == pytest.approx(1.0, abs=0.05)
    assert gap(clips.SMALL) == pytest.approx(2.0, abs=0.05)  # every frame is decoded
    assert gap(clips.VP9_WEBM) == float("inf")  # webm's index says too little: decode all
    rep = report(clips.KEYFRAME_EACH_SECOND)
    assert "8 sampled frames" in rep.get("one_face").reason
    small = report(clips.SMALL)
    for check_id in ("one_face", "face_size", "centred", "lighting", "steady"):
        assert level(rep, check_id) is level(small, check_id) is Level.PASS
    assert [round(f.seconds) for f in rep.frames] == list(range(8))  # a keyframe a second


def test_presigned_url_of_a_missing_object(s3_settings) -> None:
    from lib.storage.s3 import ImageStore

    url = ImageStore(s3_settings).presign_get("videos/never-uploaded.mp4", ttl_hours=24).url
    with pytest.raises(VideoError, match="Could not download"):
        check_video(url)

