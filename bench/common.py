"""Shared bench plumbing: samples and ratios, targets, and the servers the bench starts.

Everything the bench measures runs against real HTTP on loopback: the Tavus simulator and moto's
S3 server each run in their own process (`python -m lib.tavus.simulator`, `python -m
moto.server`), like a remote Tavus and S3 would, so their work never competes for the
bench's (or the app's) GIL.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# Not secrets: the simulator and moto listen on loopback only, hold bench data, live one run.
TAVUS_KEY = "bench-local-simulator-key"
AWS_KEY_ID = "bench-key-id"
AWS_SECRET = "bench-local-secret"
BUCKET = "bench-photos"
S3_PREFIX = "bench/"
# Long enough that the bench's "training" replicas never finish during a run.
TRAINING_SECONDS = 10_000_000

T = TypeVar("T")


# --- Samples -------------------------------------------------------------------------------------
@dataclass
class Stat:
    """Repeated measurements of one thing (ms unless said otherwise)."""

    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def lo(self) -> float:
        return min(self.samples)

    @property
    def hi(self) -> float:
        return max(self.samples)

    def fmt(self, unit: str = "ms", digits: int = 1) -> str:
        if not self.samples:
            return "-"
        head = f"{self.median:.{digits}f} {unit}".rstrip()
        if len(self.samples) == 1:
            return head
        return f"{head} ({self.lo:.{digits}f}–{self.hi:.{digits}f}, n={len(self.samples)})"

    def to_json(self, digits: int = 2) -> dict[str, Any]:
        return {"median": round(self.median, digits), "min": round(self.lo, digits),
                "max": round(self.hi, digits), "n": len(self.samples),
                "samples": [round(s, digits) for s in self.samples]}


@dataclass
class Ratio:
    """a / b measured pairwise in one run (each pair interleaved): median of a over median of b,
    with the spread of the per-pair ratios."""

    a: Stat
    b: Stat

    @property
    def value(self) -> float:
        return self.a.median / self.b.median

    @property
    def pairs(self) -> list[float]:
        return [x / y for x, y in zip(self.a.samples, self.b.samples, strict=False) if y > 0]

    def fmt(self) -> str:
        pairs = self.pairs
        spread = f" (pairs {min(pairs):.2f}–{max(pairs):.2f})" if len(pairs) > 1 else ""
        return f"{self.value:.2f}×{spread}"

    def to_json(self) -> dict[str, Any]:
        return {"value": round(self.value, 3), "pairs": [round(p, 3) for p in self.pairs]}


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return ms_since(start), result


@contextmanager
def gc_collected() -> Iterator[None]:
    """Start a measurement from a collected heap, so one sample does not pay for the last one's
    garbage (the code under test still runs with the collector on, as in the app)."""
    gc.collect()
    yield


# --- Targets -------------------------------------------------------------------------------------
@dataclass
class Target:
    key: str
    label: str
    measured: float
    limit: float
    unit: str  # "ms", "calls", "x", "MB"
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.measured <= self.limit

    @property
    def margin(self) -> str:
        """Headroom (PASS) or overshoot (MISS), relative to the limit."""
        if self.limit == 0:
            return ""
        share = (self.limit - self.measured) / self.limit
        if self.measured == self.limit:
            return "at the limit"
        if self.passed:
            return f"{share:.0%} under"
        return f"{-share:.0%} over"

    def value_text(self, value: float | None = None) -> str:
        v = self.measured if value is None else value
        if self.unit == "x":
            return f"{v:.2f}×"
        if self.unit == "calls":
            return f"{v:g} calls"
        if self.unit == "MB":
            return f"{v:.1f} MB"
        if self.unit == "count":
            return f"{v:g}"
        return f"{v:.1f} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "measured": round(self.measured, 3),
                "limit": self.limit, "unit": self.unit, "pass": self.passed,
                "margin": self.margin, "detail": self.detail}


@dataclass
class Section:
    """One benchmark's printed rows, its JSON figures and its targets."""

    key: str
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, label: str, value: str) -> None:
        self.rows.append((label, value))
        print(f"  {label:<58} {value}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  · {text}", flush=True)

    def target(self, target: Target) -> None:
        self.targets.append(target)
        verdict = "PASS" if target.passed else "MISS"
        print(f"  => {verdict}  {target.label}: {target.value_text()} vs ≤ "
              f"{target.value_text(target.limit)} ({target.margin})", flush=True)


# --- Processes -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The bench's environment without any app configuration leaking in, plus `extra`."""
    from lib.config import CONFIG_NAMES

    env = {k: v for k, v in os.environ.items()
           if k not in CONFIG_NAMES and not k.startswith(("AWS_", "STREAMLIT_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def wait_http(url: str, *, process: subprocess.Popen | None = None, timeout: float = 60,
              expect: Callable[[httpx.Response], bool] = lambda r: r.status_code < 500,
              interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited early with {process.returncode}")
        try:
            if expect(httpx.get(url, timeout=1)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen | None) -> None:
    """Stop one process this bench started (by its handle, never by name)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Simulator:
    """The Tavus simulator in its own process; seeded and inspected through its /_sim controls."""

    def __init__(self, name: str, *, training_seconds: float = TRAINING_SECONDS) -> None:
        self.name = name
        self.training_seconds = training_seconds  # of a replica created through the API
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self._http = httpx.Client(base_url=self.url, timeout=60)
        self.count = 0

    def start(self) -> Simulator:
        self.process = subprocess.Popen(
            [PY, "-m", "lib.tavus.simulator", "--host", "127.0.0.1", "--port", str(self.port),
             "--key", TAVUS_KEY, "--training-seconds", str(self.training_seconds),
             "--no-demo-data"],
            cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"{self.url}/", process=self.process)
        return self

    def add(self, n: int, *, training: int = 0, training_seconds: float | None = None
            ) -> list[str]:
        """n more user replicas, the last `training` of them still training (the rest ready,
        oldest first), for `training_seconds` from now (default: the simulator's). -> their ids."""
        if not n:
            return []
        body: dict[str, Any] = {"n": n, "training": training}
        if training_seconds is not None:
            body["training_seconds"] = training_seconds
        response = self._http.post("/_sim/replicas", json=body)
        response.raise_for_status()
        self.count += n
        return response.json()["replica_ids"]

    def requests(self) -> list[dict[str, Any]]:
        return self._http.get("/_sim/requests").json()["requests"]

    def reset_requests(self) -> None:
        self._http.delete("/_sim/requests").raise_for_status()

    def delay_next(self, count: int, seconds: float, path_prefix: str = "/v2/replicas") -> None:
        """Hold each of the next `count` matching calls for `seconds` (a network round trip)."""
        self._http.delete("/_sim/faults").raise_for_status()
        self._http.post("/_sim/faults", json={"kind": "slow", "count": count, "delay": seconds,
                                              "path_prefix": path_prefix}).raise_for_status()

    def clear_faults(self) -> None:
        self._http.delete("/_sim/faults").raise_for_status()

    def stop(self) -> None:
        self._http.close()
        stop(self.process)


class S3Server:
    """moto's S3 server in its own process, with the bench bucket made.

    It listens on 127.0.0.2, not 127.0.0.1: the app treats a 127.0.0.1/localhost S3 endpoint as
    demo mode's private server and sends photos as thumbnails it downloads itself
    (lib/ui/cached.py _photo_url), where a real S3 gets presigned URLs. 127.0.0.2 is still loopback.
    """

    HOST = "127.0.0.2"

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://{self.HOST}:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> S3Server:
        self.process = subprocess.Popen(
            [PY, "-m", "moto.server", "-H", self.HOST, "-p", str(self.port)],
            cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"{self.url}/", process=self.process)
        from lib.storage.s3 import ImageStore

        ImageStore(self.settings()).ensure_bucket()
        return self

    def settings(self, prefix: str = S3_PREFIX):  # -> lib.config.S3Settings
        from lib.config import S3Settings

        return S3Settings(bucket=BUCKET, endpoint_url=self.url, prefix=prefix,
                          access_key_id=AWS_KEY_ID, secret_access_key=AWS_SECRET)

    def app_env(self, prefix: str = S3_PREFIX) -> dict[str, str]:
        """The app's S3 settings; each section uses its own prefix, so one section's photos and
        team records never show up in another's table."""
        return {"S3_BUCKET": BUCKET, "S3_ENDPOINT_URL": self.url, "S3_PREFIX": prefix,
                "AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}

    def seed_team_records(self, prefix: str, replica_ids: list[str]) -> None:
        """A team record (lib/storage/ledger.py) and a small source photo for each replica, as if
        the team had made them with the app: the table shows creator, notes and a photo for them."""
        import io

        from PIL import Image
        from skimage import data

        from lib.storage.ledger import Ledger, LedgerRecord, now_iso
        from lib.storage.s3 import ImageStore

        buffer = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=85)
        store = ImageStore(self.settings(prefix))
        ledger = Ledger(store)
        for i, replica_id in enumerate(replica_ids):
            stored = store.upload_image(buffer.getvalue(), f"portrait-{i}.jpg", "image/jpeg")
            ledger.write(LedgerRecord(
                replica_id=replica_id, replica_name=f"Team replica {i}", photo_key=stored.key,
                voice_name="anna", model_name="phoenix-4", auto_fix_training_image=True,
                created_at=now_iso(), created_by="bench@example.com", check_score=90,
                notes="Seeded by the bench."))

    def stop(self) -> None:
        stop(self.process)


def product_logging() -> None:
    """The app's own logging (one formatted INFO line per Tavus call), sent to /dev/null, so the
    bench pays the same logging cost as the app without printing it."""
    from lib.logs import configure_logging

    logger = configure_logging()
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    logging.getLogger("httpx").setLevel(logging.WARNING)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, kB) in MB (2^20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def maps_contain(pid: int, needle: str) -> bool:
    """Whether a shared library whose path contains `needle` is mapped into the process."""
    try:
        return needle in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
