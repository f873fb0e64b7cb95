"""AppTest against a dedicated Tavus simulator (not demo mode's shared one) and moto's S3 server.

Debrief tests move the simulated clock (transcript 5 s, recording 10 s, perception 60 s after the
end) and start calls; doing that on demo mode's process-wide simulator would leak into the other
page tests. Here each test module gets its own simulator (seeded with Tavus's stock replicas and
personas) and each test its own S3 prefix, so call records and presets never mix.

Bind the fixtures in a test module: `sim_world, sim_app = simapp.sim_world, simapp.sim_app`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from lib.config import S3Settings
from lib.conversations.requests import ConversationAttempt, ConversationForm, start_conversation
from lib.storage.s3 import ImageStore
from lib.tavus.client import TavusClient
from lib.tavus.simulator import RecordingS3, TavusSimulator
from tests.apptest import APP, TIMEOUT

SIM_KEY = "apptest-debrief-sim-key"
ROLE_ARN = "arn:aws:iam::123456789012:role/TavusRecording"
STOCK_REPLICA = "r1af0c2b8d3e"  # "Anna - Office", ready on every simulator
STOCK_NAME = "Anna - Office"
INTERVIEWER = "p3c4d5e6f7a8"  # the stock persona whose perception runs Raven


@dataclass
class SimWorld:
    sim: TavusSimulator
    bucket: str
    endpoint: str


@dataclass
class SimApp:
    world: SimWorld
    store: ImageStore  # the team bucket under this test's prefix
    tavus: TavusClient

    @property
    def sim(self) -> TavusSimulator:
        return self.world.sim

    def open(self, page: str, *, browser: dict[str, Any] | None = None, **query: str
             ) -> AppTest:
        """Run `page` (with query parameters, as a deep link would) and insist on no exception.
        `browser`: what the browser tells `st.context` (e.g. {"timezone": "Asia/Tokyo"})."""
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        if browser is not None:
            at.context = browser
        for name, value in query.items():
            at.query_params[name] = value
        at.switch_page(page)
        at.run()
        assert not at.exception, at.exception
        return at

    def call(self, *, name: str = "", persona_id: str | None = None, record: bool = False,
             replica_id: str = STOCK_REPLICA) -> str:
        """Start a conversation as the app does (recording into the team bucket if asked)."""
        from lib.config import RecordingStorage

        recording = RecordingStorage(self.world.bucket, "us-east-1", ROLE_ARN)
        form = ConversationForm(replica_id=replica_id, persona_id=persona_id,
                                conversation_name=name, record=record)
        return start_conversation(self.tavus, ConversationAttempt(form),
                                  recording).conversation_id

    def ended_call(self, **options: Any) -> str:
        """A call someone joined, left and ended (now: its transcript comes 5 s later)."""
        cid = self.call(**options)
        self.sim.join(cid)
        self.sim.leave(cid)  # ends participant_left_timeout (60 s) later: End now instead
        self.tavus.end_conversation(cid)
        return cid

    def sent(self, conversation_id: str) -> dict[str, Any]:
        """The create body the simulator received (what tests/e2e reads over /_sim/…/request)."""
        import httpx

        answer = httpx.get(f"{self.sim.base_url}/_sim/conversations/{conversation_id}/request")
        answer.raise_for_status()
        return answer.json()["request"]

    def conversation_posts(self) -> int:
        return sum(1 for r in self.sim.requests
                   if (r.method, r.path.rstrip("/")) == ("POST", "/v2/conversations"))


@pytest.fixture(scope="module")
def sim_world(s3_endpoint: str, request: pytest.FixtureRequest) -> Iterator[SimWorld]:
    bucket = "simapp-" + request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")[:40]
    ImageStore(S3Settings(bucket=bucket, region="us-east-1", endpoint_url=s3_endpoint,
                          prefix="x/", access_key_id="test-key-id",
                          secret_access_key="test-secret-value")).ensure_bucket()
    recording = RecordingS3(endpoint_url=s3_endpoint, access_key_id="test-key-id",
                            secret_access_key="test-secret-value", region="us-east-1")
    sim = TavusSimulator(SIM_KEY, seed_demo_data=False, max_concurrent_conversations=100,
                         recording_s3=recording).start()
    yield SimWorld(sim, bucket, s3_endpoint)
    sim.stop()


@pytest.fixture
def sim_app(sim_world: SimWorld, monkeypatch: pytest.MonkeyPatch,
            request: pytest.FixtureRequest) -> Iterator[SimApp]:
    """The app configured for the module's simulator, a fresh S3 prefix and fresh caches."""
    import streamlit as st

    prefix = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:60] + "/"
    for name in ("PRIVATE_APP", "ALLOWED_EMAILS", "ALLOWED_DOMAINS", "AWS_SESSION_TOKEN",
                 "PRESIGN_TTL_HOURS", "REFRESH_SECONDS", "RECORDING_EXTERNAL_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "DEMO_MODE": "0", "TAVUS_API_KEY": SIM_KEY, "TAVUS_API_URL": sim_world.sim.base_url,
        "S3_BUCKET": sim_world.bucket, "S3_ENDPOINT_URL": sim_world.endpoint,
        "S3_PREFIX": prefix, "S3_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test-key-id",
        "AWS_SECRET_ACCESS_KEY": "test-secret-value", "RECORDING_ROLE_ARN": ROLE_ARN,
    }.items():
        monkeypatch.setenv(name, value)
    st.cache_data.clear()
    st.cache_resource.clear()
    store = ImageStore(S3Settings(bucket=sim_world.bucket, region="us-east-1",
                                  endpoint_url=sim_world.endpoint, prefix=prefix,
                                  access_key_id="test-key-id",
                                  secret_access_key="test-secret-value"))
    with TavusClient(sim_world.sim.base_url, SIM_KEY) as tavus:
        yield SimApp(sim_world, store, tavus)
    sim_world.sim.clear_faults()
    st.cache_data.clear()
    st.cache_resource.clear()


# --- download buttons: their data, from AppTest's in-memory media storage ----------------------
_storages: list[MemoryMediaFileStorage] = []


class _KeptStorage(MemoryMediaFileStorage):
    def __init__(self, media_endpoint: str) -> None:
        super().__init__(media_endpoint)
        _storages.append(self)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep AppTest's media storages so a download button's data can be read after a run."""
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", _KeptStorage)
    yield
    _storages.clear()


def download_data(button) -> bytes:
    """The bytes a download button (an `at.get("download_button")` element) would save."""
    filename = button.proto.url.rsplit("/", 1)[-1]
    for storage in reversed(_storages):
        try:
            return bytes(storage.get_file(filename).content)
        except Exception:  # another run's storage
            continue
    raise AssertionError(f"no media file for {button.proto.url}")


def events(*items: dict[str, Any]) -> list[dict[str, Any]]:
    return list(items)


def transcript_event(turns: Any) -> dict[str, Any]:
    return {"event_type": "application.transcription_ready",
            "timestamp": "2026-01-01T00:00:10Z", "properties": {"transcript": turns}}


def joined(at: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"event_type": "system.replica_joined", "timestamp": at}


def shutdown(at: str = "2026-01-01T00:00:05Z", **props: Any) -> dict[str, Any]:
    return {"event_type": "system.shutdown", "timestamp": at,
            "properties": props or {"reason": "participant_left_timeout"}}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
