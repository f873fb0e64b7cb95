"""The bad-input matrix: every way a photo, a form value, Tavus or S3 can go wrong, and what the
user reads then. Each case checks the message (what is wrong AND what to do) and that nothing was
created, uploaded twice or lost.

Real peers only: the Tavus simulator over HTTP, moto's S3 server, and for the S3 answers moto
cannot give (an AccessDenied with S3's XML body, a wrong region) a tiny stdlib HTTP server that
answers exactly as S3 does. The app itself runs under AppTest in demo mode.
"""

from __future__ import annotations

import io
import json
import re
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

import lib.photos.intake
from lib.config import S3Settings
from lib.demo import DEMO_API_KEY, running_demo_services
from lib.errors import user_message
from lib.photos.analysis import analyse_photo
from lib.photos.checks import Level, Verdict
from lib.photos.intake import PhotoError, prepare_photo
from lib.replicas.create import (
    MAX_NAME_LENGTH,
    CreateAttempt,
    FormError,
    ReplicaForm,
    attempt_for,
    callback_url_from,
    create_replica_from_photo,
    replica_name_for,
)
from lib.replicas.table import error_hint
from lib.storage.s3 import ImageStore, StorageError
from lib.tavus.client import ReplicaStatus, TavusClient, TavusError
from lib.tavus.simulator import TavusSimulator
from lib.text import escape_markdown
from tests.apptest import APP, TIMEOUT, open_page, settle, shown
from tests.media import astronaut, astronaut_png, cat, coffee, encode, iphone_heic, on_canvas

KEY = "bad-input-sim-key-7f3a9c"
MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!|<>~$:")


# ================================================================================================
# photos: built in the test from scikit-image's data with Pillow (and OpenCV for 16-bit RGB)
# ================================================================================================
def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def png_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A real, complete 1-bit PNG of width x height (all black): ~12 KB that decodes to 100 MP."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def animated(fmt: str) -> bytes:
    buffer = io.BytesIO()
    astronaut().save(buffer, fmt, save_all=True, append_images=[astronaut().rotate(10)])
    return buffer.getvalue()


def png_16bit_rgb() -> bytes:
    """48-bit RGB PNG (what Lightroom or a scanner exports); Pillow cannot write one, OpenCV can."""
    wide = np.asarray(astronaut()).astype(np.uint16) * 257  # 0..255 -> 0..65535
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(wide[:, :, ::-1]))  # OpenCV is BGR
    assert ok
    return buffer.tobytes()


def png_16bit_grey() -> bytes:
    return encode(astronaut().convert("L").point(lambda v: v * 256, "I").convert("I;16"))


def with_transparent_corner() -> bytes:
    image = astronaut().convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 96, 96))
    return encode(image)


def portrait_on_canvas() -> Image.Image:
    return on_canvas(astronaut(), (512, 704), (0, 96))  # portrait: a rotation shows in the size


def exif_rotated_jpeg() -> bytes:
    """What a phone held upright writes: sideways pixels plus "rotate 90 CW" in EXIF."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    sideways = portrait_on_canvas().transpose(Image.Transpose.ROTATE_90)
    return encode(sideways, "JPEG", quality=95, exif=exif.tobytes())


def two_faces() -> bytes:
    two = on_canvas(astronaut(), (1024, 512), (0, 0))
    two.paste(astronaut(), (512, 0))
    return encode(two)


def heic_header() -> bytes:
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200


def iphone_portrait_heic() -> bytes:
    """An iPhone photo: HEIC, stored sideways, orientation 6 (EXIF and HEIF's irot), GPS, XMP."""
    return iphone_heic(portrait_on_canvas(), orientation=6)


def truncated_heic() -> bytes:
    data = iphone_portrait_heic()
    return data[: len(data) // 2]  # a cut-off AirDrop or download


def mean_difference(data: bytes, expected: Image.Image) -> float:
    got = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)
    return float(np.abs(got - np.asarray(expected.convert("RGB"), dtype=float)).mean())


@dataclass(frozen=True)
class PhotoCase:
    id: str
    make: Callable[[], bytes]
    filename: str
    # refused by prepare_photo: (what is wrong, what to do), both must be in the message
    refused: tuple[str, str] | None = None
    # accepted and clean: a phrase from the conversion note (None: no note is promised)
    note: str | None = None
    upright_as: Callable[[], Image.Image] | None = None  # the picture it must come out as
    # accepted by intake but blocked by the checks: check id -> phrase of its reason
    fails: dict[str, str] = field(default_factory=dict)
    upload_limit: int | None = None  # patch lib.photos.intake.MAX_UPLOAD_BYTES for this case

    @property
    def blocking(self) -> bool:
        return self.refused is not None or bool(self.fails)


PHOTO_CASES = [
    # -- refused at intake: the message says what is wrong and what to do ----------------------
    PhotoCase("zero-byte", lambda: b"", "me.png", refused=("empty", "PNG or JPEG")),
    PhotoCase("empty-png", lambda: b"\x89PNG\r\n\x1a\n", "me.png",
              refused=("not a readable image", "PNG or JPEG")),
    PhotoCase("truncated-png", lambda: astronaut_png()[:20_000], "cut.png",
              refused=("damaged or incomplete", "export it as PNG or JPEG")),
    PhotoCase("truncated-jpeg",
              lambda: (lambda d: d[: len(d) // 2])(encode(astronaut(), "JPEG", quality=90)),
              "cut.jpg", refused=("damaged or incomplete", "export it as PNG or JPEG")),
    PhotoCase("text-as-png", lambda: b"this is not a photo, just some notes\n" * 30,
              "headshot.png", refused=("not a readable image", "PNG or JPEG headshot")),
    PhotoCase("html-as-jpeg",
              lambda: b"<!DOCTYPE html><html><body>Sign in to continue</body></html>",
              "headshot.jpg", refused=("web page", "Save the image itself as PNG or JPEG")),
    PhotoCase("gif", lambda: encode(astronaut(), "GIF"), "disguised.png",
              refused=("This is a GIF image", "Export it as PNG or JPEG")),
    PhotoCase("animated-webp", lambda: animated("WEBP"), "moving.webp",
              refused=("2 frames", "export one frame as PNG or JPEG")),
    PhotoCase("heic", heic_header, "IMG_1234.png",
              refused=("HEIC photo is damaged or incomplete", "export it as JPEG")),
    PhotoCase("truncated-heic", truncated_heic, "IMG_4821.HEIC",
              refused=("HEIC photo is damaged or incomplete", "export it as JPEG")),
    PhotoCase("text-as-heic", lambda: b"this is not a photo, just some notes\n" * 30,
              "IMG_4821.heic", refused=("named as a HEIC photo but is not one",
                                        "export it as JPEG")),
    PhotoCase("bomb-100mp", png_bomb, "bomb.png",
              refused=("10000x10000", "Export it at a smaller size")),
    PhotoCase("over-upload-limit", astronaut_png, "big.png", upload_limit=100_000,
              refused=("limit is 0.1 MB", "Export a smaller JPEG")),
    # -- accepted, converted and checked as a good photo ---------------------------------------
    PhotoCase("16-bit-grey-png", png_16bit_grey, "scan.png", note="16-bit"),
    PhotoCase("16-bit-rgb-png", png_16bit_rgb, "raw-export.png", upright_as=astronaut),
    PhotoCase("cmyk-jpeg", lambda: encode(astronaut().convert("CMYK"), "JPEG", quality=95),
              "print.jpg", note="CMYK"),
    PhotoCase("greyscale", lambda: encode(astronaut().convert("L")), "grey.png",
              note="greyscale"),
    PhotoCase("alpha-channel", with_transparent_corner, "cutout.png", note="transparent"),
    PhotoCase("exif-rotated", exif_rotated_jpeg, "IMG_0001.jpg", note="Rotated upright",
              upright_as=portrait_on_canvas),
    PhotoCase("iphone-heic", iphone_portrait_heic, "IMG_4821.HEIC",
              note="Converted from HEIC to JPEG", upright_as=portrait_on_canvas),
    # -- accepted by intake, blocked by the checks ---------------------------------------------
    PhotoCase("1x1", lambda: encode(astronaut().resize((1, 1))), "dot.png",
              fails={"resolution": "1x1 px is below"}),
    PhotoCase("511x511", lambda: encode(astronaut().resize((511, 511))), "almost.png",
              fails={"resolution": "511x511 px is below"}),
    PhotoCase("no-face", lambda: encode(coffee().resize((768, 512))), "coffee.png",
              fails={"one_face": "No face found"}),
    PhotoCase("two-faces", two_faces, "us.png",
              fails={"one_face": "More than one person: 2 faces found"}),
    PhotoCase("cat", lambda: encode(cat().resize((770, 512))), "chelsea.png",
              fails={"one_face": "No face found"}),
]
PHOTO_BY_ID = {case.id: case for case in PHOTO_CASES}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("case", PHOTO_CASES, ids=[f"photo-{c.id}" for c in PHOTO_CASES])
def test_photo_intake_and_checks(case: PhotoCase, monkeypatch: pytest.MonkeyPatch) -> None:
    if case.upload_limit:
        monkeypatch.setattr(lib.photos.intake, "MAX_UPLOAD_BYTES", case.upload_limit)
    data = case.make()
    decoded: list[str] = []
    original_load = ImageFile.ImageFile.load

    def watched_load(image):  # observes decoding; the real decoder still runs
        decoded.append(f"{image.size}")
        return original_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", watched_load)

    # What the Create page calls: a refusal leaves nothing to create from; a failing check blocks.
    analysis = analyse_photo(data, case.filename)
    if case.refused is not None:
        wrong, todo = case.refused
        with pytest.raises(PhotoError) as caught:
            prepare_photo(data, case.filename)
        message = str(caught.value)
        assert wrong in message and todo in message, message
        assert analysis.prepared is None and analysis.error == message
        if case.id == "bomb-100mp":
            assert decoded == [], "the bomb was decoded before it was refused"
        return

    assert analysis.error is None and analysis.prepared is not None and analysis.report
    prepared, report = analysis.prepared, analysis.report
    image = Image.open(io.BytesIO(prepared.data))
    assert image.mode == "RGB" and image.format in ("PNG", "JPEG")
    assert prepared.content_type == f"image/{image.format.lower()}"
    if case.fails:
        assert report.blocking and report.verdict is Verdict.LIKELY_FAIL
        for check_id, phrase in case.fails.items():
            check = report.get(check_id)
            assert check is not None and check.level is Level.FAIL, (check_id, report.failed)
            assert phrase in check.reason and check.fix, check  # why, and what to do
        return

    assert not report.blocking and report.verdict is Verdict.READY, report.failed
    assert decoded  # the decode watcher sees real decodes (so the bomb's "none" means something)
    assert len(report.faces) == 1
    if case.note:
        assert any(case.note in n for n in prepared.notes), prepared.notes
        assert prepared.converted or prepared.rotated
    if case.upright_as is not None:
        expected = case.upright_as()
        assert (prepared.width, prepared.height) == expected.size
        assert mean_difference(prepared.data, expected) < 4  # the same picture, upright
    assert len(image.getexif()) == 0  # no EXIF (orientation, camera, GPS) is uploaded


def test_every_refused_or_blocked_photo_is_in_the_app_matrix() -> None:
    """The app-level test below covers each photo case that must not lead to a create."""
    assert {c.id for c in PHOTO_CASES if c.blocking} == set(APP_PHOTO_IDS)


# ================================================================================================
# the app (AppTest, demo mode): a refused or blocked photo cannot be created from
# ================================================================================================
def upload(at: AppTest, data: bytes, name: str) -> None:
    mime = ("image/jpeg" if name.lower().endswith((".jpg", ".jpeg"))
            else "image/heic" if name.lower().endswith(".heic") else "image/png")
    at.file_uploader[0].set_value((name, data, mime))
    at.run()
    assert not at.exception, at.exception


@dataclass(frozen=True)
class DemoWorld:
    """What the demo stand-ins hold: user replicas and stored objects."""

    replica_ids: frozenset[str]
    object_keys: frozenset[str]


def demo_world() -> DemoWorld:
    services = running_demo_services()
    assert services is not None, "demo mode did not start its stand-ins"
    with TavusClient(services.tavus_url, DEMO_API_KEY) as tavus:
        ids = frozenset(r.replica_id for r in tavus.list_all_replicas(replica_type="user"))
    keys = frozenset(ImageStore(services.s3).list_keys(""))
    return DemoWorld(ids, keys)


def demo_replicas_named(name: str) -> list:
    services = running_demo_services()
    with TavusClient(services.tavus_url, DEMO_API_KEY) as tavus:
        return [r for r in tavus.list_all_replicas(replica_type="user") if r.replica_name == name]


def assert_create_refused(at: AppTest) -> None:
    button = at.button(key="create_button")
    assert button.disabled
    with pytest.raises(AppTestError, match="disabled"):  # as in a browser: it cannot be clicked
        button.click()


APP_PHOTO_IDS = ["zero-byte", "empty-png", "truncated-png", "truncated-jpeg", "text-as-png",
                 "html-as-jpeg", "gif", "animated-webp", "heic", "truncated-heic",
                 "text-as-heic", "bomb-100mp",
                 "over-upload-limit", "1x1", "511x511", "no-face", "two-faces", "cat"]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("photo_id", APP_PHOTO_IDS, ids=[f"app-photo-{i}" for i in APP_PHOTO_IDS])
def test_a_refused_or_blocked_photo_creates_and_uploads_nothing_in_the_app(
        photo_id: str, demo_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    case = PHOTO_BY_ID[photo_id]
    if case.upload_limit:
        monkeypatch.setattr(lib.photos.intake, "MAX_UPLOAD_BYTES", case.upload_limit)
    at = open_page()
    before = demo_world()
    upload(at, case.make(), case.filename)

    errors = [shown(e) for e in at.error]
    if case.refused is not None:
        wrong, todo = case.refused
        assert any(wrong in e and todo in e for e in errors), errors
        assert at.button(key="check_button").disabled  # nothing to check with Tavus either
    else:
        assert any("Will likely fail" in e for e in errors), errors
        lines = " ".join(shown(m) for m in at.markdown)
        for phrase in case.fails.values():
            assert phrase in lines, lines
        assert at.checkbox(key="create_anyway").value is False
    assert_create_refused(at)
    at.run()  # a rerun changes nothing
    assert not at.exception, at.exception
    assert at.session_state.create_slot.get("attempt") is None
    assert demo_world() == before  # no replica, no object


# ================================================================================================
# Tavus (the simulator over HTTP) and S3 (moto's server over HTTP) for the create path
# ================================================================================================
@pytest.fixture(scope="module")
def simulator() -> Iterator[TavusSimulator]:
    sim = TavusSimulator(KEY, training_seconds=60, seed_demo_data=False).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: TavusSimulator) -> Iterator[TavusSimulator]:
    simulator.clear_faults()
    simulator.reset_requests()
    yield simulator
    simulator.clear_faults()


@pytest.fixture
def s3_settings(s3_endpoint: str) -> S3Settings:
    """A fresh bucket per test case. (conftest's fixture names the bucket after the first 40
    characters of the test's name, so the parametrised cases of a long-named test would share
    one bucket and see each other's uploads.)"""
    settings = S3Settings(bucket=f"bad-input-{uuid.uuid4().hex[:16]}", region="us-east-1",
                          endpoint_url=s3_endpoint, prefix="photos/",
                          access_key_id="test-key-id", secret_access_key="test-secret-value")
    ImageStore(settings).ensure_bucket()
    return settings


def client(sim: TavusSimulator, key: str = KEY, **options) -> TavusClient:
    options.setdefault("sleep", lambda _: None)
    return TavusClient(sim.base_url, key, **options)


def replicas_named(sim: TavusSimulator, name: str) -> list:
    with client(sim) as tavus:
        return [r for r in tavus.list_all_replicas(replica_type="user") if r.replica_name == name]


def posts(sim: TavusSimulator) -> list:
    return [r for r in sim.requests if (r.method, r.path) == ("POST", "/v2/replicas")]


def photo_keys(settings: S3Settings) -> list[str]:
    return [k for k in ImageStore(settings).list_keys(settings.prefix) if not k.endswith(".json")]


def create(tavus: TavusClient, store: ImageStore, form: ReplicaForm,
           attempt: CreateAttempt | None = None, photo: bytes | None = None,
           filename: str = "astro.png", ttl_hours: int = 72) -> CreateAttempt:
    """As the Create page does it: the attempt is kept before running, so a failure keeps it."""
    prepared = prepare_photo(astronaut_png() if photo is None else photo, filename)
    attempt = attempt_for(prepared, attempt)
    create_replica_from_photo(tavus=tavus, store=store, attempt=attempt, photo=prepared,
                              filename=filename, form=form, ttl_hours=ttl_hours)
    return attempt


def assert_no_key(error: Exception, *keys: str) -> None:
    for key in keys:
        for text in (str(error), repr(error), user_message(error),
                     getattr(error, "message", "")):
            assert key not in text


# ------------------------------------------------------------------------------------------------
# replica names
# ------------------------------------------------------------------------------------------------
NAME_CASES = [
    ("empty", "", "jane_doe-headshot.png", "jane doe headshot"),
    ("whitespace", " \t \n ", "sam-lee.png", "sam lee"),
    ("1000-chars", "Ö" + "x" * 999, "long.png", ("Ö" + "x" * 999)[:MAX_NAME_LENGTH]),
    ("script", "<script>alert(1)</script>", "a.png", "<script>alert(1)</script>"),
    ("html-bold", "<b>bold</b>", "a.png", "<b>bold</b>"),
    ("markdown", "**bold** [link](http://x) :red[red]", "a.png",
     "**bold** [link](http://x) :red[red]"),
]


@pytest.mark.parametrize(("typed", "filename", "stored"), [c[1:] for c in NAME_CASES],
                         ids=[f"name-{c[0]}" for c in NAME_CASES])
def test_replica_name_reaches_tavus_as_typed_and_is_escaped_for_display(
        typed: str, filename: str, stored: str, sim: TavusSimulator,
        s3_settings: S3Settings) -> None:
    name = replica_name_for(typed, filename)
    assert name == stored and len(name) <= MAX_NAME_LENGTH
    with client(sim) as tavus:
        attempt = create(tavus, ImageStore(s3_settings),
                         ReplicaForm(replica_name=name, voice_name="anna"), filename=filename)
        again = create(tavus, ImageStore(s3_settings),  # a rerun / double click
                       ReplicaForm(replica_name=name, voice_name="anna"), attempt=attempt,
                       filename=filename)
        assert tavus.get_replica(attempt.replica_id).replica_name == stored
    assert again.replica_id == attempt.replica_id
    assert len(posts(sim)) == 1 and [r.replica_id for r in replicas_named(sim, stored)] == [
        attempt.replica_id]
    assert photo_keys(s3_settings) == [attempt.upload.key]

    escaped = escape_markdown(stored)
    assert escaped == "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in stored)
    assert not re.search(r"(?<!\\)[*\[\]<>:`_]", escaped), escaped  # nothing left to render


MARKUP_NAMES = [c[1] for c in NAME_CASES if c[0] in ("script", "html-bold", "markdown")]


@pytest.mark.parametrize("name", MARKUP_NAMES, ids=["app-name-script", "app-name-html-bold",
                                                     "app-name-markdown"])
def test_a_markup_name_is_stored_as_typed_and_shown_as_text(name: str, demo_env: None) -> None:
    at = open_page()
    before = demo_world()
    upload(at, astronaut_png(), "astro.png")
    at.text_input(key="replica_name").set_value(name)
    at.button(key="create_button").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception
    replica_id = at.session_state.create_slot["attempt"].replica_id
    # Once, as typed (among the replicas this test made: the simulator is shared by the tests of
    # one process, and another may have used the same name before, in whatever order they ran).
    assert [r.replica_id for r in demo_replicas_named(name)
            if r.replica_id not in before.replica_ids] == [replica_id]
    after = demo_world()
    assert after.replica_ids - before.replica_ids == {replica_id}
    assert len([k for k in after.object_keys - before.object_keys
                if not k.endswith(".json")]) == 1  # one photo uploaded

    details = AppTest.from_file(APP, default_timeout=TIMEOUT)
    details.query_params["replica"] = replica_id
    details.switch_page("pages/replicas.py")
    details.run()
    assert not details.exception, details.exception
    assert [s.value for s in details.subheader if name in shown(s)] == [escape_markdown(name)]
    table = details.dataframe[0].value
    assert table.loc[table.replica_id == replica_id, "name"].item() == name  # a text cell
    for element in [*details.markdown, *details.caption, *details.error, *details.warning]:
        assert name not in element.value  # never handed to Markdown unescaped


def test_the_hard_delete_confirmation_shows_the_name_as_text(demo_env: None) -> None:
    """PRODUCT BUG (pages/replicas.py, the "Type the name (…) to confirm" text_input): widget
    labels render Markdown, and the replica name goes into the label unescaped, so
    "**bold** [link](http://x)" shows bold with a live link. Fails until the label escapes it."""
    name = "**bold** [link](http://x) :red[red]"
    at = open_page()
    upload(at, astronaut_png(), "astro.png")
    at.text_input(key="replica_name").set_value(name)
    at.button(key="create_button").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception
    replica_id = at.session_state.create_slot["attempt"].replica_id
    assert replica_id
    details = AppTest.from_file(APP, default_timeout=TIMEOUT)
    details.query_params["replica"] = replica_id
    details.switch_page("pages/replicas.py")
    details.run()
    assert not details.exception, details.exception
    label = details.text_input(key=f"confirm-{replica_id}").label
    assert escape_markdown(name) in label, label


# ------------------------------------------------------------------------------------------------
# callback URL
# ------------------------------------------------------------------------------------------------
BAD_CALLBACKS = ["http://example.com/hook", "example.com", "not a url", "ftp://x", "https://"]
CALLBACK_IDS = ["callback-http", "callback-no-scheme", "callback-not-a-url", "callback-ftp",
                "callback-no-host"]


@pytest.mark.parametrize("url", BAD_CALLBACKS, ids=CALLBACK_IDS)
def test_a_bad_callback_url_is_refused_before_anything_is_uploaded_or_created(
        url: str, demo_env: None) -> None:
    with pytest.raises(FormError) as caught:
        callback_url_from(url)
    assert "https://" in str(caught.value) and "left empty" in str(caught.value)

    at = open_page()
    before = demo_world()
    upload(at, astronaut_png(), "callback.png")
    name = f"Callback {url}"[:MAX_NAME_LENGTH]
    at.text_input(key="replica_name").set_value(name)
    at.text_input(key="callback_url").set_value(url)
    at.button(key="create_button").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception
    assert any(str(caught.value) == shown(e) for e in at.error), [e.value for e in at.error]
    assert at.text_input(key="callback_url").value == url  # kept, to be corrected
    assert at.text_input(key="replica_name").value == name
    assert at.session_state.create_slot.get("attempt") is None  # refused before the attempt began
    assert demo_world() == before  # no upload, no replica


# ------------------------------------------------------------------------------------------------
# unknown voice
# ------------------------------------------------------------------------------------------------
def test_an_unknown_voice_is_tavus_text_and_the_retry_keeps_the_upload(
        sim: TavusSimulator, s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    attempt = attempt_for(prepare_photo(astronaut_png()), None)  # the page keeps it first
    with client(sim) as tavus:
        with pytest.raises(TavusError) as caught:
            create(tavus, store, ReplicaForm("Voice Test", "nosuchvoice"), attempt=attempt)
        error = caught.value
        assert error.status_code == 400 and "Invalid voice_name 'nosuchvoice'" in error.message
        assert user_message(error) == f"Tavus refused the request: {error.message}"
        assert "such as anna" in user_message(error)  # Tavus says what to use instead
        assert_no_key(error, KEY)
        assert replicas_named(sim, "Voice Test") == [] and len(posts(sim)) == 1
        first_upload = attempt.upload
        assert first_upload is not None and photo_keys(s3_settings) == [first_upload.key]

        create(tavus, store, ReplicaForm("Voice Test", "anna"), attempt=attempt)
    assert attempt.upload == first_upload and attempt.replica_id
    assert photo_keys(s3_settings) == [first_upload.key]  # not uploaded again
    assert [r.replica_id for r in replicas_named(sim, "Voice Test")] == [attempt.replica_id]


# ------------------------------------------------------------------------------------------------
# every Tavus error
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TavusCase:
    id: str
    call: str  # "create" (through the create path, with S3) or the name of a read
    status: int | None
    says: str  # in error.message
    user: str  # in user_message(error)
    fault: dict | None = None  # sim.inject_fault(**fault)
    key: str = KEY
    voice: str = "anna"
    options: dict = field(default_factory=dict)  # TavusClient options
    requests: int = 1  # how many reached the simulator (retries included)
    sleeps: tuple[float, ...] | None = None
    target: str = ""  # the id a read asks for
    landed: bool = False  # the simulator made the replica although the client saw an error


TAVUS_CASES = [
    TavusCase("401-wrong-key", "create", 401, "Invalid access token", "Check TAVUS_API_KEY",
              key="wrong-key-0000-secret"),
    TavusCase("400-with-text", "create", 400, "voice_name is required",
              "Tavus refused the request: voice_name is required", voice=""),
    TavusCase("unknown-replica-id", "get_replica", 400, "Invalid replica_id",
              "Tavus refused the request: Invalid replica_id", target="rdoesnotexist"),
    TavusCase("unknown-conversation-id", "get_conversation", 400, "Invalid conversation_id",
              "Tavus refused the request: Invalid conversation_id", target="cdoesnotexist"),
    TavusCase("429-retry-after-create", "create", 429, "Too many requests",
              "Wait for 7 s and try again", fault={"kind": "429", "count": 5, "retry_after": 7},
              options={"max_retries": 1}, requests=2, sleeps=(7.0,)),
    TavusCase("429-retry-after-read", "list_replicas", 429, "Too many requests",
              "Wait for 7 s and try again", fault={"kind": "429", "count": 5, "retry_after": 7},
              options={"max_retries": 1}, requests=2, sleeps=(7.0,)),
    TavusCase("500-create", "create", 500, "Internal server error", "Try again in a minute",
              fault={"kind": "500", "count": 5}, options={"max_retries": 3}),
    TavusCase("500-read", "list_replicas", 500, "Internal server error", "Try again in a minute",
              fault={"kind": "500", "count": 5}, options={"max_retries": 1}, requests=2),
    TavusCase("timeout-create", "create", None, "may still have gone through",
              "Could not reach Tavus: timed out", fault={"kind": "slow", "delay": 1.0},
              options={"timeout": 0.3, "max_retries": 3}, landed=True),
    TavusCase("timeout-read", "list_replicas", None, "timed out",
              "Could not reach Tavus: timed out", fault={"kind": "slow", "delay": 1.0,
                                                         "count": 2},
              options={"timeout": 0.3, "max_retries": 1}, requests=2),
    TavusCase("malformed-json-create", "create", 200, "not valid JSON", "unreadable answer",
              fault={"kind": "malformed"}),
    TavusCase("malformed-json-read", "list_replicas", 200, "not valid JSON",
              "unreadable answer", fault={"kind": "malformed"}),
    TavusCase("empty-body-create", "create", 200, "empty body", "unreadable answer",
              fault={"kind": "empty"}),
    TavusCase("empty-body-read", "list_replicas", 200, "empty body", "unreadable answer",
              fault={"kind": "empty"}),
    TavusCase("dropped-create", "create", None, "may still have gone through",
              "Could not reach Tavus", fault={"kind": "drop", "count": 5},
              options={"max_retries": 3}),
    TavusCase("dropped-read", "list_replicas", None, "connection closed",
              "Could not reach Tavus", fault={"kind": "drop", "count": 5},
              options={"max_retries": 1}, requests=2),
]


def wait_for_replicas(sim: TavusSimulator, name: str, count: int, seconds: float = 10) -> list:
    """Poll until the simulator holds `count` replicas named `name` (or give up and return)."""
    deadline = time.monotonic() + seconds
    found = replicas_named(sim, name)
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        found = replicas_named(sim, name)
    return found


@pytest.mark.parametrize("case", TAVUS_CASES, ids=[f"tavus-{c.id}" for c in TAVUS_CASES])
def test_every_tavus_error_is_explained_and_nothing_is_created_twice_or_lost(
        case: TavusCase, sim: TavusSimulator, s3_settings: S3Settings) -> None:
    name = f"Tavus {case.id}"
    slept: list[float] = []
    store = ImageStore(s3_settings)
    attempt = attempt_for(prepare_photo(astronaut_png()), None)  # the page keeps it first
    with client(sim, case.key, sleep=slept.append, **case.options) as tavus:
        if case.fault:
            sim.inject_fault(**{"path_prefix": "/v2/", **case.fault})
        with pytest.raises(TavusError) as caught:
            if case.call == "create":
                create(tavus, store, ReplicaForm(name, case.voice), attempt=attempt)
            elif case.call == "list_replicas":
                tavus.list_replicas()
            else:
                getattr(tavus, case.call)(case.target)
    sim.clear_faults()  # what the client did not use up must not hit the checks below
    error = caught.value
    assert error.status_code == case.status
    assert case.says in error.message, error.message
    assert case.user in user_message(error), user_message(error)
    assert_no_key(error, KEY, case.key)
    assert len(sim.requests) == case.requests, [(r.method, r.path) for r in sim.requests]
    if case.sleeps is not None:
        assert tuple(slept) == case.sleeps  # Retry-After honoured
        assert error.retry_after == case.sleeps[0]
    if case.call != "create":
        return

    assert len(posts(sim)) == case.requests  # never retried blindly
    assert attempt.upload is not None and attempt.replica_id is None  # the upload is kept
    assert photo_keys(s3_settings) == [attempt.upload.key]
    if case.landed:
        # The request did reach Tavus: the message told the user to check before retrying.
        assert "check before trying again" in user_message(error)
        assert len(wait_for_replicas(sim, name, 1)) == 1
        return
    assert replicas_named(sim, name) == []

    # Fixed (the key, the voice) or passed (the outage): the retry reuses the upload.
    first_upload = attempt.upload
    with client(sim) as tavus:
        create(tavus, store, ReplicaForm(name, "anna"), attempt=attempt)
    assert attempt.upload == first_upload and photo_keys(s3_settings) == [first_upload.key]
    assert [r.replica_id for r in replicas_named(sim, name)] == [attempt.replica_id]


def test_a_retry_after_a_create_that_timed_out_but_landed_makes_no_second_replica(
        sim: TavusSimulator, s3_settings: S3Settings) -> None:
    """PRODUCT BUG (lib/replicas/create.py, create_replica_from_photo): after a create POST
    times out, `attempt.replica_id` stays None, the Create button stays enabled, and the next
    click POSTs again although the first request reached Tavus: two replicas (two trainings billed).
    Fails until a retry after an uncertain create finds the replica it already made."""
    name = "Timed Out Once"
    store = ImageStore(s3_settings)
    attempt = attempt_for(prepare_photo(astronaut_png()), None)
    sim.inject_fault("slow", delay=1.0, path_prefix="/v2/replicas")  # > the client's 0.3 s
    with client(sim, timeout=0.3) as tavus, pytest.raises(TavusError) as caught:
        create(tavus, store, ReplicaForm(name, "anna"), attempt=attempt)
    assert "may still have gone through" in caught.value.message
    [landed] = wait_for_replicas(sim, name, 1)  # Tavus did make it

    with client(sim) as tavus:  # the user clicks Create again
        create(tavus, store, ReplicaForm(name, "anna"), attempt=attempt)
    assert photo_keys(s3_settings) == [attempt.upload.key]
    assert [r.replica_id for r in replicas_named(sim, name)] == [landed.replica_id]
    assert attempt.replica_id == landed.replica_id


# ================================================================================================
# every S3 fault
# ================================================================================================
def s3_error(code: str, message: str, **extra: str) -> str:
    more = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message>{more}<RequestId>4442587FB7D0A2F9</RequestId>"
            "<HostId>dGVzdA==</HostId></Error>")


class FakeS3:
    """A real HTTP peer that answers every request the way S3 answers that fault.

    `{signature}` and `{access_key}` in the body are filled from the request, as S3 echoes them
    (SignatureDoesNotMatch carries SignatureProvided and AWSAccessKeyId)."""

    def __init__(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                fake.requests.append((self.command, self.path))
                query = parse_qs(urlsplit(self.path).query)
                text = body.replace("{signature}", query.get("X-Amz-Signature", [""])[0])
                text = text.replace("{access_key}",
                                    query.get("X-Amz-Credential", [""])[0].split("/")[0])
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_PUT = do_GET = do_HEAD = do_POST = _answer

            def log_message(self, format: str, *args) -> None:  # quiet: URLs are credentials
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_s3() -> Iterator[Callable[..., FakeS3]]:
    started: list[FakeS3] = []

    def start(status: int, body: str, headers: dict[str, str] | None = None) -> FakeS3:
        started.append(FakeS3(status, body, headers))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@dataclass(frozen=True)
class S3Case:
    id: str
    says: tuple[str, ...]  # each in the StorageError message
    code: str | None = None
    fake: tuple[int, str, dict] | None = None  # (status, body, headers) from FakeS3


S3_CASES = [
    S3Case("no-such-bucket", ("NoSuchBucket", "Check S3_BUCKET", "does not exist"),
           code="NoSuchBucket"),
    S3Case("access-denied", ("AccessDenied", "Check that the AWS credentials may write"),
           code="AccessDenied", fake=(403, s3_error("AccessDenied", "Access Denied"), {})),
    S3Case("invalid-access-key", ("Check AWS_ACCESS_KEY_ID",), code="InvalidAccessKeyId",
           fake=(403, s3_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does "
                               "not exist in our records.", AWSAccessKeyId="{access_key}"), {})),
    S3Case("signature-mismatch", ("Check AWS_SECRET_ACCESS_KEY",), code="SignatureDoesNotMatch",
           fake=(403, s3_error("SignatureDoesNotMatch", "The request signature we calculated "
                               "does not match the signature you provided. Check your key and "
                               "signing method.", AWSAccessKeyId="{access_key}",
                               SignatureProvided="{signature}",
                               StringToSign="AWS4-HMAC-SHA256\n{signature}"), {})),
    S3Case("endpoint-down", ("Could not reach the photo store", "Check S3_ENDPOINT_URL",
                             "network")),
    S3Case("no-answer", ("Could not reach the photo store", "ReadTimeout",
                         "Check S3_ENDPOINT_URL")),
    S3Case("wrong-region-redirect", ("PermanentRedirect", "Check S3_REGION"),
           code="PermanentRedirect",
           fake=(301, s3_error("PermanentRedirect", "The bucket you are attempting to access "
                               "must be addressed using the specified endpoint. Please send all "
                               "future requests to this endpoint.",
                               Endpoint="photos.s3.eu-west-1.amazonaws.com", Bucket="photos"),
                 {"x-amz-bucket-region": "eu-west-1"})),
    S3Case("wrong-region-credential", ("Check S3_REGION", "expecting 'eu-west-1'"),
           code="AuthorizationQueryParametersError",
           fake=(400, s3_error("AuthorizationQueryParametersError", "Error parsing the "
                               "X-Amz-Credential parameter; the region 'us-east-1' is wrong; "
                               "expecting 'eu-west-1'", Region="eu-west-1"), {})),
    S3Case("expired-token", ("AWS_SESSION_TOKEN",), code="ExpiredToken",
           fake=(400, s3_error("ExpiredToken", "The provided token has expired."), {})),
]


@pytest.mark.parametrize("case", S3_CASES, ids=[f"s3-{c.id}" for c in S3_CASES])
def test_every_s3_fault_is_explained_and_nothing_reaches_tavus(
        case: S3Case, sim: TavusSimulator, s3_settings: S3Settings,
        fake_s3: Callable[..., FakeS3], black_hole: str) -> None:
    settings, timeout, fake = s3_settings, 20.0, None
    if case.id == "no-such-bucket":
        settings = replace(s3_settings, bucket="no-such-bucket-anywhere")
    elif case.id == "endpoint-down":
        settings = replace(s3_settings, endpoint_url="http://127.0.0.1:9")
    elif case.id == "no-answer":
        settings, timeout = replace(s3_settings, endpoint_url=black_hole), 0.5
    elif case.fake is not None:
        fake = fake_s3(*case.fake)
        settings = replace(s3_settings, bucket="photos", endpoint_url=fake.url)
    attempt = attempt_for(prepare_photo(astronaut_png()), None)
    with client(sim) as tavus, pytest.raises(StorageError) as caught:
        create(tavus, ImageStore(settings, timeout=timeout), ReplicaForm("S3 " + case.id, "anna"),
               attempt=attempt)
    error = caught.value
    for phrase in case.says:
        assert phrase in error.message, error.message
    assert error.code == case.code
    assert user_message(error) == error.message  # what the user reads, word for word
    secrets = [settings.secret_access_key, "X-Amz-Signature", "X-Amz-Credential="]
    if fake is not None:
        assert len(fake.requests) == 1 and fake.requests[0][0] == "PUT"  # it really asked
        signature = parse_qs(urlsplit(fake.requests[0][1]).query)["X-Amz-Signature"][0]
        secrets.append(signature)
    for secret in secrets:
        assert secret not in error.message and secret not in repr(error)
    assert attempt.upload is None and attempt.replica_id is None  # nothing half-done
    assert sim.requests == []  # Tavus was never asked
    assert photo_keys(s3_settings) == []


def test_a_bucket_policy_denial_names_the_credentials_even_without_an_error_body(
        sim: TavusSimulator, s3_settings: S3Settings) -> None:
    """PRODUCT BUG (lib/storage/s3.py, _explain): moto enforces a bucket policy that denies
    s3:PutObject, answering 403 with no XML body (as S3 does for HEAD, and proxies do). With no
    error code the user reads only "(HTTP 403). Check the S3 settings" instead of the credential
    hint. Fails until a code-less 403 gets the AccessDenied hint."""
    store = ImageStore(s3_settings)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{s3_settings.bucket}/*"}]}
    store._s3.put_bucket_policy(Bucket=s3_settings.bucket, Policy=json.dumps(policy))
    attempt = attempt_for(prepare_photo(astronaut_png()), None)
    with client(sim) as tavus, pytest.raises(StorageError) as caught:
        create(tavus, store, ReplicaForm("Denied", "anna"), attempt=attempt)
    error = caught.value
    assert error.status_code == 403  # moto really refused it
    assert attempt.upload is None and sim.requests == [] and photo_keys(s3_settings) == []
    assert s3_settings.secret_access_key not in error.message
    assert "credentials" in error.message, error.message


# ------------------------------------------------------------------------------------------------
# an expired training URL, where the server checks it (the simulator does, as Tavus would)
# ------------------------------------------------------------------------------------------------
def test_an_expired_training_url_fails_the_replica_with_a_hint(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    late = TavusSimulator(KEY, training_seconds=60, seed_demo_data=False).start()
    try:
        # Tavus gets to the download 25 h after the link was signed; the link lives 24 h.
        late.advance(25 * 3600)
        with client(late) as tavus:
            attempt = create(tavus, store, ReplicaForm("Expired Link", "anna"), ttl_hours=1)
            expires = parse_qs(urlsplit(attempt.training_url.url).query)["X-Amz-Expires"]
            assert expires == [str(24 * 3600)]  # never shorter than Tavus needs
            assert late.wait_for_downloads()
            replica = tavus.get_replica(attempt.replica_id)
        assert replica.state is ReplicaStatus.FAILED
        assert "presigned URL expired" in replica.error_message
        assert "X-Amz-Signature" not in replica.error_message  # no credential in the reason
        hint = error_hint(replica.error_message)
        assert hint is not None and "expired" in hint and "create the replica again" in hint
        assert len(photo_keys(s3_settings)) == 1 and len(replicas_named(late, "Expired Link")) == 1
    finally:
        late.stop()
