"""lib.tavus.client against the project's Tavus simulator, over real HTTP on loopback.

No test waits on a wall clock: retries sleep through a recording `sleep`, training time moves with
sim.advance(), and the only real delay is a 0.5 s client timeout against a "slow" fault.
"""

from __future__ import annotations

import io
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image
from skimage import data as skimage_data

from lib.tavus.client import (
    DEFAULT_MODEL,
    KNOWN_VOICE_NAMES,
    MODELS,
    Conversation,
    ImageValidation,
    Replica,
    ReplicaStatus,
    TavusClient,
    TavusError,
    Voice,
    parse_progress,
    replica_status,
    walk_pages,
)
from lib.tavus.simulator import TavusSimulator

API_KEY = "tvs-test-key-5f0c9a7e31d24b68"
TRAINING_SECONDS = 120.0


# --- Fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def astronaut_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image_url(astronaut_png: bytes) -> Iterator[str]:
    """A throwaway image host: the simulator downloads train_image_url like Tavus does."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/astronaut.png":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(astronaut_png)))
            self.end_headers()
            self.wfile.write(astronaut_png)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/astronaut.png"
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_sim() -> Iterator[Callable[..., TavusSimulator]]:
    started: list[TavusSimulator] = []

    def make(**kwargs: Any) -> TavusSimulator:
        kwargs.setdefault("training_seconds", TRAINING_SECONDS)
        sim = TavusSimulator(API_KEY, **kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., TavusSimulator]) -> TavusSimulator:
    return make_sim(seed_demo_data=True)


@pytest.fixture
def sleeps() -> list[float]:
    """What the client would have slept, in order."""
    return []


@pytest.fixture
def client(sim: TavusSimulator, sleeps: list[float]) -> Iterator[TavusClient]:
    with TavusClient(sim.base_url, API_KEY, timeout=5.0, sleep=sleeps.append) as tavus:
        yield tavus


def _query_value(record: Any, name: str) -> str | None:
    value = record.query.get(name)
    if isinstance(value, list):  # parse_qs style
        return value[0] if value else None
    return value


def _calls(sim: TavusSimulator, method: str, path: str) -> list[Any]:
    return [r for r in sim.requests if r.method == method and r.path == path]


def _user_replica_ids(client: TavusClient) -> set[str]:
    return {r.replica_id for r in client.list_all_replicas(replica_type="user")}


# --- Pure helpers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("completed", ReplicaStatus.READY),
        ("ready", ReplicaStatus.READY),
        ("READY", ReplicaStatus.READY),
        (" Completed ", ReplicaStatus.READY),
        ("error", ReplicaStatus.FAILED),
        ("ERROR", ReplicaStatus.FAILED),
        ("started", ReplicaStatus.TRAINING),
        ("training", ReplicaStatus.TRAINING),
        (None, ReplicaStatus.TRAINING),
        ("", ReplicaStatus.TRAINING),
        ("queued-for-something-new", ReplicaStatus.TRAINING),
    ],
)
def test_replica_status_mapping(raw: str | None, expected: ReplicaStatus) -> None:
    assert replica_status(raw) is expected


@pytest.mark.parametrize(
    ("status", "finetune_status", "model_name", "expected"),
    [
        # phoenix-4.5: training, then a watermarked preview while tuning, then tuned.
        ("started", None, "phoenix-4.5", ReplicaStatus.TRAINING),
        ("started", "in_progress", "phoenix-4.5", ReplicaStatus.TRAINING),
        ("completed", None, "phoenix-4.5", ReplicaStatus.PREVIEW),
        ("completed", "in_progress", "phoenix-4.5", ReplicaStatus.PREVIEW),
        ("completed", "queued", "phoenix-4.5", ReplicaStatus.PREVIEW),  # anything else: tuning
        ("completed", "", "phoenix-4.5", ReplicaStatus.PREVIEW),
        ("ready", None, "phoenix-4.5", ReplicaStatus.PREVIEW),  # the webhook's word
        ("completed", "completed", "phoenix-4.5", ReplicaStatus.READY),
        (" Completed ", " COMPLETED ", "Phoenix-4.5", ReplicaStatus.READY),
        ("completed", "errored", "phoenix-4.5", ReplicaStatus.PREVIEW_ONLY),
        ("completed", "Errored", "phoenix-4.5", ReplicaStatus.PREVIEW_ONLY),
        ("error", None, "phoenix-4.5", ReplicaStatus.FAILED),
        ("error", "errored", "phoenix-4.5", ReplicaStatus.FAILED),
        # No preview stage elsewhere: completed means ready, whatever finetune_status says.
        ("completed", None, "phoenix-4", ReplicaStatus.READY),
        ("completed", "in_progress", "phoenix-4", ReplicaStatus.READY),
        ("completed", None, "phoenix-3", ReplicaStatus.READY),
        ("completed", None, None, ReplicaStatus.READY),
        ("started", None, "phoenix-4", ReplicaStatus.TRAINING),
        ("error", None, "phoenix-4", ReplicaStatus.FAILED),
    ],
)
def test_replica_status_with_the_phoenix_45_stages(
    status: str, finetune_status: str | None, model_name: str | None, expected: ReplicaStatus
) -> None:
    assert replica_status(status, finetune_status, model_name) is expected
    # The same answer from a list item as received, and from a Replica.
    item = {"replica_id": "r1", "status": status, "finetune_status": finetune_status,
            "model_name": model_name}
    assert replica_status(item) is expected
    assert Replica.from_api(item).state is expected


def test_an_item_without_finetune_status_maps_like_null() -> None:
    assert replica_status({"status": "completed", "model_name": "phoenix-4"}) is (
        ReplicaStatus.READY)
    assert replica_status({"status": "completed", "model_name": "phoenix-4.5"}) is (
        ReplicaStatus.PREVIEW)
    # Given an item, the item speaks: the positional extras are not mixed in.
    assert replica_status({"status": "completed"}, "errored", "phoenix-4.5") is (
        ReplicaStatus.READY)


@pytest.mark.parametrize(
    ("state", "usable", "still_changing"),
    [
        (ReplicaStatus.READY, True, False),
        (ReplicaStatus.PREVIEW, True, True),
        (ReplicaStatus.PREVIEW_ONLY, True, False),
        (ReplicaStatus.TRAINING, False, True),
        (ReplicaStatus.FAILED, False, False),
    ],
)
def test_usable_and_still_changing(state: ReplicaStatus, usable: bool,
                                   still_changing: bool) -> None:
    assert (state.usable, state.still_changing) == (usable, still_changing)


def test_replica_carries_finetune_status_and_its_stage() -> None:
    replica = Replica.from_api({"replica_id": "r1", "status": "completed",
                                "model_name": "phoenix-4.5", "finetune_status": "in_progress"})
    assert replica.finetune_status == "in_progress"
    assert replica.state is ReplicaStatus.PREVIEW
    assert replica.usable and replica.still_changing
    assert replica.as_item()["finetune_status"] == "in_progress"
    assert Replica.from_api(replica.as_item()).state is ReplicaStatus.PREVIEW


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42/100", 42),
        ("100/100", 100),
        ("0/100", 0),
        ("3/4", 75),
        ("150/100", 100),
        ("", None),
        (None, None),
        ("abc", None),
        ("abc/100", None),
        ("5/0", None),
    ],
)
def test_parse_progress(raw: str | None, expected: int | None) -> None:
    assert parse_progress(raw) == expected


def test_constants() -> None:
    assert KNOWN_VOICE_NAMES == ("benjamin", "james", "liam", "anna", "julia", "ivy")
    assert DEFAULT_MODEL == "phoenix-4"
    assert MODELS == ("phoenix-4", "phoenix-3", "phoenix-4.5")


def test_from_api_tolerates_missing_and_unknown_fields() -> None:
    replica = Replica.from_api({"replica_id": "r1", "brand_new_field": {"x": 1}})
    assert replica.replica_id == "r1"
    assert replica.status == ""
    assert replica.state is ReplicaStatus.TRAINING
    assert replica.progress is None
    assert replica.raw["brand_new_field"] == {"x": 1}

    voice = Voice.from_api({"voice_name": "anna", "tags": [{"tag_name": "warm"}, {}, "calm"]})
    assert voice.tags == ["warm", "calm"]
    assert voice.audio_url is None

    assert ImageValidation.from_api({}).passed is False  # no verdict is not a pass
    assert Conversation.from_api({"conversation_id": "c1"}).events is None


# --- Replicas ------------------------------------------------------------------------------------
def test_list_one_page(client: TavusClient, sim: TavusSimulator) -> None:
    sim.add_replicas(7)
    sim.reset_requests()

    page = client.list_replicas(page=1, limit=5, replica_type="user")

    assert len(page.replicas) == 5
    assert page.total_count >= 7  # counts all matches, not the page
    assert all(isinstance(r, Replica) and r.replica_id for r in page.replicas)
    (request,) = _calls(sim, "GET", "/v2/replicas")
    assert _query_value(request, "limit") == "5"
    assert _query_value(request, "page") == "1"
    assert _query_value(request, "verbose") == "true"


def test_list_all_walks_every_page(make_sim: Callable[..., TavusSimulator]) -> None:
    sim = make_sim(seed_demo_data=False)
    added = sim.add_replicas(250)
    sim.reset_requests()

    with TavusClient(sim.base_url, API_KEY, sleep=lambda _: None) as client:
        replicas = client.list_all_replicas(page_size=100, replica_type="user")

    ids = [r.replica_id for r in replicas]
    assert len(ids) == len(set(ids)) == 250
    assert set(ids) == set(added)
    requests = _calls(sim, "GET", "/v2/replicas")
    assert [_query_value(r, "page") for r in requests] == ["1", "2", "3"]
    assert {_query_value(r, "limit") for r in requests} == {"100"}


def test_list_filters(client: TavusClient, sim: TavusSimulator) -> None:
    ids = sim.add_replicas(5)
    old_model_ids = sim.add_replicas(3, model_name="phoenix-3")

    by_id = client.list_replicas(replica_ids=ids[:2])
    assert {r.replica_id for r in by_id.replicas} == set(ids[:2])
    assert by_id.total_count == 2
    assert _query_value(sim.requests[-1], "replica_ids") == f"{ids[0]},{ids[1]}"

    users = client.list_all_replicas(replica_type="user")
    assert {r.replica_type for r in users} == {"user"}
    assert set(ids) | set(old_model_ids) <= {r.replica_id for r in users}

    system = client.list_replicas(replica_type="system")
    assert system.replicas, "the seeded simulator should offer stock replicas"
    assert {r.replica_type for r in system.replicas} == {"system"}
    assert not set(ids) & {r.replica_id for r in system.replicas}

    phoenix3 = client.list_all_replicas(replica_type="user", model_name="phoenix-3")
    assert {r.replica_id for r in phoenix3} == set(old_model_ids)
    assert {r.model_name for r in phoenix3} == {"phoenix-3"}


def test_add_replicas_training_shows_as_training(client: TavusClient, sim: TavusSimulator) -> None:
    ids = sim.add_replicas(4, training=2)
    states = [client.get_replica(replica_id).state for replica_id in ids]
    assert states.count(ReplicaStatus.TRAINING) == 2
    assert states.count(ReplicaStatus.READY) == 2


def test_get_replica(client: TavusClient, sim: TavusSimulator) -> None:
    (replica_id,) = sim.add_replicas(1)

    replica = client.get_replica(replica_id)

    assert replica.replica_id == replica_id
    assert replica.state is ReplicaStatus.READY
    assert replica.progress == 100
    assert replica.replica_type == "user"  # verbose=True by default
    assert replica.updated_at  # detail-only field
    assert replica.error_message is None
    assert replica.raw["replica_id"] == replica_id


def test_create_trains_then_completes(
    client: TavusClient, sim: TavusSimulator, image_url: str
) -> None:
    created = client.create_replica_from_image(
        train_image_url=image_url, voice_name="anna", replica_name="Astronaut"
    )

    assert created.replica_id
    assert replica_status(created.status) is ReplicaStatus.TRAINING
    training = client.get_replica(created.replica_id)
    assert training.state is ReplicaStatus.TRAINING
    assert training.replica_name == "Astronaut"
    assert training.model_name == DEFAULT_MODEL
    assert created.replica_id in _user_replica_ids(client)

    # Training starts once the simulator has downloaded the image (in the background, like
    # Tavus): step the clock until progress shows, with a generous bound instead of a timing.
    halfway = training
    for _ in range(200):
        sim.advance(TRAINING_SECONDS / 10)
        halfway = client.get_replica(created.replica_id)
        if halfway.progress:
            break
        time.sleep(0.02)
    assert halfway.state is ReplicaStatus.TRAINING, (halfway.status, halfway.error_message)
    assert halfway.progress is not None and 0 < halfway.progress < 100

    sim.advance(TRAINING_SECONDS)
    done = client.get_replica(created.replica_id)
    assert done.state is ReplicaStatus.READY, (done.status, done.error_message)
    assert done.progress == 100


def test_create_sends_options(client: TavusClient, sim: TavusSimulator, image_url: str) -> None:
    created = client.create_replica_from_image(
        train_image_url=image_url,
        voice_name="james",
        model_name="phoenix-3",
        background_green_screen=True,
        auto_fix_training_image=False,
    )
    assert client.get_replica(created.replica_id).model_name == "phoenix-3"


def test_rename(client: TavusClient, sim: TavusSimulator) -> None:
    (replica_id,) = sim.add_replicas(1)
    client.rename_replica(replica_id, "Renamed twin")
    assert client.get_replica(replica_id).replica_name == "Renamed twin"
    assert len(_calls(sim, "PATCH", f"/v2/replicas/{replica_id}/name")) == 1


@pytest.mark.parametrize("hard", [False, True])
def test_delete(client: TavusClient, sim: TavusSimulator, hard: bool) -> None:
    keep, doomed = sim.add_replicas(2)

    client.delete_replica(doomed, hard=hard)

    (request,) = _calls(sim, "DELETE", f"/v2/replicas/{doomed}")
    assert _query_value(request, "hard") == ("true" if hard else None)
    remaining = _user_replica_ids(client)
    assert doomed not in remaining
    assert keep in remaining


# --- Voices, image validation, personas ----------------------------------------------------------
def test_list_voices_all_pages(client: TavusClient, sim: TavusSimulator) -> None:
    total = httpx.get(
        f"{sim.base_url}/v2/voices", params={"limit": 1}, headers={"x-api-key": API_KEY}
    ).json()["total_count"]
    sim.reset_requests()

    voices = client.list_voices()

    assert len(voices) == total > 0
    names = [v.voice_name for v in voices]
    assert len(set(names)) == len(names)
    assert all(isinstance(v.tags, list) for v in voices)
    requests = _calls(sim, "GET", "/v2/voices")
    assert len(requests) == math.ceil(total / 100)
    assert {_query_value(r, "limit") for r in requests} == {"100"}


def test_validate_image(client: TavusClient, sim: TavusSimulator, astronaut_png: bytes) -> None:
    result = client.validate_image(astronaut_png, "image/png")

    assert isinstance(result, ImageValidation)
    assert isinstance(result.passed, bool)
    assert result.checks, "a validation that ran lists its checks"
    assert all(check.id and check.label for check in result.checks)
    assert result.passed == all(check.passed for check in result.checks)
    assert len(_calls(sim, "POST", "/v2/replicas/image-validation")) == 1


def test_list_personas(client: TavusClient, sim: TavusSimulator) -> None:
    page = client.list_personas()
    assert page.personas, "the seeded simulator should have personas"
    assert all(p.persona_id for p in page.personas)
    assert page.total_count >= len(page.personas)

    client.list_personas(persona_type="system", limit=10)
    assert _query_value(sim.requests[-1], "persona_type") == "system"
    assert _query_value(sim.requests[-1], "limit") == "10"


# --- Conversations -------------------------------------------------------------------------------
def test_conversation_lifecycle(client: TavusClient, sim: TavusSimulator) -> None:
    (replica_id,) = sim.add_replicas(1)

    conversation = client.create_conversation(
        replica_id=replica_id,
        conversation_name="Demo call",
        require_auth=True,
        properties={"max_call_duration": 600, "language": "english"},
    )

    assert conversation.conversation_id
    assert conversation.status == "active"
    assert conversation.conversation_url
    assert conversation.meeting_token  # require_auth answers a join token
    assert conversation.meeting_token not in repr(conversation)

    listed = client.list_conversations(status="active")
    assert conversation.conversation_id in {c.conversation_id for c in listed.conversations}
    assert listed.total_count >= 1

    plain = client.get_conversation(conversation.conversation_id)
    assert plain.replica_id == replica_id
    assert plain.conversation_name == "Demo call"
    verbose = client.get_conversation(conversation.conversation_id, verbose=True)
    assert isinstance(verbose.events, list)
    assert _query_value(sim.requests[-1], "verbose") == "true"

    client.end_conversation(conversation.conversation_id)
    assert client.get_conversation(conversation.conversation_id).status == "ended"
    ended = client.list_conversations(status="ended")
    assert conversation.conversation_id in {c.conversation_id for c in ended.conversations}

    client.delete_conversation(conversation.conversation_id, hard=True)
    (request,) = _calls(sim, "DELETE", f"/v2/conversations/{conversation.conversation_id}")
    assert _query_value(request, "hard") == "true"
    with pytest.raises(TavusError) as caught:
        client.get_conversation(conversation.conversation_id)
    assert caught.value.status_code in (400, 404)


def test_conversation_test_mode(client: TavusClient, sim: TavusSimulator) -> None:
    (replica_id,) = sim.add_replicas(1)
    conversation = client.create_conversation(replica_id=replica_id, test_mode=True)
    assert conversation.status == "ended"
    assert conversation.meeting_token is None
    active = client.list_conversations(status="active").conversations
    assert conversation.conversation_id not in {c.conversation_id for c in active}


def test_conversation_soft_delete(client: TavusClient, sim: TavusSimulator) -> None:
    (replica_id,) = sim.add_replicas(1)
    conversation = client.create_conversation(replica_id=replica_id, test_mode=True)
    client.delete_conversation(conversation.conversation_id)
    (request,) = _calls(sim, "DELETE", f"/v2/conversations/{conversation.conversation_id}")
    assert _query_value(request, "hard") is None


# --- Errors --------------------------------------------------------------------------------------
def test_400_carries_tavus_message(client: TavusClient, sim: TavusSimulator, sleeps: list) -> None:
    with pytest.raises(TavusError) as caught:
        client.get_replica("r-does-not-exist")

    error = caught.value
    assert error.status_code == 400
    assert error.response is not None
    assert error.message == error.response.json()["error"]
    assert str(error) == f"Tavus answered 400: {error.message}"
    assert len(_calls(sim, "GET", "/v2/replicas/r-does-not-exist")) == 1  # 4xx: no retry
    assert sleeps == []


def test_400_on_create_is_not_retried(client: TavusClient, sim: TavusSimulator) -> None:
    with pytest.raises(TavusError) as caught:
        client.create_replica_from_image(train_image_url="", voice_name="anna")
    assert caught.value.status_code == 400
    assert caught.value.message == caught.value.response.json()["error"]
    assert len(_calls(sim, "POST", "/v2/replicas")) == 1


def test_401_uses_message_field(sim: TavusSimulator) -> None:
    wrong_key = "tvs-wrong-key-0000000000000000"
    with (
        TavusClient(sim.base_url, wrong_key, sleep=lambda _: None) as client,
        pytest.raises(TavusError) as caught,
    ):
        client.list_replicas()

    error = caught.value
    assert error.status_code == 401
    assert error.message == error.response.json()["message"]
    assert error.message  # e.g. "Invalid access token"
    assert wrong_key not in str(error) and wrong_key not in repr(error)


def test_unreachable_tavus_has_no_status(sleeps: list[float]) -> None:
    # Bind and close a socket to get a port nobody listens on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        TavusClient(f"http://127.0.0.1:{port}", API_KEY, max_retries=2, sleep=sleeps.append) as c,
        pytest.raises(TavusError) as caught,
    ):
        c.list_voices()
    assert caught.value.status_code is None
    assert caught.value.message.startswith("Could not reach Tavus")
    assert len(sleeps) == 2


# --- Retries -------------------------------------------------------------------------------------
def test_429_honours_retry_after(client: TavusClient, sim: TavusSimulator, sleeps: list) -> None:
    sim.inject_fault("429", count=1, path_prefix="/v2/replicas", retry_after=7)

    page = client.list_replicas()

    assert page.total_count >= 0
    assert sleeps == [7.0]
    assert len(_calls(sim, "GET", "/v2/replicas")) == 2


def test_429_retry_after_is_capped(client: TavusClient, sim: TavusSimulator, sleeps: list) -> None:
    sim.inject_fault("429", count=1, path_prefix="/v2/voices", retry_after=3600)
    client.list_voices()
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 30.0


def test_429_exhausted_reports_retry_after(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float]
) -> None:
    sim.inject_fault("429", count=10, path_prefix="/v2/replicas", retry_after=2)
    with pytest.raises(TavusError) as caught:
        client.list_replicas()
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 2.0
    assert sleeps == [2.0, 2.0, 2.0]
    assert len(_calls(sim, "GET", "/v2/replicas")) == 4  # 1 + max_retries


def test_500_on_get_is_retried(client: TavusClient, sim: TavusSimulator, sleeps: list) -> None:
    (replica_id,) = sim.add_replicas(1)
    sim.reset_requests()
    sim.inject_fault("500", count=1, path_prefix="/v2/replicas")

    assert client.get_replica(replica_id).replica_id == replica_id
    assert len(_calls(sim, "GET", f"/v2/replicas/{replica_id}")) == 2
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= client.max_backoff_seconds


def test_500_forever_gives_up_with_status(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float]
) -> None:
    sim.inject_fault("500", count=10, path_prefix="/v2/personas")
    with pytest.raises(TavusError) as caught:
        client.list_personas()
    assert caught.value.status_code == 500
    assert caught.value.message
    assert str(caught.value).startswith("Tavus answered 500")
    assert len(_calls(sim, "GET", "/v2/personas")) == 4
    assert len(sleeps) == 3
    assert all(0 < s <= client.max_backoff_seconds for s in sleeps)


@pytest.mark.parametrize("call", ["validate_image", "rename", "delete", "end_conversation"])
def test_safe_writes_are_retried_on_500(
    client: TavusClient,
    sim: TavusSimulator,
    sleeps: list[float],
    astronaut_png: bytes,
    call: str,
) -> None:
    (replica_id,) = sim.add_replicas(1)
    conversation = client.create_conversation(replica_id=replica_id, test_mode=False)
    actions: dict[str, tuple[str, str, Callable[[], object]]] = {
        "validate_image": (
            "POST",
            "/v2/replicas/image-validation",
            lambda: client.validate_image(astronaut_png, "image/png"),
        ),
        "rename": (
            "PATCH",
            f"/v2/replicas/{replica_id}/name",
            lambda: client.rename_replica(replica_id, "x"),
        ),
        "delete": (
            "DELETE",
            f"/v2/replicas/{replica_id}",
            lambda: client.delete_replica(replica_id),
        ),
        "end_conversation": (
            "POST",
            f"/v2/conversations/{conversation.conversation_id}/end",
            lambda: client.end_conversation(conversation.conversation_id),
        ),
    }
    method, path, action = actions[call]
    sim.reset_requests()
    sim.inject_fault("500", count=1, path_prefix=path)

    action()

    assert len(_calls(sim, method, path)) == 2
    assert len(sleeps) == 1


def test_500_on_create_is_not_retried(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float], image_url: str
) -> None:
    before = _user_replica_ids(client)
    sim.reset_requests()
    sim.inject_fault("500", count=1, path_prefix="/v2/replicas")

    with pytest.raises(TavusError) as caught:
        client.create_replica_from_image(train_image_url=image_url, voice_name="anna")

    assert caught.value.status_code == 500
    assert len(_calls(sim, "POST", "/v2/replicas")) == 1
    assert sleeps == []
    assert _user_replica_ids(client) == before


def test_500_on_create_conversation_is_not_retried(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float]
) -> None:
    (replica_id,) = sim.add_replicas(1)
    sim.inject_fault("500", count=1, path_prefix="/v2/conversations")
    with pytest.raises(TavusError) as caught:
        client.create_conversation(replica_id=replica_id, test_mode=True)
    assert caught.value.status_code == 500
    assert len(_calls(sim, "POST", "/v2/conversations")) == 1
    assert sleeps == []


def test_429_on_create_is_retried(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float], image_url: str
) -> None:
    sim.inject_fault("429", count=1, path_prefix="/v2/replicas", retry_after=1)

    created = client.create_replica_from_image(train_image_url=image_url, voice_name="anna")

    assert created.replica_id
    assert len(_calls(sim, "POST", "/v2/replicas")) == 2
    assert sleeps == [1.0]
    assert created.replica_id in _user_replica_ids(client)


def test_timeout_on_get_is_retried(sim: TavusSimulator, sleeps: list[float]) -> None:
    sim.inject_fault("slow", count=1, path_prefix="/v2/voices", delay=2.0)
    with TavusClient(sim.base_url, API_KEY, timeout=0.5, sleep=sleeps.append) as client:
        voices = client.list_voices()
    assert voices
    assert len(sleeps) == 1
    assert len(_calls(sim, "GET", "/v2/voices")) == 2


def test_timeout_on_create_is_not_retried(
    sim: TavusSimulator, sleeps: list[float], image_url: str
) -> None:
    sim.inject_fault("slow", count=1, path_prefix="/v2/replicas", delay=2.0)
    with (
        TavusClient(sim.base_url, API_KEY, timeout=0.5, sleep=sleeps.append) as client,
        pytest.raises(TavusError) as caught,
    ):
        client.create_replica_from_image(train_image_url=image_url, voice_name="anna")
    assert caught.value.status_code is None
    assert "timed out" in caught.value.message
    assert sleeps == []
    assert len(_calls(sim, "POST", "/v2/replicas")) == 1


@pytest.mark.parametrize("kind", ["malformed", "empty"])
def test_unreadable_200_is_an_error(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float], kind: str
) -> None:
    sim.inject_fault(kind, count=1, path_prefix="/v2/replicas")
    with pytest.raises(TavusError) as caught:
        client.list_replicas()
    assert caught.value.status_code == 200
    assert "unreadable" in caught.value.message
    assert sleeps == []
    # The fault was used up by exactly one request; the next call reads fine.
    assert client.list_replicas().total_count >= 0


def test_dropped_connection_gives_up_without_status(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float]
) -> None:
    sim.inject_fault("drop", count=10, path_prefix="/v2/personas")
    with pytest.raises(TavusError) as caught:
        client.list_personas()
    assert caught.value.status_code is None
    assert caught.value.response is None
    assert caught.value.message.startswith("Could not reach Tavus")
    assert len(sleeps) == client.max_retries


def test_dropped_connection_on_create_is_not_retried(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float], image_url: str
) -> None:
    sim.inject_fault("drop", count=1, path_prefix="/v2/replicas")
    with pytest.raises(TavusError) as caught:
        client.create_replica_from_image(train_image_url=image_url, voice_name="anna")
    assert caught.value.status_code is None
    assert sleeps == []
    assert len(_calls(sim, "POST", "/v2/replicas")) == 1


# --- Secrets and logging -------------------------------------------------------------------------
def test_key_never_leaks(
    sim: TavusSimulator, sleeps: list[float], image_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    errors: list[TavusError] = []
    with TavusClient(sim.base_url, API_KEY, sleep=sleeps.append) as client:
        assert API_KEY not in repr(client) and API_KEY not in str(client)
        client.list_all_replicas()
        client.create_replica_from_image(train_image_url=image_url, voice_name="anna")
        sim.inject_fault("429", count=1, retry_after=1)
        client.list_voices()
        for kind in ("500", "malformed", "drop"):
            sim.inject_fault(kind, count=10, path_prefix="/v2/personas")
            with pytest.raises(TavusError) as caught:
                client.list_personas()
            errors.append(caught.value)
            sim.clear_faults()
        with pytest.raises(TavusError) as caught:
            client.get_replica("r-missing")
        errors.append(caught.value)

    assert len(errors) == 4
    for error in errors:
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error)
        assert API_KEY not in error.message
    ours = [r.getMessage() for r in caplog.records if r.name == "replica_studio.tavus"]
    assert ours, "the client logs its calls"
    assert all(API_KEY not in r.getMessage() for r in caplog.records)
    assert API_KEY not in caplog.text


def test_log_lines_show_method_path_status_only(
    client: TavusClient, sim: TavusSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="replica_studio.tavus")
    client.list_replicas(page=2, limit=3, replica_type="user")

    lines = [r.getMessage() for r in caplog.records if r.name == "replica_studio.tavus"]
    assert any(re.fullmatch(r"GET /v2/replicas -> 200 \(\d+ ms\)", line) for line in lines), lines
    assert not any("?" in line or "page=" in line for line in lines)


def test_base_url_trailing_slash(sim: TavusSimulator) -> None:
    with TavusClient(sim.base_url + "/", API_KEY) as client:
        assert client.list_personas().total_count >= 0
    assert _calls(sim, "GET", "/v2/personas")


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        TavusClient("http://127.0.0.1:1", "  ")


# --- Paging: the one walk, page 1 first, then the rest in parallel ------------------------------
class _Pages:
    """A list of `total` ids served `size` per page by a fetch that records how many pages are
    being read at once; `throttle` pages answer 429 once each."""

    def __init__(self, total: int, size: int = 10, *, throttle: set[int] = frozenset(),
                 delay: float = 0.02) -> None:
        self.ids = [f"r{i:05d}" for i in range(total)]
        self.size, self.delay = size, delay
        self.throttle = set(throttle)
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.in_flight_after_429: list[int] = []
        self.seen_429 = False
        self.calls: list[int] = []

    def fetch(self, page: int) -> tuple[list[dict[str, str]], int]:
        with self.lock:
            self.calls.append(page)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            # Pages 2-9 go out before any answer, and a few more may follow before the 429 is
            # read (pages that answered first free their places); any of their threads may
            # begin late. Pages from 16 on can only have been sent under the lowered limit.
            if self.seen_429 and page >= 16:
                self.in_flight_after_429.append(self.in_flight)
        try:
            time.sleep(self.delay)  # an answer takes a moment, so pages overlap
            with self.lock:
                if page in self.throttle:
                    self.throttle.discard(page)
                    raise TavusError("Too many requests", status_code=429, retry_after=0.01)
            start = (page - 1) * self.size
            return [{"replica_id": i} for i in self.ids[start:start + self.size]], len(self.ids)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_walk_pages_reads_every_page_at_most_concurrency_at_a_time() -> None:
    pages = _Pages(total=205, size=10)
    items, total = walk_pages(pages.fetch, key=lambda d: d["replica_id"], concurrency=4)
    assert total == 205 and [d["replica_id"] for d in items] == sorted(pages.ids)
    assert pages.calls[0] == 1 and sorted(pages.calls) == list(range(1, 22))  # each page once
    assert 1 < pages.most_in_flight <= 4  # parallel, and bounded


def test_walk_pages_reports_each_page_as_it_arrives() -> None:
    pages = _Pages(total=35, size=10)
    seen: list[tuple[int, int]] = []
    walk_pages(pages.fetch, key=lambda d: d["replica_id"], concurrency=8,
               on_page=lambda new, total: seen.append((len(new), total)))
    assert seen[0] == (10, 35)  # page 1 first
    assert sum(n for n, _ in seen) == 35 and len(seen) == 4


def test_a_429_slows_the_walk_down_instead_of_failing_it() -> None:
    pages = _Pages(total=400, size=10, throttle={5, 9})
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the walk waits after it has lowered its limit
        sleeps.append(seconds)
        with pages.lock:
            pages.seen_429 = True

    items, _ = walk_pages(pages.fetch, key=lambda d: d["replica_id"], concurrency=8,
                          sleep=sleep)
    assert len(items) == 400  # nothing lost
    assert sleeps == [0.01, 0.01]  # Retry-After honoured, once per 429
    assert pages.calls.count(5) == 2 and pages.calls.count(9) == 2  # throttled pages again
    assert pages.in_flight_after_429 and max(pages.in_flight_after_429) <= 4  # fewer after


def test_a_page_throttled_again_and_again_fails_the_walk() -> None:
    def always_429(page: int) -> tuple[list[dict[str, str]], int]:
        raise TavusError("Too many requests", status_code=429, retry_after=0)

    with pytest.raises(TavusError) as caught:
        walk_pages(always_429, key=lambda d: d["replica_id"], sleep=lambda s: None)
    assert caught.value.status_code == 429


def test_items_shifted_by_creates_during_the_walk_are_still_collected() -> None:
    ids = [f"r{i:03d}" for i in range(30)]

    def fetch(page: int) -> tuple[list[dict[str, str]], int]:
        if page == 2 and len(ids) == 30:
            ids.insert(0, "r-new-1")  # two creates land after page 1 was read...
            ids.insert(0, "r-new-2")  # ...so everything shifts two places down
        start = (page - 1) * 10
        return [{"replica_id": i} for i in ids[start:start + 10]], len(ids)

    items, total = walk_pages(fetch, key=lambda d: d["replica_id"], concurrency=1)
    got = {d["replica_id"] for d in items}
    assert total == 32
    assert {f"r{i:03d}" for i in range(30)} <= got  # no original item fell between pages


def test_a_server_that_ignores_page_cannot_keep_the_walk_going() -> None:
    calls: list[int] = []

    def same_page(page: int) -> tuple[list[dict[str, str]], int]:
        calls.append(page)
        return [{"replica_id": f"r{i}"} for i in range(10)], 100_000

    items, _ = walk_pages(same_page, key=lambda d: d["replica_id"], concurrency=2)
    assert len(items) == 10
    assert len(calls) <= 4  # page 1, the pages in flight when it showed, nothing more


def test_list_all_replicas_survives_429s_on_a_client_that_never_retries(
        sim: TavusSimulator) -> None:
    added = set(sim.add_replicas(450))
    sim.inject_fault("429", count=3, retry_after=0, path_prefix="/v2/replicas")
    with TavusClient(sim.base_url, API_KEY, max_retries=0) as client:
        replicas = client.list_all_replicas(page_size=50, replica_type="user")
    assert added <= {r.replica_id for r in replicas}


# --- Training from a video -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def video_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A good 70 s clip and a 20 s one, served like the image: the simulator downloads them."""
    import shutil
    from functools import partial
    from http.server import SimpleHTTPRequestHandler

    from tests.video_media import Clip, clip_path

    folder = tmp_path_factory.mktemp("videos")
    shutil.copyfile(clip_path(Clip()), folder / "good.mp4")
    shutil.copyfile(clip_path(Clip(seconds=20, width=320, height=240)), folder / "short.mp4")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_create_from_video_sends_no_voice_and_trains(
    client: TavusClient, sim: TavusSimulator, video_files: str
) -> None:
    created = client.create_replica_from_video(
        train_video_url=f"{video_files}/good.mp4",
        consent_video_url=f"{video_files}/good.mp4",
        replica_name="Ada on video",
        model_name="phoenix-4.5",
        callback_url="http://127.0.0.1:9/hook",
        background_green_screen=True,
    )
    assert sim.replica_request(created.replica_id) == {
        "train_video_url": f"{video_files}/good.mp4",
        "consent_video_url": f"{video_files}/good.mp4",
        "replica_name": "Ada on video",
        "model_name": "phoenix-4.5",
        "callback_url": "http://127.0.0.1:9/hook",
        "properties": {"background_green_screen": True},
    }
    assert replica_status(created.status) is ReplicaStatus.TRAINING
    assert sim.wait_for_downloads(60)
    sim.advance(TRAINING_SECONDS)  # past the preview and the tuning
    done = client.get_replica(created.replica_id)
    assert done.state is ReplicaStatus.READY, (done.status, done.error_message)


def test_create_from_video_defaults(
    client: TavusClient, sim: TavusSimulator, video_files: str
) -> None:
    created = client.create_replica_from_video(train_video_url=f"{video_files}/good.mp4")
    request = sim.replica_request(created.replica_id)
    assert request == {
        "train_video_url": f"{video_files}/good.mp4",
        "model_name": DEFAULT_MODEL,
        "properties": {"background_green_screen": False},
    }
    assert "voice_name" not in request and "train_image_url" not in request
    assert "auto_fix_training_image" not in request  # an image-only option


def test_a_failed_video_training_reads_as_failed_with_tavus_text(
    client: TavusClient, sim: TavusSimulator, video_files: str
) -> None:
    from lib.videos.failures import error_type_for

    created = client.create_replica_from_video(train_video_url=f"{video_files}/short.mp4")
    assert sim.wait_for_downloads(60)
    failed = client.get_replica(created.replica_id)
    assert failed.state is ReplicaStatus.FAILED
    assert error_type_for(failed.error_message) == "video_duration"


def test_400_on_video_create_carries_the_response_and_is_not_retried(
    client: TavusClient, sim: TavusSimulator, sleeps: list[float]
) -> None:
    sim.reset_requests()
    with pytest.raises(TavusError) as caught:
        client.create_replica_from_video(train_video_url="")
    error = caught.value
    assert error.status_code == 400 and error.response is not None
    assert error.message == error.response.json()["error"]
    assert len(_calls(sim, "POST", "/v2/replicas")) == 1
    assert sleeps == []
