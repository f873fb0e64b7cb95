"""Shared fixtures: a real local S3 server (moto's, over HTTP) and test photos; how the suite is
spread over pytest-xdist's workers."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.config import S3Settings

# --- Spreading the suite over workers (TEST_WORKERS=2 scripts/run-tests: --dist loadscope) --------
# A browser journey module is one unit of work, so its app starts once, on one worker; a module
# whose journeys run in two worlds (demo, real) is two units; every other test is a unit of its
# own. The longest units go first and the short tests without a browser fill in behind them, so
# no worker is left finishing a long journey alone. (pytest-xdist's own `loadgroup` marks do not
# group under pytest 9: xdist 3.8 renames `item._nodeid`, which pytest 9 no longer reads.)
LONGEST_FIRST = ("test_impatience_journey", "test_soak", "test_team_journey", "test_real_mode",
                 "test_video_journey", "test_offline_journey", "test_signin_journey")
_WORLD = re.compile(r"\[(demo|real)\]$")


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its journey module (and world), or itself."""
    path, _, test = nodeid.partition("::")
    if not path.startswith("tests/e2e/"):
        return nodeid
    world = _WORLD.search(test)
    return f"{path}[{world[1]}]" if world else path


def _rank(nodeid: str) -> int:
    if not nodeid.startswith("tests/e2e/"):
        return len(LONGEST_FIRST) + 1
    name = Path(nodeid.partition("::")[0]).stem
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle: the order it leaves within
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: _rank(item.nodeid))  # stable: keeps the order within a rank


@pytest.hookimpl(optionalhook=True)  # known only where pytest-xdist is loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Units of work as above, handed out in collection order (--no-loadscope-reorder), for
    `--dist loadscope`; any other --dist keeps xdist's own scheduler."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class JourneyScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return JourneyScheduling(config, log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str, request: pytest.FixtureRequest) -> S3Settings:
    """A fresh bucket per test, so tests never see each other's objects."""
    from lib.storage.s3 import ImageStore

    name = "test-" + request.node.name.lower().replace("_", "-")[:40].strip("-[]")
    settings = S3Settings(bucket=name, region="us-east-1", endpoint_url=s3_endpoint,
                          prefix="photos/", access_key_id="test-key-id",
                          secret_access_key="test-secret-value")
    ImageStore(settings).ensure_bucket()
    return settings


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """AppTest in demo mode: no real credentials in sight, and fresh Streamlit data caches."""
    import streamlit as st

    for name in ("TAVUS_API_KEY", "S3_BUCKET", "S3_ENDPOINT_URL", "PRESIGN_TTL_HOURS",
                 "PRIVATE_APP", "ALLOWED_EMAILS", "ALLOWED_DOMAINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEMO_MODE", "1")
    monkeypatch.setenv("SIMULATOR_TRAINING_SECONDS", "30")
    # Caches outlive AppTest runs within one pytest process: each test starts as a fresh server
    # (the shared replica list included, whose ticker stops when released).
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a server at its slowest."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture(autouse=True)
def fresh_action_board() -> Iterator[None]:
    """AppTest gives every session the same id: each test starts with an empty action board, as
    a fresh server would (a previous test's action must not answer this test's click)."""
    yield
    import sys

    if "lib.ui.actions" in sys.modules:  # only tests that drew a page made one
        sys.modules["lib.ui.actions"].board.clear()
