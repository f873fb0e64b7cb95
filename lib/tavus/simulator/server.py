"""The HTTP face of the simulator: a stdlib ThreadingHTTPServer that answers like Tavus.

Request flow: read the body (size-capped) -> record /v2 requests -> injected fault, if any ->
x-api-key check -> route to `SimState`. Logging is "METHOD /path -> status" only: never the query
string (it can carry presigned credentials), headers or bodies. The API key is compared with
hmac.compare_digest and, as a last safety net, scrubbed from every body sent.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import html
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from . import documents, media, recording, video
from .recording import RecordingJob, RecordingS3
from .state import (
    DEFAULT_DOCUMENT_SECONDS,
    DEFAULT_MODEL,
    DEFAULT_PERCEPTION_DELAY,
    DEFAULT_RECORDING_DELAY,
    DEFAULT_TRANSCRIPT_DELAY,
    MODELS,
    ApiError,
    DocumentJob,
    SimClock,
    SimState,
    TrainingJob,
)

log = logging.getLogger("replica_studio.simulator")

FAULT_KINDS = ("429", "500", "slow", "malformed", "empty", "drop")
MAX_BODY = 1024 * 1024
MAX_IMAGE_VALIDATION_BODY = 30 * 1024 * 1024  # Tavus's documented cap for image-validation
MAX_EVENTS_BODY = 64 * 1024 * 1024  # the raw-events hook: room for a 10,000-turn transcript
MAX_DRAIN = (
    64 * 1024 * 1024
)  # beyond this an oversized body is not even read: the connection closes
MAX_REQUEST_LOG = 100_000
_JSON = "application/json"


@dataclass(frozen=True)
class RequestRecord:
    """One /v2 request the simulator saw (query values: the last one given for each name)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    kind: str
    remaining: int
    path_prefix: str | None
    retry_after: float | None
    delay: float
    method: str | None = None  # only requests with this method (a POST, not the list's GET)


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = _JSON
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


class _Drop(Exception):
    pass


def _json(status: int, obj: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(obj, ensure_ascii=False).encode(), _JSON, headers or {})


def _error(status: int, message: str) -> _Reply:
    return _json(status, {"error": message})


def _page(status: int, title: str, inner: str) -> _Reply:
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} · Tavus simulator</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:0;background:#101418;color:#e8eaed}"
        "main{max-width:40rem;margin:3rem auto;padding:2rem;border-radius:12px;background:#1b2127}"
        "code{background:#2a323b;padding:.1rem .3rem;border-radius:4px}"
        ".note{color:#9aa4ae;font-size:.9rem}"
        ".controls{display:flex;gap:.75rem;margin:1rem 0}.controls form{margin:0}"
        "button{font:inherit;padding:.5rem 1rem;border-radius:8px;border:0;cursor:pointer;"
        "background:#3b82f6;color:#fff}button[data-testid=sim-room-leave]{background:#dc2626}"
        "</style></head><body>"
        f"{inner}</body></html>"
    )
    return _Reply(status, doc.encode(), "text/html; charset=utf-8")


def _format_retry_after(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ------------------------------------------------------------------------------------------------
# the simulator
# ------------------------------------------------------------------------------------------------
class TavusSimulator:
    """An embedded Tavus stand-in on loopback."""

    def __init__(
        self,
        api_key: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        training_seconds: float = 120.0,
        seed_demo_data: bool = True,
        max_concurrent_conversations: int = 3,
        max_video_bytes: int = video.MAX_VIDEO_BYTES,
        recording_s3: RecordingS3 | None = None,
        transcript_delay: float = DEFAULT_TRANSCRIPT_DELAY,
        perception_delay: float = DEFAULT_PERCEPTION_DELAY,
        recording_delay: float = DEFAULT_RECORDING_DELAY,
        document_seconds: float = DEFAULT_DOCUMENT_SECONDS,
        max_document_bytes: int = documents.MAX_DOCUMENT_BYTES,
        unchanged_patch_status: int = 200,
    ) -> None:
        """`max_video_bytes`: the training/consent video size cap (Tavus: 750 MB); tests lower
        it to see the cap bite without writing 750 MB. `max_document_bytes`: the same for
        knowledge-base documents (Tavus: 50 MB).

        `document_seconds`: simulated seconds a knowledge-base document takes from create (or
        recrawl) to ready, once downloaded; the first tenth it is queued ("started").

        `unchanged_patch_status`: what a persona JSON Patch that changes nothing answers: 200
        (the default) or Tavus's 304 (no body). Tavus documents both; HTTP forbids a body on a
        304, so no client (httpx included) sees the JSON body the contract declares for it, and
        the contract check, which insists on that body, passes only with 200. The client takes
        either as success (tests run both).

        `recording_s3`: where recorded calls are written (endpoint and credentials standing in
        for the role Tavus assumes; the bucket is the conversation's recording_storage one).
        None: recorded calls never get a recording_ready event.
        `transcript_delay`, `perception_delay`, `recording_delay`: simulated seconds after a
        joined call ends until its transcript, Raven analysis and recording are reported."""
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        if unchanged_patch_status not in (200, 304):
            raise ValueError("unchanged_patch_status must be 304 or 200")
        self.unchanged_patch_status = unchanged_patch_status
        self._key = api_key.encode()
        self.host = host
        self.port = port
        self._clock = SimClock()
        self._state = SimState(
            self._clock,
            training_seconds=training_seconds,
            max_concurrent_conversations=max_concurrent_conversations,
            seed_demo_data=seed_demo_data,
            transcript_delay=transcript_delay,
            perception_delay=perception_delay,
            recording_delay=recording_delay,
            document_seconds=document_seconds,
        )
        self._state.on_recording = self._record_in_background
        self.recording_s3 = recording_s3
        self._recordings = 0
        self._recordings_cv = threading.Condition()
        self._faults: list[_Fault] = []
        self._faults_lock = threading.Lock()
        self._requests: deque[RequestRecord] = deque(maxlen=MAX_REQUEST_LOG)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._downloads = 0
        self._downloads_cv = threading.Condition()
        self._wav_cache: dict[str, bytes] = {}
        self.max_video_bytes = int(max_video_bytes)
        self.max_document_bytes = int(max_document_bytes)

    def __repr__(self) -> str:  # never the key
        return f"TavusSimulator(base_url={self.base_url if self._server else None!r})"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> TavusSimulator:
        with self._start_lock:
            if self._server is not None:
                return self
            server = _Server((self.host, self.port), self)
            self.port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # so that stop() returns promptly
                name="tavus-simulator",
                daemon=True,
            )
            self._thread.start()
        log.debug("simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        with self._start_lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()  # keep-alive connections would otherwise still be answered
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> TavusSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    # -- controls -------------------------------------------------------------------------------
    @property
    def training_seconds(self) -> float:
        return self._state.training_seconds

    @training_seconds.setter
    def training_seconds(self, value: float) -> None:
        self._state.training_seconds = float(value)

    @property
    def document_seconds(self) -> float:
        return self._state.document_seconds

    @document_seconds.setter
    def document_seconds(self, value: float) -> None:
        """For documents created (or recrawled) from now on."""
        if not value >= 0:  # also refuses NaN
            raise ValueError("document_seconds must be >= 0")
        self._state.document_seconds = float(value)

    @property
    def max_concurrent_conversations(self) -> int:
        return self._state.max_concurrent_conversations

    @max_concurrent_conversations.setter
    def max_concurrent_conversations(self, value: int) -> None:
        self._state.max_concurrent_conversations = int(value)

    def advance(self, seconds: float) -> None:
        """Jump the simulated clock (training, conversation timeouts, timestamps) forward."""
        self._clock.advance(seconds)

    def now_iso(self) -> str:
        """The simulated UTC time, in Tavus's format."""
        return self._clock.iso(self._clock.now())

    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        path_prefix: str | None = None,
        retry_after: float | None = None,
        delay: float = 0,
        method: str | None = None,
    ) -> None:
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be an integer >= 1")
        if retry_after is not None and not retry_after >= 0:
            raise ValueError("retry_after must be >= 0")
        if not delay >= 0:
            raise ValueError("delay must be >= 0")
        with self._faults_lock:
            self._faults.append(_Fault(kind, count, path_prefix, retry_after, float(delay),
                                       method.upper() if method else None))

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self._requests)

    def reset_requests(self) -> None:
        self._requests.clear()

    def add_replicas(
        self,
        n: int,
        *,
        training: int = 0,
        model_name: str = DEFAULT_MODEL,
        training_seconds: float | None = None,
    ) -> list[str]:
        """Bulk-seed user replicas (`training` of them still training, the rest completed).

        The training ones take `training_seconds` (default: `self.training_seconds`).
        """
        return self._state.add_replicas(
            n, training=training, model_name=model_name, training_seconds=training_seconds
        )

    def fail_tuning(self, replica_id: str) -> None:
        """Make a tuning phoenix-4.5 replica's tuning fail: finetune_status becomes "errored".

        ValueError when it is not tuning (another model, still training, tuned, failed);
        KeyError for an unknown id.
        """
        self._state.fail_tuning(replica_id)

    def replica_request(self, replica_id: str) -> dict[str, Any]:
        """The create body a replica came from, as received (URLs without their query string).

        KeyError for an unknown id. (For tests: what did the client send?)
        """
        return self._state.replica_request(replica_id)

    def wait_for_downloads(self, timeout: float = 10.0) -> bool:
        """Block until no training-file or document download or judging is in flight; False on
        timeout. (For tests.)"""
        deadline = time.monotonic() + timeout
        with self._downloads_cv:
            while self._downloads:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._downloads_cv.wait(left)
        return True

    def wait_for_recordings(self, timeout: float = 30.0) -> bool:
        """Block until no recording is being drawn or written; False on timeout. (For tests.)"""
        deadline = time.monotonic() + timeout
        with self._recordings_cv:
            while self._recordings:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._recordings_cv.wait(left)
        return True

    # -- what a person does in the room (also the /_sim/conversations/<id>/... hooks) ----------
    def join(self, conversation_id: str) -> bool:
        """Someone opens the room: the call counts as joined (the replica joins, a transcript
        follows the end). False when it has ended; KeyError when unknown."""
        return self._state.join(conversation_id)

    def leave(self, conversation_id: str) -> None:
        """The person leaves: the call ends after participant_left_timeout (default at once)."""
        self._state.leave(conversation_id)

    def start_recording(self, conversation_id: str) -> None:
        """Press Record (ValueError unless enable_recording and active; KeyError: unknown)."""
        self._state.set_recording(conversation_id, True)

    def stop_recording(self, conversation_id: str) -> None:
        self._state.set_recording(conversation_id, False)

    def set_events(self, conversation_id: str, events: Any, *, append: bool = False) -> None:
        """Serve `events` (any JSON value, malformed on purpose if wanted) as the conversation's
        verbose events, or append them (a list) after the generated ones. KeyError: unknown."""
        self._state.set_events(conversation_id, events, append=append)

    # -- internals ------------------------------------------------------------------------------
    def _record_in_background(self, job: RecordingJob) -> None:
        """Draw the recording and put it into its bucket, off the request thread (called under
        the state lock: only starts the thread)."""
        with self._recordings_cv:
            self._recordings += 1
        settings = self.recording_s3

        def run() -> None:
            ok = False
            try:
                if settings is None:
                    log.info(
                        "conversation %s was recorded, but the simulator has no recording S3 "
                        "settings: no recording_ready",
                        job.conversation_id,
                    )
                else:
                    data = recording.render_mp4(job.replica_name, job.seconds)
                    recording.put_recording(settings, job.bucket_name, job.s3_key, data)
                    ok = True
            except Exception as e:  # a missing bucket, S3 down, ...: log it, never crash
                log.warning(
                    "conversation %s: the recording could not be written to bucket %s (%s)",
                    job.conversation_id,
                    job.bucket_name,
                    type(e).__name__,
                )
            finally:
                try:
                    self._state.finish_recording(job, ok)
                finally:
                    with self._recordings_cv:
                        self._recordings -= 1
                        self._recordings_cv.notify_all()

        threading.Thread(
            target=run, name=f"sim-recording-{job.conversation_id}", daemon=True
        ).start()

    def _take_fault(self, path: str, method: str = "") -> _Fault | None:
        with self._faults_lock:
            for f in self._faults:
                if (f.path_prefix is None or path.startswith(f.path_prefix)) and (
                        f.method is None or f.method == method):
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def _key_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._key)

    def _scrub(self, body: bytes) -> bytes:
        """Last line of defence: the key never leaves in a body, even if a client echoed it."""
        if len(self._key) >= 4 and self._key in body:
            return body.replace(self._key, b"[redacted]")
        return body

    def _train_in_background(self, job: TrainingJob) -> None:
        """Fetch and judge the training file after the create has answered, as Tavus does; the
        replica stays "started" at 0/100 meanwhile, then trains or fails."""
        replica_id = job.replica_id
        with self._downloads_cv:
            self._downloads += 1

        def run() -> None:
            error = None
            try:
                wall_now = self._clock.wall(self._clock.now())
                if job.kind == "video":
                    video.judge(job.url, consent_url=job.consent_url, model_name=job.model_name,
                                wall_now=wall_now, max_bytes=self.max_video_bytes)
                else:
                    data = media.download_training_image(job.url, wall_now=wall_now)
                    media.check_training_image(data)
            except (media.TrainingImageError, video.VideoTrainingError) as e:
                error = str(e)
            except Exception:  # never leave the replica stuck in "started"
                log.debug("training-file judging crashed", exc_info=True)
                error = (
                    f"{video.TRAINING_PREFIX}The video could not be processed."
                    if job.kind == "video"
                    else "Failed to download the training image."
                )
            finally:
                try:
                    self._state.finish_download(replica_id, error)
                finally:
                    with self._downloads_cv:
                        self._downloads -= 1
                        self._downloads_cv.notify_all()
            log.debug(
                "replica %s training %s: %s",
                replica_id,
                job.kind,
                "ok" if error is None else "failed",
            )

        threading.Thread(
            target=run, name=f"{media.DOWNLOAD_THREAD_PREFIX}{replica_id}", daemon=True
        ).start()

    def _process_document_in_background(self, job: DocumentJob) -> None:
        """Fetch and judge a document (crawl a website) after the create or recrawl has
        answered, as Tavus does; it stays queued meanwhile, then processes on the clock or
        fails with Tavus's error code."""
        with self._downloads_cv:
            self._downloads += 1

        def run() -> None:
            facts, error = None, None
            try:
                wall_now = self._clock.wall(self._clock.now())
                facts = documents.judge(job.url, wall_now=wall_now, crawl=job.crawl,
                                        website=job.website, max_bytes=self.max_document_bytes)
            except documents.DocumentError as e:
                error = e.code
                log.debug("document %s: %s (%s)", job.document_id, e.code, e.why)
            except Exception:  # never leave the document stuck in "started"
                log.debug("document judging crashed", exc_info=True)
                error = (documents.WEBSITE_PROCESSING_FAILED if job.website
                         else documents.DOCUMENT_PROCESSING_FAILED)
            finally:
                try:
                    self._state.finish_document(job, facts, error)
                finally:
                    with self._downloads_cv:
                        self._downloads -= 1
                        self._downloads_cv.notify_all()

        threading.Thread(
            target=run, name=f"{media.DOWNLOAD_THREAD_PREFIX}{job.document_id}", daemon=True
        ).start()

    def _wav(self, voice_name: str) -> bytes | None:
        voice = self._state.voice(voice_name)
        if voice is None:
            return None
        if voice_name not in self._wav_cache:
            self._wav_cache[voice_name] = media.tone_wav(voice.pitch_hz)
        return self._wav_cache[voice_name]

    # -- request handling ---------------------------------------------------------------------
    def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Any,
        body: bytes | None,
        client_host: str,
    ) -> _Reply:
        """body is None when it was larger than allowed."""
        if path != "/" and path.endswith("/"):
            path = path.rstrip("/")
        if path == "/v2" or path.startswith("/v2/"):
            self._requests.append(RequestRecord(method, path, dict(query)))
            fault = self._take_fault(path, method)
            if fault is not None:
                reply = self._apply_fault(fault)
                if reply is not None:
                    return reply
            if not self._key_ok(headers.get("x-api-key")):
                return _json(401, {"message": "Invalid access token"})
            if body is None:
                limit = _body_limit(path)
                return _error(413, f"The request body is larger than {limit // (1024 * 1024)} MiB.")
            return self._api(method, path, query, body)
        if path.startswith("/_sim/") or path == "/_sim":
            if not _is_loopback(client_host):
                return _error(403, "Simulator controls are only available from loopback")
            if body is None:
                return _error(413, "The request body is too large.")
            return self._controls(method, path, body)
        m = re.fullmatch(r"/rooms/([^/]+)/(record|leave)", path)
        if m and method == "POST":
            return self._room_action(m.group(1), m.group(2), query.get("t"), body or b"")
        if method == "GET":
            m = re.fullmatch(r"/rooms/([^/]+)", path)
            if m:
                return self._room(m.group(1), query.get("t"))
            m = re.fullmatch(r"/audio/([A-Za-z0-9_-]+)\.wav", path)
            if m:
                wav = self._wav(m.group(1))
                if wav is None:
                    return _error(404, "Not found")
                return _Reply(200, wav, "audio/wav", {"Cache-Control": "max-age=3600"})
            if path == "/":
                return _json(200, {"service": "Tavus simulator", "api": "/v2"})
        return _error(404, "Not found")

    def _apply_fault(self, fault: _Fault) -> _Reply | None:
        if fault.kind == "slow":
            time.sleep(fault.delay)
            return None  # then answer normally
        if fault.kind == "429":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = _format_retry_after(fault.retry_after)
            return _json(429, {"error": "Too many requests, please slow down"}, headers)
        if fault.kind == "500":
            return _error(500, "Internal server error")
        if fault.kind == "malformed":
            return _Reply(200, b'{"data": [{"replica_id": "r', _JSON)
        if fault.kind == "empty":
            return _Reply(200, b"", _JSON)
        return _Reply(0, drop=True)

    def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> _Reply:
        route = _match(path)
        if route is None:
            return _error(404, "Not found")
        handlers, args = route
        fn = handlers.get(method)
        if fn is None:
            return _error(405, "Method not allowed")
        body: Any = None
        if method in ("POST", "PATCH", "PUT") and fn.__name__ in _JSON_BODY:
            try:
                body = json.loads(raw) if raw.strip() else None
            except (ValueError, UnicodeDecodeError):
                return _error(400, "The request body is not valid JSON.")
        try:
            return fn(self, query, body, *args)
        except ApiError as e:
            return _json(e.status, {e.key: e.message})

    def _controls(self, method: str, path: str, raw: bytes) -> _Reply:
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return _error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        try:
            if (method, path) == ("POST", "/_sim/advance"):
                self.advance(float(body.get("seconds", 0)))
                return _json(200, {"now": self.now_iso()})
            if (method, path) == ("POST", "/_sim/delays"):
                # How long after a call's end each debrief event comes (simulated seconds): a
                # browser test sets them long, so a busy machine cannot race past a notice.
                for name in ("transcript_delay", "perception_delay", "recording_delay"):
                    if name in body:
                        setattr(self._state, name, max(0.0, float(body[name])))
                return _json(200, {name: getattr(self._state, name) for name in (
                    "transcript_delay", "perception_delay", "recording_delay")})
            if (method, path) == ("POST", "/_sim/faults"):
                self.inject_fault(
                    str(body.get("kind")),
                    count=int(body.get("count", 1)),
                    path_prefix=body.get("path_prefix"),
                    retry_after=None
                    if body.get("retry_after") is None
                    else float(body["retry_after"]),
                    delay=float(body.get("delay", 0)),
                    method=body.get("method"),
                )
                return _json(200, {"status": "ok"})
            if (method, path) == ("DELETE", "/_sim/faults"):
                self.clear_faults()
                return _json(200, {"status": "ok"})
            if (method, path) == ("GET", "/_sim/requests"):
                return _json(
                    200,
                    {
                        "requests": [
                            {"method": r.method, "path": r.path, "query": r.query}
                            for r in self.requests
                        ]
                    },
                )
            if (method, path) == ("DELETE", "/_sim/requests"):
                self.reset_requests()
                return _json(200, {"status": "ok"})
            if (method, path) == ("POST", "/_sim/replicas"):
                seconds = body.get("training_seconds")
                ids = self.add_replicas(
                    int(body.get("n", 1)),
                    training=int(body.get("training", 0)),
                    model_name=str(body.get("model_name", DEFAULT_MODEL)),
                    training_seconds=None if seconds is None else float(seconds),
                )
                return _json(200, {"count": len(ids), "replica_ids": ids})
            m = re.fullmatch(r"/_sim/replicas/([^/]+)/request", path)
            if method == "GET" and m:
                # The create body as received (URLs without their query string).
                try:
                    return _json(200, {"request": self.replica_request(m.group(1))})
                except KeyError:
                    return _error(404, "Unknown replica")
            m = re.fullmatch(r"/_sim/replicas/([^/]+)/finetune-fail", path)
            if method == "POST" and m:
                # phoenix-4.5's tuning fails: finetune_status "errored", the preview stays.
                try:
                    self.fail_tuning(m.group(1))
                except KeyError:
                    return _error(404, "Unknown replica")
                return _json(200, {"status": "ok"})
            if method == "GET" and path.startswith("/_sim/conversations/") and path.endswith(
                    "/request"):
                # The create body as received (less the ids), so tests can see what was sent.
                cid = path.split("/")[3]
                with self._state.lock:
                    conversation = self._state.conversations.get(cid)
                    if conversation is None:
                        return _error(404, "Unknown conversation")
                    return _json(200, {"replica_id": conversation.replica_id,
                                       "request": conversation.request})
            m = re.fullmatch(r"/_sim/conversations/([^/]+)/(join|leave|record|events)", path)
            if method == "POST" and m:
                cid, action = m.groups()
                try:
                    if action == "join":
                        return _json(200, {"joined": self.join(cid)})
                    if action == "leave":
                        self.leave(cid)
                    elif action == "record":
                        # {"recording": true} (the default) presses Record; false stops it.
                        if body.get("recording", True):
                            self.start_recording(cid)
                        else:
                            self.stop_recording(cid)
                    else:
                        # {"events": <any JSON>} replaces the verbose events; with
                        # "append": true, a list of events follows the generated ones.
                        if "events" not in body:
                            return _error(400, "events is required")
                        self.set_events(cid, body["events"], append=bool(body.get("append")))
                except KeyError:
                    return _error(404, "Unknown conversation")
                return _json(200, {"status": "ok"})
            if (method, path) == ("GET", "/_sim/state"):
                return _json(
                    200,
                    {
                        "now": self.now_iso(),
                        "training_seconds": self.training_seconds,
                        "document_seconds": self.document_seconds,
                        "max_concurrent_conversations": self.max_concurrent_conversations,
                    },
                )
        except (TypeError, ValueError) as e:
            return _error(400, str(e))
        return _error(404, "Not found")

    def _room_gate(self, conversation_id: str, token: str | None) -> _Reply | None:
        """The 404 / 403 page for a room that cannot be entered, else None."""
        c = self._state.room(conversation_id)
        if c is None:
            return _page(
                404,
                "Conversation not found",
                (
                    '<main data-testid="sim-room-missing"><h1>Conversation not found</h1>'
                    "<p>There is no conversation "
                    f"<code>{html.escape(conversation_id)}</code>.</p></main>"
                ),
            )
        if c.require_auth and not (
            token
            and c.meeting_token
            and hmac.compare_digest(token.encode(), c.meeting_token.encode())
        ):
            return _page(
                403,
                "Not allowed",
                (
                    '<main data-testid="sim-room-denied">'
                    "<h1>You are not allowed to join this meeting.</h1>"
                    '<p class="note">This room is private: open it with its meeting token '
                    "(?t=…).</p>"
                    "</main>"
                ),
            )
        return None

    def _room_action(self, conversation_id: str, action: str, token: str | None,
                     raw: bytes) -> _Reply:
        """The room page's buttons: a form POST, then back to the room (303)."""
        denied = self._room_gate(conversation_id, token)
        if denied is not None:
            return denied
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            if action == "leave":
                self.leave(conversation_id)
            elif form.get("recording") == "stop":
                self.stop_recording(conversation_id)
            else:
                self.start_recording(conversation_id)
        except KeyError:
            return _error(404, "Not found")
        except ValueError:
            pass  # the page shows why (ended, or recording not enabled)
        where = f"/rooms/{conversation_id}"
        if token:
            where += "?" + urlencode({"t": token})
        return _Reply(303, b"", None, {"Location": where})

    def _room(self, conversation_id: str, token: str | None) -> _Reply:
        denied = self._room_gate(conversation_id, token)
        if denied is not None:
            return denied
        # Opening the room is a person joining the call.
        with contextlib.suppress(KeyError):
            self.join(conversation_id)
        with self._state.lock:
            c = self._state.room(conversation_id)
            if c is None:
                return _error(404, "Not found")
            snapshot = (
                c.status,
                c.shutdown_reason,
                c.enable_recording,
                c.recording,
                c.ever_recorded,
                c.recording_state,
                c.recording_bucket,
            )
        status, reason, can_record, recording_now, recorded, rec_state, bucket = snapshot
        esc = html.escape
        suffix = "?" + urlencode({"t": token}) if token else ""
        base = f"/rooms/{quote(c.conversation_id, safe='')}"
        ended = (
            ""
            if status == "active"
            else (
                '<p data-testid="sim-room-ended">This conversation has ended'
                + (f" ({esc(reason)})" if reason else "")
                + ".</p>"
            )
        )
        # The recording state, and its button while the call is live.
        if not can_record:
            rec_text, rec_value = "Recording is not enabled for this conversation.", "disabled"
        elif recording_now:
            rec_text, rec_value = "● Recording…", "recording"
        elif status == "active":
            rec_text = "Recording paused." if recorded else "Not recording."
            rec_value = "paused" if recorded else "off"
        elif not recorded:
            rec_text, rec_value = "This conversation was not recorded.", "none"
        elif rec_state == "ready":
            rec_text, rec_value = f"The recording was saved to the S3 bucket {bucket}.", "saved"
        elif rec_state == "pending":
            rec_text, rec_value = "The recording is being processed…", "processing"
        else:
            rec_text, rec_value = "The recording could not be saved.", "failed"
        controls = ""
        if status == "active":
            if can_record:
                label, value = ("Stop recording", "stop") if recording_now else ("Record", "start")
                controls += (
                    f'<form method="post" action="{esc(base)}/record{esc(suffix)}">'
                    f'<input type="hidden" name="recording" value="{value}">'
                    f'<button type="submit" data-testid="sim-room-record" '
                    f'data-recording="{str(recording_now).lower()}">{label}</button></form>'
                )
            controls += (
                f'<form method="post" action="{esc(base)}/leave{esc(suffix)}">'
                '<button type="submit" data-testid="sim-room-leave">Leave (end the call)</button>'
                "</form>"
            )
        return _page(
            200,
            c.conversation_name,
            (
                f'<main data-testid="sim-room" data-conversation-id="{esc(c.conversation_id)}" '
                f'data-replica-id="{esc(c.replica_id)}" data-status="{esc(status)}">'
                f'<h1 data-testid="sim-room-title">Conversation with {esc(c.replica_name)}</h1>'
                f'<p data-testid="sim-room-name">{esc(c.conversation_name)}</p>'
                "<p>Replica "
                f'<code data-testid="sim-room-replica">{esc(c.replica_id)}</code> · status '
                f'<strong data-testid="sim-room-status">{esc(status)}</strong></p>{ended}'
                f'<p data-testid="sim-room-recording" data-recording-state="{rec_value}">'
                f"{esc(rec_text)}</p>"
                f'<div class="controls">{controls}</div>'
                '<p class="note">This is the Tavus simulator: no video call happens here. '
                "Opening this page counts as joining the call; after it ends, the transcript "
                "follows in the conversation's events.</p>"
                "</main>"
            ),
        )


# ------------------------------------------------------------------------------------------------
# routes: (path regex) -> {METHOD: handler(sim, query, body, *path_args)}
# ------------------------------------------------------------------------------------------------
_Handler_t = Callable[..., _Reply]


def _r_list_replicas(sim: TavusSimulator, q: dict[str, str], _b: Any) -> _Reply:
    return _json(200, sim._state.list_replicas(q, sim.base_url))


def _r_create_replica(sim: TavusSimulator, _q: dict[str, str], body: Any) -> _Reply:
    answer, job = sim._state.create_replica(body)
    sim._train_in_background(job)
    return _json(200, answer)


def _r_get_replica(sim: TavusSimulator, q: dict[str, str], _b: Any, rid: str) -> _Reply:
    return _json(200, sim._state.get_replica(rid, q, sim.base_url))


def _r_delete_replica(sim: TavusSimulator, q: dict[str, str], _b: Any, rid: str) -> _Reply:
    sim._state.delete_replica(rid, q)
    return _Reply(200, b"", None)  # the contract declares no body


def _r_rename_replica(sim: TavusSimulator, _q: dict[str, str], body: Any, rid: str) -> _Reply:
    sim._state.rename_replica(rid, body)
    return _Reply(200, b"", None)


def _r_image_validation(sim: TavusSimulator, _q: dict[str, str], body: Any) -> _Reply:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object with imageBase64 and mimeType.")
    data_b64, mime, model = body.get("imageBase64"), body.get("mimeType"), body.get("model")
    if not isinstance(data_b64, str) or not data_b64.strip():
        raise ApiError(400, "imageBase64 is required")
    if data_b64.lstrip().startswith("data:"):
        raise ApiError(400, "imageBase64 must be plain base64, without a data: URL prefix")
    if not isinstance(mime, str) or mime.lower() not in media.SUPPORTED_MIME:
        raise ApiError(400, "mimeType must be image/jpeg or image/png")
    model = model if model is not None else DEFAULT_MODEL
    if model not in MODELS:
        raise ApiError(400, f"Invalid model: use one of {', '.join(MODELS)}")
    try:
        data = base64.b64decode("".join(data_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "imageBase64 is not valid base64") from None
    if not data:
        raise ApiError(400, "imageBase64 is empty")
    info = media.inspect_image(data, mime_type=mime, model=model)
    return _json(200, media.run_image_checks(info))


def _r_voices(sim: TavusSimulator, q: dict[str, str], _b: Any) -> _Reply:
    return _json(200, sim._state.list_voices(q, sim.base_url))


def _r_personas(sim: TavusSimulator, q: dict[str, str], _b: Any) -> _Reply:
    return _json(200, sim._state.list_personas(q))


def _r_create_persona(sim: TavusSimulator, _q: dict[str, str], body: Any) -> _Reply:
    return _json(200, sim._state.create_persona(body))


def _r_get_persona(sim: TavusSimulator, _q: dict[str, str], _b: Any, pid: str) -> _Reply:
    return _json(200, sim._state.get_persona(pid))


def _r_patch_persona(sim: TavusSimulator, _q: dict[str, str], body: Any, pid: str) -> _Reply:
    changed = sim._state.patch_persona(pid, body)
    # The contract declares no body for the 200; a 304 ("no changes were made") can carry none.
    return _Reply(200 if changed else sim.unchanged_patch_status, b"", None)


def _r_delete_persona(sim: TavusSimulator, _q: dict[str, str], _b: Any, pid: str) -> _Reply:
    sim._state.delete_persona(pid)
    return _Reply(204, b"", None)


def _r_list_documents(sim: TavusSimulator, q: dict[str, str], _b: Any) -> _Reply:
    return _json(200, sim._state.list_documents(q))


def _r_create_document(sim: TavusSimulator, _q: dict[str, str], body: Any) -> _Reply:
    answer, job = sim._state.create_document(body)
    sim._process_document_in_background(job)
    return _json(200, answer)


def _r_get_document(sim: TavusSimulator, _q: dict[str, str], _b: Any, did: str) -> _Reply:
    return _json(200, sim._state.get_document(did))


def _r_update_document(sim: TavusSimulator, _q: dict[str, str], body: Any, did: str) -> _Reply:
    return _json(200, sim._state.update_document(did, body))


def _r_delete_document(sim: TavusSimulator, _q: dict[str, str], _b: Any, did: str) -> _Reply:
    sim._state.delete_document(did)
    return _Reply(204, b"", None)


def _r_recrawl_document(sim: TavusSimulator, _q: dict[str, str], body: Any, did: str) -> _Reply:
    answer, job = sim._state.recrawl_document(did, body)
    sim._process_document_in_background(job)
    return _json(202, answer)


def _r_create_conversation(sim: TavusSimulator, _q: dict[str, str], body: Any) -> _Reply:
    return _json(200, sim._state.create_conversation(body, sim.base_url))


def _r_list_conversations(sim: TavusSimulator, q: dict[str, str], _b: Any) -> _Reply:
    return _json(200, sim._state.list_conversations(q, sim.base_url))


def _r_get_conversation(sim: TavusSimulator, q: dict[str, str], _b: Any, cid: str) -> _Reply:
    return _json(200, sim._state.get_conversation(cid, q, sim.base_url))


def _r_delete_conversation(sim: TavusSimulator, q: dict[str, str], _b: Any, cid: str) -> _Reply:
    sim._state.delete_conversation(cid, q)
    return _Reply(204, b"", None)


def _r_end_conversation(sim: TavusSimulator, _q: dict[str, str], _b: Any, cid: str) -> _Reply:
    sim._state.end_conversation(cid)
    return _Reply(200, b"", None)


_JSON_BODY = {
    "_r_create_replica",
    "_r_rename_replica",
    "_r_image_validation",
    "_r_create_conversation",
    "_r_create_persona",
    "_r_patch_persona",
    "_r_create_document",
    "_r_update_document",
    "_r_recrawl_document",
}

_ROUTES: list[tuple[re.Pattern[str], dict[str, _Handler_t]]] = [
    (re.compile(r"/v2/replicas"), {"GET": _r_list_replicas, "POST": _r_create_replica}),
    (re.compile(r"/v2/replicas/image-validation"), {"POST": _r_image_validation}),
    (re.compile(r"/v2/replicas/([^/]+)"), {"GET": _r_get_replica, "DELETE": _r_delete_replica}),
    (re.compile(r"/v2/replicas/([^/]+)/name"), {"PATCH": _r_rename_replica}),
    (re.compile(r"/v2/voices"), {"GET": _r_voices}),
    (re.compile(r"/v2/personas"), {"GET": _r_personas, "POST": _r_create_persona}),
    (
        re.compile(r"/v2/personas/([^/]+)"),
        {"GET": _r_get_persona, "PATCH": _r_patch_persona, "DELETE": _r_delete_persona},
    ),
    (re.compile(r"/v2/documents"), {"GET": _r_list_documents, "POST": _r_create_document}),
    (
        re.compile(r"/v2/documents/([^/]+)"),
        {"GET": _r_get_document, "PATCH": _r_update_document, "DELETE": _r_delete_document},
    ),
    (re.compile(r"/v2/documents/([^/]+)/recrawl"), {"POST": _r_recrawl_document}),
    (
        re.compile(r"/v2/conversations"),
        {"GET": _r_list_conversations, "POST": _r_create_conversation},
    ),
    (
        re.compile(r"/v2/conversations/([^/]+)"),
        {"GET": _r_get_conversation, "DELETE": _r_delete_conversation},
    ),
    (re.compile(r"/v2/conversations/([^/]+)/end"), {"POST": _r_end_conversation}),
]


def _match(path: str) -> tuple[dict[str, _Handler_t], tuple[str, ...]] | None:
    for pattern, handlers in _ROUTES:
        m = pattern.fullmatch(path)
        if m:
            return handlers, m.groups()
    return None


def _body_limit(path: str) -> int:
    path = path.rstrip("/")
    if path.endswith("image-validation"):
        return MAX_IMAGE_VALIDATION_BODY
    if path.startswith("/_sim/conversations/") and path.endswith("/events"):
        return MAX_EVENTS_BODY
    return MAX_BODY


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------------
# stdlib plumbing
# ------------------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: TavusSimulator) -> None:
        self.sim = sim
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _RequestHandler)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server_version = "TavusSimulator/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections end eventually
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the stdlib line would include the query string."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_GET

    def _read_body(self, path: str) -> bytes | None:
        """-> the body, or None when it is larger than this path allows (then it is drained)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        limit = _body_limit(path)
        if length <= limit:
            return self.rfile.read(length) if length > 0 else b""
        if length <= MAX_DRAIN:  # read and drop it, so the client gets to see the 413
            left = length
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
        else:
            self.close_connection = True
        return None

    def _dispatch(self) -> None:
        sim = self.server.sim
        method = self.command
        split = urlsplit(self.path)
        path = split.path or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            body = self._read_body(path)
            if body is None:
                self.close_connection = True
            reply = sim._handle(method, path, query, self.headers, body, self.client_address[0])
        except Exception:
            log.debug("simulator error on %s %s", method, path, exc_info=True)
            reply = _error(500, "Internal simulator error")
        if reply.drop:
            log.debug("%s %s -> dropped (fault)", method, path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = sim._scrub(reply.body)
        try:
            self.send_response(reply.status)
            if reply.content_type and (payload or reply.status != 204):
                self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 204:
                self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if method != "HEAD" and reply.status != 204:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout on a slow fault)
        log.debug("%s %s -> %s", method, path, reply.status)
