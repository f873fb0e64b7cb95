"""lib/videos/convert.py: real clips drawn with PyAV, converted, and read back with PyAV."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from lib.config import S3Settings
from lib.storage.s3 import ImageStore
from lib.videos import convert as convert_module
from lib.videos.convert import ConversionError, conversion_plan, convert_to_store, convert_video
from tests.video_media import Clip, clip_path

SHORT = Clip(seconds=4, width=640, height=360)


def read_back(path: Path) -> dict:
    """The facts a player (and Tavus) would see, with every frame decoded."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        times = [float(frame.pts * video.time_base) for frame in container.decode(video)]
        return {"format": container.format.name, "video": video.codec_context.name,
                "pix_fmt": video.codec_context.pix_fmt, "audio": audio.codec_context.name,
                "rate": audio.rate, "channels": audio.channels,
                "width": video.width, "height": video.height, "times": times,
                "duration": container.duration / av.time_base}


def assert_constant(times: list[float], fps: int) -> None:
    gaps = np.diff(times)
    assert np.allclose(gaps, 1 / fps, atol=1e-3), sorted(set(np.round(gaps, 4)))


@pytest.mark.parametrize("clip", [
    SHORT.short(container="mov", video_codec="libx265"),  # an iPhone's HEVC .mov
    SHORT.short(container="webm", video_codec="libvpx-vp9", audio_codec="libopus"),  # a browser's
], ids=["hevc-mov", "vp9-webm"])
def test_phone_and_browser_clips_become_h264_aac_mp4(clip: Clip, tmp_path: Path) -> None:
    result = convert_video(clip_path(clip), tmp_path / "out.mp4")
    facts = read_back(result.path)
    assert "mp4" in facts["format"] and facts["video"] == "h264" and facts["audio"] == "aac"
    assert facts["pix_fmt"] == "yuv420p" and facts["rate"] == 48_000 and facts["channels"] == 1
    assert (facts["width"], facts["height"], result.fps) == (640, 360, 30)
    assert len(facts["times"]) == 120  # every frame decodes: it plays
    assert abs(facts["duration"] - clip.seconds) <= 0.2
    assert abs(result.duration_seconds - clip.seconds) <= 0.2
    assert result.size_bytes == result.path.stat().st_size > 0


def test_moov_atom_comes_first_so_players_can_start_while_downloading(tmp_path: Path) -> None:
    result = convert_video(clip_path(SHORT), tmp_path / "out.mp4")
    head = result.path.read_bytes()[:4096]
    assert 0 <= head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head


def test_variable_frame_rate_becomes_constant_30(tmp_path: Path) -> None:
    clip = SHORT.short(variable_fps=True)
    result = convert_video(clip_path(clip), tmp_path / "out.mp4")
    facts = read_back(result.path)
    assert result.fps == 30
    assert_constant(facts["times"], 30)
    assert abs(facts["duration"] - clip.seconds) <= 0.2


def test_60_fps_is_halved_to_30(tmp_path: Path) -> None:
    result = convert_video(clip_path(SHORT.short(fps=60)), tmp_path / "out.mp4")
    facts = read_back(result.path)
    assert result.fps == 30 and len(facts["times"]) == 120
    assert_constant(facts["times"], 30)


def test_25_fps_stays_25(tmp_path: Path) -> None:
    result = convert_video(clip_path(SHORT.short(fps=25)), tmp_path / "out.mp4")
    facts = read_back(result.path)
    assert result.fps == 25 and len(facts["times"]) == 100
    assert_constant(facts["times"], 25)


def test_4k_is_scaled_to_1080p(tmp_path: Path) -> None:
    clip = Clip(seconds=2, width=3840, height=2160)
    result = convert_video(clip_path(clip), tmp_path / "out.mp4")
    facts = read_back(result.path)
    assert (result.width, result.height) == (facts["width"], facts["height"]) == (1920, 1080)


def test_720p_is_not_upscaled(tmp_path: Path) -> None:
    clip = Clip(seconds=2, width=1280, height=720)
    result = convert_video(clip_path(clip), tmp_path / "out.mp4")
    assert (read_back(result.path)["width"], result.height) == (1280, 720)


@pytest.mark.parametrize(("size", "fps", "variable", "plan"), [
    ((3840, 2160), 30.0, False, (1920, 1080, 30)),
    ((2160, 3840), 60.0, False, (1080, 1920, 30)),    # portrait 4K60
    ((1280, 720), 29.97, False, (1280, 720, 30)),
    ((1920, 1080), 25.0, False, (1920, 1080, 25)),
    ((1920, 1080), 24.0, False, (1920, 1080, 25)),    # Tavus wants >= 25
    ((1920, 1080), 28.0, True, (1920, 1080, 30)),     # variable: a phone
    ((1441, 811), 30.0, False, (1440, 810, 30)),      # even sides
    ((2560, 1440), 30.0, False, (1920, 1080, 30)),
    ((1920, 1200), 30.0, False, (1728, 1080, 30)),    # 16:10 is bound by its short side
])
def test_conversion_plan(size: tuple[int, int], fps: float, variable: bool,
                         plan: tuple[int, int, int]) -> None:
    assert conversion_plan(*size, fps, variable_fps=variable) == plan


def rotated_clip(path: Path) -> Path:
    """640x360 stored with a display rotation of -90 (an iPhone held upright): the left edge of
    the stored picture (drawn bright) is the top of the upright one."""
    stored = np.full((360, 640, 3), 40, np.uint8)
    stored[:, :120] = 230
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
        video.options = {"preset": "ultrafast"}
        video.set_display_rotation(-90)
        audio = out.add_stream("aac", rate=48_000, layout="mono")
        for i in range(60):
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        tone = (0.1 * np.sin(np.arange(96_000) * 2 * np.pi * 220 / 48_000)).astype(np.float32)
        for start in range(0, len(tone), 4800):
            frame = av.AudioFrame.from_ndarray(tone[None, start:start + 4800], format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 48_000, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


def test_rotation_metadata_is_applied_so_a_portrait_clip_stays_upright(tmp_path: Path) -> None:
    result = convert_video(rotated_clip(tmp_path / "phone.mp4"), tmp_path / "out.mp4")
    assert (result.width, result.height) == (360, 640)
    with av.open(str(result.path)) as container:
        frame = next(container.decode(video=0))
        assert frame.rotation == 0  # the rotation is in the pixels now, not the metadata
        luma = frame.to_ndarray(format="gray")
    assert luma.shape == (640, 360)
    assert luma[:100].mean() > 180 and luma[-300:].mean() < 80


def test_a_clip_without_sound_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="no sound"):
        convert_video(clip_path(SHORT.short(audio_codec=None)), tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_a_text_file_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("This is not a video, whatever its name says.\n" * 50)
    with pytest.raises(ConversionError, match="not a video"):
        convert_video(text, tmp_path / "out.mp4")
    assert list(tmp_path.iterdir()) == [text]


@pytest.mark.parametrize("clip", [
    SHORT, SHORT.short(container="webm", video_codec="libvpx-vp9", audio_codec="libopus")],
    ids=["mp4", "webm"])
def test_a_clip_cut_short_is_refused_and_leaves_nothing(clip: Clip, tmp_path: Path) -> None:
    # An upload that stopped a third of the way: the header still promises the whole length.
    whole = clip_path(clip).read_bytes()
    cut = tmp_path / f"cut.{clip.container}"
    cut.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(ConversionError, match="cut short"):
        convert_video(cut, tmp_path / "out.mp4")
    assert list(tmp_path.iterdir()) == [cut]

def test_progress_rises_to_one_and_never_goes_back(tmp_path: Path) -> None:
    seen: list[float] = []
    convert_video(clip_path(SHORT.short(container="mov", video_codec="libx265")),
                  tmp_path / "out.mp4", on_progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen[:-1] and all(v < 1.0 for v in seen[:-1])
    assert seen == sorted(seen) and all(0.0 <= v <= 1.0 for v in seen)


def test_progress_is_reported_at_most_ten_times_a_second_of_its_clock(monkeypatch) -> None:
    """Decoded frames arrive every 10 ms of (a fake) monotonic clock: one report per 100 ms."""
    clock = [1000.0]
    monkeypatch.setattr(convert_module.time, "monotonic", lambda: clock[0])
    seen: list[tuple[float, float]] = []
    progress = convert_module._Progress(lambda v: seen.append((clock[0], v)), duration=10.0)
    for frame in range(300):  # 3 s of clock, 3 s of video decoded
        clock[0] = 1000.0 + frame * 0.01
        progress.at(frame * 0.01)
    times = [t for t, _ in seen]
    assert 25 <= len(seen) <= 31  # ~10 per second over 3 s, not 300
    gaps = [b - a for a, b in pairwise(times)]
    assert all(gap >= convert_module.PROGRESS_INTERVAL - 1e-9 for gap in gaps)
    values = [v for _, v in seen]
    assert values == sorted(values) and values[-1] == pytest.approx(0.29, abs=0.011)


def test_should_stop_cancels_and_leaves_no_file(tmp_path: Path) -> None:
    asked = 0

    def stop() -> bool:
        nonlocal asked
        asked += 1
        return asked > 20  # a few packets in

    with pytest.raises(ConversionError, match="Conversion stopped"):
        convert_video(clip_path(SHORT), tmp_path / "out.mp4", should_stop=stop)
    assert list(tmp_path.iterdir()) == []


def test_convert_to_store_reads_a_presigned_url_and_uploads_an_mp4(
        s3_settings: S3Settings, tmp_path: Path) -> None:
    store = ImageStore(s3_settings)
    clip = SHORT.short(container="mov", video_codec="libx265")
    store.upload_file(clip_path(clip), "uploads/phone.mov", "video/quicktime")
    url = store.presign_view("uploads/phone.mov")
    seen: list[float] = []
    key, facts = convert_to_store(store, url, "videos/train.mp4", work_dir=tmp_path,
                                  on_progress=seen.append)
    assert key == "videos/train.mp4" and (facts.width, facts.height, facts.fps) == (640, 360, 30)
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone
    assert seen[-1] == 1.0 and seen == sorted(seen)
    head = store._s3.head_object(Bucket=s3_settings.bucket, Key=key)
    assert head["ContentType"] == "video/mp4" and head["ContentLength"] == facts.size_bytes
    # The stored object itself is a playable H.264 mp4, read straight from S3.
    with av.open(store.presign_view(key)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in container.decode(video)) == 120
        assert abs(container.duration / av.time_base - clip.seconds) <= 0.2


def test_convert_to_store_failure_uploads_nothing_and_cleans_up(
        s3_settings: S3Settings, tmp_path: Path) -> None:
    store = ImageStore(s3_settings)
    store.upload_file(clip_path(SHORT.short(audio_codec=None)), "uploads/mute.mp4", "video/mp4")
    with pytest.raises(ConversionError, match="no sound"):
        convert_to_store(store, store.presign_view("uploads/mute.mp4"), "videos/train.mp4",
                         work_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert store.list_keys("videos/") == []

