"""Page logic with Streamlit's AppTest, in demo mode (real simulator and S3 server in-process)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lib.clock import local_time
from lib.demo import DEMO_API_KEY, running_demo_services
from lib.replicas.create import wait_for_ledger
from lib.replicas.table import STATUS_FILTER_OPTIONS
from lib.storage.ledger import Ledger, LedgerRecord, now_iso, record_key
from lib.storage.s3 import ImageStore
from lib.tavus.client import KNOWN_VOICE_NAMES, ReplicaStatus, TavusClient
from tests.apptest import APP, TIMEOUT, open_page, settle, shown
from tests.media import astronaut_jpeg, astronaut_png, small_png

pytestmark = pytest.mark.usefixtures("demo_env")


def sim_client() -> TavusClient:
    services = running_demo_services()
    assert services is not None, "demo mode did not start its stand-ins"
    return TavusClient(services.tavus_url, DEMO_API_KEY)


def user_replicas_named(name: str) -> list:
    return [r for r in sim_client().list_all_replicas(replica_type="user")
            if r.replica_name == name]


def test_create_page_has_the_frame_and_the_stock_voices() -> None:
    at = open_page()
    assert at.title[0].value == "Create a replica"
    assert any("Demo mode" in i.value for i in at.info)
    voice = at.selectbox(key="voice")
    assert set(KNOWN_VOICE_NAMES) <= set(voice.options)
    assert at.selectbox(key="model").value == "phoenix-4"
    assert at.toggle(key="auto_fix").value is True  # auto-fix on by default
    assert at.button(key="create_button").disabled  # nothing to create from yet


def give_photo(at: AppTest, data: bytes, name: str = "astronaut.png") -> None:
    at.file_uploader[0].set_value((name, data, "image/png"))
    at.run()
    assert not at.exception, at.exception


def test_create_checks_uploads_and_creates_exactly_one_replica_even_when_clicked_twice() -> None:
    at = open_page()
    give_photo(at, astronaut_png())
    name = at.text_input(key="replica_name")
    assert name.value == "" and name.placeholder == "astronaut"  # offered, not typed in
    assert any("Photo score" in s.value for s in at.success)
    at.text_input(key="replica_name").set_value("AppTest Astro")
    voice = at.selectbox(key="voice")
    voice.select_index(voice.options.index("anna"))  # options are the shown labels
    at.button(key="create_button").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception
    result = [s.value for s in at.success if "Training started" in s.value]
    assert result
    replicas = user_replicas_named("AppTest Astro")
    assert len(replicas) == 1
    assert replicas[0].replica_id in result[0]
    assert replicas[0].model_name == "phoenix-4"
    assert at.button(key="create_button").disabled  # already made from this photo

    at.run()  # a rerun (the browser's double click is proven in tests/e2e)
    assert len(user_replicas_named("AppTest Astro")) == 1
    attempt = at.session_state.create_slot["attempt"]
    assert attempt.upload is not None and attempt.upload.key.startswith("demo/")
    wait_for_ledger(attempt, timeout=10)  # the team record is written in the background
    assert attempt.ledger_key is not None and attempt.ledger_error is None


def test_a_photo_with_a_failing_check_blocks_create_until_create_anyway() -> None:
    at = open_page()
    give_photo(at, small_png(300), "small.png")
    assert any("Will likely fail" in e.value for e in at.error)
    assert at.button(key="create_button").disabled
    at.checkbox(key="create_anyway").check()
    at.run()
    assert not at.button(key="create_button").disabled


def test_an_unreadable_file_is_refused_with_a_message() -> None:
    at = open_page()
    give_photo(at, b"<html>not a photo</html>", "evil.png")
    assert any("not a photo" in shown(e) and "PNG or JPEG" in shown(e) for e in at.error)
    assert at.button(key="create_button").disabled


def test_camera_photo_is_checked_like_an_upload() -> None:
    at = open_page()
    at.segmented_control(key="photo_source").set_value("Camera")
    at.run()
    assert len(at.file_uploader) == 0  # the camera replaced the uploader
    # The camera widget (lib/ui/camera.py) keeps its photo in its component state.
    data_url = "data:image/jpeg;base64," + base64.b64encode(astronaut_jpeg()).decode()
    at.session_state["camera-0"] = {"photo": {"data_url": data_url, "width": 512, "height": 512,
                                              "taken_at": 1796034280815}}
    at.run()
    assert not at.exception
    assert any("Photo score" in s.value for s in at.success)
    assert at.text_input(key="replica_name").placeholder == "Camera headshot, 30 Nov 10:24"
    assert not at.button(key="create_button").disabled


def test_check_with_tavus_shows_tavus_checks() -> None:
    at = open_page()
    give_photo(at, astronaut_png())
    at.button(key="check_button").click()
    at.run()
    settle(at)
    assert not at.exception
    assert any("Tavus's own check (phoenix-4) passed" in s.value for s in at.success)


def test_a_bad_callback_url_is_refused_and_nothing_is_created() -> None:
    at = open_page()
    give_photo(at, astronaut_png())
    at.text_input(key="replica_name").set_value("Callback Test")
    at.text_input(key="callback_url").set_value("http://insecure.example.com")
    at.button(key="create_button").click()
    at.run()
    settle(at)
    assert not at.exception
    assert any("https://" in shown(e) for e in at.error)
    assert at.text_input(key="callback_url").value == "http://insecure.example.com"
    assert user_replicas_named("Callback Test") == []


def test_replicas_page_lists_the_account_with_readable_statuses() -> None:
    at = open_page("pages/replicas.py")
    assert at.title[0].value == "Replicas"
    table = at.dataframe[0].value
    assert {"name", "replica_id", "status", "progress", "model", "created"} <= set(table.columns)
    expected = {r.replica_id for r in sim_client().list_all_replicas(replica_type="user")}
    assert set(table["replica_id"]) == expected
    assert set(table["status"]) <= set(STATUS_FILTER_OPTIONS)
    assert table["progress"].between(0, 100).all()


def test_replicas_show_team_records_and_saved_notes_reach_every_session() -> None:
    open_page()  # makes sure demo mode's stand-ins run
    ready = seeded("Demo — Ready")
    store = ImageStore(running_demo_services().s3)
    # Written by another server of the team: seen after Refresh (or within a minute).
    Ledger(store).write(LedgerRecord(
        replica_id=ready.replica_id, replica_name=ready.replica_name,
        photo_key="demo/2026/11/30/teammate-photo.png", voice_name="anna",
        model_name="phoenix-4", auto_fix_training_image=True, created_at=now_iso(),
        created_by="teammate@example.com", notes="Recorded on another server"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["replica"] = ready.replica_id
    at.switch_page("pages/replicas.py")
    at.run()
    next(b for b in at.button if b.label == "Refresh").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception

    def row(app: AppTest):
        table = app.dataframe[0].value
        return table.loc[table.replica_id == ready.replica_id].iloc[0]

    assert (row(at)["creator"], row(at)["notes"]) == ("teammate@example.com",
                                                       "Recorded on another server")
    assert at.text_area(key=f"notes-{ready.replica_id}").value == "Recorded on another server"

    at.text_area(key=f"notes-{ready.replica_id}").set_value("Edited in this session")
    at.button(key=f"save-notes-{ready.replica_id}").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception
    assert row(at)["notes"] == "Edited in this session"
    stored = Ledger(store).read(record_key("demo/2026/11/30/teammate-photo.png"))
    assert stored.notes == "Edited in this session" and stored.created_by == "teammate@example.com"
    # Another session opening the page now sees the new notes, without a Refresh.
    other = open_page("pages/replicas.py")
    assert row(other)["notes"] == "Edited in this session"


def test_replicas_page_keeps_working_when_tavus_fails() -> None:
    open_page()  # makes sure demo mode's stand-ins run
    services = running_demo_services()
    services.simulator.inject_fault("500", count=20, path_prefix="/v2/replicas")
    try:
        at = open_page("pages/replicas.py")
    finally:
        services.simulator.clear_faults()
    assert any("Tavus is having trouble" in e.value for e in at.error)


def end_live_calls() -> None:
    with sim_client() as tavus:
        for call in tavus.list_conversations(status="active", limit=100).conversations:
            tavus.end_conversation(call.conversation_id)


@pytest.fixture
def no_live_calls() -> Iterator[None]:
    """The demo simulator is shared by these tests and allows 3 live calls: none live before
    (whichever test ran before, in whatever order) and none left after."""
    if running_demo_services() is not None:
        end_live_calls()
    yield
    end_live_calls()


def start_call(at: AppTest) -> None:
    at.button(key="start_call").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception


def offered_ids(at: AppTest) -> set[str]:
    """The replica ids in the Conversations picker's labels ("Name (r123)[ · preview…]")."""
    return {re.search(r"\((r[0-9a-f]+)\)", label)[1] for label in at.selectbox[0].options}


def test_conversations_page_offers_only_usable_replicas_and_gives_a_link(no_live_calls) -> None:
    # A seeded replica may finish training while the page runs (the simulated clock goes on):
    # what is offered lies between what was usable before the page and what is usable after.
    open_page()  # the Create page starts demo mode's stand-ins (and reads no replica list)
    before = {r.replica_id for r in sim_client().list_all_replicas() if r.state.usable}
    at = open_page("pages/conversations.py")
    everything = sim_client().list_all_replicas()
    usable = {r.replica_id for r in everything if r.state.usable}
    assert usable != {r.replica_id for r in everything}  # the demo seeds some that are not ready
    assert before <= offered_ids(at) <= usable
    start_call(at)
    url = at.get("link_button")[0].proto.url
    assert "/rooms/c" in url


def test_one_click_one_conversation_and_a_rerun_makes_no_second(no_live_calls) -> None:
    at = open_page("pages/conversations.py")
    before = sim_client().list_conversations(limit=100).total_count
    start_call(at)
    assert at.button(key="start_call").disabled  # until "Start another"
    at.run()
    assert sim_client().list_conversations(limit=100).total_count == before + 1
    made = at.session_state.call_shown["attempt"].conversation
    assert made.status == "active"
    assert any(made.conversation_id in m.value for m in at.markdown)  # listed below
    live = next(m for m in at.metric if m.label.startswith("Live now"))
    assert live.value == "1"
    # Its start time, on the viewer's clock (a Tokyo browser here).
    at.context = {"timezone": "Asia/Tokyo"}
    before = datetime.now(UTC)
    at.run()
    after = datetime.now(UTC)
    created = sim_client().get_conversation(made.conversation_id).created_at
    line = next(shown(m) for m in at.markdown if made.conversation_id in m.value)
    assert any(f"· started {local_time(created, 'Asia/Tokyo', now=now)} · " in line
               for now in (before, after)), line


def test_the_concurrency_limit_is_explained_with_what_to_do(no_live_calls) -> None:
    open_page()
    with sim_client() as tavus:
        stock = next(r for r in tavus.list_all_replicas(replica_type="system")
                     if r.state is ReplicaStatus.READY)
        live = tavus.list_conversations(status="active", limit=100).total_count
        for _ in range(3 - live):
            tavus.create_conversation(replica_id=stock.replica_id)
    at = open_page("pages/conversations.py")
    start_call(at)
    text = " ".join(shown(e) for e in at.error)
    assert "maximum concurrent conversations" in text
    assert "End a conversation" in text
    assert "attempt" not in at.session_state.call_shown


def test_dry_run_creates_an_ended_conversation() -> None:
    at = open_page("pages/conversations.py")
    at.toggle(key="call_dry_run").set_value(True)
    at.run()
    start_call(at)
    made = at.session_state.call_shown["attempt"].conversation
    assert made.status == "ended"
    assert sim_client().get_conversation(made.conversation_id).status == "ended"
    assert any("Dry run created" in i.value for i in at.info)


def test_a_private_room_link_carries_its_token(no_live_calls) -> None:
    at = open_page("pages/conversations.py")
    at.toggle(key="call_private").set_value(True)
    at.run()
    start_call(at)
    made = at.session_state.call_shown["attempt"].conversation
    url = at.get("link_button")[0].proto.url
    assert made.meeting_token and url.endswith(f"?t={made.meeting_token}")


def test_invalid_configuration_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRESIGN_TTL_HOURS", "5")
    monkeypatch.setenv("REFRESH_SECONDS", "fast")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    shown = at.error[0].value.replace("\\", "")  # as rendered: Markdown escapes removed
    assert "PRESIGN_TTL_HOURS" in shown and "REFRESH_SECONDS" in shown
    assert at.title[0].value == "Create a replica"  # the page still has its frame


def test_tavus_failure_on_create_is_explained_and_the_retry_reuses_the_upload() -> None:
    at = open_page()
    give_photo(at, astronaut_png(), "retry.png")
    running_demo_services().simulator.inject_fault("500", count=1, path_prefix="/v2/replicas")
    at.text_input(key="replica_name").set_value("Retry Astro")
    at.button(key="create_button").click()
    at.run()
    settle(at)
    assert not at.exception
    assert any("Tavus is having trouble" in e.value for e in at.error)
    assert at.text_input(key="replica_name").value == "Retry Astro"
    first_upload = at.session_state.create_slot["attempt"].upload
    assert first_upload is not None
    assert user_replicas_named("Retry Astro") == []

    at.button(key="create_button").click()
    at.run()
    settle(at)
    assert not at.exception
    assert len(user_replicas_named("Retry Astro")) == 1
    assert at.session_state.create_slot["attempt"].upload == first_upload


def test_temporary_credentials_are_called_out_after_create(
        monkeypatch: pytest.MonkeyPatch, s3_settings) -> None:
    from lib.tavus.simulator import TavusSimulator

    sim = TavusSimulator("apptest-real-key", seed_demo_data=False).start()
    try:
        for name, value in {
            "DEMO_MODE": "0", "TAVUS_API_KEY": "apptest-real-key", "TAVUS_API_URL": sim.base_url,
            "S3_BUCKET": s3_settings.bucket, "S3_ENDPOINT_URL": s3_settings.endpoint_url,
            "AWS_ACCESS_KEY_ID": "ASIATEMPORARY", "AWS_SECRET_ACCESS_KEY": "temp-secret",
            "AWS_SESSION_TOKEN": "temp-session-token",
        }.items():
            monkeypatch.setenv(name, value)
        at = open_page()
        assert not any("Demo mode" in i.value for i in at.info)
        at.context = {"timezone": "Asia/Tokyo"}  # the viewer's browser
        give_photo(at, astronaut_png(), "temp.png")
        at.button(key="create_button").click()
        before = datetime.now(UTC)
        at.run()
        settle(at)
        after = datetime.now(UTC)
        assert not at.exception
        assert any("Training started" in m.value for m in at.success)
        expires = at.session_state.create_slot["attempt"].training_url.expires_at
        # On the viewer's clock (either side of a midnight the run may have crossed).
        until = {f"signed until {local_time(expires, 'Asia/Tokyo', now=now)}, but"
                 for now in (before, after)}
        assert any("temporary AWS credentials" in w.value
                   and any(u in shown(w) for u in until) for w in at.warning), until
        url = at.session_state.create_slot["attempt"].training_url.url
        assert "X-Amz-Security-Token=temp-session-token" in url  # signed with the session
    finally:
        sim.stop()


def test_voices_fall_back_to_the_documented_six_when_tavus_fails() -> None:
    open_page()  # makes sure demo mode's stand-ins run
    st.cache_data.clear()
    simulator = running_demo_services().simulator
    simulator.inject_fault("500", count=20, path_prefix="/v2/voices")
    try:
        at = open_page()
    finally:
        simulator.clear_faults()
    assert at.selectbox(key="voice").options == sorted(KNOWN_VOICE_NAMES)
    assert any("documented voices" in w.value for w in at.warning)
    assert any("No preview clip" in c.value for c in at.caption)


def seeded(name: str):
    return next(r for r in sim_client().list_all_replicas(replica_type="user")
                if r.replica_name == name)


def test_replicas_deep_link_opens_the_failed_replica_with_its_reason_and_a_hint() -> None:
    open_page()
    failed = seeded("Demo — Failed")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["replica"] = failed.replica_id
    at.switch_page("pages/replicas.py")
    at.run()
    assert not at.exception, at.exception
    assert any(failed.replica_id == c.value for c in at.code)
    reasons = [shown(e) for e in at.error]
    assert any("HeadNotFullyInFrameError" in r and "crown to chin" in r.lower() for r in reasons)
    table = at.dataframe[0].value
    assert "HeadNotFullyInFrameError" in table.loc[table.replica_id == failed.replica_id,
                                                   "error"].item()


def test_replicas_search_and_status_filters_narrow_the_table() -> None:
    at = open_page("pages/replicas.py")
    everything = len(at.dataframe[0].value)
    at.text_input(key="replica_search").set_value("demo — re")
    at.run()
    assert list(at.dataframe[0].value["name"]) == ["Demo — Ready"]
    at.text_input(key="replica_search").set_value("")
    at.multiselect(key="replica_statuses").set_value(["Failed"])
    at.run()
    assert set(at.dataframe[0].value["status"]) == {"Failed"}
    assert len(at.dataframe[0].value) < everything


def test_start_conversation_hands_the_replica_to_the_conversations_page() -> None:
    open_page()
    ready = seeded("Demo — Ready")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["replica"] = ready.replica_id
    at.switch_page("pages/replicas.py")
    at.run()
    at.button(key=f"talk-{ready.replica_id}").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception
    assert at.title[0].value == "Conversations"
    assert ready.replica_id in at.selectbox[0].value


# --- phoenix-4.5: the watermarked preview ---------------------------------------------------------
PREVIEW_LABEL = "Preview (watermarked) · tuning"


def fresh_preview(name: str) -> str:
    """A phoenix-4.5 replica in its preview with ~2 minutes of tuning ahead, whatever the demo's
    training clock: its preview comes after 1/60 of its 120 s (the shared clock is not moved)."""
    open_page()  # makes sure demo mode's stand-ins run
    [rid] = running_demo_services().simulator.add_replicas(
        1, training=1, model_name="phoenix-4.5", training_seconds=120)
    with sim_client() as tavus:
        tavus.rename_replica(rid, name)
        deadline = time.monotonic() + 15
        while tavus.get_replica(rid).state is not ReplicaStatus.PREVIEW:
            assert time.monotonic() < deadline, "the preview never came"
            time.sleep(0.2)
    return rid


def test_the_replicas_page_shows_a_preview_and_filters_by_it() -> None:
    rid = fresh_preview("AppTest Preview")
    at = open_page("pages/replicas.py")
    table = at.dataframe[0].value
    row = table[table.replica_id == rid].iloc[0]
    assert (row["status"], row["progress"], row["model"]) == (PREVIEW_LABEL, 100, "phoenix-4.5")
    statuses = at.multiselect(key="replica_statuses")
    assert PREVIEW_LABEL in statuses.options
    assert "Preview only — tuning failed" in statuses.options
    assert any(m.label == PREVIEW_LABEL and int(m.value.replace(',', '')) >= 1
               for m in at.metric)
    statuses.set_value([PREVIEW_LABEL])
    at.run()
    filtered = at.dataframe[0].value
    assert rid in set(filtered["replica_id"])
    assert set(filtered["status"]) == {PREVIEW_LABEL}


def test_a_preview_s_details_say_its_stage_and_it_can_start_a_conversation() -> None:
    rid = fresh_preview("AppTest Preview Details")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["replica"] = rid
    at.switch_page("pages/replicas.py")
    at.run()
    assert not at.exception, at.exception
    text = " ".join(shown(m) for m in at.markdown)
    assert "Watermarked preview, usable in a conversation now" in text
    assert not at.button(key=f"talk-{rid}").disabled
    assert not any("refund" in shown(c) for c in at.caption)  # only failed replicas say that


def test_the_conversations_picker_marks_a_preview_as_watermarked(no_live_calls) -> None:
    rid = fresh_preview("AppTest Picker Preview")
    at = open_page("pages/conversations.py")
    labels = at.selectbox[0].options
    assert f"AppTest Picker Preview ({rid}) · preview, watermarked" in labels
    ready = seeded("Demo — Ready")
    assert f"Demo — Ready ({ready.replica_id})" in labels  # a ready one has no mark
    at.selectbox[0].set_value(rid)
    at.run()
    assert not at.exception, at.exception
    assert any("Watermarked preview" in shown(c) for c in at.caption)
    start_call(at)  # the preview can hold a call
    made = at.session_state.call_shown["attempt"].conversation
    assert sim_client().get_conversation(made.conversation_id).replica_id == rid
    assert "/rooms/c" in at.get("link_button")[0].proto.url


def test_a_failed_replica_s_details_warn_that_deleting_can_lose_the_refund() -> None:
    open_page()
    failed = seeded("Demo — Failed")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["replica"] = failed.replica_id
    at.switch_page("pages/replicas.py")
    at.run()
    assert not at.exception, at.exception
    beside = [shown(c) for c in at.caption if "refund" in shown(c)]
    assert beside and "no credits" in beside[0]
    inside = [shown(w) for w in at.warning if "refund" in shown(w)]  # in the Delete popover
    assert inside and "Keep it a while" in inside[0]


def test_a_training_replica_cannot_start_a_conversation() -> None:
    open_page()
    [training_id] = running_demo_services().simulator.add_replicas(1, training=1)
    assert sim_client().get_replica(training_id).state is ReplicaStatus.TRAINING
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["replica"] = training_id
    at.switch_page("pages/replicas.py")
    at.run()
    assert not at.exception, at.exception
    assert at.button(key=f"talk-{training_id}").disabled


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Tokyo"])
def test_replicas_times_are_on_the_viewers_clock_not_the_servers(zone: str) -> None:
    open_page()
    ready = seeded("Demo — Ready")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.context = {"timezone": zone}  # what the browser tells the server
    at.query_params["replica"] = ready.replica_id
    at.switch_page("pages/replicas.py")
    before = datetime.now(UTC)
    at.run()
    after = datetime.now(UTC)
    assert not at.exception, at.exception
    # Either side of a midnight the run may have crossed.
    expected = {local_time(ready.created_at, zone, now=now) for now in (before, after)}
    assert not any(e.endswith("UTC") for e in expected)
    details = next(shown(m) for m in at.markdown if "**Created:**" in m.value)
    created = re.search(r"\*\*Created:\*\* (.+?) \(", details)
    assert created and created.group(1) in expected, details
    assert "T" not in created.group(1)  # never the raw ISO text
    caption = next(shown(c) for c in at.caption if "shown · updated" in c.value)
    assert re.search(r"updated (today|yesterday) \d\d:\d\d:\d\d · times in " + zone, caption)
    # The table's Created column is formatted by the browser, in the same zone.
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["created"]["type_config"]["timezone"] == zone, columns["created"]
