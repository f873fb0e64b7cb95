"""The gate in a browser: a cold server's first request, a deep link, meets the sign-in page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_no_exception, shot, start_app, stop_app, wait_idle

pytestmark = pytest.mark.e2e

AUTH_SECRETS = """
ALLOWED_DOMAINS = ["team.example.org"]

[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "a-cookie-secret-for-tests-only-0123456789"
client_id = "replica-studio-test"
client_secret = "not-a-real-secret"
server_metadata_url = "https://login.example.com/.well-known/openid-configuration"
"""


@pytest.mark.parametrize("path", ["/replicas", "/conversations", "/"])
def test_cold_deep_link_meets_the_sign_in_gate(page: Page, tmp_path: Path, path: str) -> None:
    # Streamlit also reads ~/.streamlit/secrets.toml: a private HOME gives this server [auth].
    home = tmp_path / "home"
    (home / ".streamlit").mkdir(parents=True)
    (home / ".streamlit" / "secrets.toml").write_text(AUTH_SECRETS)
    app = start_app(f"gate{path.replace('/', '-')}", {"HOME": str(home), "DEMO_MODE": "1"})
    try:
        page.goto(app.url + path)
        wait_idle(page)
        gate = page.locator(".st-key-sign-in")
        gate.wait_for()
        expect(gate).to_contain_text("Sign in with your team account")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert page.locator('[data-testid="stDataFrame"]').count() == 0
        assert page.locator('[data-testid="stFileUploader"]').count() == 0
        assert page.locator(".st-key-demo-banner").count() == 0
        assert page.locator("h1").first.inner_text().strip() == "Replica Studio"
        assert "demo mode: Tavus simulator at" not in app.log()  # nothing started for a stranger
        assert_no_exception(page)
        shot(page, f"gate{path.replace('/', '-')}")
    finally:
        stop_app(app)
