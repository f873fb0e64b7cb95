"""Several photos at once in a browser: a batch of six → Create all ready ones (double-clicked)
→ exactly the four ready ones appear in the Replicas table.

Runs tests/e2e/apps/batch_app.py (the batch flow on its own page beside the app's real pages)
until pages/create.py offers "Several photos"; then it can `page.goto(app.url)` and pick that
source instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import free_port
from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    shot,
    start_app,
    stop_app,
    table_rows,
    wait_idle,
    wait_until,
)
from tests.replicas.test_batch import batch_of_six

pytestmark = pytest.mark.e2e
READY = {"ada lovelace", "grace hopper", "katherine johnson", "mae jemison"}


@pytest.fixture(scope="module")
def batch_app() -> Iterator[DemoApp]:
    sim_port, s3_port = free_port(), free_port()
    env = {"DEMO_MODE": "1", "REFRESH_SECONDS": "2", "SIMULATOR_TRAINING_SECONDS": "30",
           "SIMULATOR_PORT": str(sim_port), "DEMO_S3_PORT": str(s3_port)}
    app = start_app("batch", env, script="tests/e2e/apps/batch_app.py")
    yield DemoApp(app, f"http://127.0.0.1:{sim_port}", s3_port)
    stop_app(app)


def test_a_batch_creates_exactly_the_ready_ones_and_they_appear_in_the_replicas_table(
        page: Page, batch_app: DemoApp, tmp_path: Path) -> None:
    demo = batch_app
    page.goto(demo.app.url)
    wait_idle(page)  # the first run starts demo mode's simulator and S3
    with demo.tavus() as tavus:
        before = {r.replica_id for r in tavus.list_all_replicas(replica_type="user")}
    paths = []
    for name, data in batch_of_six():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(paths)
    create = page.get_by_role("button", name="Create all ready ones (4)")
    create.wait_for()
    wait_idle(page)
    expect(page.locator(".st-key-batch-row-4")).to_contain_text("No face found")
    expect(page.locator(".st-key-batch-row-5")).to_contain_text("512x512 minimum")
    shot(page, "batch-1-review")

    create.dblclick()  # a double click: still one replica per ready photo
    results = page.locator(".st-key-batch-results")
    expect(results).to_contain_text("Training started for 4 replicas", timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    shot(page, "batch-2-created")
    with demo.tavus() as tavus:
        made = [r for r in tavus.list_all_replicas(replica_type="user")
                if r.replica_id not in before]
    assert sorted(r.replica_name for r in made) == sorted(READY)

    # Each result links to its replica on the Replicas page.
    results.get_by_role("link", name="ada lovelace").click()
    page.wait_for_url("**/replicas?replica=*")
    wait_idle(page)
    wait_until(lambda: {r.get("Name") for r in table_rows(page)} >= READY, timeout=30,
               what="the four new replicas in the Replicas table")
    names = [r.get("Name") for r in table_rows(page)]
    assert not {"chelsea", "tiny"} & set(names)
    assert sum(n in READY for n in names) == 4  # each once
    assert_no_exception(page)
    shot(page, "batch-3-replicas")
