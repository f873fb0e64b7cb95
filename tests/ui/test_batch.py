"""The batch review UI (lib/ui/batch.py) with AppTest, in demo mode (simulator and S3 local)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.demo import DEMO_API_KEY, running_demo_services
from lib.tavus.client import TavusClient
from tests.apptest import TIMEOUT, settle
from tests.replicas.test_batch import batch_of_six

pytestmark = pytest.mark.usefixtures("demo_env")
APP = str(Path(__file__).resolve().parent.parent / "e2e/apps/batch_app.py")


def user_replicas() -> list:
    services = running_demo_services()
    assert services is not None
    with TavusClient(services.tavus_url, DEMO_API_KEY) as tavus:
        return tavus.list_all_replicas(replica_type="user")


def open_batch(files: list[tuple[str, bytes]]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    at.file_uploader[0].set_value([(name, data, "image/png") for name, data in files])
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_review_table_shows_each_photo_with_its_verdict_reason_and_name() -> None:
    at = open_batch(batch_of_six())
    text = "\n".join(m.value for m in at.markdown).replace("\\", "")
    assert text.count("Ready") >= 4 and "No face found." in text
    assert "below Tavus" in text
    assert at.text_input(key="batch-name-0").value == "ada lovelace"
    assert at.text_input(key="batch-name-4").disabled is False  # blocked rows keep their name
    assert len(at.checkbox) == 4  # only ready rows can be chosen
    assert at.button(key="batch_create").label == "Create all ready ones (4)"


def test_create_all_ready_ones_creates_each_once_with_its_name_and_voice() -> None:
    before = {r.replica_id for r in user_replicas()}
    at = open_batch(batch_of_six())
    at.text_input(key="batch-name-0").set_value("Ada")
    at.selectbox(key="batch_voice").select("anna")
    at.selectbox(key="batch-voice-1").select("james")
    at.checkbox(key="batch-pick-3").uncheck()
    at.run()
    assert at.button(key="batch_create").label == "Create all ready ones (3)"
    at.button(key="batch_create").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception
    made = {r.replica_id: r for r in user_replicas() if r.replica_id not in before}
    assert sorted(r.replica_name for r in made.values()) == [
        "Ada", "grace hopper", "katherine johnson"]
    links = [p.proto for p in at.get("page_link") if " · " in p.proto.label]
    assert sorted(link.label.split(" · ")[1] for link in links) == sorted(made)
    assert sorted(link.query_string for link in links) == sorted(f"replica={i}" for i in made)
    rows = list(at.session_state.batch_rows.values())
    assert {r.replica_id for r in rows if r.status == "created"} == set(made)
    assert len(at.session_state.batch_attempts) == 3

    at.run()  # a rerun (and the disabled-until-needed button) sends nothing again
    assert len([r for r in user_replicas() if r.replica_id not in before]) == 3
    # The left-out row can still be created later, alone.
    at.checkbox(key="batch-pick-3").check()
    at.run()
    assert at.button(key="batch_create").label == "Create all ready ones (1)"
    at.button(key="batch_create").click()
    at.run()
    settle(at)
    assert len([r for r in user_replicas() if r.replica_id not in before]) == 4
