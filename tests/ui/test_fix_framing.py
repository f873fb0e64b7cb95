"""The "Fix framing" block (lib/ui/framing.py) with AppTest, in a tiny script that shows it for a
photo and writes back the choice it returns."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib.ui.framing import NAME_SUFFIX, FixChoice


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
