"""The camera and the video uploader from the keyboard alone (Tab, Shift+Tab, Enter, Space, and
an arrow key inside Streamlit's segmented control), in Chromium against a real `streamlit run`
in demo mode: every control is reached in page order, acts on Enter or Space, shows a focus
ring, has a name, and each step is announced through a live region (what a screen reader
says). No mouse: only page.keyboard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import (
    ARTIFACTS,
    DemoApp,
    assert_no_exception,
    open_page,
    shot,
    wait_idle,
)

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 30}
MAX_TABS = 80

# The focused element, through the shadow roots components live in: what a keyboard is on.
_FOCUSED = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(),
    testid: el.getAttribute("data-testid") || "",
    text: (el.innerText || el.value || "").trim().slice(0, 80),
    label: el.getAttribute("aria-label") || "",
    role: el.getAttribute("role") || "",
    focusVisible: el.matches(":focus-visible"),
    outline: [style.outlineStyle, parseFloat(style.outlineWidth) || 0],
    boxShadow: style.boxShadow,
  };
}"""


def focused(page: Page) -> dict | None:
    return page.evaluate(_FOCUSED)


def name_of(element: dict | None) -> str:
    if element is None:
        return "(nothing)"
    return element["label"] or element["text"] or element["testid"] or element["tag"]


def tab_to(page: Page, wanted, *, key: str = "Tab") -> list[str]:
    """Press Tab (or Shift+Tab) until `wanted(focused element)` holds.
    -> the names of the controls passed on the way, the last one being the wanted one."""
    passed = []
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        element = focused(page)
        passed.append(name_of(element))
        if element is not None and wanted(element):
            return passed
    raise AssertionError(f"{key} never reached the control; passed: {passed}")


def by_testid(testid: str):
    return lambda element: element["testid"] == testid


def by_text(text: str):
    return lambda element: element["text"] == text


def assert_focus_ring(element: dict) -> None:
    """Focus is visible: the browser's :focus-visible matches, and it draws an outline of at
    least 2 px or a box shadow."""
    assert element["focusVisible"], element
    style, width = element["outline"]
    assert (style != "none" and width >= 2) or element["boxShadow"] not in ("", "none"), element


@pytest.fixture
def camera_page(camera_browser: Browser, demo_app: DemoApp,
                request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(camera_browser, request.node.name, camera_for=demo_app.app.url) as page:
        yield page


def test_a_camera_headshot_by_keyboard_alone(camera_page: Page, demo_app: DemoApp) -> None:
    page = camera_page
    page.goto(demo_app.app.url)
    wait_idle(page)
    page.locator('[data-testid="stButtonGroup"]').wait_for()

    # Tab to the photo source (a segmented control: one tab stop, on the chosen option; the
    # arrow keys move between its options, as in any radio group), Enter on "Camera": the
    # camera starts.
    tab_to(page, by_text("Upload"))
    page.keyboard.press("ArrowRight")
    assert name_of(focused(page)) == "Camera"
    page.keyboard.press("Enter")
    widget = page.locator('[data-testid="cameraHeadshot"]')
    expect(widget).to_have_attribute("data-state", "live")
    announce = widget.get_by_test_id("cameraHeadshotAnnounce")
    expect(announce).to_contain_text("Camera on, 1280×720")
    wait_idle(page)

    # On to Take photo: it comes after the photo source's options and before the form.
    passed = tab_to(page, by_testid("cameraHeadshotTake"))
    assert "Replica name" not in passed, passed
    take = focused(page)
    assert take["text"] == "Take photo"
    assert_focus_ring(take)
    widget.screenshot(path=str(ARTIFACTS / "keyboard-1-take.png"))

    # Space takes it: the countdown is announced, focus stays on the button meanwhile, and
    # the photo taken hands the focus to "Use this photo".
    page.keyboard.press("Space")
    expect(widget).to_have_attribute("data-state", "countdown")
    expect(announce).to_contain_text("Hold still: the photo is taken in 3")
    assert focused(page)["testid"] == "cameraHeadshotTake"
    expect(widget).to_have_attribute("data-state", "review", timeout=10_000)
    expect(announce).to_contain_text("Photo taken, 1280×720. Use this photo, or Retake.")
    use = focused(page)
    assert use["testid"] == "cameraHeadshotUse", use
    assert_focus_ring(use)

    # Shift+Tab goes back to Retake, Tab forward to Use this photo again.
    assert tab_to(page, by_testid("cameraHeadshotRetake"), key="Shift+Tab") == ["Retake"]
    assert tab_to(page, by_testid("cameraHeadshotUse")) == ["Use this photo"]
    widget.screenshot(path=str(ARTIFACTS / "keyboard-2-review.png"))

    # Enter uses it: the page checks the photo; focus is on Retake, the next thing to do here.
    page.keyboard.press("Enter")
    expect(widget).to_have_attribute("data-state", "used")
    expect(announce).to_contain_text("This photo is used")
    page.locator(".st-key-photo-verdict").wait_for()
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_label("Replica name").get_attribute("placeholder").startswith(
        "Camera headshot, ")
    assert focused(page)["testid"] == "cameraHeadshotRetake"

    # Names a screen reader reads: the group by its label, each button by its text.
    expect(page.get_by_role("group", name="Take a headshot: face the camera, shoulders in frame")
           ).to_be_visible()
    expect(widget.get_by_role("button", name="Retake")).to_be_visible()
    expect(widget.get_by_role("img", name="The photo taken")).to_be_visible()
    expect(widget.get_by_role("status")).to_contain_text("This photo is used")
    shot(page, "keyboard-3-photo-used")

    # Retake by keyboard: the live camera again, focus on Take photo.
    page.keyboard.press("Enter")
    expect(widget).to_have_attribute("data-state", "live")
    expect(widget.get_by_role("button", name="Take photo")).to_be_focused()


def test_a_clip_uploaded_by_keyboard_alone(page: Page, demo_app: DemoApp,
                                           tmp_path: Path) -> None:
    clip = tmp_path / "keyboard take.mp4"
    clip.write_bytes(os.urandom(300_000))
    # Playwright takes over the browser's file chooser once something listens for it; a
    # listener from the start makes sure it has before the first key press that opens one
    # (expect_file_chooser alone subscribes at the same time as the press, and can be late).
    page.on("filechooser", lambda _: None)
    page.goto(f"{demo_app.app.url}/create_video")
    wait_idle(page)
    uploader = page.get_by_test_id("videoUploader").first
    expect(uploader).to_be_visible()

    # Tab to Browse files: the clip column comes before the form beside it.
    passed = tab_to(page, by_testid("videoUploaderBrowse"))
    assert "Full name of the person filmed" not in passed, passed
    browse = focused(page)
    assert browse["text"] == "Browse files"
    assert_focus_ring(browse)
    uploader.screenshot(path=str(ARTIFACTS / "keyboard-4-browse.png"))

    # Its name, and what describes it: the uploader's label and the accepted files.
    button = page.get_by_role("button", name="Browse files").first
    expect(button).to_have_accessible_description(
        "Training clip (mp4, mov, m4v or webm) MP4, MOV, M4V, WEBM · up to 4.0 GB")
    expect(page.get_by_role("group", name="Training clip (mp4, mov, m4v or webm)")
           ).to_be_visible()

    # Enter opens the file chooser; the upload is announced, then "Uploaded ✓".
    expect(button).to_be_focused()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(clip))
    announce = uploader.get_by_test_id("videoUploaderAnnounce")
    expect(announce).to_have_text("Uploaded ✓ keyboard take.mp4", timeout=30_000)
    expect(uploader.get_by_role("status")).to_have_text("Uploaded ✓ keyboard take.mp4")
    expect(uploader.get_by_role("progressbar", name="Upload progress of keyboard take.mp4")
           ).to_have_attribute("aria-valuenow", "100")
    wait_idle(page)
    assert_no_exception(page)
    # Browse went away with the picker: focus is on the button that took its place.
    again = focused(page)
    assert again["testid"] == "videoUploaderReset" and again["text"] == "Choose another file", \
        again
    assert_focus_ring(again)
    shot(page, "keyboard-5-uploaded")

    # Space on "Choose another file": the picker is back, with the focus on Browse files; Space
    # opens the chooser too, and a file that is not a clip is refused, which is announced.
    page.keyboard.press("Space")
    expect(uploader.get_by_test_id("videoUploaderPick")).to_be_visible()
    wait_idle(page)
    expect(uploader.get_by_role("button", name="Browse files")).to_be_focused()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(notes))
    expect(announce).to_have_text("notes.txt: Upload failed: see the message below.")
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("notes.txt")
    shot(page, "keyboard-6-refused")
