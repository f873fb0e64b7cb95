"""The bad-input matrix of the Create-from-video screen: every way a clip, the consent clip, the
upload, S3 or Tavus can go wrong, and what the user reads then. Each case checks that the page
raises nothing, names the problem in words, keeps Create disabled (unless the case is only a
warning), sends no POST /v2/replicas to the simulator, keeps what was typed in the form, and
deletes a file that is not a readable video from the bucket (nothing is kept for a refused file).

How the clip gets in: `pages/create_video.py` runs under AppTest in demo mode (the embedded
Tavus simulator and moto's S3 server, over HTTP). The training clip's picker is a components-v2
widget whose browser half PUTs the file's parts straight to S3; AppTest cannot run that
JavaScript, but it tolerates the element, and `video_uploader` returns from its session-state
slot alone. So each test PUTs the object into the demo bucket itself and sets the slot
(`_slot_name(key)`) to "done" with `UploadedVideo(key, filename, size_bytes)`: what
`_on_result` writes after the browser's last part. The browser's part PUTs, retries and
aborts are covered in Chromium by tests/e2e/test_upload_journey.py and
tests/e2e/test_video_journey.py; the slot's handshake by tests/ui/test_uploader.py.

Clips come from tests/videos/clips.py (cached on disk by recipe): 4-12 s at 640x360 wherever the
check under test allows; 720p where the case needs it, with the length rules shortened for the
test (`short_take`) so a 12 s take stands in for a full one; the 70 s 720p clip only for the
phoenix-3 case.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

from lib.demo import running_demo_services
from lib.storage.s3 import ImageStore
from lib.ui.uploader import UploadedVideo, _failure_message, _slot_name
from lib.ui.widgets import LEVEL_ICONS
from lib.videos import checks
from lib.videos.checks import LABELS
from tests.apptest import open_page, settle, shown
from tests.media import astronaut_png
from tests.video_media import Clip, clip_path
from tests.videos import clips

pytestmark = pytest.mark.usefixtures("demo_env")

PAGE = "pages/create_video.py"
TRAIN, CONSENT = "train-clip-0", "consent-clip-0"
FORM = {"video_full_name": "Ada Lovelace", "video_replica_name": "Ada, take 1"}
NOTES = "Bad-input matrix: keep me"

# 720p, speech for 6 s then quiet: a passing take once the length rules are shortened.
FILE_BASE = Clip(seconds=12, speech_seconds=6)
SHORT_TAKE = (10.0, 5.0)  # (minimum seconds, speaking / listening part seconds)


def clip_bytes(clip: Clip) -> Callable[[], bytes]:
    return lambda: clip_path(clip).read_bytes()


def truncated() -> bytes:
    data = clip_path(clips.SMALL).read_bytes()
    return data[: len(data) // 2]  # half an upload: the index promises frames that are not there


# ================================================================================================
# the page under AppTest, the demo bucket and the simulator's request log
# ================================================================================================
@dataclass
class Screen:
    at: AppTest
    store: ImageStore
    sim: object  # the demo TavusSimulator
    before: frozenset[str] = frozenset()  # the demo bucket outlives a test: earlier objects

    def run(self) -> None:
        self.at.run()
        assert not self.at.exception, self.at.exception

    def put(self, data: bytes, filename: str) -> str:
        key = f"videos/{uuid.uuid4().hex[:12]}-{filename}"
        self.store.put_bytes(key, data, "video/mp4")
        return key

    def uploaded(self, slot: str, key: str, filename: str, size_bytes: int) -> None:
        """What the uploader's slot holds once the browser's upload is complete."""
        self.at.session_state[_slot_name(slot)] = {
            "status": "done", "token": f"token-{filename}", "filename": filename,
            "uploaded": UploadedVideo(key=key, filename=filename, size_bytes=size_bytes)}

    def give(self, data: bytes, filename: str, *, slot: str = TRAIN,
             declared: int | None = None) -> str:
        key = self.put(data, filename)
        self.uploaded(slot, key, filename, len(data) if declared is None else declared)
        self.run()
        return key

    def texts(self) -> list[str]:
        at = self.at
        return [shown(e) for e in [*at.error, *at.warning, *at.info, *at.success, *at.markdown,
                                   *at.caption]]

    def says(self, *phrases: str) -> None:
        texts = self.texts()
        for phrase in phrases:
            assert any(phrase in t for t in texts), (phrase, texts)

    def check_line(self, level: str, check_id: str, phrase: str) -> None:
        """The check's line in the report: its level's icon, its label, the reason's words."""
        lines = [shown(m) for m in self.at.markdown]
        label = LABELS[check_id]
        mine = [line for line in lines if f"**{label}**" in line]
        assert mine, (check_id, lines)
        assert mine[0].startswith(LEVEL_ICONS[level].replace("\\", "")), mine[0]
        assert phrase in mine[0], (phrase, mine[0])

    def create_button(self):
        return self.at.button(key="video_create_button")

    def assert_create_refused(self) -> None:
        button = self.create_button()
        assert button.disabled
        with pytest.raises(AppTestError, match="disabled"):  # as in a browser: not clickable
            button.click()

    def convert_offered(self) -> bool:
        return any(b.key == "convert_button" for b in self.at.button)

    def posts(self) -> list:
        return [r for r in self.sim.requests if (r.method, r.path) == ("POST", "/v2/replicas")]

    def objects(self) -> list[str]:
        """The clips in the bucket that this test's run added (and did not delete)."""
        return sorted(set(self.store.list_keys("videos/")) - self.before)

    def assert_form_kept(self) -> None:
        for key, value in FORM.items():
            assert self.at.text_input(key=key).value == value, key
        assert self.at.text_area(key="video_notes").value == NOTES


@pytest.fixture
def screen() -> Iterator[Screen]:
    at = open_page(PAGE)
    services = running_demo_services()
    assert services is not None, "demo mode did not start its stand-ins"
    for key, value in FORM.items():
        at.text_input(key=key).set_value(value)
    at.text_area(key="video_notes").set_value(NOTES)
    at.run()
    assert not at.exception, at.exception
    sim = services.simulator
    sim.clear_faults()
    sim.reset_requests()
    store = ImageStore(services.s3)
    yield Screen(at, store, sim, frozenset(store.list_keys("videos/")))
    sim.clear_faults()


@pytest.fixture
def short_take(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 12 s 720p take stands in for a full one: the length rules shrink for this test only
    (the page reads them from lib.videos.checks at each check)."""
    monkeypatch.setattr(checks, "DEFAULT_MIN_SECONDS", SHORT_TAKE[0])
    monkeypatch.setattr(checks, "DEFAULT_PART_SECONDS", SHORT_TAKE[1])


# ================================================================================================
# the training clip: one case per way it can be wrong
# ================================================================================================
@dataclass(frozen=True)
class VideoCase:
    id: str
    make: Callable[[], bytes]
    filename: str
    says: tuple[str, ...] = ()  # in the page's messages (an unreadable file's error)
    fails: dict[str, str] = field(default_factory=dict)  # check id -> phrase of its FAIL line
    warns: dict[str, str] = field(default_factory=dict)  # check id -> phrase of its WARN line
    refused: bool = False  # not a readable video: no report, the object deleted
    convert: bool = False  # the page offers Convert
    model: str = "phoenix-4"
    short_take: bool = False
    declared: int | None = None  # the size the upload declared, when not the object's

    @property
    def blocking(self) -> bool:
        return self.refused or bool(self.fails)


REMOVED = "was removed from the bucket; choose another file"

CASES = [
    # -- not a readable video: refused, said so, deleted from the bucket ----------------------
    VideoCase("text-as-mp4", lambda: b"These are my notes, not a video.\n" * 40, "take1.mp4",
              says=("not a readable video", "MP4 (H.264 video, AAC audio)",
                    f"take1.mp4 {REMOVED}"), refused=True),
    VideoCase("html-as-mp4",
              lambda: b"<!DOCTYPE html><html><body>Sign in to download</body></html>",
              "download.mp4", says=("not a readable video", f"download.mp4 {REMOVED}"),
              refused=True),
    VideoCase("truncated-mp4", truncated, "cut.mp4",
              says=("cut short", "upload the whole file again", REMOVED), refused=True),
    VideoCase("audio-only-m4a", clip_bytes(clips.AUDIO_ONLY), "voice-memo.mp4",
              says=("no picture (a sound recording)", REMOVED), refused=True),
    VideoCase("png-as-mp4", astronaut_png, "headshot.mp4",
              says=("still picture, not a video", REMOVED), refused=True),
    VideoCase("zero-byte", lambda: b"", "empty.mp4", says=("The file is empty (0 bytes)", REMOVED),
              refused=True),
    # -- a video, failing a rule Convert cannot fix ------------------------------------------
    VideoCase("no-audio-track", clip_bytes(clips.NO_AUDIO), "mute.mp4",
              fails={"audio": "no sound track"}),
    VideoCase("20-seconds", clip_bytes(clips.SHORT), "short.mp4",
              fails={"duration": "20 s is shorter than the 60 s phoenix-4 needs"}),
    VideoCase("15-fps", clip_bytes(clips.FPS15), "slow.mp4",
              fails={"fps": "15 fps is below Tavus's 25 fps minimum"}),
    VideoCase("640x360", clip_bytes(clips.SMALL), "small.mp4",
              fails={"resolution": "640x360 is below 720p"}),
    VideoCase("phoenix-3-70s", clip_bytes(clips.GOOD), "seventy.mp4", model="phoenix-3",
              fails={"duration": "70 s is shorter than the 120 s phoenix-3 needs"}),
    VideoCase("two-faces", clip_bytes(clips.TWO_FACES), "us.mp4",
              fails={"one_face": "A second face in 8 of 8 sampled frames"}),
    VideoCase("no-face", clip_bytes(clips.NO_FACE), "coffee.mp4",
              fails={"one_face": "No face in 8 of 8 sampled frames"}),
    VideoCase("face-too-small", clip_bytes(clips.SMALL_FACE), "far.mp4",
              fails={"face_size": "Too far from the camera"}),
    VideoCase("lighting-jump", clip_bytes(clips.LIGHT_JUMP), "lamp.mp4",
              fails={"lighting": "The brightness changes by up to"}),
    VideoCase("camera-pan", clip_bytes(clips.PAN), "pan.mp4",
              fails={"steady": "The camera moves in"}),
    VideoCase("silence-throughout", clip_bytes(clips.SILENT), "silent.mp4",
              fails={"consent": "No speech was heard", "speaking": "About 0 s of speaking"}),
    VideoCase("talking-throughout", clip_bytes(clips.TALKING), "chatty.mp4",
              fails={"listening": "Only 0 s of quiet after speaking"}),
    VideoCase("declared-800MB", clip_bytes(clips.SMALL), "huge.mp4", declared=800_000_000,
              fails={"file_size": "800 MB; Tavus takes files under 750 MB"}),
    # -- only the file is wrong: Convert offered ------------------------------------------------
    VideoCase("hevc-mov", clip_bytes(FILE_BASE.short(container="mov", video_codec="libx265")),
              "IMG_0001.mov", short_take=True, convert=True,
              fails={"format": "This is a .mov file; Tavus takes .mp4 only",
                     "codec": "HEVC video; Tavus wants H.264 video"}),
    VideoCase("vp9-webm", clip_bytes(FILE_BASE.short(container="webm", video_codec="libvpx-vp9",
                                                     audio_codec="libopus")),
              "browser-recording.webm", short_take=True, convert=True,
              fails={"format": "This is a .webm file", "codec": "VP9 video and OPUS audio"}),
    # -- only warnings: Create stays enabled -------------------------------------------------
    VideoCase("variable-fps", clip_bytes(FILE_BASE.short(variable_fps=True)), "phone.mp4",
              short_take=True, convert=True, warns={"fps": "Variable frame rate"}),
    VideoCase("4k-60fps", clip_bytes(Clip(seconds=4, width=3840, height=2160, fps=60,
                                          speech_seconds=2)),
              "4k.mp4", short_take=True, convert=True,
              warns={"resolution": "3840x2160 is more than the 1080p Tavus recommends"}),
    VideoCase("portrait-720x1280",
              clip_bytes(FILE_BASE.short(width=720, height=1280, face_height=0.55)),
              "portrait.mp4", short_take=True,
              warns={"orientation": "Portrait framing (720x1280)"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_training_clip_is_explained_and_nothing_is_created(
        case: VideoCase, screen: Screen, monkeypatch: pytest.MonkeyPatch) -> None:
    if case.short_take:
        rules = (3.0, 1.5) if case.id == "4k-60fps" else SHORT_TAKE  # a 4 s take of 4K
        monkeypatch.setattr(checks, "DEFAULT_MIN_SECONDS", rules[0])
        monkeypatch.setattr(checks, "DEFAULT_PART_SECONDS", rules[1])
    if case.model != "phoenix-4":
        screen.at.selectbox(key="video_model").set_value(case.model)
        screen.run()
    key = screen.give(case.make(), case.filename, declared=case.declared)

    for _ in range(2):  # and a rerun (a field typed, a click elsewhere) says the same
        screen.says(*case.says)
        for check_id, phrase in case.fails.items():
            screen.check_line("fail", check_id, phrase)
        for check_id, phrase in case.warns.items():
            screen.check_line("warn", check_id, phrase)
        if case.refused:
            assert not any("Clip score" in t for t in screen.texts())  # no report of a non-video
            assert key not in screen.objects()  # nothing kept for a refused file
        else:
            assert key in screen.objects()
            if case.blocking:
                screen.says("Create unlocks when the clip passes its checks.")
        assert screen.convert_offered() is case.convert
        if case.blocking:
            screen.assert_create_refused()
        else:
            assert not screen.create_button().disabled  # a warning only: the user decides
        screen.assert_form_kept()
        assert screen.at.selectbox(key="video_model").value == case.model
        screen.run()
    assert screen.posts() == []
    assert screen.at.session_state["video_slot"].get("attempt") is None


def test_every_case_names_a_problem() -> None:
    """A case with nothing to assert would pass on any page."""
    assert len(CASES) == len({c.id for c in CASES})
    for case in CASES:
        assert case.says or case.fails or case.warns, case.id


# ================================================================================================
# Convert, for real: the HEVC .mov becomes an mp4 that passes, and Create unlocks
# ================================================================================================
def test_an_hevc_mov_converted_here_passes_and_unlocks_create(
        screen: Screen, short_take: None) -> None:
    original = screen.give(clip_bytes(FILE_BASE.short(container="mov", video_codec="libx265"))(),
                           "IMG_0002.mov")
    screen.assert_create_refused()
    screen.at.button(key="convert_button").click()
    screen.run()
    settle(screen.at)
    converted = original.rsplit(".", 1)[0] + "-converted.mp4"
    assert set(screen.objects()) == {original, converted}
    screen.says("1280×720 · 30 fps · 12.0 s · mp4 · h264 / aac")  # the converted clip's facts
    screen.check_line("pass", "codec", "H.264 video, AAC audio")
    screen.check_line("pass", "format", "MP4 file")
    assert not screen.convert_offered()
    assert not screen.create_button().disabled
    screen.assert_form_kept()
    assert screen.posts() == []


# ================================================================================================
# the consent clip
# ================================================================================================
def separate_consent(screen: Screen) -> str:
    screen.at.radio(key="video_consent").set_value("separate")
    screen.run()
    key = screen.give(clip_bytes(FILE_BASE)(), "training.mp4")
    screen.says("Ready: this clip should train well.")
    return key


def test_a_separate_consent_without_the_consent_clip_cannot_create(
        screen: Screen, short_take: None) -> None:
    separate_consent(screen)
    screen.says("Create unlocks when the clip passes its checks and the consent clip is added.")
    screen.assert_create_refused()
    screen.assert_form_kept()
    assert screen.posts() == []


def test_a_consent_clip_that_is_not_a_video_is_refused_and_removed(
        screen: Screen, short_take: None) -> None:
    training = separate_consent(screen)
    consent = screen.give(b"I consent. (typed, not filmed)\n" * 20, "consent.mp4", slot=CONSENT)
    for _ in range(2):
        screen.says("not a readable video", f"consent.mp4 {REMOVED}",
                    "and the consent clip is added.")
        assert screen.objects() == [training] and consent not in screen.objects()
        screen.assert_create_refused()
        screen.assert_form_kept()
        screen.run()
    assert screen.posts() == []


def test_a_silent_consent_clip_blocks_create(screen: Screen, short_take: None) -> None:
    separate_consent(screen)
    consent = screen.give(clip_bytes(clips.CONSENT_SILENT)(), "consent.mp4", slot=CONSENT)
    screen.check_line("fail", "consent_speech", "No speech was heard")
    screen.says("and the consent clip is added.")
    assert consent in screen.objects()  # a video, judged: kept so a person can look at it
    screen.assert_create_refused()
    screen.assert_form_kept()
    assert screen.posts() == []


# ================================================================================================
# the upload and the storage
# ================================================================================================
def test_an_upload_that_failed_half_way_shows_its_message_and_checks_nothing(
        screen: Screen) -> None:
    message = _failure_message("take1.mp4", {"status": "error", "reason": "http",
                                             "http_status": 503})
    screen.at.session_state[_slot_name(TRAIN)] = {
        "status": "error", "token": "token-take1", "filename": "take1.mp4", "message": message}
    screen.run()
    screen.says("The storage kept failing while receiving take1.mp4 (HTTP 503",
                "Press Retry")
    assert not any("Clip score" in t or "Checking" in t for t in screen.texts())
    assert "clip_reports" not in screen.at.session_state or not screen.at.session_state[
        "clip_reports"]
    screen.assert_create_refused()
    screen.assert_form_kept()
    assert screen.objects() == [] and screen.posts() == []


def test_an_object_gone_before_the_check_is_explained(screen: Screen) -> None:
    data = clip_bytes(clips.SMALL)()
    key = screen.put(data, "take1.mp4")
    screen.store.delete(key)  # gone between the upload and the check (a lifecycle rule, a person)
    screen.uploaded(TRAIN, key, "take1.mp4", len(data))
    screen.run()
    screen.says("there is no file at this link (404)", "Upload it again")
    assert not any("Clip score" in t for t in screen.texts())
    screen.assert_create_refused()
    screen.assert_form_kept()
    assert screen.objects() == [] and screen.posts() == []


def test_s3_down_while_checking_keeps_the_file_and_checks_it_once_s3_is_back(
        screen: Screen, monkeypatch: pytest.MonkeyPatch) -> None:
    real_presign_view = ImageStore.presign_view

    def dead_endpoint(self, key: str, *, seconds: int = 3600) -> str:
        url = urlsplit(real_presign_view(self, key, seconds=seconds))
        return urlunsplit(url._replace(netloc="127.0.0.1:9"))  # nothing listens on port 9

    key = screen.put(clip_bytes(clips.SMALL)(), "small.mp4")
    monkeypatch.setattr(ImageStore, "presign_view", dead_endpoint)
    screen.uploaded(TRAIN, key, "small.mp4", clip_path(clips.SMALL).stat().st_size)
    screen.run()
    screen.says("Could not reach the storage at 127.0.0.1:9", "The file itself was not judged")
    texts = " ".join(screen.texts())
    assert "not a readable video" not in texts and REMOVED not in texts
    assert "X-Amz-" not in texts  # the host only: never the signed query string
    assert key in screen.objects()  # the file may be fine: it is kept
    screen.assert_create_refused()
    screen.assert_form_kept()

    monkeypatch.setattr(ImageStore, "presign_view", real_presign_view)  # S3 is back
    screen.run()
    screen.check_line("fail", "resolution", "640x360 is below 720p")  # judged now
    assert screen.posts() == []


# ================================================================================================
# Create: a bad callback URL, Tavus failing, a name with markup
# ================================================================================================
def passing_clip(screen: Screen) -> str:
    key = screen.give(clip_bytes(FILE_BASE)(), "good.mp4")
    screen.says("Ready: this clip should train well.")
    assert not screen.create_button().disabled
    return key


def test_an_http_callback_url_is_refused_on_create_and_every_field_kept(
        screen: Screen, short_take: None) -> None:
    passing_clip(screen)
    screen.at.text_input(key="video_callback_url").set_value("http://example.com/hook")
    screen.run()
    screen.create_button().click()
    screen.run()
    settle(screen.at)
    screen.says("https://")
    assert any("https://" in shown(e) for e in screen.at.error), [e.value for e in screen.at.error]
    assert screen.at.text_input(key="video_callback_url").value == "http://example.com/hook"
    screen.assert_form_kept()
    assert screen.at.session_state["video_slot"].get("attempt") is None  # refused: nothing began
    assert screen.posts() == []


def replicas_named(screen: Screen, name: str) -> list:
    from lib.demo import DEMO_API_KEY
    from lib.tavus.client import TavusClient

    with TavusClient(screen.sim.base_url, DEMO_API_KEY) as tavus:
        return [r for r in tavus.list_all_replicas(replica_type="user")
                if r.replica_name == name]


def test_tavus_answering_500_is_explained_and_a_retry_creates_exactly_one(
        screen: Screen, short_take: None) -> None:
    name = f"Ada 500 {uuid.uuid4().hex[:6]}"
    screen.at.text_input(key="video_replica_name").set_value(name)
    typed = {**FORM, "video_replica_name": name}
    passing_clip(screen)
    screen.sim.inject_fault("500", count=10, path_prefix="/v2/replicas")
    screen.create_button().click()
    screen.run()
    settle(screen.at)
    screen.sim.clear_faults()
    errors = [shown(e) for e in screen.at.error]
    assert any("Tavus is having trouble" in e and "Try again in a minute" in e
               for e in errors), errors
    assert replicas_named(screen, name) == []
    for key, value in typed.items():
        assert screen.at.text_input(key=key).value == value
    assert screen.at.text_area(key="video_notes").value == NOTES
    assert not screen.create_button().disabled  # the user may try again
    failed_posts = len(screen.posts())
    assert failed_posts == 1  # a create is never retried blindly

    screen.create_button().click()  # Tavus is back
    screen.run()
    settle(screen.at)
    attempt = screen.at.session_state["video_slot"]["attempt"]
    assert attempt.replica_id
    assert [r.replica_id for r in replicas_named(screen, name)] == [attempt.replica_id]
    assert len(screen.posts()) == failed_posts + 1
    screen.says(f"Training started: replica `{attempt.replica_id}`")
    assert screen.create_button().disabled  # already made from this clip


def test_a_replica_name_with_markup_is_created_as_typed_and_shown_as_text(
        screen: Screen, short_take: None) -> None:
    name = "**bold** [link](http://x) <b>x</b> :red[red]"
    full = "<i>Ada</i> *Lovelace*"
    screen.at.text_input(key="video_replica_name").set_value(name)
    screen.at.text_input(key="video_full_name").set_value(full)
    passing_clip(screen)
    screen.create_button().click()
    screen.run()
    settle(screen.at)
    attempt = screen.at.session_state["video_slot"]["attempt"]
    assert [r.replica_id for r in replicas_named(screen, name)] == [attempt.replica_id]
    assert len(screen.posts()) == 1
    at = screen.at
    elements = [*at.markdown, *at.caption, *at.error, *at.warning, *at.success, *at.info]
    for element in elements:
        assert name not in element.value and full not in element.value, element.value
    # The guide's statement carries the full name in a code block: shown literally.
    assert any(f"I, {full}, am currently speaking" in c.value for c in at.code), [
        c.value for c in at.code]
