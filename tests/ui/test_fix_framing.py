"""The "Fix framing" block (lib/ui/framing.py) with AppTest, in a tiny script that shows it for a
photo and writes back the choice it returns."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.ui.framing import NAME_SUFFIX, FixChoice
from tests.apptest import settle


def panel_script() -> None:
    import streamlit as st

    from lib.photos.analysis import analyse_photo
    from lib.ui.framing import fix_framing_panel
    from tests.media import astronaut, encode, on_canvas

    photos = {
        "wide": lambda: encode(on_canvas(astronaut(), (1920, 1080), (200, 300))),
        "crown_cut": lambda: encode(
            on_canvas(astronaut().crop((0, 102, 512, 512)), (900, 700), (200, 0))),
        "well_framed": lambda: encode(astronaut()),
    }
    name = st.session_state.get("photo", "wide")
    if st.session_state.get("analysed", (None,))[0] != name:
        st.session_state.analysed = (name, analyse_photo(photos[name](), f"{name}.png"))
    choice = fix_framing_panel(st.session_state.analysed[1], "fix")
    st.session_state.choice = choice


def run(at: AppTest) -> AppTest:
    at.run(timeout=30)
    assert not at.exception, at.exception
    return at


def open_panel(photo: str = "wide") -> AppTest:
    at = AppTest.from_function(panel_script, default_timeout=30)
    at.session_state.photo = photo
    return run(at)


def test_fix_framing_shows_before_and_after_and_sends_the_fixed_photo() -> None:
    at = open_panel()
    assert at.session_state.choice is None  # nothing fixed until asked
    assert not at.radio
    at.button(key="fix-button").click()
    run(at)
    settle(at)
    assert len(at.columns) == 2
    assert len(at.get("image")) == 2
    verdicts = [a.value for a in [*at.success, *at.warning, *at.error]]
    assert any(v.startswith("**Before: ") for v in verdicts)  # ready with warnings, or fixable
    assert any(v.startswith("**After: Ready**") for v in verdicts)
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Face centred: The face is 28%") for c in captions)  # before's
    assert any("Enlarged from" in c for c in captions)  # the crop was small: said so
    choice: FixChoice = at.session_state.choice
    assert choice.framing_fixed and choice.name_suffix == NAME_SUFFIX
    assert choice.report.verdict == "ready"
    assert choice.photo.height > choice.photo.width
    assert choice.filename("me.png") == "me-framed.png"
    assert not at.button  # the fix is kept: no second button

    radio = at.radio[0]
    assert radio.value == "Fixed"
    radio.set_value("Original")
    run(at)
    choice = at.session_state.choice
    assert not choice.framing_fixed and choice.name_suffix == ""
    assert choice.photo == at.session_state.analysed[1].prepared
    assert choice.filename("me.png") == "me.png"


def test_another_photo_drops_the_fix() -> None:
    at = open_panel()
    at.button(key="fix-button").click()
    run(at)
    settle(at)
    at.session_state.photo = "well_framed"
    run(at)
    assert at.session_state.choice is None
    assert not at.button and not at.radio and "fix-fixed" not in at.session_state


def test_a_cut_off_crown_is_not_fixed_and_says_why() -> None:
    at = open_panel("crown_cut")
    assert at.session_state.choice is None
    assert not at.button
    assert "top of the head is cut off" in at.info[0].value


def test_a_well_framed_photo_offers_nothing() -> None:
    at = open_panel("well_framed")
    assert at.session_state.choice is None
    assert not at.button and not at.info and not at.radio


# --- on the Create page ---------------------------------------------------------------------------
CREATE_PAGE = Path(__file__).resolve().parents[2] / "pages" / "create.py"


def test_the_create_page_shows_the_fix_framing_panel() -> None:
    """The journey below drives the panel on the Create page: the page must call it."""
    assert "fix_framing_panel(" in CREATE_PAGE.read_text()


@pytest.mark.usefixtures("demo_env")
def test_the_create_page_sends_the_fixed_photo_and_records_it() -> None:
    from lib.demo import running_demo_services
    from lib.replicas.create import wait_for_ledger
    from lib.storage.ledger import Ledger
    from lib.storage.s3 import ImageStore
    from tests.apptest import open_page
    from tests.media import astronaut, encode, on_canvas

    at = open_page()
    wide = encode(on_canvas(astronaut(), (1920, 1080), (200, 300)), "JPEG", quality=92)
    at.file_uploader[0].set_value(("wide shot.jpg", wide, "image/jpeg"))
    run(at)
    at.button(key="fix_framing-button").click()
    run(at)
    settle(at)
    assert at.radio[0].value == "Fixed"
    at.text_input(key="replica_name").set_value("Framed Astro")
    at.button(key="create_button").click()
    run(at)
    settle(at)
    attempt = at.session_state.create_slot["attempt"]
    assert attempt.replica_id and attempt.upload.key.endswith("-framed.jpg")
    assert attempt.photo_sha256 == at.session_state["fix_framing-fixed"].photo.sha256
    wait_for_ledger(attempt, timeout=10)
    assert attempt.ledger_error is None
    record = Ledger(ImageStore(running_demo_services().s3)).read(attempt.ledger_key)
    assert record.framing_fixed is True and record.replica_name == "Framed Astro"
