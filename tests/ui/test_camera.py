"""The camera widget's Python side: the component's state → CameraShot, the readable name in the
viewer's clock, the messages for a camera that cannot serve, and the Create page fed by a camera
shot. The capture itself (getUserMedia, canvas, countdown) runs in Chromium:
tests/e2e/test_camera_journey.py."""

from __future__ import annotations

import base64
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lib.ui.camera import CameraShot, problem_message, shot_from_state, shot_name
from tests.apptest import open_page, shown
from tests.media import astronaut, encode

TAKEN_AT_MS = 1796034280815  # 2026-11-30 10:24:40.815 UTC


def camera_jpeg(size: tuple[int, int] = (1280, 720)) -> bytes:
    canvas = astronaut().resize((size[1], size[1]))
    frame = Image.new("RGB", size, (90, 90, 100))
    frame.paste(canvas, ((size[0] - size[1]) // 2, 0))
    return encode(frame, "JPEG", quality=92)


def photo_state(data: bytes, width: int = 1280, height: int = 720) -> dict:
    return {"token": "t1", "data_url": "data:image/jpeg;base64," + base64.b64encode(data).decode(),
            "width": width, "height": height, "settings": {"width": width, "height": height},
            "label": "Fake camera", "taken_at": TAKEN_AT_MS}


def test_the_state_becomes_a_camera_shot_with_a_readable_name() -> None:
    data = camera_jpeg()
    shot = shot_from_state(photo_state(data), UTC)
    assert shot == CameraShot(data=data, width=1280, height=720,
                              name="Camera headshot, 30 Nov 10:24", camera="Fake camera")
    assert shot.getvalue() == data


def test_the_name_is_in_the_viewers_clock() -> None:
    assert shot_name(TAKEN_AT_MS, ZoneInfo("Europe/Paris")) == "Camera headshot, 30 Nov 11:24"
    los_angeles = ZoneInfo("America/Los_Angeles")
    assert shot_name(TAKEN_AT_MS, los_angeles) == "Camera headshot, 30 Nov 02:24"


@pytest.mark.parametrize("state", [
    None, "x", {}, {"data_url": "data:image/png;base64,AAAA", "width": 1, "height": 1},
    {"data_url": "data:image/jpeg;base64,@@not base64@@", "width": 1, "height": 1},
    {"data_url": "data:image/jpeg;base64,AAAA", "width": "wide", "height": 1},
    {"data_url": "data:image/jpeg;base64,AAAA"},
])
def test_a_malformed_state_is_no_photo(state) -> None:
    assert shot_from_state(state, UTC) is None


def test_each_problem_says_what_to_do() -> None:
    small = problem_message({"kind": "small", "width": 640, "height": 480, "label": "Cam *1*"})
    assert "640×480" in small and "512" in small and "upload a photo instead" in small
    assert "Cam \\*1\\*" in small  # the browser's camera label is shown as typed
    assert "Allow the camera" in problem_message({"kind": "denied"})
    assert "No camera was found" in problem_message({"kind": "none"})
    assert "another application" in problem_message({"kind": "busy"})
    assert "https://" in problem_message({"kind": "unsupported"})
    assert "Weird_Error" in problem_message({"kind": "error", "error": "Weird_Error"}).replace(
        "\\", "")


def _widget_script() -> None:
    import streamlit as st

    from lib.ui.camera import camera_headshot

    shot = camera_headshot("cam")
    st.write("none" if shot is None else f"{shot.width}x{shot.height} · {shot.name}")


def test_the_widget_returns_the_photo_and_warns_about_a_small_camera() -> None:
    at = AppTest.from_function(_widget_script)
    at.run()
    assert not at.exception and at.markdown[0].value == "none"

    at = AppTest.from_function(_widget_script)
    at.session_state["cam"] = {"problem": {"kind": "small", "width": 640, "height": 360}}
    at.run()
    assert not at.exception and at.markdown[0].value == "none"
    assert "640×360" in shown(at.warning[0]) and "upload a photo instead" in shown(at.warning[0])

    at = AppTest.from_function(_widget_script)
    at.session_state["cam"] = {"photo": photo_state(camera_jpeg())}
    at.run()
    assert not at.exception and len(at.warning) == 0
    # AppTest has no browser: no timezone, so the name falls back on UTC.
    assert at.markdown[0].value == "1280x720 · Camera headshot, 30 Nov 10:24"
    # The page's answer to `received`: the token alone; Python still has the photo.
    at.session_state["cam"] = {"photo": {"token": "t1", "width": 1280, "height": 720,
                                         "taken_at": TAKEN_AT_MS}}
    at.run()
    assert not at.exception
    assert at.markdown[0].value == "1280x720 · Camera headshot, 30 Nov 10:24"
    # "Retake": the state is cleared, and so is the photo.
    at.session_state["cam"] = {"photo": None}
    at.run()
    assert at.markdown[0].value == "none"
    assert "_camera_headshot:cam" not in at.session_state


@pytest.mark.usefixtures("demo_env")
def test_a_camera_shot_is_checked_and_named_on_the_create_page() -> None:
    at = open_page()
    at.segmented_control(key="photo_source").set_value("Camera")
    at.run()
    assert not at.exception and len(at.file_uploader) == 0 and len(at.camera_input) == 0
    at.session_state["camera-0"] = {"photo": photo_state(camera_jpeg())}
    at.run()
    assert not at.exception
    assert at.text_input(key="replica_name").placeholder == "Camera headshot, 30 Nov 10:24"
    assert at.button(key="check_button").disabled is False
    verdicts = [e.value for e in (*at.success, *at.warning, *at.error) if "Photo score" in e.value]
    # A head on a 16:9 frame: judged like Tavus's head-and-shoulders rule, fixable, not blocked.
    assert len(verdicts) == 1 and ("Ready" in verdicts[0] or "Fixable" in verdicts[0])
    assert not at.button(key="create_button").disabled
