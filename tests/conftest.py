"""Shared fixtures: a real local S3 server (moto's, over HTTP) and test photos."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from lib.config import S3Settings


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
    from lib.storage import ImageStore

    name = "test-" + request.node.name.lower().replace("_", "-")[:40].strip("-[]")
    settings = S3Settings(bucket=name, region="us-east-1", endpoint_url=s3_endpoint,
                          prefix="photos/", access_key_id="test-key-id",
                          secret_access_key="test-secret-value")
    ImageStore(settings).ensure_bucket()
    return settings
