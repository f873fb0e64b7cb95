"""The Tavus simulator the create and batch tests talk HTTP to: one per module, keyed by the
module's KEY, and a client on it with no fault or request left from an earlier test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib.tavus.client import TavusClient
from lib.tavus.simulator.server import TavusSimulator


@pytest.fixture(scope="module")
def simulator(request: pytest.FixtureRequest) -> Iterator[TavusSimulator]:
    sim = TavusSimulator(request.module.KEY, training_seconds=60, seed_demo_data=False).start()
    yield sim
    sim.stop()


@pytest.fixture
def tavus(simulator: TavusSimulator, request: pytest.FixtureRequest) -> Iterator[TavusClient]:
    simulator.clear_faults()
    simulator.reset_requests()
    with TavusClient(simulator.base_url, request.module.KEY, sleep=lambda _: None) as client:
        yield client
    simulator.wait_for_downloads()  # no training photo still being fetched into the next test
