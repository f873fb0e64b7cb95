"""The access gate: st.login with an allow-list on every page; a warning when no gate is set."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.access import (
    RETURN_COOKIE,
    Access,
    AccessPolicy,
    decide,
    email_allowed,
    page_in_url,
    parse_list,
    return_cookie_script,
    return_page,
)
from lib.demo import running_demo_services
from lib.replicas.create import wait_for_ledger
from lib.storage.ledger import Ledger
from lib.storage.s3 import ImageStore
from tests.apptest import APP, settle
from tests.media import astronaut_png

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 32,
        "client_id": "replica-studio-test", "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}
PAGES = [None, "pages/replicas.py", "pages/conversations.py"]


@pytest.fixture(autouse=True)
def allow_list(demo_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_EMAILS", "ana@example.com")
    monkeypatch.setenv("ALLOWED_DOMAINS", "team.example.org")


def run(user: dict | None, page: str | None = None, *, auth: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    if auth:
        at.secrets["auth"] = AUTH
    if user is not None:
        at.user = user
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_asks_a_visitor_to_sign_in_and_shows_nothing_else(page: str | None) -> None:
    at = run({"is_logged_in": False}, page)
    assert [b.label for b in at.button] == ["Sign in"]
    assert any("Sign in with your team account" in i.value for i in at.info)
    assert len(at.dataframe) == 0
    assert [t.value for t in at.title] == ["Replica Studio"]  # not the page's own title


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("email", ["mallory@evil.example", "ana@example.com.evil.io",
                                   "bob@example.com"])
def test_a_signed_in_stranger_is_refused_with_a_way_out(page: str | None, email: str) -> None:
    at = run({"is_logged_in": True, "email": email}, page)
    assert any("not on this app's allow-list" in e.value for e in at.error)
    assert [b.label for b in at.button] == ["Sign out"]
    assert len(at.dataframe) == 0


@pytest.mark.parametrize("email", ["ana@example.com", "ANA@Example.com", "zoe@team.example.org"])
def test_allowed_people_get_in_on_every_page(email: str) -> None:
    for page in PAGES:
        at = run({"is_logged_in": True, "email": email}, page)
        assert not any("allow-list" in e.value for e in at.error)
        assert [t.value for t in at.sidebar.text] == [f"Signed in as {email}"]  # as typed
    assert at.title[0].value == "Conversations"


def test_the_signed_in_user_is_recorded_as_the_creator() -> None:
    at = run({"is_logged_in": True, "email": "zoe@team.example.org"})
    at.file_uploader[0].set_value(("zoe.png", astronaut_png(), "image/png"))
    at.run()
    at.text_input(key="replica_name").set_value("Zoe Access")
    at.button(key="create_button").click()
    at.run()
    settle(at)
    assert not at.exception, at.exception
    attempt = at.session_state.create_slot["attempt"]
    store = ImageStore(running_demo_services().s3)
    wait_for_ledger(attempt, timeout=10)  # written in the background
    record = Ledger(store).read(attempt.ledger_key)
    assert record.created_by == "zoe@team.example.org"


def test_without_sign_in_demo_mode_is_open_and_quiet() -> None:
    at = run(None, auth=False)
    assert at.title[0].value == "Create a replica"
    assert not any("No sign-in is configured" in w.value for w in at.warning)


def test_a_real_key_without_any_gate_warns_on_every_page(monkeypatch: pytest.MonkeyPatch,
                                                         s3_settings) -> None:
    from lib.tavus.simulator import TavusSimulator

    sim = TavusSimulator("gate-test-key", seed_demo_data=False).start()
    try:
        for name, value in {"DEMO_MODE": "0", "TAVUS_API_KEY": "gate-test-key",
                            "TAVUS_API_URL": sim.base_url, "S3_BUCKET": s3_settings.bucket,
                            "S3_ENDPOINT_URL": s3_settings.endpoint_url,
                            "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}.items():
            monkeypatch.setenv(name, value)
        for page in PAGES:
            at = run(None, page, auth=False)
            assert any("anyone with this link can use the Tavus key" in w.value
                       for w in at.warning)
        monkeypatch.setenv("PRIVATE_APP", "1")
        at = run(None, auth=False)
        assert not any("No sign-in is configured" in w.value for w in at.warning)
    finally:
        sim.stop()


@pytest.mark.parametrize(("email", "allowed"), [
    ("ana@example.com", True), (" Ana@EXAMPLE.com ", True), ("x@team.example.org", True),
    ("x@sub.team.example.org", False), ("x@example.com", False), ("", False), (None, False),
    ("no-at-sign", False),
])
def test_email_allow_list(email: str | None, allowed: bool) -> None:
    policy = AccessPolicy(login_configured=True, emails=parse_list("ana@example.com"),
                          domains=parse_list("@team.example.org", domains=True))
    assert email_allowed(email, policy) is allowed


def test_decisions() -> None:
    open_policy = AccessPolicy(login_configured=False)
    gated = AccessPolicy(login_configured=True, emails=frozenset({"a@x.io"}))
    assert decide(open_policy, logged_in=False, email=None) is Access.OPEN
    assert decide(gated, logged_in=False, email=None) is Access.SIGN_IN
    assert decide(gated, logged_in=True, email="a@x.io") is Access.ALLOWED
    assert decide(gated, logged_in=True, email="b@x.io") is Access.REFUSED


NAV = frozenset({"create", "replicas", "create_video"})


@pytest.mark.parametrize(("url", "page"), [
    ("http://localhost:8501/replicas", "replicas"),
    ("https://x.io/base/create_video/", "create_video"),
    ("http://localhost:8501/", None), ("http://localhost:8501", None), (None, None),
    ("http://localhost:8501/oauth2callback", None), ("http://h/replicas?x=1#y", "replicas"),
])
def test_the_page_a_url_shows(url: str | None, page: str | None) -> None:
    assert page_in_url(url, NAV) == page


@pytest.mark.parametrize(("cookie", "page"), [
    ("replicas", "replicas"), (" create ", "create"), ("", None), (None, None),
    ("https://evil.example/replicas", None), ("/replicas", None), ("Replicas", None),
])
def test_only_a_page_of_the_app_is_returned_to_after_sign_in(cookie: str | None,
                                                              page: str | None) -> None:
    assert return_page(cookie, NAV) == page


def test_the_return_cookie_script_sets_forgets_and_takes_only_page_names() -> None:
    assert f"'{RETURN_COOKIE}=replicas; Max-Age=600;" in return_cookie_script("replicas")
    assert f"'{RETURN_COOKIE}=; Max-Age=0;" in return_cookie_script(None)
    with pytest.raises(ValueError):
        return_cookie_script("x'; alert(1); '")
