"""A real sign-in round trip: st.login against a real OpenID Connect provider on loopback.

The provider is oidc-provider-mock (a Flask app speaking OIDC over HTTP, in a thread of this
process, with client registration required); the app is a real `streamlit run` in demo mode with
an `[auth]` section; the visitor is headless Chromium. Nothing about the sign-in is simulated: the
browser goes to the provider, types an address there, the provider redirects back with a code,
Streamlit exchanges it (with the client secret) for an ID token and sets its signed
`_streamlit_user` cookie. Run just this file:

    .venv/bin/python -m pytest tests/e2e/test_signin_journey.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import Page, expect

from lib.access import RETURN_COOKIE
from lib.demo import DEMO_BUCKET
from lib.ui.shell import PAGES
from tests.conftest import free_port
from tests.e2e.conftest import (
    DemoApp,
    assert_no_exception,
    shot,
    start_app,
    stop_app,
    table_rows,
    upload,
    wait_idle,
    wait_until,
)
from tests.media import astronaut_png

pytestmark = pytest.mark.e2e

ALLOWED = "ana@example.com"  # on ALLOWED_EMAILS
TEAM = "zoe@team.example.org"  # on ALLOWED_DOMAINS
STRANGER = "mallory@evil.example"
USER_COOKIE = "_streamlit_user"
SIMULATOR_STARTED = "demo mode: Tavus simulator at"


@dataclass
class Provider:
    url: str
    client_id: str = ""
    client_secret: str = ""


@dataclass
class SignInApp:
    demo: DemoApp
    provider: Provider
    cookie_secret: str

    @property
    def url(self) -> str:
        # The host of redirect_uri: Streamlit binds the auth cookie to that origin.
        return self.demo.app.url.replace("127.0.0.1", "localhost")

    def log(self) -> str:
        return self.demo.app.log()


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with run_server_in_thread(require_client_registration=True) as server:
        yield Provider(f"http://127.0.0.1:{server.server_port}")


@contextmanager
def running_signin_app(provider: Provider, home: Path, name: str) -> Iterator[SignInApp]:
    """A freshly started app whose [auth] names the provider, with a client registered there."""
    port, sim_port, s3_port = free_port(), free_port(), free_port()
    redirect_uri = f"http://localhost:{port}/oauth2callback"
    registered = httpx.post(f"{provider.url}/oauth2/clients",
                            json={"redirect_uris": [redirect_uri]})
    registered.raise_for_status()
    # This app's own client at the provider (the module's provider serves several apps).
    provider = Provider(provider.url, registered.json()["client_id"],
                        registered.json()["client_secret"])
    cookie_secret = secrets.token_urlsafe(32)
    # Streamlit also reads ~/.streamlit/secrets.toml: a private HOME gives this server [auth].
    (home / ".streamlit").mkdir()
    (home / ".streamlit" / "secrets.toml").write_text(f"""
[auth]
redirect_uri = "{redirect_uri}"
cookie_secret = "{cookie_secret}"
client_id = "{provider.client_id}"
client_secret = "{provider.client_secret}"
server_metadata_url = "{provider.url}/.well-known/openid-configuration"
""")
    env = {"HOME": str(home), "DEMO_MODE": "1", "REFRESH_SECONDS": "2",
           "SIMULATOR_TRAINING_SECONDS": "600", "SIMULATOR_PORT": str(sim_port),
           "DEMO_S3_PORT": str(s3_port), "ALLOWED_EMAILS": ALLOWED,
           "ALLOWED_DOMAINS": "team.example.org"}
    app = start_app(name, env, port=port)
    try:
        yield SignInApp(DemoApp(app, f"http://127.0.0.1:{sim_port}", s3_port), provider,
                        cookie_secret)
    finally:
        stop_app(app)


@pytest.fixture(scope="module")
def signin_app(provider: Provider, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[SignInApp]:
    """The module's app, shared by the journeys that do not need a cold server."""
    with running_signin_app(provider, tmp_path_factory.mktemp("home"), "signin") as app:
        yield app


@pytest.fixture
def cold_signin_app(provider: Provider, tmp_path: Path, request: pytest.FixtureRequest
                    ) -> Iterator[SignInApp]:
    """A server of its own that nobody has used: "nothing started" is then exact, whatever
    ran before in this module."""
    home = tmp_path / "home"
    home.mkdir()
    name = "signin-cold-" + request.node.name.removeprefix("test_")[:30]
    with running_signin_app(provider, home, name) as app:
        yield app


# -- what the visitor sees ------------------------------------------------------------------------

def assert_gate(page: Page) -> None:
    """The sign-in gate and nothing else: no table, no uploader, no demo banner, no traceback."""
    gate = page.locator(".st-key-sign-in")
    gate.wait_for()
    wait_idle(page)
    expect(gate).to_contain_text("Sign in with your team account")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.locator("h1").first.inner_text().strip() == "Replica Studio"
    for absent in ('[data-testid="stDataFrame"]', '[data-testid="stFileUploader"]',
                   ".st-key-demo-banner", ".st-key-access-refused"):
        assert page.locator(absent).count() == 0, absent
    assert_no_exception(page)


def assert_no_secrets(page: Page, app: SignInApp) -> None:
    html, log = page.content(), app.log()
    for name, secret in (("client secret", app.provider.client_secret),
                         ("cookie secret", app.cookie_secret)):
        assert secret not in html, f"the {name} is in the page"
        assert secret not in log, f"the {name} is in the server log"


def cookies(page: Page) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def sign_in_at_provider(page: Page, app: SignInApp, email: str) -> None:
    """From the app's gate: Sign in, type the address at the provider, authorize."""
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{app.provider.url}/oauth2/authorize?*")
    expect(page.locator("h1")).to_have_text("Authorize Client")
    expect(page.locator("body")).to_contain_text(app.provider.client_id)
    page.locator('input[name="sub"]').fill(email)
    shot(page, f"signin-provider-{email.split('@')[0]}")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{app.url}/**")


def sign_in(page: Page, app: SignInApp, email: str, path: str = "/replicas") -> None:
    page.goto(app.url + path)
    assert_gate(page)
    sign_in_at_provider(page, app, email)
    page.wait_for_url(app.url + path)
    wait_idle(page)


def signed_in_as(page: Page) -> str:
    caption = page.locator('[data-testid="stSidebar"]').get_by_text("Signed in as")
    caption.wait_for()
    assert caption.locator("a").count() == 0  # an address shown as text, not a mailto link
    return caption.inner_text().removeprefix("Signed in as").strip()


def replica_list_calls(app: SignInApp) -> list[dict] | None:
    """The replica list calls the Tavus simulator has answered; None when it never started."""
    try:
        log = httpx.get(f"{app.demo.simulator_url}/_sim/requests").json()["requests"]
    except httpx.ConnectError:
        return None
    return [r for r in log if r["method"] == "GET" and r["path"].startswith("/v2/replicas")]


# -- the journeys ---------------------------------------------------------------------------------

def test_an_address_outside_the_allow_lists_is_refused_and_reads_nothing(
        page: Page, cold_signin_app: SignInApp) -> None:
    """On a cold server: nobody allowed has started demo mode yet, so "nothing read" is exact:
    the Tavus simulator never even starts for this visitor."""
    app = cold_signin_app
    page.goto(app.url + "/replicas")
    assert_gate(page)

    sign_in_at_provider(page, app, STRANGER)
    refused = page.locator(".st-key-access-refused")
    refused.wait_for()
    wait_idle(page)
    expect(refused).to_contain_text(f"You are signed in as {STRANGER}")
    expect(refused).to_contain_text("not on this app's allow-list")
    expect(refused.get_by_role("button", name="Sign out")).to_be_visible()
    shot(page, "signin-3-refused")
    for path in ("/replicas", "/conversations", "/history", "/"):
        page.goto(app.url + path)
        refused.wait_for()
        wait_idle(page)
        assert page.locator('[data-testid="stDataFrame"]').count() == 0, path
        assert page.locator('[data-testid="stFileUploader"]').count() == 0, path
        assert page.locator(".st-key-demo-banner").count() == 0, path
        assert_no_exception(page)
    # No data was read for this session: no Tavus client was made, no replica list asked for.
    assert SIMULATOR_STARTED not in app.log()
    assert replica_list_calls(app) is None  # the simulator's port is not even open
    assert_no_secrets(page, app)

    # The way out: Sign out, through the provider's end-session page, back to the gate.
    refused.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{app.provider.url}/oauth2/end_session?*")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{app.url}/**")
    assert_gate(page)
    assert USER_COOKIE not in cookies(page)


def test_a_deep_link_signs_in_at_the_provider_and_lands_on_the_asked_page(
        page: Page, cold_signin_app: SignInApp) -> None:
    app = cold_signin_app
    # A cold server: a deep link to the table meets only the gate.
    page.goto(app.url + "/replicas")
    assert_gate(page)
    assert SIMULATOR_STARTED not in app.log()  # nothing started, nothing read, for a stranger
    # The gate remembers the asked page: the provider's callback always lands on the root.
    wait_until(lambda: cookies(page).get(RETURN_COOKIE) == "replicas", timeout=30,
               what="the gate to remember the asked page")
    shot(page, "signin-1-deep-link-gate")

    sign_in_at_provider(page, app, ALLOWED)
    page.wait_for_url(app.url + "/replicas")  # back on the asked page, not the root
    page.locator('[data-testid="stDataFrame"]').wait_for()
    wait_idle(page)
    assert page.locator("h1").first.inner_text().strip() == "Replicas"
    assert signed_in_as(page) == ALLOWED
    wait_until(lambda: len(table_rows(page)) > 0, timeout=20, what="the replicas table rows")
    assert USER_COOKIE in cookies(page)
    wait_until(lambda: RETURN_COOKIE not in cookies(page), timeout=30,
               what="the remembered page to be forgotten")
    assert_no_exception(page)
    assert_no_secrets(page, app)
    shot(page, "signin-2-landed-on-replicas")

    # Moving on is not pulled back to the remembered page.
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Conversations").click()
    page.wait_for_url(app.url + "/conversations")
    wait_idle(page)
    assert page.locator("h1").first.inner_text().strip() == "Conversations"


def test_sign_out_brings_the_gate_back_on_every_page(page: Page, signin_app: SignInApp) -> None:
    app = signin_app
    sign_in(page, app, TEAM, "/create_video")
    assert signed_in_as(page) == TEAM
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{app.provider.url}/oauth2/end_session?*")
    shot(page, "signin-4-provider-end-session")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{app.url}/**")
    assert_gate(page)
    assert USER_COOKIE not in cookies(page)
    shot(page, "signin-5-signed-out")
    for nav in PAGES:  # deep links, each a new session
        page.goto(f"{app.url}/{nav.url_path}")
        assert_gate(page)
    page.goto(app.url)
    assert_gate(page)
    assert_no_secrets(page, app)


class _SignedLongAgo(TimestampSigner):
    """Signs as if 40 days ago: past Streamlit's 30-day cookie lifetime and its 1-day grace."""

    def get_timestamp(self) -> int:
        return int(time.time()) - 40 * 86400


def _user_cookie(payload: dict, secret: str, *, long_ago: bool = False) -> str:
    serializer = URLSafeTimedSerializer(secret, salt=USER_COOKIE,
                                        signer=_SignedLongAgo if long_ago else TimestampSigner)
    return serializer.dumps(json.dumps(payload))


def test_a_tampered_forged_or_expired_cookie_meets_the_gate_not_a_traceback(
        page: Page, signin_app: SignInApp) -> None:
    app = signin_app
    sign_in(page, app, ALLOWED)
    real = cookies(page)[USER_COOKIE]
    payload = {"email": ALLOWED, "origin": app.url, "is_logged_in": True, "provider": "default"}
    head, _, tail = real.rpartition(".")
    middle = len(head) // 2
    flipped = head[:middle] + ("A" if head[middle] != "A" else "B") + head[middle + 1:]
    variants = {
        "tampered": f"{flipped}.{tail}",
        "re-signed-by-a-stranger": _user_cookie(payload, "not-the-cookie-secret"),
        "expired": _user_cookie(payload, app.cookie_secret, long_ago=True),
        "garbage": "not-a-cookie",
    }

    def visit_with(value: str) -> None:
        page.context.clear_cookies(name=USER_COOKIE)
        page.context.add_cookies([{"name": USER_COOKIE, "value": value, "url": app.url}])
        page.goto(app.url + "/replicas")
        wait_idle(page)

    # The control: the same payload signed now with the real secret gets in, so the refusals
    # below are for the reason each one names (and not a malformed cookie made by this test).
    visit_with(_user_cookie(payload, app.cookie_secret))
    page.locator('[data-testid="stDataFrame"]').wait_for()
    assert signed_in_as(page) == ALLOWED

    for name, value in variants.items():
        visit_with(value)
        assert_gate(page)
        shot(page, f"signin-6-cookie-{name}")
    assert "Traceback" not in app.log()

    # The gate still works after a bad cookie: signing in again replaces it.
    sign_in_at_provider(page, app, ALLOWED)
    page.wait_for_url(app.url + "/replicas")
    page.locator('[data-testid="stDataFrame"]').wait_for()
    assert signed_in_as(page) == ALLOWED
    assert_no_secrets(page, app)


def test_the_signed_in_address_is_the_creator_in_the_ledger(
        page: Page, signin_app: SignInApp, tmp_path: Path) -> None:
    app = signin_app
    sign_in(page, app, TEAM, "/")
    assert page.locator("h1").first.inner_text().strip() == "Create a replica"
    photo = tmp_path / "signed-in-zoe.png"
    photo.write_bytes(astronaut_png())
    upload(page, photo)
    page.locator(".st-key-photo-verdict").filter(has_text="Ready").wait_for()
    wait_idle(page)  # the verdict is drawn before the form beside it
    page.get_by_label("Replica name").fill("Signed In Zoe")
    page.get_by_role("button", name="Create replica").click()
    result = page.locator(".st-key-create-result")
    result.wait_for()
    wait_idle(page)
    replica_id = re.search(r"\br[0-9a-f]{6,}\b", result.inner_text())[0]
    assert_no_exception(page)
    shot(page, "signin-7-created")

    s3 = app.demo.s3()

    def records() -> list[dict]:
        keys = [k for k in app.demo.bucket_keys() if k.endswith(".json")]
        found = [json.loads(s3.get_object(Bucket=DEMO_BUCKET, Key=k)["Body"].read())
                 for k in keys]
        return [r for r in found if r.get("replica_id") == replica_id]

    wait_until(lambda: bool(records()), timeout=15, what="the ledger record")
    [record] = records()
    assert record["created_by"] == TEAM
    assert_no_secrets(page, app)
