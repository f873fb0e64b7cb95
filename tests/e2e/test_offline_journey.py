"""Every screen asks nothing of other hosts: the app is used offline in demos and behind proxies.

A browser context routes every request: loopback goes through, anything else is recorded and
aborted (as a firewall would). Each page and each screen reached from it (the Create sources, a
replica's details, a debrief, the demo conversation room, which is the simulator's on loopback)
is opened, left to settle, and must have asked 0 other hosts. A positive control shows the
route does catch a request to another host.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from lib.ui.shell import PAGES
from tests.e2e.conftest import DemoApp, assert_no_exception, shot, wait_idle

pytestmark = pytest.mark.e2e

DEMO_APP = {"training_seconds": 5}
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


class Firewall:
    """Lets loopback through; records and aborts everything else (data: and blob: never ask)."""

    def __init__(self, context: BrowserContext) -> None:
        self.blocked: list[str] = []
        self.seen = 0
        context.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = route.request.url
        self.seen += 1
        if urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


@pytest.fixture
def offline(browser: Browser) -> Iterator[tuple[Page, Firewall]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    firewall = Firewall(context)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page, firewall
    context.close()


# Late requests come from what the page has asked for: its fonts and images.
ASSETS_IN = """() => document.fonts.status === 'loaded'
                     && [...document.images].every(image => image.complete)"""


def settle(page: Page, *, streamlit: bool = True) -> None:
    """Connected, no run in progress, the load's network quiet (500 ms), fonts and images in."""
    if streamlit:
        wait_idle(page)
    page.wait_for_load_state("networkidle")
    page.wait_for_function(ASSETS_IN)


def a_ready_replica(demo: DemoApp) -> str:
    with demo.tavus() as tavus:
        for replica in tavus.list_all_replicas():
            if replica.usable:
                return replica.replica_id
    raise AssertionError("the demo simulator has no ready replica")


def test_the_firewall_catches_a_request_to_another_host(offline: tuple[Page, Firewall],
                                                        demo_app: DemoApp) -> None:
    page, firewall = offline
    page.goto(demo_app.app.url)
    settle(page)
    before = list(firewall.blocked)
    # evaluate awaits the fetch, which ends only once the route has aborted it.
    page.evaluate("fetch('https://fonts.gstatic.com/x.svg').catch(() => null)")
    assert firewall.blocked == [*before, "https://fonts.gstatic.com/x.svg"]


def test_no_page_asks_another_host(offline: tuple[Page, Firewall], demo_app: DemoApp) -> None:
    page, firewall = offline
    base = demo_app.app.url.rstrip("/")
    replica_id = a_ready_replica(demo_app)
    with demo_app.tavus() as tavus:
        conversation = tavus.create_conversation(replica_id=replica_id,
                                                 conversation_name="Offline check")
    visited: dict[str, list[str]] = {}

    def visit(name: str, url: str | None = None, then=None, streamlit: bool = True) -> None:
        before = len(firewall.blocked)
        if url is not None:
            page.goto(url)
        if then is not None:
            then()
        settle(page, streamlit=streamlit)
        if streamlit:
            assert_no_exception(page)
        visited[name] = firewall.blocked[before:]
        shot(page, f"offline-{name}")

    visit("root", base + "/")
    for source in ("Camera", "Several photos"):  # the Create page's other sources
        visit(f"create-{source.lower().replace(' ', '-')}",
              then=lambda s=source: page.locator('[data-testid="stButtonGroup"]')
              .get_by_text(s, exact=True).click())
    for nav in PAGES:
        visit(nav.url_path, f"{base}/{nav.url_path}")
    visit("replica-details", f"{base}/replicas?replica={replica_id}")
    visit("debrief", f"{base}/history?conversation={conversation.conversation_id}")
    visit("room", conversation.conversation_url, streamlit=False)  # the simulator's, loopback
    page.get_by_test_id("sim-room").wait_for()

    assert len(visited) == 6 + len(PAGES)
    assert firewall.seen > 50  # the route saw the pages' own requests (the check is live)
    assert {name: urls for name, urls in visited.items() if urls} == {}
