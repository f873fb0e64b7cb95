"""lib.conversations.requests against the project's Tavus simulator, over real HTTP on loopback.

The simulator does not echo a create request back, so what it received is captured on the wire by
an httpx transport that records each request body before sending it. Time moves with sim.advance()
and fixed `now` values; no test reads or waits on the wall clock.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import cv2
import httpx
import numpy as np
import pytest

from lib.config import RecordingStorage, S3Settings, load_settings, recording_storage
from lib.conversations.history import elapsed, shutdown_reason, sort_conversations
from lib.conversations.links import join_url, qr_png
from lib.conversations.requests import (
    DEFAULT_MAX_CALL_MINUTES,
    LANGUAGES,
    MAX_CONTEXT_LENGTH,
    MAX_GREETING_LENGTH,
    MAX_NAME_LENGTH,
    ConversationAttempt,
    ConversationForm,
    ConversationFormError,
    conversation_request,
    refusal_advice,
    start_conversation,
)
from lib.tavus.client import Conversation, ReplicaStatus, TavusClient, TavusError
from lib.tavus.simulator import TavusSimulator
from tests.qr import decode_qr

API_KEY = "tvs-test-key-conversations-7d3e91"
CONVERSATIONS = "/v2/conversations"

# From the published contract (POST /v2/conversations request schema), written out on purpose:
# a field name we invent would be silently ignored by Tavus, so it must fail here instead.
CONTRACT_TOP_LEVEL = {
    "replica_id",
    "persona_id",
    "conversation_name",
    "conversational_context",
    "custom_greeting",
    "callback_url",
    "test_mode",
    "require_auth",
    "max_participants",
    "properties",
}
CONTRACT_PROPERTIES = {
    "max_call_duration",
    "participant_left_timeout",
    "participant_absent_timeout",
    "enable_recording",
    "enable_closed_captions",
    "apply_greenscreen",
    "language",
    "recording_storage",
}
# recording_storage_config's S3 fields (the GCS and Azure ones are never sent).
CONTRACT_RECORDING_STORAGE_S3 = {
    "provider",
    "bucket_name",
    "bucket_region",
    "assume_role_arn",
    "external_id",
}


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that remembers the JSON body of every POST it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.posted: list[tuple[str, dict]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.content:
            self.posted.append((request.url.path, json.loads(request.content)))
        return super().handle_request(request)


# --- Fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim() -> Iterator[TavusSimulator]:
    simulator = TavusSimulator(
        API_KEY, training_seconds=120.0, seed_demo_data=False, max_concurrent_conversations=3
    ).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def wire() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture(scope="module")
def tavus(sim: TavusSimulator, wire: RecordingTransport) -> Iterator[TavusClient]:
    client = TavusClient(sim.base_url, API_KEY, transport=wire, sleep=lambda _s: None)
    yield client
    client.close()


@pytest.fixture(scope="module")
def replica_id(tavus: TavusClient) -> str:
    ready = [
        r
        for r in tavus.list_replicas(replica_type="system").replicas
        if r.state is ReplicaStatus.READY
    ]
    assert ready, "the simulator seeds completed system replicas"
    return ready[0].replica_id


@pytest.fixture(autouse=True)
def clean_slate(sim: TavusSimulator, tavus: TavusClient) -> Iterator[None]:
    """Each test starts with no active conversation and an empty request log."""
    sim.clear_faults()
    for conversation in tavus.list_conversations(limit=100, status="active").conversations:
        tavus.end_conversation(conversation.conversation_id)
    sim.reset_requests()
    yield


def _posts(sim: TavusSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.method == "POST" and r.path == CONVERSATIONS]


def _last_create_body(wire: RecordingTransport) -> dict:
    bodies = [body for path, body in wire.posted if path == CONVERSATIONS]
    assert bodies, "no POST /v2/conversations was sent"
    return bodies[-1]


# --- What is sent --------------------------------------------------------------------------------
OPTION_FORMS = {
    "defaults": {},
    "persona": {"persona_id": "p2b3c4d5e6f7"},
    "texts": {
        "conversation_name": "Launch demo",
        "custom_greeting": "Hi! Ask me anything about the launch.",
        "conversational_context": "The visitor is at our booth.\nKeep answers short.",
    },
    "multilingual": {"language": "multilingual"},
    "spanish": {"language": "Spanish"},
    "duration": {"max_call_minutes": 25},
    "timeouts": {"participant_absent_timeout": 120, "participant_left_timeout": 30},
    "private": {"require_auth": True},
    "captions": {"enable_closed_captions": True},
    "dry_run": {"test_mode": True},
    "everything": {
        "persona_id": "p3c4d5e6f7a8",
        "conversation_name": "All options",
        "custom_greeting": "Hello there",
        "conversational_context": "An interview rehearsal.",
        "language": "french",
        "max_call_minutes": 240,
        "participant_absent_timeout": 3600,
        "participant_left_timeout": 10,
        "require_auth": True,
        "enable_closed_captions": True,
        "test_mode": True,
    },
}


@pytest.mark.parametrize("option", sorted(OPTION_FORMS))
def test_each_option_is_sent_with_the_contracts_field_names(
    option: str, sim: TavusSimulator, tavus: TavusClient, wire: RecordingTransport, replica_id: str
) -> None:
    form = ConversationForm(replica_id=replica_id, **OPTION_FORMS[option])
    request = conversation_request(form)

    conversation = start_conversation(tavus, ConversationAttempt(form))

    received = _last_create_body(wire)
    assert set(received) <= CONTRACT_TOP_LEVEL
    assert set(received["properties"]) <= CONTRACT_PROPERTIES
    # What went over the wire is exactly what conversation_request built.
    assert received == json.loads(json.dumps(request))
    assert conversation.conversation_id
    assert conversation.status == ("ended" if form.test_mode else "active")
    assert received["test_mode"] is form.test_mode
    assert received["require_auth"] is form.require_auth
    props = received["properties"]
    assert props["max_call_duration"] == form.max_call_minutes * 60
    assert props["participant_absent_timeout"] == form.participant_absent_timeout
    assert props["participant_left_timeout"] == form.participant_left_timeout
    assert props["language"] == form.language.lower()
    assert props.get("enable_closed_captions", False) is form.enable_closed_captions
    for name in ("persona_id", "conversation_name", "custom_greeting", "conversational_context"):
        assert received.get(name) == (getattr(form, name) or None)

    stored = tavus.get_conversation(conversation.conversation_id)
    assert stored.replica_id == replica_id
    if form.persona_id:
        assert stored.persona_id == form.persona_id
    if form.conversation_name:
        assert stored.conversation_name == form.conversation_name


def test_defaults_are_demo_friendly(replica_id: str) -> None:
    request = conversation_request(ConversationForm(replica_id=replica_id))

    assert DEFAULT_MAX_CALL_MINUTES == 10
    assert request == {
        "replica_id": replica_id,
        "test_mode": False,
        "require_auth": False,
        "properties": {
            "max_call_duration": 600,
            "participant_absent_timeout": 300,
            "participant_left_timeout": 60,
            "language": "english",
        },
    }


def test_languages_are_full_lowercase_names() -> None:
    assert LANGUAGES[:2] == ("english", "multilingual")
    assert len(LANGUAGES) >= 15
    assert len(set(LANGUAGES)) == len(LANGUAGES)
    for language in LANGUAGES:
        assert language.isalpha() and language.islower() and len(language) > 2, language
        # every suggestion passes our own validation unchanged
        form = ConversationForm(replica_id="r1", language=language)
        assert conversation_request(form)["properties"]["language"] == language


def test_blank_text_is_not_sent(
    sim: TavusSimulator, tavus: TavusClient, wire: RecordingTransport, replica_id: str
) -> None:
    form = ConversationForm(
        replica_id=f"  {replica_id} ",
        persona_id="   ",
        conversation_name=" \n ",
        custom_greeting="\t",
        conversational_context="   ",
    )

    conversation = start_conversation(tavus, ConversationAttempt(form))

    received = _last_create_body(wire)
    assert received["replica_id"] == replica_id
    for name in ("persona_id", "conversation_name", "custom_greeting", "conversational_context"):
        assert name not in received
    # Not sending a name lets Tavus name it; a "" would have been stored as the name.
    assert conversation.conversation_name
    assert conversation.conversation_name.startswith("Conversation with ")
    # Without persona_id Tavus applies its default persona.
    assert tavus.get_conversation(conversation.conversation_id).persona_id


def test_text_is_stripped_and_capped(replica_id: str) -> None:
    request = conversation_request(
        ConversationForm(
            replica_id=replica_id,
            conversation_name="  Booth \n demo  " + "n" * 500,
            custom_greeting="  Hello!  " + "g" * 2_000,
            conversational_context="\n Context line one.\nLine two. " + "c" * 20_000,
            language="  English ",
        )
    )

    assert request["conversation_name"].startswith("Booth demo n")
    assert len(request["conversation_name"]) == MAX_NAME_LENGTH == 120
    assert request["custom_greeting"].startswith("Hello!  g")
    assert len(request["custom_greeting"]) == MAX_GREETING_LENGTH == 500
    assert request["conversational_context"].startswith("Context line one.\nLine two. c")
    assert len(request["conversational_context"]) == MAX_CONTEXT_LENGTH == 10_000
    assert request["properties"]["language"] == "english"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"language": "en"}, "english"),
        ({"language": "EN"}, "english"),
        ({"language": "en-US"}, "english"),
        ({"language": "english!"}, "english"),
        ({"language": "  "}, "english"),
        ({"max_call_minutes": 0}, "max_call_minutes"),
        ({"max_call_minutes": 10_000}, "max_call_minutes"),
        ({"max_call_minutes": 2.5}, "max_call_minutes"),
        ({"participant_absent_timeout": 9}, "participant_absent_timeout"),
        ({"participant_absent_timeout": 3601}, "participant_absent_timeout"),
        ({"participant_left_timeout": 0}, "participant_left_timeout"),
        ({"participant_left_timeout": 7200}, "participant_left_timeout"),
        ({"replica_id": ""}, "replica_id"),
        ({"replica_id": "   "}, "replica_id"),
    ],
)
def test_refusals_name_the_field_and_send_nothing(
    changes: dict, field: str, sim: TavusSimulator, tavus: TavusClient, replica_id: str
) -> None:
    attempt = ConversationAttempt(ConversationForm(**{"replica_id": replica_id, **changes}))

    with pytest.raises(ConversationFormError, match=field) as caught:
        start_conversation(tavus, attempt)

    if "language" in changes:
        assert "multilingual" in str(caught.value)
    assert attempt.conversation is None
    assert _posts(sim) == []


def test_a_language_code_that_slips_through_is_refused_by_tavus_with_advice(
    tavus: TavusClient, replica_id: str
) -> None:
    with pytest.raises(TavusError) as caught:
        tavus.create_conversation(replica_id=replica_id, properties={"language": "en"})

    advice = refusal_advice(caught.value)
    assert advice is not None
    assert "english" in advice and "multilingual" in advice


# --- Recording -----------------------------------------------------------------------------------
RECORDING = RecordingStorage(
    bucket_name="team-bucket",
    bucket_region="eu-north-1",
    assume_role_arn="arn:aws:iam::123456789012:role/TavusRecording",
    external_id="tavus",
)


def test_recording_sends_the_team_bucket_and_role_in_the_contracts_names(
    sim: TavusSimulator, tavus: TavusClient, wire: RecordingTransport, replica_id: str
) -> None:
    form = ConversationForm(replica_id=replica_id, record=True)

    conversation = start_conversation(tavus, ConversationAttempt(form), RECORDING)

    props = _last_create_body(wire)["properties"]
    assert set(props) <= CONTRACT_PROPERTIES
    assert props["enable_recording"] is True
    assert set(props["recording_storage"]) <= CONTRACT_RECORDING_STORAGE_S3
    assert props["recording_storage"] == {
        "provider": "s3",
        "bucket_name": "team-bucket",
        "bucket_region": "eu-north-1",
        "assume_role_arn": "arn:aws:iam::123456789012:role/TavusRecording",
        "external_id": "tavus",
    }
    assert conversation.status == "active"


def test_recording_without_an_external_id_leaves_it_out(replica_id: str) -> None:
    storage = RecordingStorage("b", "us-east-1", "arn:aws:iam::123456789012:role/R")
    request = conversation_request(ConversationForm(replica_id=replica_id, record=True), storage)
    assert "external_id" not in request["properties"]["recording_storage"]


def test_recording_settings_are_unused_unless_the_form_asks(replica_id: str) -> None:
    request = conversation_request(ConversationForm(replica_id=replica_id), RECORDING)
    assert "enable_recording" not in request["properties"]
    assert "recording_storage" not in request["properties"]


def test_recording_without_settings_says_what_to_configure_and_sends_nothing(
    sim: TavusSimulator, tavus: TavusClient, replica_id: str
) -> None:
    attempt = ConversationAttempt(ConversationForm(replica_id=replica_id, record=True))

    with pytest.raises(ConversationFormError, match="RECORDING_ROLE_ARN") as caught:
        start_conversation(tavus, attempt)

    assert "turn recording off" in str(caught.value)
    assert attempt.conversation is None
    assert _posts(sim) == []


def test_no_secret_is_sent_with_recording(wire: RecordingTransport, tavus: TavusClient,
                                          replica_id: str) -> None:
    settings = load_settings({
        "TAVUS_API_KEY": "tk-real-key-123", "S3_BUCKET": "team-bucket",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE123", "AWS_SECRET_ACCESS_KEY": "s3-secret-value-xyz",
        "AWS_SESSION_TOKEN": "session-token-xyz",
        "RECORDING_ROLE_ARN": "arn:aws:iam::123456789012:role/TavusRecording",
    })
    assert isinstance(settings.s3, S3Settings)
    form = ConversationForm(replica_id=replica_id, record=True)

    start_conversation(tavus, ConversationAttempt(form), recording_storage(settings, settings.s3))

    sent = json.dumps(_last_create_body(wire))
    for secret in ("AKIAEXAMPLE123", "s3-secret-value-xyz", "session-token-xyz"):
        assert secret not in sent


# --- Join link and QR code -----------------------------------------------------------------------
def test_private_room_join_url_carries_the_meeting_token(
    tavus: TavusClient, replica_id: str
) -> None:
    form = ConversationForm(replica_id=replica_id, require_auth=True)
    conversation = start_conversation(tavus, ConversationAttempt(form))
    assert conversation.meeting_token
    assert conversation.conversation_url

    url = join_url(conversation)

    assert url.startswith(conversation.conversation_url + "?")
    assert parse_qs(urlsplit(url).query) == {"t": [conversation.meeting_token]}
    assert httpx.get(url).status_code == 200
    assert httpx.get(conversation.conversation_url).status_code == 403


def test_public_room_join_url_is_the_conversation_url(tavus: TavusClient, replica_id: str) -> None:
    conversation = start_conversation(tavus, ConversationAttempt(ConversationForm(replica_id)))
    assert conversation.meeting_token is None

    url = join_url(conversation)

    assert url == conversation.conversation_url
    assert httpx.get(url).status_code == 200


def test_join_url_keeps_an_existing_query_and_encodes_the_token() -> None:
    conversation = Conversation(
        conversation_id="c1",
        conversation_url="https://tavus.daily.co/c1?lang=en&t=stale#video",
        meeting_token="a b&c=d/é",
    )

    url = join_url(conversation)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "tavus.daily.co",
        "/c1",
        "video",
    )
    assert parse_qs(parts.query) == {"lang": ["en"], "t": ["a b&c=d/é"]}
    assert join_url(Conversation(conversation_id="c2", meeting_token="tok")) == ""


def test_qr_code_decodes_back_to_the_join_url(tavus: TavusClient, replica_id: str) -> None:
    public = start_conversation(tavus, ConversationAttempt(ConversationForm(replica_id)))
    private = start_conversation(
        tavus, ConversationAttempt(ConversationForm(replica_id, require_auth=True))
    )

    for conversation in (public, private):
        url = join_url(conversation)
        png = qr_png(url)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert decode_qr(png) == url
    assert "?t=" in join_url(private)


def test_qr_codes_of_many_private_join_urls_all_read_back() -> None:
    # Which modules are dark depends on the text: one fixed URL could hide a code that some
    # tokens make unreadable. Seeded, so a failure names the same URLs on every run.
    rng = random.Random(20261125)
    alphabet = string.ascii_letters + string.digits + "-_"
    for _ in range(100):
        url = (f"https://tavus.daily.co/c{rng.getrandbits(44):011x}"
               f"?t={''.join(rng.choice(alphabet) for _ in range(32))}")
        assert decode_qr(qr_png(url)) == url


def test_qr_code_keeps_its_quiet_zone() -> None:
    png = qr_png("https://tavus.daily.co/c123", scale=4)
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    # Four modules of four pixels each: a white band all around the code.
    band = 16
    for edge in (image[:band], image[-band:], image[:, :band], image[:, -band:]):
        assert edge.min() == 255
    assert image.min() == 0

    # Error correction level from the format bits beside the top-left finder: (8, 0) and (8, 1),
    # XOR-masked with 1 0; level M is 00, so masked: dark, light.
    def dark(row: int, col: int) -> bool:
        return bool(image[band + row * 4 + 2, band + col * 4 + 2] < 128)

    levels = {(True, False): "M", (True, True): "L", (False, True): "Q", (False, False): "H"}
    assert levels[(dark(8, 0), dark(8, 1))] == "M"
    with pytest.raises(ValueError):
        qr_png("")


# --- Idempotent start ----------------------------------------------------------------------------
def test_one_attempt_starts_one_conversation(
    sim: TavusSimulator, tavus: TavusClient, replica_id: str
) -> None:
    attempt = ConversationAttempt(ConversationForm(replica_id, conversation_name="Once"))

    first = start_conversation(tavus, attempt)
    second = start_conversation(tavus, attempt)

    assert len(_posts(sim)) == 1
    assert second.conversation_id == first.conversation_id
    assert attempt.conversation == first

    third = start_conversation(tavus, ConversationAttempt(attempt.form))

    assert len(_posts(sim)) == 2
    assert third.conversation_id != first.conversation_id
    active = tavus.list_conversations(status="active").conversations
    assert {c.conversation_id for c in active} == {first.conversation_id, third.conversation_id}


def test_a_failed_create_is_not_remembered(
    sim: TavusSimulator, tavus: TavusClient, replica_id: str
) -> None:
    sim.inject_fault("500", count=1, path_prefix=CONVERSATIONS)
    attempt = ConversationAttempt(ConversationForm(replica_id))

    with pytest.raises(TavusError) as caught:
        start_conversation(tavus, attempt)

    assert caught.value.status_code == 500
    assert refusal_advice(caught.value) is None
    assert attempt.conversation is None
    assert len(_posts(sim)) == 1  # a create is not retried after a 500
    assert start_conversation(tavus, attempt).status == "active"
    assert len(_posts(sim)) == 2


# --- Status and shutdown reasons -----------------------------------------------------------------
def test_dry_run_ends_at_once_and_says_so(tavus: TavusClient, replica_id: str) -> None:
    form = ConversationForm(replica_id, test_mode=True)
    conversation = start_conversation(tavus, ConversationAttempt(form))

    assert conversation.status == "ended"
    assert tavus.list_conversations(status="active").conversations == []
    # The replica never joins a dry run, so Tavus (and the simulator) report no events at all.
    verbose = tavus.get_conversation(conversation.conversation_id, verbose=True)
    assert verbose.events == []
    assert shutdown_reason(verbose) is None


def test_ending_from_the_dashboard(tavus: TavusClient, replica_id: str) -> None:
    conversation = start_conversation(tavus, ConversationAttempt(ConversationForm(replica_id)))
    assert conversation.status == "active"
    assert (
        shutdown_reason(tavus.get_conversation(conversation.conversation_id, verbose=True)) is None
    )

    tavus.end_conversation(conversation.conversation_id)

    ended = tavus.get_conversation(conversation.conversation_id, verbose=True)
    assert ended.status == "ended"
    assert shutdown_reason(ended) == "ended from the dashboard"
    # Without verbose Tavus sends no events, so there is nothing to read.
    assert shutdown_reason(tavus.get_conversation(conversation.conversation_id)) is None


def test_max_call_duration_ends_it(
    sim: TavusSimulator, tavus: TavusClient, replica_id: str
) -> None:
    form = ConversationForm(replica_id, max_call_minutes=1)
    conversation = start_conversation(tavus, ConversationAttempt(form))

    sim.advance(30)
    assert tavus.get_conversation(conversation.conversation_id).status == "active"
    sim.advance(31)

    ended = tavus.get_conversation(conversation.conversation_id, verbose=True)
    assert ended.status == "ended"
    assert shutdown_reason(ended) == "the maximum call duration was reached"
    # Its clock stopped at max_call_duration, however late we look.
    assert elapsed(ended, datetime(2999, 1, 1, tzinfo=UTC)) == timedelta(seconds=60)


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"reason": "max_call_duration"}, "the maximum call duration was reached"),
        ({"reason": "participant_left_timeout"}, "everyone left"),
        ({"shutdown_reason": "participant_absent_timeout"}, "nobody joined"),
        ({"reason": "end_conversation_endpoint_hit"}, "ended from the dashboard"),
        ({"reason": "test_mode"}, "it was a dry run (test mode)"),
        ({"reason": "daily_room_expired"}, "daily room expired"),
    ],
)
def test_shutdown_reasons_read_plainly(properties: dict, expected: str) -> None:
    events = [
        {"event_type": "system.replica_joined", "timestamp": "2026-04-29T03:40:00Z"},
        {"event_type": "system.shutdown", "properties": properties},
    ]

    assert shutdown_reason(Conversation("c1", status="ended", events=events)) == expected


def test_no_shutdown_event_means_no_reason() -> None:
    joined = [{"event_type": "system.replica_joined"}]
    assert shutdown_reason(Conversation("c1", events=joined)) is None
    assert shutdown_reason(Conversation("c1", events=None)) is None
    assert shutdown_reason(Conversation("c1", raw={"shutdown_reason": "participant_left"})) == (
        "everyone left"
    )


# --- Refusals ------------------------------------------------------------------------------------
def test_concurrency_limit_is_explained_and_clears_when_one_ends(
    sim: TavusSimulator, tavus: TavusClient, replica_id: str
) -> None:
    started = [
        start_conversation(tavus, ConversationAttempt(ConversationForm(replica_id)))
        for _ in range(3)
    ]
    assert all(c.status == "active" for c in started)
    blocked = ConversationAttempt(ConversationForm(replica_id, conversation_name="Fourth"))

    with pytest.raises(TavusError) as caught:
        start_conversation(tavus, blocked)

    assert "maximum concurrent conversations" in caught.value.message.lower()
    advice = refusal_advice(caught.value)
    assert advice is not None and advice.startswith("End a conversation that is still active")
    assert blocked.conversation is None
    # A dry run uses no concurrency, so it still works at the limit.
    dry = ConversationAttempt(ConversationForm(replica_id, test_mode=True))
    assert start_conversation(tavus, dry).status == "ended"

    tavus.end_conversation(started[0].conversation_id)

    assert start_conversation(tavus, blocked).status == "active"
    assert blocked.conversation is not None
    assert blocked.conversation.conversation_name == "Fourth"


def test_replica_not_ready_is_explained(sim: TavusSimulator, tavus: TavusClient) -> None:
    (training,) = sim.add_replicas(1, training=1)

    with pytest.raises(TavusError) as caught:
        start_conversation(tavus, ConversationAttempt(ConversationForm(training)))

    advice = refusal_advice(caught.value)
    assert advice is not None and "Ready" in advice and "training" in advice


def test_unknown_replica_and_persona_are_explained(tavus: TavusClient, replica_id: str) -> None:
    with pytest.raises(TavusError) as no_replica:
        start_conversation(tavus, ConversationAttempt(ConversationForm("r000000000000")))
    with pytest.raises(TavusError) as no_persona:
        form = ConversationForm(replica_id, persona_id="p000000000000")
        start_conversation(tavus, ConversationAttempt(form))

    replica_advice = refusal_advice(no_replica.value)
    persona_advice = refusal_advice(no_persona.value)
    assert replica_advice is not None and "replica" in replica_advice
    assert persona_advice is not None and "persona" in persona_advice
    assert replica_advice != persona_advice


def test_unexplained_errors_get_no_advice() -> None:
    assert refusal_advice(TavusError("Internal server error", status_code=500)) is None
    assert refusal_advice(TavusError("Could not reach Tavus: timed out")) is None


def test_system_personas_can_be_chosen(tavus: TavusClient, replica_id: str) -> None:
    personas = tavus.list_personas(persona_type="system").personas
    assert personas
    chosen = personas[-1].persona_id
    conversation = start_conversation(
        tavus, ConversationAttempt(ConversationForm(replica_id, persona_id=chosen))
    )

    assert tavus.get_conversation(conversation.conversation_id).persona_id == chosen


# --- The list ------------------------------------------------------------------------------------
def test_sort_puts_active_first_then_newest(
    sim: TavusSimulator, tavus: TavusClient, replica_id: str
) -> None:
    def start(name: str) -> str:
        form = ConversationForm(replica_id, conversation_name=name)
        conversation = start_conversation(tavus, ConversationAttempt(form))
        sim.advance(5)  # distinct created_at values without waiting
        return conversation.conversation_id

    old_active = start("old active")
    ended = start("ended")
    new_active = start("new active")
    tavus.end_conversation(ended)
    listed = tavus.list_conversations(limit=100).conversations
    ours = [c for c in listed if c.conversation_id in {old_active, ended, new_active}]

    ordered = [c.conversation_id for c in sort_conversations(ours)]

    assert ordered == [new_active, old_active, ended]


def test_sort_breaks_ties_by_id_and_puts_unknown_times_last() -> None:
    same = "2026-05-01T10:00:00.000Z"
    conversations = [
        Conversation("c-ended-new", status="ended", created_at="2026-05-02T00:00:00Z"),
        Conversation("c-b", status="active", created_at=same),
        Conversation("c-unknown", status="active", created_at=None),
        Conversation("c-a", status="active", created_at=same),
        Conversation("c-newest", status="active", created_at="2026-05-01T11:00:00+00:00"),
        Conversation("c-ended-old", status="ended", created_at="2026-04-01T00:00:00Z"),
    ]

    ordered = [c.conversation_id for c in sort_conversations(conversations)]

    assert ordered == ["c-newest", "c-a", "c-b", "c-unknown", "c-ended-new", "c-ended-old"]
    assert sort_conversations([]) == []


def test_elapsed_from_created_at(tavus: TavusClient, replica_id: str) -> None:
    conversation = start_conversation(tavus, ConversationAttempt(ConversationForm(replica_id)))
    assert conversation.created_at
    created = datetime.fromisoformat(conversation.created_at)

    assert elapsed(conversation, created + timedelta(minutes=4, seconds=30)) == timedelta(
        minutes=4, seconds=30
    )
    # A clock slightly behind Tavus's never shows negative time.
    assert elapsed(conversation, created - timedelta(seconds=3)) == timedelta(0)


def test_elapsed_without_a_readable_start_is_unknown() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert elapsed(Conversation("c1", created_at=None), now) is None
    assert elapsed(Conversation("c1", created_at="yesterday"), now) is None
    naive = Conversation("c1", status="active", created_at="2026-05-01T11:59:00")
    assert elapsed(naive, now) == timedelta(minutes=1)
    assert elapsed(naive, now.replace(tzinfo=None)) == timedelta(minutes=1)
