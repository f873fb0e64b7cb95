"""The embedded Tavus simulator, exercised over real HTTP (httpx), as the app will use it.

Training images come from a tiny stdlib HTTP server started here (no network). Time is moved with
sim.advance(); the only waiting is for the background image download (sim.wait_for_downloads).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import re
import secrets
import socket
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from PIL import Image
from skimage import data as skdata

from lib.tavus.simulator import FAULT_KINDS, RequestRecord, TavusSimulator

KEY = "sk-sim-test-" + secrets.token_hex(8)
TRAINING = 100.0  # simulated seconds; the module simulator's training time
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PROGRESS = re.compile(r"^(\d{1,3})/100$")
SYSTEM_COUNT = 7  # stock replicas the simulator seeds


# ------------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------------
def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


PORTRAIT = Image.fromarray(skdata.astronaut())  # 512x512 head-and-shoulders photo
PORTRAIT_PNG = _png(PORTRAIT)
SMALL_PNG = _png(PORTRAIT.resize((320, 240)))
NOT_AN_IMAGE = b"These are meeting notes, not a picture.\n" * 20


class _ImageHandler(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[str, bytes]]] = {
        "/portrait.png": ("image/png", PORTRAIT_PNG),
        "/portrait.jpg": ("image/jpeg", _jpeg(PORTRAIT)),
        "/small.png": ("image/png", SMALL_PNG),
        "/notes.png": ("image/png", NOT_AN_IMAGE),
    }

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]  # presigned-style queries are ignored, like moto does
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/portrait.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/forbidden.png":
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path not in self.files:
            self.send_error(404)
            return
        ctype, body = self.files[path]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _no_key_hook(response: httpx.Response) -> None:
    """Every answer any test sees is checked for the key."""
    response.read()
    assert KEY.encode() not in response.content
    assert all(KEY not in v for v in response.headers.values())


def _client(base_url: str, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"x-api-key": KEY},
        timeout=timeout,
        event_hooks={"response": [_no_key_hook]},
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[TavusSimulator]:
    s = TavusSimulator(KEY, training_seconds=TRAINING, max_concurrent_conversations=50).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(sim: TavusSimulator) -> Iterator[httpx.Client]:
    with _client(sim.base_url) as c:
        yield c


@pytest.fixture
def fresh() -> Iterator[tuple[TavusSimulator, httpx.Client]]:
    """A private simulator (stock replicas only) for tests that change global state."""
    s = TavusSimulator(
        KEY, training_seconds=TRAINING, seed_demo_data=False, max_concurrent_conversations=2
    ).start()
    with _client(s.base_url) as c:
        yield s, c
    s.stop()


def _create(client: httpx.Client, url: str, **extra: object) -> str:
    r = client.post("/v2/replicas", json={"train_image_url": url, "voice_name": "anna", **extra})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "started"
    assert re.fullmatch(r"r[0-9a-f]{11}", body["replica_id"])
    return body["replica_id"]


def _get(client: httpx.Client, rid: str, **params: str) -> dict:
    r = client.get(f"/v2/replicas/{rid}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _trained(sim: TavusSimulator, client: httpx.Client, url: str, **extra: object) -> str:
    rid = _create(client, url, **extra)
    assert sim.wait_for_downloads(15)
    return rid


def _progress(item: dict) -> int:
    m = PROGRESS.match(item["training_progress"])
    assert m, item["training_progress"]
    return int(m.group(1))


def _system_replica(client: httpx.Client) -> dict:
    items = client.get("/v2/replicas", params={"replica_type": "system", "limit": 100}).json()
    return next(it for it in items["data"] if it["replica_name"] == "Anna - Office")


# ------------------------------------------------------------------------------------------------
# auth, routing, lifecycle
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"x-api-key": KEY + "x"}])
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v2/replicas"),
        ("POST", "/v2/conversations"),
        ("GET", "/v2/voices"),
        ("GET", "/v2/nope"),
    ],
)
def test_wrong_or_missing_key_gets_401_message(
    sim: TavusSimulator, headers: dict, method: str, path: str
) -> None:
    r = httpx.request(method, sim.base_url + path, headers=headers, json={})
    assert r.status_code == 401
    assert r.json() == {"message": "Invalid access token"}


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    r = client.get("/v2/nope")
    assert (r.status_code, r.json()) == (404, {"error": "Not found"})
    assert client.put("/v2/replicas", json={}).status_code == 405
    assert client.get("/elsewhere").status_code == 404


def test_start_is_idempotent_and_stop_closes() -> None:
    s = TavusSimulator(KEY, seed_demo_data=False)
    assert s.start() is s.start()
    base = s.base_url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    with _client(base) as c:
        assert c.get("/v2/replicas").status_code == 200  # a pooled keep-alive connection now
        s.stop()
        with pytest.raises(httpx.TransportError):
            c.get("/v2/replicas")
    s.stop()  # twice is fine
    assert KEY not in repr(s)


def test_constructor_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError):
        TavusSimulator("")


# ------------------------------------------------------------------------------------------------
# GET /v2/replicas
# ------------------------------------------------------------------------------------------------
def test_list_items_have_tavus_fields(client: httpx.Client) -> None:
    body = client.get("/v2/replicas", params={"limit": 100}).json()
    assert set(body) == {"data", "total_count"}
    assert body["total_count"] >= SYSTEM_COUNT + 3
    for it in body["data"]:
        assert {
            "replica_id",
            "replica_name",
            "thumbnail_video_url",
            "training_progress",
            "status",
            "created_at",
            "model_name",
        } <= set(it)
        assert "error_message" not in it and "updated_at" not in it and "replica_type" not in it
        assert it["status"] in ("started", "completed", "error")
        assert ISO_MS.match(it["created_at"])
        _progress(it)
    created = [it["created_at"] for it in body["data"]]
    assert created == sorted(created, reverse=True)  # newest first


def test_list_default_limit_is_10_and_total_counts_all(fresh) -> None:
    sim, client = fresh
    sim.add_replicas(15)
    body = client.get("/v2/replicas").json()
    assert len(body["data"]) == 10
    assert body["total_count"] == SYSTEM_COUNT + 15


def test_list_pages_are_1_based_distinct_and_stable(fresh) -> None:
    sim, client = fresh
    sim.add_replicas(5)
    everything = [it["replica_id"] for it in client.get("/v2/replicas?limit=100").json()["data"]]
    paged = []
    for page in range(1, 8):
        body = client.get("/v2/replicas", params={"limit": 2, "page": page}).json()
        assert body["total_count"] == len(everything)
        paged += [it["replica_id"] for it in body["data"]]
    assert paged == everything
    assert client.get("/v2/replicas", params={"limit": 2, "page": 99}).json()["data"] == []
    for bad in ({"limit": 0}, {"page": 0}, {"limit": "x"}, {"verbose": "maybe"}):
        r = client.get("/v2/replicas", params=bad)
        assert r.status_code == 400 and r.json()["error"]


def test_list_verbose_and_filters(client: httpx.Client) -> None:
    verbose = client.get("/v2/replicas", params={"verbose": "true", "limit": 100}).json()
    assert {it["replica_type"] for it in verbose["data"]} == {"user", "system"}
    system = client.get(
        "/v2/replicas", params={"replica_type": "system", "verbose": "true", "limit": 100}
    ).json()
    assert system["total_count"] == SYSTEM_COUNT
    assert {it["replica_type"] for it in system["data"]} == {"system"}
    assert all(
        it["status"] == "completed" and it["training_progress"] == "100/100"
        for it in system["data"]
    )
    user = client.get("/v2/replicas", params={"replica_type": "user", "limit": 100}).json()
    assert user["total_count"] == verbose["total_count"] - SYSTEM_COUNT
    p3 = client.get("/v2/replicas", params={"model_name": "phoenix-3"}).json()
    assert [it["replica_name"] for it in p3["data"]] == ["Carter - Classic"]
    ids = [system["data"][0]["replica_id"], system["data"][3]["replica_id"]]
    picked = client.get("/v2/replicas", params={"replica_ids": ",".join(ids)}).json()
    assert sorted(it["replica_id"] for it in picked["data"]) == sorted(ids)
    assert picked["total_count"] == 2
    assert client.get("/v2/replicas", params={"replica_type": "robot"}).status_code == 400


def test_demo_seed_has_ready_training_and_failed_replicas() -> None:
    with TavusSimulator(KEY, training_seconds=10_000) as s, _client(s.base_url) as c:
        data = c.get("/v2/replicas", params={"replica_type": "user"}).json()["data"]
        by_name = {it["replica_name"]: it for it in data}
        assert by_name["Demo — Ready"]["status"] == "completed"
        tuning = by_name["Phoenix 4.5 — Tuning"]  # a phoenix-4.5 in its watermarked preview
        assert (tuning["model_name"], tuning["status"], tuning["finetune_status"]) == (
            "phoenix-4.5", "completed", "in_progress")
        assert "finetune_status" not in by_name["Demo — Ready"]
        assert by_name["Demo — Training"]["status"] == "started"
        assert 38 <= _progress(by_name["Demo — Training"]) <= 45
        failed = _get(c, by_name["Demo — Failed"]["replica_id"])
        assert failed["status"] == "error"
        assert failed["error_message"].startswith("HeadNotFullyInFrameError")


# ------------------------------------------------------------------------------------------------
# POST /v2/replicas and training
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload,words",
    [
        ({}, "Either train_video_url or train_image_url must be provided."),
        (
            {"train_image_url": "{img}", "train_video_url": "{img}", "voice_name": "anna"},
            "only one",
        ),
        ({"train_image_url": "{img}"}, "voice_name"),
        ({"train_image_url": "{img}", "voice_name": "nobody"}, "voice_name"),
        (
            {"train_image_url": "{img}", "voice_name": "anna", "model_name": "phoenix-9"},
            "model_name",
        ),
        ({"train_image_url": "not a url", "voice_name": "anna"}, "http"),
        ({"train_image_url": "{img}", "voice_name": "anna", "properties": []}, "properties"),
        ([1, 2], "JSON object"),
    ],
)
def test_create_refusals_are_400_error(
    client: httpx.Client, images: str, payload: object, words: str
) -> None:
    text = json.dumps(payload).replace("{img}", images + "/portrait.png")
    before = client.get("/v2/replicas").json()["total_count"]
    r = client.post("/v2/replicas", content=text, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert words in r.json()["error"]
    assert client.get("/v2/replicas").json()["total_count"] == before  # nothing was created


def test_create_refuses_a_body_that_is_not_json(client: httpx.Client) -> None:
    r = client.post("/v2/replicas", content=b"train_image_url=x")
    assert r.status_code == 400 and "JSON" in r.json()["error"]


def test_image_replica_trains_on_the_simulated_clock(
    sim: TavusSimulator, client: httpx.Client, images: str
) -> None:
    rid = _trained(
        sim,
        client,
        images + "/portrait.png",
        replica_name="Astro",
        voice_name="ANNA",
        callback_url="http://127.0.0.1:9/hook",
        properties={"background_green_screen": True},
    )
    d = _get(client, rid)
    assert (d["status"], d["replica_name"], d["model_name"]) == ("started", "Astro", "phoenix-4")
    assert d["error_message"] is None and ISO_MS.match(d["updated_at"])
    assert "finetune_status" not in d and "replica_type" not in d
    assert _get(client, rid, verbose="true")["replica_type"] == "user"
    start = _progress(d)
    assert start <= 5
    sim.advance(TRAINING * 0.42)
    mid = _get(client, rid)
    assert mid["status"] == "started" and 42 <= _progress(mid) <= 50
    listed = client.get("/v2/replicas", params={"replica_ids": rid}).json()["data"][0]
    assert listed["status"] == "started" and _progress(listed) >= 42
    sim.advance(TRAINING)
    done = _get(client, rid)
    assert (done["status"], done["training_progress"]) == ("completed", "100/100")


@pytest.mark.parametrize("path", ["/portrait.jpg", "/redirect", "/portrait.png?{fresh}"])
def test_downloadable_images_train(
    sim: TavusSimulator, client: httpx.Client, images: str, path: str
) -> None:
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=sim._clock.offset)
    fresh = f"X-Amz-Date={now:%Y%m%dT%H%M%SZ}&X-Amz-Expires=86400&X-Amz-Signature=abc"
    rid = _trained(sim, client, images + path.replace("{fresh}", fresh))
    assert _get(client, rid)["status"] == "started"
    sim.advance(TRAINING + 1)
    assert _get(client, rid)["status"] == "completed"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "path,words",
    [
        ("/missing.png", "HTTP 404"),
        ("/forbidden.png", "HTTP 403"),
        ("/notes.png", "could not be read as a PNG or JPEG"),
        ("/small.png", "ImageQualityError: the training image is 320x240"),
        (
            "/portrait.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20200101T000000Z"
            "&X-Amz-Expires=60&X-Amz-Signature=0123secret",
            "expired",
        ),
        ("unreachable", "could not connect"),
    ],
)
def test_training_failures_end_in_error(
    sim: TavusSimulator, client: httpx.Client, images: str, path: str, words: str
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/x.png" if path == "unreachable" else images + path
    rid = _trained(sim, client, url)
    d = _get(client, rid)
    assert d["status"] == "error"
    assert words in d["error_message"]
    assert "0123secret" not in d["error_message"]  # never echo presigned credentials
    sim.advance(TRAINING * 2)
    assert _get(client, rid)["status"] == "error"  # failure is final
    listed = client.get("/v2/replicas", params={"replica_ids": rid}).json()["data"][0]
    assert listed["status"] == "error" and "error_message" not in listed


def test_phoenix_45_preview_then_finetune(
    sim: TavusSimulator, client: httpx.Client, images: str
) -> None:
    """Training, then a usable watermarked preview at 1/60 of the time, then tuned at the end."""
    rid = _trained(sim, client, images + "/portrait.png", model_name="phoenix-4.5")
    d = _get(client, rid)
    assert (d["status"], d["finetune_status"]) == ("started", None)
    preview = TRAINING / 60
    sim.advance(preview * 0.5)
    assert _get(client, rid)["status"] == "started"  # not before its preview
    sim.advance(preview * 0.5 + 0.1)
    d = _get(client, rid)
    assert (d["status"], d["finetune_status"], d["model_name"], d["training_progress"]) == (
        "completed",
        "in_progress",
        "phoenix-4.5",
        "100/100",
    )
    listed = client.get("/v2/replicas", params={"replica_ids": rid}).json()["data"][0]
    assert (listed["status"], listed["finetune_status"]) == ("completed", "in_progress")
    # The preview is usable: a conversation can start with it.
    r = client.post("/v2/conversations", json={"replica_id": rid, "test_mode": True})
    assert r.status_code == 200, r.text
    sim.advance(TRAINING * 0.5)
    assert _get(client, rid)["finetune_status"] == "in_progress"  # still tuning
    sim.advance(TRAINING * 0.5)
    d = _get(client, rid)
    assert (d["status"], d["finetune_status"]) == ("completed", "completed")
    listed = client.get("/v2/replicas", params={"replica_ids": rid}).json()["data"][0]
    assert listed["finetune_status"] == "completed"


def test_the_finetune_fail_control_leaves_a_usable_preview(
    sim: TavusSimulator, client: httpx.Client, images: str
) -> None:
    ctl = httpx.Client(base_url=sim.base_url + "/_sim", event_hooks={"response": [_no_key_hook]})
    rid = _trained(sim, client, images + "/portrait.png", model_name="phoenix-4.5")
    r = ctl.post(f"/replicas/{rid}/finetune-fail")
    assert r.status_code == 400 and "not tuning" in r.json()["error"]  # still training
    sim.advance(TRAINING / 60 + 0.1)
    before = _get(client, rid)["updated_at"]
    sim.advance(1)
    assert ctl.post(f"/replicas/{rid}/finetune-fail").json() == {"status": "ok"}
    d = _get(client, rid)
    assert (d["status"], d["finetune_status"], d["error_message"]) == ("completed", "errored",
                                                                      None)
    assert d["updated_at"] > before
    sim.advance(TRAINING * 2)  # tuning never completes after failing
    listed = client.get("/v2/replicas", params={"replica_ids": rid}).json()["data"][0]
    assert (listed["status"], listed["finetune_status"]) == ("completed", "errored")
    r = client.post("/v2/conversations", json={"replica_id": rid, "test_mode": True})
    assert r.status_code == 200, r.text  # the watermarked preview stays usable
    # Only a tuning phoenix-4.5 replica can fail its tuning.
    assert ctl.post(f"/replicas/{rid}/finetune-fail").status_code == 400  # failed already
    other = _trained(sim, client, images + "/portrait.png")
    sim.advance(TRAINING + 1)
    r = ctl.post(f"/replicas/{other}/finetune-fail")
    assert r.status_code == 400 and "phoenix-4" in r.json()["error"]
    assert "finetune_status" not in _get(client, other)  # phoenix-4: no tuning stage at all
    assert ctl.post("/replicas/rnope/finetune-fail").status_code == 404
    with pytest.raises(ValueError):
        sim.fail_tuning(other)
    ctl.close()


def test_the_finetune_fail_control_is_loopback_only(sim: TavusSimulator) -> None:
    handler = sim._handle  # the server's own routing, as a non-loopback peer would reach it
    reply = handler("POST", "/_sim/replicas/rabc/finetune-fail", {}, {}, b"", "203.0.113.5")
    assert reply.status == 403


# ------------------------------------------------------------------------------------------------
# rename, delete
# ------------------------------------------------------------------------------------------------
def test_rename(client: httpx.Client, images: str) -> None:
    rid = _create(client, images + "/portrait.png")
    r = client.patch(f"/v2/replicas/{rid}/name", json={"replica_name": "Renamed <b>"})
    assert r.status_code == 200
    assert _get(client, rid)["replica_name"] == "Renamed <b>"
    assert client.patch(f"/v2/replicas/{rid}/name", json={}).status_code == 400
    r = client.patch("/v2/replicas/rdoesnotexist/name", json={"replica_name": "x"})
    assert (r.status_code, r.json()) == (400, {"error": "Invalid replica_id"})
    sys_id = _system_replica(client)["replica_id"]
    r = client.patch(f"/v2/replicas/{sys_id}/name", json={"replica_name": "Mine now"})
    assert r.status_code == 400 and "System" in r.json()["error"]


@pytest.mark.parametrize("params", [{}, {"hard": "true"}])
def test_delete(client: httpx.Client, images: str, params: dict) -> None:
    rid = _create(client, images + "/portrait.png")
    assert client.delete(f"/v2/replicas/{rid}", params=params).status_code == 200
    r = client.get(f"/v2/replicas/{rid}")
    assert (r.status_code, r.json()) == (400, {"error": "Invalid replica_id"})
    listed = client.get("/v2/replicas", params={"replica_ids": rid}).json()
    assert listed == {"data": [], "total_count": 0}
    assert client.delete(f"/v2/replicas/{rid}").status_code == 400
    sys_id = _system_replica(client)["replica_id"]
    assert client.delete(f"/v2/replicas/{sys_id}").status_code == 400
    assert _get(client, sys_id)["status"] == "completed"


# ------------------------------------------------------------------------------------------------
# voices, audio, personas
# ------------------------------------------------------------------------------------------------
def test_voices_list_search_sort_tag_and_pages(client: httpx.Client) -> None:
    body = client.get("/v2/voices").json()
    names = [v["voice_name"] for v in body["data"]]
    assert sorted(names) == ["anna", "benjamin", "ivy", "james", "julia", "liam"]
    assert names == sorted(names)
    assert (body["total_count"], body["page"], body["limit"]) == (6, 1, 10)
    for v in body["data"]:
        assert v["audio_url"].endswith(f"/audio/{v['voice_name']}.wav")
        assert all(set(t) == {"tag_name"} for t in v["tags"])
        linked = _get(client, v["replica_id"], verbose="true")
        assert (linked["replica_type"], linked["status"]) == ("system", "completed")
    pages = [client.get("/v2/voices", params={"limit": 4, "page": p}).json() for p in (1, 2)]
    assert [len(p["data"]) for p in pages] == [4, 2]
    assert {v["voice_name"] for p in pages for v in p["data"]} == set(names)
    desc = client.get("/v2/voices", params={"sort": "desc"}).json()["data"]
    assert [v["voice_name"] for v in desc] == sorted(names, reverse=True)
    found = client.get("/v2/voices", params={"search": "AN"}).json()
    assert [v["voice_name"] for v in found["data"]] == ["anna"] and found["total_count"] == 1
    british = client.get("/v2/voices", params={"tag": "British"}).json()["data"]
    assert sorted(v["voice_name"] for v in british) == ["benjamin", "julia"]
    for bad in ({"limit": 0}, {"limit": 101}, {"page": 0}, {"sort": "up"}):
        assert client.get("/v2/voices", params=bad).status_code == 400


def test_voice_audio_is_a_wav(client: httpx.Client) -> None:
    voices = client.get("/v2/voices").json()["data"]
    clips = {}
    for v in voices[:2]:
        r = httpx.get(v["audio_url"])  # a browser fetches it: no key
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(r.content)) as w:
            assert w.getnchannels() == 1 and w.getnframes() > 1000
        clips[v["voice_name"]] = r.content
    assert len(set(clips.values())) == 2  # each voice has its own pitch
    assert httpx.get(voices[0]["audio_url"].rsplit("/", 1)[0] + "/nobody.wav").status_code == 404


def test_personas(client: httpx.Client) -> None:
    body = client.get("/v2/personas", params={"persona_type": "system"}).json()
    assert body["total_count"] >= 2 and len(body["data"]) == body["total_count"]
    for p in body["data"]:
        assert re.fullmatch(r"p[0-9a-f]{11}", p["persona_id"]) and p["persona_name"]
        assert _get(client, p["default_replica_id"])["status"] == "completed"
        assert ISO_MS.match(p["created_at"])
    assert client.get("/v2/personas", params={"persona_type": "user"}).json()["total_count"] == 0
    one = client.get("/v2/personas", params={"limit": 1, "page": 2}).json()
    assert len(one["data"]) == 1 and one["data"][0]["persona_id"] == body["data"][1]["persona_id"]
    assert client.get("/v2/personas", params={"persona_type": "x"}).status_code == 400


# ------------------------------------------------------------------------------------------------
# conversations
# ------------------------------------------------------------------------------------------------
def _conv(client: httpx.Client, **payload: object) -> dict:
    r = client.post("/v2/conversations", json=payload)
    assert r.status_code == 200, r.text
    return r.json()


def _conv_get(client: httpx.Client, cid: str, **params: str) -> dict:
    r = client.get(f"/v2/conversations/{cid}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _listed(client: httpx.Client, status: str) -> list[str]:
    body = client.get("/v2/conversations", params={"status": status, "limit": 1000}).json()
    assert all(it["status"] == status for it in body["data"])
    return [it["conversation_id"] for it in body["data"]]


def test_conversation_lifecycle(sim: TavusSimulator, client: httpx.Client) -> None:
    anna = _system_replica(client)
    c = _conv(client, replica_id=anna["replica_id"], callback_url="https://example.com/hook")
    cid = c["conversation_id"]
    assert re.fullmatch(r"c[0-9a-f]{11}", cid)
    assert c["status"] == "active" and c["conversation_url"] == f"{sim.base_url}/rooms/{cid}"
    assert c["conversation_name"] == "Conversation with Anna - Office"
    assert c["callback_url"] == "https://example.com/hook" and ISO_MS.match(c["created_at"])
    assert "meeting_token" not in c
    g = _conv_get(client, cid)
    assert (g["status"], g["replica_id"]) == ("active", anna["replica_id"])
    assert g["persona_id"].startswith("p") and "events" not in g
    assert cid in _listed(client, "active") and cid not in _listed(client, "ended")
    sim.advance(5)
    assert _conv_get(client, cid, verbose="true")["events"] == []  # nobody has joined yet
    assert httpx.get(c["conversation_url"]).status_code == 200  # opening the room joins
    events = _conv_get(client, cid, verbose="true")["events"]
    assert [e["event_type"] for e in events] == ["system.replica_joined"]

    assert client.post(f"/v2/conversations/{cid}/end").status_code == 200
    assert client.post(f"/v2/conversations/{cid}/end").status_code == 200  # retry-safe
    ended = _conv_get(client, cid, verbose="true")
    assert ended["status"] == "ended"
    shutdown = [e for e in ended["events"] if e["event_type"] == "system.shutdown"]
    assert shutdown[0]["properties"]["reason"] == "end_conversation_endpoint_hit"
    assert cid in _listed(client, "ended") and cid not in _listed(client, "active")

    r = client.delete(f"/v2/conversations/{cid}")
    assert r.status_code == 204 and r.content == b""
    r = client.get(f"/v2/conversations/{cid}")
    assert (r.status_code, r.json()) == (400, {"error": "Invalid conversation_id"})
    assert httpx.get(c["conversation_url"]).status_code == 404
    assert client.post(f"/v2/conversations/{cid}/end").status_code == 400


def test_conversation_list_is_newest_first_and_paged(client: httpx.Client) -> None:
    rid = _system_replica(client)["replica_id"]
    made = [_conv(client, replica_id=rid, test_mode=True)["conversation_id"] for _ in range(3)]
    body = client.get("/v2/conversations", params={"limit": 2}).json()
    assert [it["conversation_id"] for it in body["data"]] == made[::-1][:2]
    assert body["total_count"] >= 3
    page2 = client.get("/v2/conversations", params={"limit": 2, "page": 2}).json()
    assert page2["data"][0]["conversation_id"] == made[0]
    assert client.get("/v2/conversations", params={"status": "paused"}).status_code == 400


def test_test_mode_conversation_is_ended_and_has_no_join(client: httpx.Client) -> None:
    rid = _system_replica(client)["replica_id"]
    c = _conv(client, replica_id=rid, test_mode=True, conversation_name="Dry run")
    assert (c["status"], c["conversation_name"]) == ("ended", "Dry run")
    assert _conv_get(client, c["conversation_id"], verbose="true")["events"] == []


def test_require_auth_room_needs_the_token(client: httpx.Client) -> None:
    rid = _system_replica(client)["replica_id"]
    c = _conv(
        client, replica_id=rid, require_auth=True, conversation_name="<script>alert(1)</script>"
    )
    token, url = c["meeting_token"], c["conversation_url"]
    assert len(token) >= 16
    assert httpx.get(url).status_code == 403
    denied = httpx.get(url, params={"t": "wrong"})
    assert denied.status_code == 403 and 'data-testid="sim-room-denied"' in denied.text
    ok = httpx.get(url, params={"t": token})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/html")
    assert "<h1" in ok.text and "Conversation with Anna - Office</h1>" in ok.text
    assert f'data-replica-id="{rid}"' in ok.text and 'data-status="active"' in ok.text
    assert "<script>alert" not in ok.text and "&lt;script&gt;" in ok.text
    open_room = _conv(client, replica_id=rid)
    assert httpx.get(open_room["conversation_url"]).status_code == 200
    for conv in (c, open_room):
        client.post(f"/v2/conversations/{conv['conversation_id']}/end")
    assert 'data-status="ended"' in httpx.get(url, params={"t": token}).text


def test_persona_only_uses_its_default_replica(client: httpx.Client) -> None:
    persona = client.get("/v2/personas").json()["data"][1]
    c = _conv(client, persona_id=persona["persona_id"], test_mode=True)
    g = _conv_get(client, c["conversation_id"])
    assert (g["replica_id"], g["persona_id"]) == (
        persona["default_replica_id"],
        persona["persona_id"],
    )


def test_conversation_refusals(sim: TavusSimulator, client: httpx.Client, images: str) -> None:
    anna = _system_replica(client)["replica_id"]
    training = _trained(sim, client, images + "/portrait.png")
    failed = _trained(sim, client, images + "/missing.png")
    cases = [
        ({"replica_id": anna, "properties": {"language": "en"}}, "full language name"),
        ({"replica_id": anna, "max_participants": 1}, "at least 2"),
        ({"replica_id": "rdoesnotexist"}, "Invalid replica_id"),
        (
            {"replica_id": training},
            f"Replica {training} is not ready: its training status is started",
        ),
        ({"replica_id": failed}, "is not ready: its training status is error"),
        ({"persona_id": "pnope"}, "Invalid persona_id"),
        ({}, "replica_id"),
        ({"replica_id": anna, "properties": {"max_call_duration": -5}}, "max_call_duration"),
    ]
    before = client.get("/v2/conversations").json()["total_count"]
    for payload, words in cases:
        r = client.post("/v2/conversations", json=payload)
        assert r.status_code == 400, payload
        assert words in r.json()["error"], (payload, r.json())
    assert client.get("/v2/conversations").json()["total_count"] == before
    ok = _conv(client, replica_id=anna, properties={"language": "english"}, test_mode=True)
    assert ok["status"] == "ended"


def test_concurrency_limit(fresh) -> None:
    _, client = fresh  # max_concurrent_conversations=2
    rid = _system_replica(client)["replica_id"]
    first = _conv(client, replica_id=rid)
    _conv(client, replica_id=rid)
    r = client.post("/v2/conversations", json={"replica_id": rid})
    assert (r.status_code, r.json()) == (
        400,
        {"error": "User has reached maximum concurrent conversations"},
    )
    assert _conv(client, replica_id=rid, test_mode=True)["status"] == "ended"  # uses no slot
    client.post(f"/v2/conversations/{first['conversation_id']}/end")
    assert _conv(client, replica_id=rid)["status"] == "active"


def test_conversation_ends_itself_after_max_call_duration(fresh) -> None:
    sim, client = fresh
    rid = _system_replica(client)["replica_id"]
    short = _conv(client, replica_id=rid, properties={"max_call_duration": 60})
    default = _conv(client, replica_id=rid)
    sim.advance(55)
    assert _conv_get(client, short["conversation_id"])["status"] == "active"
    sim.advance(10)
    g = _conv_get(client, short["conversation_id"], verbose="true")
    assert g["status"] == "ended"
    reasons = [
        e["properties"]["reason"] for e in g["events"] if e["event_type"] == "system.shutdown"
    ]
    assert reasons == ["max_call_duration"]
    assert _conv_get(client, default["conversation_id"])["status"] == "active"
    sim.advance(3600)
    assert _listed(client, "active") == []


# ------------------------------------------------------------------------------------------------
# image validation
# ------------------------------------------------------------------------------------------------
def _validate(client: httpx.Client, data: bytes, mime: str = "image/png", **extra: object):
    payload = {
        "imageBase64": base64.b64encode(data).decode(),
        "mimeType": mime,
        "model": "phoenix-4",
        **extra,
    }
    return client.post("/v2/replicas/image-validation", json=payload)


def test_image_validation_passes_a_portrait(client: httpx.Client) -> None:
    r = _validate(client, PORTRAIT_PNG)
    assert r.status_code == 200
    body = r.json()
    assert body["passed"] is True and isinstance(body["details"], str)
    ids = {c["id"]: c for c in body["checks"]}
    assert {"format", "resolution"} <= set(ids)
    assert all(set(c) == {"id", "label", "passed"} and c["passed"] for c in body["checks"])


@pytest.mark.parametrize(
    "data,mime,failing",
    [
        (SMALL_PNG, "image/png", {"resolution"}),
        (NOT_AN_IMAGE, "image/png", {"format", "resolution"}),
        (_jpeg(PORTRAIT), "image/png", {"mime_type"}),
    ],
)
def test_image_validation_fails_bad_images(
    client: httpx.Client, data: bytes, mime: str, failing: set
) -> None:
    body = _validate(client, data, mime).json()
    assert body["passed"] is False
    assert {c["id"] for c in body["checks"] if not c["passed"]} >= failing


def test_image_validation_refusals(client: httpx.Client) -> None:
    url = "/v2/replicas/image-validation"
    b64 = base64.b64encode(PORTRAIT_PNG).decode()
    for payload in (
        {},
        {"imageBase64": "!!! not base64 !!!", "mimeType": "image/png"},
        {"imageBase64": "data:image/png;base64," + b64, "mimeType": "image/png"},
        {"imageBase64": b64, "mimeType": "image/gif"},
        {"imageBase64": b64, "mimeType": "image/png", "model": "phoenix-0"},
    ):
        r = client.post(url, json=payload)
        assert r.status_code == 400 and r.json()["error"], payload
    big = b'{"imageBase64": "' + b"A" * (30 * 1024 * 1024) + b'", "mimeType": "image/png"}'
    r = client.post(url, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "30 MiB" in r.json()["error"]


# ------------------------------------------------------------------------------------------------
# faults
# ------------------------------------------------------------------------------------------------
def test_fault_429_with_retry_after(fresh) -> None:
    sim, client = fresh
    sim.inject_fault("429", retry_after=2)
    r = client.get("/v2/replicas")
    assert r.status_code == 429 and r.headers["retry-after"] == "2" and r.json()["error"]
    assert client.get("/v2/replicas").status_code == 200  # count=1: used up


def test_fault_500_counts_and_path_prefix(fresh) -> None:
    sim, client = fresh
    sim.inject_fault("500", count=2, path_prefix="/v2/voices")
    assert client.get("/v2/replicas").status_code == 200  # other paths untouched
    assert [client.get("/v2/voices").status_code for _ in range(3)] == [500, 500, 200]


def test_a_fault_can_be_for_one_method_only(fresh) -> None:
    _, client = fresh
    # Over HTTP, as a browser test sets it: the create fails, the list's GETs are untouched.
    assert client.post("/_sim/faults", json={"kind": "500", "path_prefix": "/v2/replicas",
                                             "method": "post"}).status_code == 200
    assert client.get("/v2/replicas").status_code == 200
    assert client.post("/v2/replicas", json={}).status_code == 500
    assert client.post("/v2/replicas", json={}).status_code == 400  # used up: judged as usual


def test_faults_come_before_auth_and_never_carry_the_key(fresh) -> None:
    sim = fresh[0]
    sim.inject_fault("500", count=2)
    r = httpx.get(sim.base_url + "/v2/replicas")  # no key: the "server" fails first
    assert r.status_code == 500
    r = httpx.get(sim.base_url + "/v2/replicas", headers={"x-api-key": KEY})
    assert r.status_code == 500 and KEY not in r.text


@pytest.mark.parametrize("kind", ["malformed", "empty"])
def test_fault_unreadable_200(fresh, kind: str) -> None:
    sim, client = fresh
    sim.inject_fault(kind)
    r = client.get("/v2/replicas")
    assert r.status_code == 200
    if kind == "empty":
        assert r.content == b""
    with pytest.raises(ValueError):
        r.json()
    assert client.get("/v2/replicas").json()["total_count"] == SYSTEM_COUNT


def test_fault_drop_closes_without_answer(fresh) -> None:
    sim, client = fresh
    sim.inject_fault("drop")
    with pytest.raises(httpx.TransportError):
        client.get("/v2/replicas")
    assert client.get("/v2/replicas").status_code == 200


def test_fault_slow_outlasts_a_short_client_timeout(fresh) -> None:
    sim, _ = fresh
    sim.inject_fault("slow", delay=3)
    with _client(sim.base_url, timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/v2/replicas")
    sim.inject_fault("slow", delay=0.01)
    with _client(sim.base_url) as patient:
        assert patient.get("/v2/replicas").status_code == 200  # slow, then normal


def test_fault_validation_and_clear(fresh) -> None:
    sim, client = fresh
    assert set(FAULT_KINDS) == {"429", "500", "slow", "malformed", "empty", "drop"}
    with pytest.raises(ValueError):
        sim.inject_fault("teapot")
    with pytest.raises(ValueError):
        sim.inject_fault("500", count=0)
    sim.inject_fault("500", count=5)
    sim.clear_faults()
    assert client.get("/v2/replicas").status_code == 200


# ------------------------------------------------------------------------------------------------
# controls, request log, bulk seeding
# ------------------------------------------------------------------------------------------------
def test_request_log(fresh) -> None:
    sim, client = fresh
    sim.reset_requests()
    client.get("/v2/replicas", params={"limit": 5})
    client.get("/v2/voices")
    httpx.get(sim.base_url + "/v2/replicas")  # refused, still seen
    httpx.get(sim.base_url + "/audio/anna.wav")  # not an API call
    assert sim.requests == [
        RequestRecord("GET", "/v2/replicas", {"limit": "5"}),
        RequestRecord("GET", "/v2/voices", {}),
        RequestRecord("GET", "/v2/replicas", {}),
    ]
    sim.reset_requests()
    assert sim.requests == []


def test_add_replicas_bulk(fresh) -> None:
    sim, client = fresh
    ids = sim.add_replicas(10_000, training=10)
    assert len(set(ids)) == 10_000
    assert client.get("/v2/replicas").json()["total_count"] == SYSTEM_COUNT + 10_000
    users = client.get("/v2/replicas", params={"replica_type": "user", "limit": 20}).json()
    assert users["total_count"] == 10_000
    statuses = [it["status"] for it in users["data"]]
    assert statuses == ["started"] * 10 + ["completed"] * 10  # the newest are still training
    sim.advance(TRAINING)
    first = client.get("/v2/replicas", params={"replica_type": "user", "limit": 1}).json()
    assert first["data"][0]["status"] == "completed"


def test_http_controls(fresh, images: str) -> None:
    sim, client = fresh
    ctl = httpx.Client(base_url=sim.base_url + "/_sim", event_hooks={"response": [_no_key_hook]})
    rid = _trained(sim, client, images + "/portrait.png")
    assert ctl.post("/advance", json={"seconds": TRAINING + 1}).status_code == 200
    assert _get(client, rid)["status"] == "completed"
    assert ctl.post("/faults", json={"kind": "500", "count": 1, "path_prefix": "/v2/"}).is_success
    assert client.get("/v2/voices").status_code == 500
    ctl.post("/faults", json={"kind": "429", "count": 3, "retry_after": 1.5})
    assert client.get("/v2/voices").headers["retry-after"] == "1.5"
    assert ctl.delete("/faults").status_code == 200
    assert client.get("/v2/voices").status_code == 200
    assert ctl.post("/faults", json={"kind": "teapot"}).status_code == 400
    seen = ctl.get("/requests").json()["requests"]
    assert {"method": "GET", "path": "/v2/voices", "query": {}} in seen
    assert ctl.delete("/requests").status_code == 200
    assert ctl.get("/requests").json() == {"requests": []}
    made = ctl.post("/replicas", json={"n": 5, "training": 2}).json()
    assert made["count"] == 5 and len(made["replica_ids"]) == 5
    assert client.get("/v2/replicas", params={"replica_type": "user"}).json()["total_count"] == 6
    assert ctl.post("/advance", json={"seconds": -1}).status_code == 400
    slow = ctl.post("/replicas", json={"n": 1, "training": 1, "model_name": "phoenix-4.5",
                                       "training_seconds": TRAINING * 10}).json()
    [tuning] = slow["replica_ids"]
    sim.advance(TRAINING)  # past the others' training, inside its own tuning
    assert _get(client, tuning)["finetune_status"] == "in_progress"
    assert ctl.post("/replicas", json={"n": 1, "training": 1,
                                       "training_seconds": -1}).status_code == 400
    ctl.close()


# ------------------------------------------------------------------------------------------------
# secrets
# ------------------------------------------------------------------------------------------------
def test_key_never_echoed_and_logs_hold_no_queries(
    sim: TavusSimulator, client: httpx.Client, images: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="replica_studio.simulator")
    caplog.set_level(logging.DEBUG, logger="httpx")  # httpx logs full URLs at INFO
    r = client.post(
        "/v2/replicas", json={"train_image_url": images + "/portrait.png", "voice_name": KEY}
    )
    assert r.status_code == 400 and KEY not in r.text  # echoed user text is scrubbed
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=sim._clock.offset)
    for date in (f"{now:%Y%m%dT%H%M%SZ}", "20200101T000000Z"):  # downloaded, then expired
        query = f"X-Amz-Date={date}&X-Amz-Expires=86400&X-Amz-Signature=s3cr3t"
        _trained(sim, client, images + "/portrait.png?" + query)
    client.get("/v2/replicas", params={"verbose": "true", "replica_ids": "rzzz"})
    # Records from the simulator's own threads (the test's client logs its URLs in this thread).
    me = threading.current_thread().name

    def logged() -> str:
        return "\n".join(rec.getMessage() for rec in caplog.records if rec.threadName != me)

    # The server logs a request once its answer is written: the client may read it first.
    deadline = time.monotonic() + 10
    while "GET /v2/replicas -> 200" not in logged() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = logged()
    assert "GET /v2/replicas -> 200" in text
    assert KEY not in text and "s3cr3t" not in text and "?" not in text
