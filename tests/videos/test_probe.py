"""probe_video on drawn clips (tests/video_media.py): local paths, broken files, and over HTTP."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.videos.probe import VideoDownloadError, VideoError, VideoFacts, probe_video
from tests.video_media import clip_path
from tests.videos import clips


def test_good_clip_facts() -> None:
    path = clip_path(clips.GOOD)
    facts = probe_video(path)
    assert facts == VideoFacts(container="mp4", video_codec="h264", audio_codec="aac",
                               width=1280, height=720, fps=30.0, constant_fps=True,
                               duration_seconds=pytest.approx(70.0, abs=0.1),
                               size_bytes=path.stat().st_size, rotation=0)


@pytest.mark.parametrize(("clip", "container", "video", "audio"), [
    (clips.HEVC_MOV, "mov", "hevc", "aac"),
    (clips.VP9_WEBM, "webm", "vp9", "opus"),
    (clips.NO_AUDIO, "mp4", "h264", None),
])
def test_containers_and_codecs(clip, container: str, video: str, audio: str | None) -> None:
    facts = probe_video(clip_path(clip))
    assert (facts.container, facts.video_codec, facts.audio_codec) == (container, video, audio)
    assert facts.duration_seconds == pytest.approx(clip.seconds, abs=0.2)


def test_frame_rates() -> None:
    assert probe_video(clip_path(clips.FPS15)).fps == pytest.approx(15.0)
    vfr = probe_video(clip_path(clips.VFR))
    assert not vfr.constant_fps
    assert 25 <= vfr.fps <= 35  # 30 on average
    assert probe_video(clip_path(clips.SMALL)).constant_fps


def test_portrait_is_taller_than_wide() -> None:
    facts = probe_video(clip_path(clips.PORTRAIT))
    assert (facts.width, facts.height, facts.rotation) == (360, 640, 0)


def test_rotation_from_the_display_matrix(tmp_path: Path) -> None:
    """A phone stores portrait video landscape with a display matrix: width/height as shown."""
    import av

    out_path = tmp_path / "turned.mp4"
    with av.open(str(clip_path(clips.NO_AUDIO))) as src, av.open(str(out_path), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        stream.set_display_rotation(90)
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    facts = probe_video(out_path)
    assert (facts.width, facts.height) == (360, 640)
    assert facts.rotation in (90, 270)


def test_size_and_name_can_be_given() -> None:
    facts = probe_video(clip_path(clips.SMALL), size_bytes=123, filename="take.MOV")
    assert facts.size_bytes == 123
    assert facts.container == "mov"  # an mp4-branded file named .mov reads as the user named it


def test_text_named_mp4_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video, just some text\n" * 50)
    with pytest.raises(VideoError, match="not a readable video"):
        probe_video(fake)


def test_truncated_mp4_is_refused(tmp_path: Path) -> None:
    data = clip_path(clips.GOOD).read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="cut short"):
        probe_video(half)


def test_photo_named_mp4_is_a_still_picture(tmp_path: Path) -> None:
    from tests.media import astronaut, encode

    for fmt in ("PNG", "JPEG"):
        fake = tmp_path / f"photo-{fmt}.mp4"
        fake.write_bytes(encode(astronaut(), fmt))
        with pytest.raises(VideoError, match="still picture"):
            probe_video(fake)


def test_audio_only_has_no_picture() -> None:
    with pytest.raises(VideoError, match="no picture"):
        probe_video(clip_path(clips.AUDIO_ONLY))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not found"):
        probe_video(tmp_path / "gone.mp4")


# --- over HTTP -----------------------------------------------------------------------------------
class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file with Range support (Python's SimpleHTTPRequestHandler has none) and
    counts the body bytes it managed to send."""

    path_on_disk: Path
    sent: list[int]
    requests: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        data = self.path_on_disk.read_bytes()
        size = len(data)
        start, end = 0, size - 1
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        self.requests.append(self.headers.get("Range", "-"))
        if match:
            start = int(match[1])
            end = min(size - 1, int(match[2])) if match[2] else size - 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Content-Type", "video/mp4")
        self.end_headers()
        if not body:
            return
        try:
            for at in range(start, end + 1, 16384):
                chunk = data[at:min(end + 1, at + 16384)]
                self.wfile.write(chunk)
                self.sent.append(len(chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader seeks: it hangs up and asks for another range


@pytest.fixture
def served() -> Iterator[tuple[str, _RangeHandler]]:
    handler = type("Handler", (_RangeHandler,), {"path_on_disk": clip_path(clips.GOOD),
                                                 "sent": [], "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/good.mp4", handler
    server.shutdown()
    server.server_close()


def test_probe_over_http_matches_the_local_file(served) -> None:
    """Over HTTP with range support, the same facts (the size from Content-Length, the container
    from the brand). How many bytes FFmpeg reads cannot be told here: on loopback the kernel's
    socket buffers take the whole 8 MB clip at once, and FFmpeg then seeks by reading ahead."""
    url, handler = served
    assert probe_video(url) == probe_video(clip_path(clips.GOOD))
    assert handler.requests  # it really went over HTTP
    # The name in the URL's path counts like a file name (the brand alone says mp4 here).
    assert probe_video(url.replace(".mp4", ".mov")).container == "mov"


def test_unreadable_url() -> None:
    """Nothing listens there: a download failure (the file may be fine), naming the host only."""
    from tests.conftest import free_port

    port = free_port()
    with pytest.raises(VideoDownloadError) as caught:
        probe_video(f"http://127.0.0.1:{port}/nothing.mp4?X-Amz-Signature=secret")
    message = str(caught.value)
    assert f"Could not reach the storage at 127.0.0.1:{port}" in message, message
    assert "secret" not in message and "not a readable video" not in message


def test_an_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty \(0 bytes\)") as caught:
        probe_video(empty)
    assert not isinstance(caught.value, VideoDownloadError)  # the file itself is bad
    with pytest.raises(VideoError, match=r"empty \(0 bytes\)"):  # as an S3 upload declares it
        probe_video("http://127.0.0.1:9/empty.mp4", size_bytes=0)


