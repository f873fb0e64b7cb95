"""The simulator's debrief, over real HTTP: joining, the transcript, Raven's analysis, the shutdown
reason, recordings written to (moto's) S3, and the raw-events hook.

Time moves with sim.advance(); the only real waiting is for a recording to be drawn and put
(sim.wait_for_recordings).
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator

import av
import boto3
import httpx
import pytest

from lib.config import S3Settings
from lib.tavus.simulator import RecordingS3, TavusSimulator

KEY = "sk-sim-debrief-" + secrets.token_hex(8)
ANNA = "r1af0c2b8d3e"  # stock replica "Anna - Office"
DEFAULT_PERSONA = "p1a2b3c4d5e6"  # "Tavus Assistant": perception off
RAVEN_PERSONA = "p3c4d5e6f7a8"  # "Interviewer": perception raven-1
ROLE = "arn:aws:iam::123456789012:role/TavusRecordingWriter"


@pytest.fixture(scope="module")
def recording_s3(s3_endpoint: str) -> RecordingS3:
    return RecordingS3(s3_endpoint, "test-key-id", "test-secret-value", "us-east-1")


@pytest.fixture(scope="module")
def sim(recording_s3: RecordingS3) -> Iterator[TavusSimulator]:
    s = TavusSimulator(
        KEY, seed_demo_data=False, max_concurrent_conversations=100, recording_s3=recording_s3
    ).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(sim: TavusSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers={"x-api-key": KEY}, timeout=10) as c:
        yield c


def _create(client: httpx.Client, **payload: object) -> dict:
    r = client.post("/v2/conversations", json={"replica_id": ANNA, **payload})
    assert r.status_code == 200, r.text
    return r.json()


def _events(client: httpx.Client, cid: str) -> list[dict]:
    r = client.get(f"/v2/conversations/{cid}", params={"verbose": "true"})
    assert r.status_code == 200, r.text
    return r.json()["events"]


def _types(client: httpx.Client, cid: str) -> list[str]:
    return [e["event_type"] for e in _events(client, cid)]


def _one(client: httpx.Client, cid: str, event_type: str) -> dict:
    found = [e for e in _events(client, cid) if e["event_type"] == event_type]
    assert len(found) == 1, (event_type, _types(client, cid))
    return found[0]


def _hook(sim: TavusSimulator, cid: str, action: str, **body: object) -> httpx.Response:
    return httpx.post(f"{sim.base_url}/_sim/conversations/{cid}/{action}", json=body)


# ------------------------------------------------------------------------------------------------
# joining, the transcript, the shutdown
# ------------------------------------------------------------------------------------------------
def test_a_joined_call_gets_its_transcript_a_few_seconds_after_the_end(
    sim: TavusSimulator, client: httpx.Client
) -> None:
    c = _create(
        client,
        persona_id=DEFAULT_PERSONA,
        custom_greeting="Welcome to the <demo> & thanks for coming!",
        conversational_context="The user is evaluating Replica Studio for their sales team.",
    )
    cid = c["conversation_id"]
    assert _hook(sim, cid, "join").json() == {"joined": True}
    sim.advance(45)
    assert client.post(f"/v2/conversations/{cid}/end").status_code == 200
    assert _types(client, cid) == ["system.replica_joined", "system.shutdown"]
    assert _one(client, cid, "system.shutdown")["properties"] == {
        "reason": "end_conversation_endpoint_hit"
    }
    sim.advance(4.5)
    assert "application.transcription_ready" not in _types(client, cid)  # not yet
    sim.advance(1)
    assert _types(client, cid) == [
        "system.replica_joined",
        "system.shutdown",
        "application.transcription_ready",
    ]
    turns = _one(client, cid, "application.transcription_ready")["properties"]["transcript"]
    system, greeting, *exchange = turns
    assert system["role"] == "system"
    prompt = system["content"]
    assert prompt.startswith("You are Anna - Office, a digital twin")
    assert "friendly, concise assistant" in prompt  # the persona's prompt
    assert "evaluating Replica Studio for their sales team" in prompt  # the context
    assert len(prompt) > 400
    assert (greeting["role"], greeting["content"]) == (
        "assistant",
        "Welcome to the <demo> & thanks for coming!",
    )
    assert 3 <= len(exchange) <= 6
    assert [t["role"] for t in exchange] == ["user", "assistant"] * (len(exchange) // 2)
    starts = [t["seconds_from_start"] for t in turns]
    assert starts == sorted(starts) and len(set(starts[1:])) == len(starts) - 1
    for t in turns:
        assert set(t) == {"role", "content", "timestamp", "seconds_from_start", "duration"}
        assert isinstance(t["timestamp"], float) and t["timestamp"] > 1.7e9
        assert t["seconds_from_start"] + t["duration"] <= 45.5
        assert t["timestamp"] == pytest.approx(system["timestamp"] + t["seconds_from_start"])
    sim.advance(120)
    assert "application.perception_analysis" not in _types(client, cid)  # perception off


def test_a_call_nobody_joined_has_no_transcript(sim: TavusSimulator, client: httpx.Client) -> None:
    ended_by_api = _create(client)["conversation_id"]
    absent = _create(client, properties={"participant_absent_timeout": 60})["conversation_id"]
    client.post(f"/v2/conversations/{ended_by_api}/end")
    sim.advance(59)
    assert client.get(f"/v2/conversations/{absent}").json()["status"] == "active"
    sim.advance(200)
    assert _types(client, ended_by_api) == ["system.shutdown"]
    assert _types(client, absent) == ["system.shutdown"]
    assert _one(client, absent, "system.shutdown")["properties"]["reason"] == (
        "participant_absent_timeout"
    )
    assert _hook(sim, absent, "join").json() == {"joined": False}  # too late


def test_a_short_call_that_hits_max_call_duration_squeezes_its_transcript(
    sim: TavusSimulator, client: httpx.Client
) -> None:
    cid = _create(client, properties={"max_call_duration": 12})["conversation_id"]
    sim.join(cid)
    sim.advance(14)  # ended at 12 s, 2 s ago
    assert _types(client, cid)[-1] == "system.shutdown"
    sim.advance(3)
    reasons = _one(client, cid, "system.shutdown")["properties"]
    assert reasons == {"reason": "max_call_duration"}
    turns = _one(client, cid, "application.transcription_ready")["properties"]["transcript"]
    assert turns[1]["content"] == "Hi, I'm Anna - Office. How can I help you today?"
    assert all(t["seconds_from_start"] + t["duration"] <= 12.001 for t in turns)


def test_the_room_page_joins_and_its_leave_button_ends_the_call(
    sim: TavusSimulator, client: httpx.Client
) -> None:
    c = _create(client, require_auth=True)
    cid, url, token = c["conversation_id"], c["conversation_url"], c["meeting_token"]
    assert httpx.get(url).status_code == 403 and _types(client, cid) == []  # no token: no join
    page = httpx.get(url, params={"t": token}).text
    for testid in ("sim-room", "sim-room-title", "sim-room-status", "sim-room-leave",
                   "sim-room-recording"):
        assert f'data-testid="{testid}"' in page
    assert 'data-testid="sim-room-record"' not in page  # recording not enabled
    assert _types(client, cid) == ["system.replica_joined"]
    assert httpx.post(f"{url}/leave").status_code == 403  # the token is needed here too
    r = httpx.post(f"{url}/leave", params={"t": token})
    assert r.status_code == 303 and r.headers["location"] == f"/rooms/{cid}?t={token}"
    after = httpx.get(url, params={"t": token}).text
    assert 'data-status="ended"' in after and "participant_left_timeout" in after
    assert 'data-testid="sim-room-leave"' not in after
    sim.advance(5)
    assert _types(client, cid)[-1] == "application.transcription_ready"


def test_participant_left_timeout_delays_the_end_after_leave(
    sim: TavusSimulator, client: httpx.Client
) -> None:
    cid = _create(client, properties={"participant_left_timeout": 30})["conversation_id"]
    sim.join(cid)
    sim.leave(cid)
    sim.advance(29)
    assert client.get(f"/v2/conversations/{cid}").json()["status"] == "active"
    sim.advance(2)
    assert _one(client, cid, "system.shutdown")["properties"]["reason"] == (
        "participant_left_timeout"
    )


def test_test_mode_calls_cannot_be_joined(sim: TavusSimulator, client: httpx.Client) -> None:
    cid = _create(client, test_mode=True)["conversation_id"]
    assert not sim.join(cid)
    httpx.get(f"{sim.base_url}/rooms/{cid}")
    sim.advance(100)
    assert _events(client, cid) == []


# ------------------------------------------------------------------------------------------------
# Raven perception
# ------------------------------------------------------------------------------------------------
def test_a_raven_persona_gets_a_perception_analysis_a_minute_after_the_end(
    sim: TavusSimulator, client: httpx.Client
) -> None:
    personas = {p["persona_id"]: p for p in client.get("/v2/personas").json()["data"]}
    assert personas[RAVEN_PERSONA]["layers"]["perception"]["perception_model"] == "raven-1"
    assert personas[DEFAULT_PERSONA]["layers"]["perception"]["perception_model"] == "off"
    cid = _create(client, persona_id=RAVEN_PERSONA)["conversation_id"]
    sim.join(cid)
    sim.advance(30)
    client.post(f"/v2/conversations/{cid}/end")
    sim.advance(59)
    assert "application.perception_analysis" not in _types(client, cid)
    prompt = _one(client, cid, "application.transcription_ready")["properties"]["transcript"][0]
    assert "job interviewer" in prompt["content"]
    sim.advance(1.5)
    assert _types(client, cid)[-1] == "application.perception_analysis"
    analysis = _one(client, cid, "application.perception_analysis")["properties"]["analysis"]
    assert analysis.startswith("- **") and "<b>" in analysis and "\n- " in analysis


# ------------------------------------------------------------------------------------------------
# recordings
# ------------------------------------------------------------------------------------------------
def _storage(bucket: str, **extra: object) -> dict:
    return {"provider": "s3", "bucket_name": bucket, "bucket_region": "us-east-1",
            "assume_role_arn": ROLE, "external_id": "tavus", **extra}


@pytest.mark.parametrize(
    "props,words",
    [
        ({"enable_recording": "yes"}, "enable_recording must be a boolean"),
        ({"recording_storage": "my-bucket"}, "recording_storage must be an object"),
        ({"recording_storage": {"bucket_name": "b"}}, "provider is required"),
        ({"recording_storage": {"provider": "dropbox"}}, "Invalid recording storage provider"),
        ({"recording_storage": {"provider": "s3"}}, "bucket_name is required"),
        ({"recording_storage": _storage("Not_A_Bucket")}, "Invalid S3 bucket name"),
        ({"recording_storage": _storage("ok-bucket", bucket_region="Mars")}, "bucket_region"),
        ({"recording_storage": _storage("ok-bucket", assume_role_arn="me")}, "assume_role_arn"),
        ({"recording_storage": _storage("ok-bucket", external_id=7)}, "external_id must be"),
        ({"recording_s3_bucket_name": "x"}, "Invalid S3 bucket name"),
        ({"participant_absent_timeout": 0}, "participant_absent_timeout"),
        ({"participant_left_timeout": -1}, "participant_left_timeout"),
    ],
)
def test_recording_and_timeout_refusals(client: httpx.Client, props: dict, words: str) -> None:
    r = client.post("/v2/conversations", json={"replica_id": ANNA, "properties": props})
    assert r.status_code == 400 and words in r.json()["error"], r.json()


def test_a_recorded_call_lands_in_the_bucket_as_a_playable_mp4(
    sim: TavusSimulator, client: httpx.Client, s3_settings: S3Settings
) -> None:
    c = _create(client, properties={"enable_recording": True,
                                    "recording_storage": _storage(s3_settings.bucket)})
    cid, url = c["conversation_id"], c["conversation_url"]
    page = httpx.get(url).text
    assert 'data-testid="sim-room-record"' in page and ">Record</button>" in page
    r = httpx.post(f"{url}/record", data={"recording": "start"})
    assert r.status_code == 303
    page = httpx.get(url).text
    assert ">Stop recording</button>" in page and 'data-recording-state="recording"' in page
    sim.advance(3)
    assert client.post(f"/v2/conversations/{cid}/end").status_code == 200
    assert sim.wait_for_recordings(30)
    assert 'data-recording-state="saved"' in httpx.get(url).text
    sim.advance(9)
    assert "application.recording_ready" not in _types(client, cid)
    sim.advance(1.5)
    props = _one(client, cid, "application.recording_ready")["properties"]
    key = props["s3_key"]
    assert key.startswith(f"recordings/{cid}/") and key.endswith(".mp4")
    assert props == {"bucket_name": s3_settings.bucket, "s3_key": key, "duration": 3,
                     "storage_uri": f"s3://{s3_settings.bucket}/{key}"}
    s3 = boto3.client("s3", endpoint_url=s3_settings.endpoint_url, region_name="us-east-1",
                      aws_access_key_id="k", aws_secret_access_key="s")
    obj = s3.get_object(Bucket=s3_settings.bucket, Key=key)
    assert obj["ContentType"] == "video/mp4"
    data = obj["Body"].read()
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: playable while downloading
    with av.open(io.BytesIO(data)) as container:
        codecs = sorted(s.codec_context.name for s in container.streams)
        assert codecs == ["aac", "h264"]
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert container.duration / 1e6 == pytest.approx(3, abs=0.2)


def test_recording_needs_enable_recording_and_a_live_call(
    sim: TavusSimulator, client: httpx.Client
) -> None:
    plain = _create(client)["conversation_id"]
    assert _hook(sim, plain, "record").status_code == 400
    assert _hook(sim, "cnope", "record").status_code == 404
    cid = _create(client, properties={"enable_recording": True})["conversation_id"]
    assert _hook(sim, cid, "record").status_code == 200  # pressing Record joins, too
    assert _hook(sim, cid, "record", recording=False).status_code == 200
    client.post(f"/v2/conversations/{cid}/end")
    assert _hook(sim, cid, "record").status_code == 400  # ended
    assert sim.wait_for_recordings(30)
    sim.advance(100)  # recorded, but no recording_storage: nowhere to write it
    assert "application.recording_ready" not in _types(client, cid)
    assert "application.transcription_ready" in _types(client, cid)


def test_a_missing_bucket_or_no_s3_settings_means_no_recording_ready(
    sim: TavusSimulator, client: httpx.Client, s3_settings: S3Settings
) -> None:
    cid = _create(client, properties={"enable_recording": True,
                                      "recording_storage": _storage("no-such-bucket-here")})
    cid = cid["conversation_id"]
    sim.start_recording(cid)
    client.post(f"/v2/conversations/{cid}/end")
    assert sim.wait_for_recordings(30)
    sim.advance(30)
    assert "application.recording_ready" not in _types(client, cid)
    assert 'data-recording-state="failed"' in httpx.get(f"{sim.base_url}/rooms/{cid}").text
    with TavusSimulator(KEY, seed_demo_data=False) as bare, httpx.Client(
        base_url=bare.base_url, headers={"x-api-key": KEY}
    ) as other:
        body = {"enable_recording": True, "recording_storage": _storage(s3_settings.bucket)}
        c = _create(other, properties=body)["conversation_id"]
        bare.start_recording(c)
        other.post(f"/v2/conversations/{c}/end")
        assert bare.wait_for_recordings(30)
        bare.advance(30)
        assert "application.recording_ready" not in _types(other, c)


# ------------------------------------------------------------------------------------------------
# the raw-events hook
# ------------------------------------------------------------------------------------------------
def test_the_events_hook_replaces_or_appends_raw_events(
    sim: TavusSimulator, client: httpx.Client
) -> None:
    cid = _create(client)["conversation_id"]
    sim.join(cid)
    client.post(f"/v2/conversations/{cid}/end")
    malformed = [{"event_type": "application.transcription_ready", "properties": {"transcript":
                  "not a list"}}, "not an event", None]
    assert _hook(sim, cid, "events", events=malformed).status_code == 200
    assert _events(client, cid) == malformed
    assert _hook(sim, cid, "events", events="oops").status_code == 200
    assert _events(client, cid) == "oops"
    huge = [{"role": "user" if i % 2 else "assistant", "content": f"<i>turn</i> {i}",
             "timestamp": 1.8e9 + i, "seconds_from_start": float(i), "duration": 0.5}
            for i in range(10_000)]
    event = {"event_type": "application.transcription_ready", "properties": {"transcript": huge}}
    assert _hook(sim, cid, "events", events=[event]).status_code == 200  # > 1 MiB of JSON
    assert len(_events(client, cid)[0]["properties"]["transcript"]) == 10_000

    other = _create(client)["conversation_id"]
    sim.join(other)
    client.post(f"/v2/conversations/{other}/end")
    extra = {"event_type": "application.recording_ready",
             "properties": {"bucket_name": "b", "s3_key": "recordings/none.mp4", "duration": 3}}
    assert _hook(sim, other, "events", events=[extra], append=True).status_code == 200
    assert _types(client, other) == ["system.replica_joined", "system.shutdown",
                                     "application.recording_ready"]
    assert _hook(sim, other, "events", events={"x": 1}, append=True).status_code == 400
    assert _hook(sim, other, "events").status_code == 400
    assert _hook(sim, "cnope", "events", events=[]).status_code == 404


def test_demo_mode_gives_the_simulator_its_local_s3_for_recordings() -> None:
    from lib.demo import DEMO_AWS_KEY_ID, DEMO_AWS_SECRET, start_demo_services

    services = start_demo_services(training_seconds=30)
    settings = services.simulator.recording_s3
    assert settings == RecordingS3(services.s3.endpoint_url, DEMO_AWS_KEY_ID, DEMO_AWS_SECRET,
                                   services.s3.region)
    assert DEMO_AWS_SECRET not in repr(settings)
