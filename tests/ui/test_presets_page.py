"""Presets on the Conversations screen (pages/conversations.py, lib/ui/presets.py) with AppTest,
against a dedicated Tavus simulator and a per-test S3 prefix (tests/simapp.py)."""

from __future__ import annotations

import json
import time

from streamlit.testing.v1 import AppTest

from lib.conversations.calls import CallLog
from lib.conversations.presets import Preset, PresetStore, parse_preset
from tests import simapp
from tests.apptest import settle, shown
from tests.simapp import ROLE_ARN, STOCK_REPLICA, SimApp

sim_world, sim_app = simapp.sim_world, simapp.sim_app
CONVERSATIONS = "pages/conversations.py"


def presets(app: SimApp) -> PresetStore:
    return PresetStore(app.store)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def listed(at: AppTest) -> list[str]:
    """The preset names shown in the list (bold, first in each row)."""
    return [shown(m).split("**")[1] for m in at.markdown
            if m.value.startswith("**") and " · " in m.value and ":gray[by" in m.value]


def save_preset(app: SimApp, name: str, *, greeting: str = "Hello CFO",
                at: AppTest | None = None) -> AppTest:
    at = at or app.open(CONVERSATIONS, replica=STOCK_REPLICA)
    at.text_input(key="call_name").set_value("Acme demo")
    at.text_input(key="call_greeting").set_value(greeting)
    at.number_input(key="call_minutes").set_value(7)
    at.text_input(key="preset_name").set_value(name)
    run(at)
    at.button(key="save_preset").click()
    return settle(run(at))


def stored(app: SimApp, name: str) -> tuple[bytes, Preset]:
    data = app.store.read_object(presets(app).key_for(name))
    return data, parse_preset("x", data)


def test_save_the_current_settings_as_a_preset_and_it_is_listed_with_start(
        sim_app: SimApp) -> None:
    at = save_preset(sim_app, "Acme CFO")
    key = presets(sim_app).key_for("Acme CFO")
    assert listed(at) == ["Acme CFO"]
    assert not at.button(key=f"start-{key}").disabled
    assert any("Preset saved" in t.value for t in at.toast)
    _, preset = stored(sim_app, "Acme CFO")
    assert (preset.replica_id, preset.custom_greeting, preset.max_call_minutes,
            preset.conversation_name) == (STOCK_REPLICA, "Hello CFO", 7, "Acme demo")


def test_start_a_preset_makes_exactly_one_call_and_the_record_names_the_preset(
        sim_app: SimApp) -> None:
    at = save_preset(sim_app, "One click")
    key = presets(sim_app).key_for("One click")
    before = sim_app.conversation_posts()
    at.button(key=f"start-{key}").click()
    run(at)
    settle(at)
    made = at.session_state.call_shown["attempt"].conversation
    assert made is not None and made.status == "active"
    run(at)  # a rerun
    at.button(key=f"start-{key}").click()  # and a second click on the same preset
    run(at)
    settle(at)
    assert sim_app.conversation_posts() == before + 1
    again = at.session_state.call_shown["attempt"].conversation
    assert again.conversation_id == made.conversation_id
    sent = sim_app.sent(made.conversation_id)
    assert sent["custom_greeting"] == "Hello CFO"
    assert sent["properties"]["max_call_duration"] == 7 * 60
    deadline = time.monotonic() + 10  # the call record is written in the background
    while (record := CallLog(sim_app.store).records(force=True).get(
            made.conversation_id)) is None:
        assert time.monotonic() < deadline, "no call record was written"
        time.sleep(0.2)
    assert record.preset_name == "One click"
    assert stored(sim_app, "One click")[1].last_used_at  # noted as used
    sim_app.tavus.end_conversation(made.conversation_id)


def test_edit_loads_the_preset_into_the_form_and_the_button_says_update(
        sim_app: SimApp) -> None:
    save_preset(sim_app, "Editable", greeting="Greeting to edit")
    at = sim_app.open(CONVERSATIONS)  # another visit: the form is empty
    assert at.text_input(key="call_greeting").value == ""
    key = presets(sim_app).key_for("Editable")
    at.button(key=f"edit-{key}").click()
    run(at)
    settle(at)
    assert at.text_input(key="call_greeting").value == "Greeting to edit"
    assert at.text_input(key="call_name").value == "Acme demo"
    assert at.number_input(key="call_minutes").value == 7
    assert at.text_input(key="preset_name").value == "Editable"
    assert at.button(key="save_preset").label == "Update “Editable”"
    at.text_input(key="call_greeting").set_value("Edited greeting")
    run(at)
    at.button(key="save_preset").click()
    run(at)
    settle(at)
    assert stored(sim_app, "Editable")[1].custom_greeting == "Edited greeting"
    assert listed(at) == ["Editable"]  # updated in place, not a second preset
    assert at.button(key="save_preset").label == "Save as preset"


def test_duplicate_and_delete(sim_app: SimApp) -> None:
    at = save_preset(sim_app, "Original")
    key = presets(sim_app).key_for("Original")
    at.text_input(key=f"copy-{key}").set_value("The copy")
    at.button(key=f"dup-{key}").click()
    run(at)
    settle(at)
    assert listed(at) == ["Original", "The copy"]
    assert stored(sim_app, "The copy")[1].custom_greeting == "Hello CFO"
    at.button(key=f"del-{key}").click()
    run(at)
    settle(at)
    assert listed(at) == ["The copy"]
    assert [s.preset.name for s in presets(sim_app).list(force=True)[0]] == ["The copy"]


def test_a_preset_whose_replica_is_gone_says_so_and_cannot_start(sim_app: SimApp) -> None:
    gone = Preset(name="Old demo", replica_id="r0deadbeef00", created_at="2026-01-01T00:00:00Z",
                  updated_at="2026-01-01T00:00:00Z")
    presets(sim_app).create(gone)
    at = sim_app.open(CONVERSATIONS)
    key = presets(sim_app).key_for("Old demo")
    assert at.button(key=f"start-{key}").disabled
    assert any("no longer exists" in shown(c) and "r0deadbeef00" in shown(c) for c in at.caption)


def test_a_corrupted_and_a_newer_preset_file_are_plain_messages_and_the_rest_stays(
        sim_app: SimApp) -> None:
    folder = presets(sim_app).folder  # written by hand, or by a newer app, in the bucket
    sim_app.store.put_bytes(folder + "broken.json", b"{not json", "application/json")
    newer = {"name": "From the future", "replica_id": STOCK_REPLICA, "version": 2}
    sim_app.store.put_bytes(folder + "future.json", json.dumps(newer).encode(),
                            "application/json")
    at = save_preset(sim_app, "Healthy")
    warnings = " ".join(shown(w) for w in at.warning)
    assert "broken.json is not valid JSON" in warnings and "fix or delete it" in warnings
    assert "'From the future' was saved by a newer version of the app" in warnings
    assert listed(at) == ["Healthy"]
    assert not at.button(key=f"start-{presets(sim_app).key_for('Healthy')}").disabled


def test_saving_a_name_that_exists_is_a_conflict_and_overwrites_nothing(
        sim_app: SimApp) -> None:
    save_preset(sim_app, "Shared name", greeting="The first one")
    first, _ = stored(sim_app, "Shared name")
    at = save_preset(sim_app, "shared  NAME", greeting="The second one")  # another teammate
    errors = " ".join(shown(e) for e in at.error)
    assert "already exists" in errors and "pick another name" in errors
    assert stored(sim_app, "Shared name")[0] == first  # byte for byte
    assert listed(at) == ["Shared name"]


def test_record_this_call_sends_enable_recording_and_the_team_bucket(sim_app: SimApp) -> None:
    at = sim_app.open(CONVERSATIONS)
    record = at.toggle(key="call_record")
    assert not record.disabled  # RECORDING_ROLE_ARN is set
    record.set_value(True)
    run(at)
    at.button(key="start_call").click()
    run(at)
    settle(at)
    made = at.session_state.call_shown["attempt"].conversation
    properties = sim_app.sent(made.conversation_id)["properties"]
    assert properties["enable_recording"] is True
    assert properties["recording_storage"] == {
        "provider": "s3", "bucket_name": sim_app.world.bucket, "bucket_region": "us-east-1",
        "assume_role_arn": ROLE_ARN}
    sim_app.tavus.end_conversation(made.conversation_id)


def test_a_recording_preset_starts_a_recorded_call(sim_app: SimApp) -> None:
    at = sim_app.open(CONVERSATIONS)
    at.toggle(key="call_record").set_value(True)
    at.text_input(key="preset_name").set_value("Recorded demo")
    run(at)
    at.button(key="save_preset").click()
    run(at)
    settle(at)
    assert stored(sim_app, "Recorded demo")[1].record is True
    at = sim_app.open(CONVERSATIONS)  # a fresh visit: the toggle is off, the preset is not
    assert at.toggle(key="call_record").value is False
    at.button(key=f"start-{presets(sim_app).key_for('Recorded demo')}").click()
    run(at)
    settle(at)
    made = at.session_state.call_shown["attempt"].conversation
    assert sim_app.sent(made.conversation_id)["properties"]["enable_recording"] is True
    sim_app.tavus.end_conversation(made.conversation_id)


def preset_line(at: AppTest, name: str) -> str:
    """The grey line under a preset's name: who, when updated, when last used."""
    line = next(shown(m) for m in at.markdown if m.value.startswith(f"**{name}**"))
    return line.split(":gray[", 1)[1].rstrip("]")


def test_a_presets_times_are_on_the_viewers_clock(sim_app: SimApp) -> None:
    # Stamps from another year: the text does not depend on today's date.
    presets(sim_app).create(Preset(
        name="Dated", replica_id=STOCK_REPLICA, created_by="ann@example.com",
        created_at="2020-11-29T07:10:00Z", updated_at="2020-11-29T09:37:35Z",
        updated_by="bo@example.com", last_used_at="2020-12-01T01:05:00Z"))
    la = preset_line(sim_app.open(CONVERSATIONS, browser={"timezone": "America/Los_Angeles"}),
                     "Dated")
    assert la == ("by ann@example.com · updated 29 Nov 2020, 01:37 by bo@example.com · "
                  "last used 30 Nov 2020, 17:05")
    tokyo = preset_line(sim_app.open(CONVERSATIONS, browser={"timezone": "Asia/Tokyo"}),
                        "Dated")
    assert tokyo == ("by ann@example.com · updated 29 Nov 2020, 18:37 by bo@example.com · "
                     "last used 1 Dec 2020, 10:05")
    # No zone from the browser: UTC, said so.
    plain = preset_line(sim_app.open(CONVERSATIONS), "Dated")
    assert plain.endswith("last used 1 Dec 2020, 01:05 UTC")
