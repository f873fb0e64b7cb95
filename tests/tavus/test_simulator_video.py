"""The simulator trains from a video like Tavus: it downloads the clip, probes it with PyAV and
fails the replica with a Tavus-like error_message, or trains on the simulated clock.

Clips are drawn by tests.video_media (cached by recipe) and served by a stdlib HTTP server over a
temporary folder; short, small clips where only the container, codecs or rate matter. The only
waiting is for the background judging (sim.wait_for_downloads); training time moves with advance().
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from lib.tavus.simulator import TavusSimulator
from lib.videos.failures import error_type_for
from tests.video_media import Clip, clip_path

KEY = "sk-sim-video-" + secrets.token_hex(8)
TRAINING = 100.0
SMALL = Clip(seconds=4, width=320, height=240)  # where length and size do not matter

CLIPS: dict[str, Clip] = {
    "good.mp4": Clip(),
    "iphone.mov": SMALL.short(container="mov", video_codec="libx265"),
    "h264.mov": SMALL.short(container="mov"),
    "hevc.mp4": SMALL.short(video_codec="libx265"),
    "vp9.webm": SMALL.short(container="webm", video_codec="libvpx-vp9", audio_codec="libopus"),
    "short.mp4": Clip(seconds=20, width=320, height=240),
    "fps15.mp4": SMALL.short(fps=15),
    "mute.mp4": SMALL.short(audio_codec=None),
    "voice.m4a": SMALL.short(container="m4a", video_codec=None),
    "silent.mp4": Clip(seconds=61, width=320, height=240, audio="silence"),
    "consent.mp4": Clip(seconds=15, width=320, height=240, audio="speech"),
}
NOTES = b"Meeting notes, not a video.\n" * 50


class _Handler(SimpleHTTPRequestHandler):
    """Files from the folder; /chunked/<name> sends one without a Content-Length."""

    def do_GET(self) -> None:
        if not self.path.startswith("/chunked/"):
            super().do_GET()
            return
        path = Path(self.directory) / self.path.removeprefix("/chunked/")
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with path.open("rb") as f:
            while chunk := f.read(64 * 1024):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="sim-video-files-"))
    for name, clip in CLIPS.items():
        shutil.copyfile(clip_path(clip), folder / name)
    (folder / "notes.mp4").write_bytes(NOTES)
    handler = partial(_Handler, directory=str(folder))
    handler.protocol_version = "HTTP/1.1"  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def sim() -> Iterator[TavusSimulator]:
    s = TavusSimulator(KEY, training_seconds=TRAINING, seed_demo_data=False).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(sim: TavusSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers={"x-api-key": KEY}, timeout=10) as c:
        yield c


def _create(client: httpx.Client, **body: object) -> str:
    r = client.post("/v2/replicas", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "started"
    return r.json()["replica_id"]


def _judged(sim: TavusSimulator, client: httpx.Client, **body: object) -> dict:
    rid = _create(client, **body)
    assert sim.wait_for_downloads(60)
    r = client.get(f"/v2/replicas/{rid}")
    assert r.status_code == 200
    return r.json()


# --- training ------------------------------------------------------------------------------------
def test_a_good_clip_trains_on_the_clock(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    d = _judged(sim, client, train_video_url=f"{files}/good.mp4", replica_name="Ada")
    assert (d["status"], d["error_message"], d["replica_name"]) == ("started", None, "Ada")
    # The same fields as any replica: nothing about the training files (not in the contract).
    assert set(d) == {"replica_id", "replica_name", "thumbnail_video_url", "training_progress",
                      "status", "created_at", "updated_at", "error_message", "model_name"}
    sim.advance(TRAINING / 2)
    half = client.get(f"/v2/replicas/{d['replica_id']}").json()
    assert half["status"] == "started" and half["training_progress"] != "0/100"
    sim.advance(TRAINING)
    done = client.get(f"/v2/replicas/{d['replica_id']}").json()
    assert (done["status"], done["training_progress"]) == ("completed", "100/100")
    listed = client.get("/v2/replicas", params={"replica_ids": d["replica_id"]}).json()["data"]
    assert [item["status"] for item in listed] == ["completed"]


def test_phoenix_45_from_a_video_previews_later_than_from_a_photo(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    d = _judged(sim, client, train_video_url=f"{files}/good.mp4", model_name="phoenix-4.5")
    rid = d["replica_id"]
    image_preview = TRAINING / 60  # a photo's preview; a video's takes five times as long
    sim.advance(image_preview * 2)
    assert client.get(f"/v2/replicas/{rid}").json()["status"] == "started"
    sim.advance(image_preview * 3 + 0.1)
    d = client.get(f"/v2/replicas/{rid}").json()
    assert (d["status"], d["finetune_status"]) == ("completed", "in_progress")


@pytest.mark.parametrize("voice", [None, "anna", "ANNA"])
def test_a_video_create_needs_no_voice_but_a_valid_one_is_fine(
    sim: TavusSimulator, client: httpx.Client, files: str, voice: str | None
) -> None:
    body = {"train_video_url": f"{files}/good.mp4"}
    if voice:
        body["voice_name"] = voice
    assert _judged(sim, client, **body)["status"] == "started"


@pytest.mark.parametrize(
    "body,words",
    [
        ({"train_video_url": "{f}/good.mp4", "voice_name": "nobody"}, "voice_name"),
        ({"train_video_url": "{f}/good.mp4", "train_image_url": "{f}/x.png",
          "voice_name": "anna"}, "only one of train_video_url or train_image_url"),
        ({"train_video_url": "good.mp4"}, "train_video_url must be an http(s) URL"),
        ({"train_video_url": "{f}/good.mp4", "consent_video_url": "c.mp4"},
         "consent_video_url must be an http(s) URL"),
        ({"train_video_url": "{f}/good.mp4", "consent_video_url": 7}, "consent_video_url"),
    ],
)
def test_video_create_refusals(
    client: httpx.Client, files: str, body: dict[str, object], words: str
) -> None:
    body = {k: v.replace("{f}", files) if isinstance(v, str) else v for k, v in body.items()}
    before = client.get("/v2/replicas").json()["total_count"]
    r = client.post("/v2/replicas", json=body)
    assert r.status_code == 400
    assert words in r.json()["error"]
    assert client.get("/v2/replicas").json()["total_count"] == before


# --- failures ------------------------------------------------------------------------------------
TRAINING_FILE = "There was an issue processing your training file: "
CONSENT_VIDEO = "There was an issue processing your consent video: "

FAILURES = [
    # (training file, consent file or None, model, error type, the whole message)
    ("missing.mp4", None, "phoenix-4", "download_link",
     TRAINING_FILE + "The file could not be downloaded from {host} (HTTP 404 Not Found). The "
     "link must be publicly downloadable for at least 24 hours."),
    ("notes.mp4", None, "phoenix-4", "video_format",
     TRAINING_FILE + "The file could not be read as a video: upload an MP4 file."),
    ("voice.m4a", None, "phoenix-4", "video_format",
     TRAINING_FILE + "The file has no video track: upload an MP4 video of yourself."),
    ("h264.mov", None, "phoenix-4", "video_format",
     TRAINING_FILE + "The video must be an MP4 file (this one is a QuickTime MOV file)."),
    ("hevc.mp4", None, "phoenix-4", "video_codec",
     TRAINING_FILE + "The video must use H.264 video with AAC audio (this one has HEVC (H.265) "
     "video and AAC audio)."),
    ("mute.mp4", None, "phoenix-4", "video_codec",
     TRAINING_FILE + "The video must use H.264 video with AAC audio (this one has H.264 video "
     "and no audio track)."),
    ("iphone.mov", None, "phoenix-4", "video_codec_and_format",
     TRAINING_FILE + "The video must be an MP4 file with H.264 video and AAC audio (this one is "
     "a QuickTime MOV file with HEVC (H.265) video and AAC audio)."),
    ("vp9.webm", None, "phoenix-4", "video_codec_and_format",
     TRAINING_FILE + "The video must be an MP4 file with H.264 video and AAC audio (this one is "
     "a WebM file with VP9 video and Opus audio)."),
    ("fps15.mp4", None, "phoenix-4", "video_fps",
     TRAINING_FILE + "The video must be at least 25 frames per second (this one is 15 fps)."),
    ("short.mp4", None, "phoenix-4", "video_duration",
     TRAINING_FILE + "The video must be at least 1 minute long (this one is 20 seconds)."),
    ("good.mp4", None, "phoenix-3", "video_duration",
     TRAINING_FILE + "The video must be at least 2 minutes long (this one is 70 seconds)."),
    ("silent.mp4", None, "phoenix-4", "consent_phrase_mismatch",
     TRAINING_FILE + "The consent statement was not found at the start of the video. Open the "
     "recording with the consent statement, spoken clearly in English with your full name, or "
     "send it as a separate consent video."),
    ("silent.mp4", "silent.mp4", "phoenix-4", "consent_phrase_mismatch",
     CONSENT_VIDEO + "The consent statement could not be heard at the start of the consent "
     "video. Record it spoken clearly in English with your full name."),
    ("silent.mp4", "notes.mp4", "phoenix-4", "video_format",
     CONSENT_VIDEO + "The file could not be read as a video: upload an MP4 file."),
    ("silent.mp4", "gone.mp4", "phoenix-4", "download_link",
     CONSENT_VIDEO + "The file could not be downloaded from {host} (HTTP 404 Not Found). The "
     "link must be publicly downloadable for at least 24 hours."),
    ("silent.mp4", "fps15.mp4", "phoenix-4", "video_fps",
     CONSENT_VIDEO + "The video must be at least 25 frames per second (this one is 15 fps)."),
]


@pytest.mark.parametrize("train,consent,model,error_type,message", FAILURES,
                         ids=[f"{f[0]}+{f[1]}-{f[2]}" for f in FAILURES])
def test_bad_clips_fail_with_tavus_like_messages(
    sim: TavusSimulator, client: httpx.Client, files: str, train: str, consent: str | None,
    model: str, error_type: str, message: str,
) -> None:
    body: dict[str, object] = {"train_video_url": f"{files}/{train}", "model_name": model}
    if consent:
        body["consent_video_url"] = f"{files}/{consent}"
    d = _judged(sim, client, **body)
    assert d["status"] == "error"
    assert d["error_message"] == message.replace("{host}", files.removeprefix("http://"))
    assert error_type_for(d["error_message"]) == error_type  # the app can say how to fix it
    sim.advance(TRAINING * 2)
    assert client.get(f"/v2/replicas/{d['replica_id']}").json()["status"] == "error"  # final
    listed = client.get("/v2/replicas", params={"replica_ids": d["replica_id"]}).json()["data"]
    assert listed[0]["status"] == "error" and "error_message" not in listed[0]


def test_a_silent_clip_trains_with_a_spoken_consent_clip(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    d = _judged(sim, client, train_video_url=f"{files}/silent.mp4",
                consent_video_url=f"{files}/consent.mp4")
    assert (d["status"], d["error_message"]) == ("started", None)
    sim.advance(TRAINING + 1)
    assert client.get(f"/v2/replicas/{d['replica_id']}").json()["status"] == "completed"


def test_an_unreachable_host_is_a_download_failure(
    sim: TavusSimulator, client: httpx.Client
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = _judged(sim, client, train_video_url=f"http://127.0.0.1:{port}/v.mp4?X-Amz-Signature=s3cr")
    assert d["error_message"] == (TRAINING_FILE + "The file could not be downloaded: could not "
                                  f"connect to 127.0.0.1:{port}.")
    assert error_type_for(d["error_message"]) == "download_link"


@pytest.mark.parametrize("path", ["good.mp4", "chunked/good.mp4"])
def test_the_size_cap_stops_the_download(files: str, path: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A lowered cap (Tavus's is 750 MB), with and without a Content-Length to go by."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the simulator downloads
    cap = 200_000
    assert (clip_path(CLIPS["good.mp4"]).stat().st_size) > cap
    with TavusSimulator(KEY, training_seconds=TRAINING, seed_demo_data=False,
                        max_video_bytes=cap) as small, httpx.Client(
            base_url=small.base_url, headers={"x-api-key": KEY}, timeout=10) as c:
        d = _judged(small, c, train_video_url=f"{files}/{path}")
        assert d["error_message"] == (TRAINING_FILE + "The file is larger than 0.2 MB. Trim or "
                                      "compress the video and upload it again.")
        assert error_type_for(d["error_message"]) == "file_size"
    assert list(tmp_path.iterdir()) == []  # nothing kept


def test_downloaded_files_are_deleted_after_judging(
    sim: TavusSimulator, client: httpx.Client, files: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ok = _judged(sim, client, train_video_url=f"{files}/silent.mp4",
                 consent_video_url=f"{files}/consent.mp4")
    bad = _judged(sim, client, train_video_url=f"{files}/short.mp4")
    assert (ok["status"], bad["status"]) == ("started", "error")
    assert list(tmp_path.iterdir()) == []


def test_the_create_body_is_recorded_without_url_queries(
    sim: TavusSimulator, client: httpx.Client, files: str
) -> None:
    rid = _create(client, train_video_url=f"{files}/good.mp4?X-Amz-Signature=s3cr3t",
                  consent_video_url=f"{files}/consent.mp4", replica_name="Rio")
    assert sim.wait_for_downloads(60)
    assert sim.replica_request(rid) == {"train_video_url": f"{files}/good.mp4",
                                        "consent_video_url": f"{files}/consent.mp4",
                                        "replica_name": "Rio"}
    r = client.get(f"/_sim/replicas/{rid}/request")
    assert r.json() == {"request": sim.replica_request(rid)}
