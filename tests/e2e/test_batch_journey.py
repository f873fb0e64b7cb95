"""Several photos at once in a browser: a batch of six → Create all ready ones (double-clicked)
→ exactly the four ready ones appear in the Replicas table.

On the real Create page: its "Several photos" source.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    shot,
    table_rows,
    wait_idle,
    wait_until,
)
from tests.replicas.test_batch import batch_of_six

pytestmark = pytest.mark.e2e
READY = {"ada lovelace", "grace hopper", "katherine johnson", "mae jemison"}


DEMO_APP = {"training_seconds": 30}


def review_batch(page: Page, folder: Path, prefix: str = "") -> Locator:
    """On the Create page: "Several photos", the six of `batch_of_six` written to `folder` (their
    file names, so the replica names, starting with `prefix`) and uploaded, reviewed.
    -> the "Create all ready ones (4)" button."""
    page.locator('[data-testid="stButtonGroup"]').get_by_text("Several photos").click()
    wait_idle(page)
    paths = []
    for name, data in batch_of_six():
        path = folder / f"{prefix}{name}"
        path.write_bytes(data)
        paths.append(str(path))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(paths)
    create = page.get_by_role("button", name="Create all ready ones (4)")
    create.wait_for()
    wait_idle(page)
    expect(page.locator(".st-key-batch-row-4")).to_contain_text("No face found")
    expect(page.locator(".st-key-batch-row-5")).to_contain_text("512x512 minimum")
    return create


def create_batch(page: Page, create: Locator, shots: str) -> None:
    """Double-click "Create all ready ones" (still one replica per ready photo), then follow a
    result's link: the four ready ones are in the Replicas table, once each, the others not.
    Screenshots <shots>-2-created and <shots>-3-replicas."""
    create.dblclick()
    results = page.locator(".st-key-batch-results")
    expect(results).to_contain_text("Training started for 4 replicas", timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    shot(page, f"{shots}-2-created")

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
    shot(page, f"{shots}-3-replicas")


def test_a_batch_creates_exactly_the_ready_ones_and_they_appear_in_the_replicas_table(
        page: Page, demo_app: DemoApp, tmp_path: Path) -> None:
    demo = demo_app
    page.goto(demo.app.url)
    wait_idle(page)  # the first run starts demo mode's simulator and S3
    with demo.tavus() as tavus:
        before = {r.replica_id for r in tavus.list_all_replicas(replica_type="user")}
    create = review_batch(page, tmp_path)
    shot(page, "batch-1-review")

    create_batch(page, create, "batch")
    with demo.tavus() as tavus:
        made = [r for r in tavus.list_all_replicas(replica_type="user")
                if r.replica_id not in before]
    assert sorted(r.replica_name for r in made) == sorted(READY)
