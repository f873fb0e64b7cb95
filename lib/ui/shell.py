"""The app shell: the frame every page starts with (page config, navigation, gate, banner).

Pages call `frame()` first: a page reached by a deep link on a freshly started server runs without
streamlit_app.py, so the frame (page config, navigation, configuration check, demo banner, clients)
cannot live in the entry script.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from lib.access import (
    RETURN_COOKIE,
    Access,
    AccessPolicy,
    decide,
    page_in_url,
    return_cookie_script,
    return_page,
)
from lib.config import ConfigError, Settings, load_settings, read_raw
from lib.logs import configure_logging
from lib.services import Services, build_services
from lib.text import escape_markdown
from lib.ui import actions, cached, live

APP_DIR = Path(__file__).resolve().parent.parent.parent
APP_NAME = "Replica Studio"


@dataclass(frozen=True)
class NavPage:
    script: str  # relative to the app directory
    title: str
    icon: str
    url_path: str


# The browser tab's icon. An emoji, which Streamlit draws as an inline SVG: a ":material/…:" icon
# as the favicon (or as an st.Page icon, which becomes the favicon) makes the browser fetch an
# SVG from fonts.gstatic.com, a failed request offline. Inside the page, material icons come from
# Streamlit's bundled font and ask nothing of other hosts (tests/e2e/test_offline_journey.py).
APP_ICON = "🎭"

# The one list of screens: streamlit_app.py builds st.navigation from it, the frame the sidebar.
PAGES = (
    NavPage("pages/create.py", "Create", ":material/add_a_photo:", "create"),
    NavPage("pages/create_video.py", "Create from video", ":material/videocam:", "create_video"),
    NavPage("pages/replicas.py", "Replicas", ":material/table_view:", "replicas"),
    NavPage("pages/conversations.py", "Conversations", ":material/video_chat:", "conversations"),
    NavPage("pages/history.py", "Demo history", ":material/history:", "history"),
    NavPage("pages/personas.py", "Personas", ":material/face_retouching_natural:", "personas"),
    NavPage("pages/knowledge.py", "Knowledge", ":material/menu_book:", "knowledge"),
)
_URL_PATHS = frozenset(p.url_path for p in PAGES)
# Session keys of the return to the asked-for page after sign-in (see _return_after_sign_in).
_RETURN_CHECKED = "_shell_return_checked"
_RETURN_FORGET = "_shell_return_forget"


@dataclass(frozen=True)
class Frame:
    settings: Settings
    services: Services

    @property
    def cache_key(self) -> str:
        """What st.cache_data keys shared data by: the account, not the session."""
        return f"{self.services.tavus_url}|{self.services.demo_mode}"


def navigation_pages() -> list[st.Page]:
    return [
        st.Page(APP_DIR / p.script, title=p.title, icon=APP_ICON, url_path=p.url_path,
                default=i == 0)
        for i, p in enumerate(PAGES)
    ]


def frame(title: str, *, watch_trainings: bool = True) -> Frame:
    """Draw the page frame and return settings and clients; stops the page on a config error.

    `watch_trainings` adds a small sidebar watcher that toasts when a replica this session is
    waiting for turns ready or failed (the Replicas page does that in its own table instead).
    """
    st.set_page_config(page_title=f"{title} · {APP_NAME}", page_icon=APP_ICON,
                       layout="wide")
    _contrast_css()
    configure_logging()
    actions.mark_run_start()
    _sidebar()
    try:
        raw = read_raw(_secrets(), os.environ)
        settings = load_settings(raw)
    except ConfigError as error:
        st.title(title)
        with st.container(key="config-error"):
            st.error("**The app's configuration needs fixing.**\n\n"
                     + "\n".join(f"- {escape_markdown(p)}" for p in error.problems)
                     + "\n\nSet these in `.streamlit/secrets.toml` (or the app's Secrets on "
                     "Streamlit Community Cloud) or as environment variables, then reload.")
        st.stop()
    _gate(title, settings)
    services = _services(_settings_key(raw), settings)
    if settings.demo_mode:
        with st.container(key="demo-banner"):
            st.info(
                f"**Demo mode.** No Tavus key is configured, so a built-in Tavus simulator and a "
                f"local S3 server run inside this app. Nothing leaves this machine; a training "
                f"takes {settings.simulator_training_seconds:g} s here instead of 3–4 hours.",
                icon=":material/science:",
            )
    st.title(title)
    result = Frame(settings=settings, services=services)
    calls = cached.active_calls(result)
    if calls:
        st.sidebar.caption(f":red[:material/radio_button_checked:] **{calls} live "
                           f"conversation{'s' if calls != 1 else ''}** (billed until ended)")
    if watch_trainings:
        live.watch_trainings(result)
    live.flush_toasts()
    return result


# What the theme (.streamlit/config.toml) cannot reach, for WCAG 2.1 AA contrast (4.5:1), checked
# by tests/e2e/test_accessibility.py. A caption is drawn at 60 % opacity: inline code in it kept
# its green, 3.0:1 at that opacity, and now takes the caption's own colour. The label of a
# disabled widget is drawn at 40 % of the text colour (2.5:1); WCAG exempts inactive controls,
# but the name still has to be read: at 60 %, like a caption, it stays dimmer than an active
# label.
_CONTRAST_CSS = """
[data-testid="stCaptionContainer"] code { color: inherit; }
[data-testid="stWidgetLabel"][disabled] { color: %(faded)s; }
"""


def _contrast_css() -> None:
    text = str(st.get_option("theme.textColor") or "")
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        text = "#100F1A"  # the configured theme's
    red, green, blue = (int(text[i:i + 2], 16) for i in (1, 3, 5))
    st.html(f"<style>{_CONTRAST_CSS % {'faded': f'rgba({red}, {green}, {blue}, 0.6)'}}</style>")


def _login_configured() -> bool:
    try:
        return "auth" in st.secrets
    except StreamlitSecretNotFoundError:
        return False


def _gate(title: str, settings: Settings) -> None:
    """Stop the page unless the visitor may use the app (every page, deep links included)."""
    policy = AccessPolicy(login_configured=_login_configured(),
                          emails=settings.allowed_emails, domains=settings.allowed_domains)
    logged_in = bool(st.user.get("is_logged_in")) if policy.login_configured else False
    email = st.user.get("email") if logged_in else None
    decision = decide(policy, logged_in=logged_in, email=email)
    if decision is Access.SIGN_IN:
        st.title(APP_NAME)
        with st.container(key="sign-in"):
            st.info("Sign in with your team account to use Replica Studio.",
                    icon=":material/lock:")
            st.button("Sign in", type="primary", on_click=st.login, icon=":material/login:")
            # Sign-in comes back to the root: remember a deep link's page to return to it.
            st.html(return_cookie_script(page_in_url(st.context.url, _URL_PATHS)),
                    unsafe_allow_javascript=True)
        st.stop()
    if decision is Access.REFUSED:
        st.title(APP_NAME)
        with st.container(key="access-refused"):
            st.error(f"You are signed in as **{escape_markdown(email or 'an unknown user')}**, "
                     "who is not on this app's allow-list. Sign out and use your team account, "
                     "or ask an admin to add you to ALLOWED_EMAILS or ALLOWED_DOMAINS.",
                     icon=":material/block:")
            st.button("Sign out", on_click=st.logout, icon=":material/logout:")
        st.stop()
    if decision is Access.ALLOWED:
        _return_after_sign_in()
        with st.sidebar:
            # st.text, not Markdown: Markdown would make the address a mailto link.
            st.text(f"Signed in as {email or ''}")
            st.button("Sign out", on_click=st.logout, key="sign-out", icon=":material/logout:")
    elif not settings.demo_mode and not settings.private_app:
        with st.container(key="open-warning"):
            st.warning("**No sign-in is configured:** anyone with this link can use the Tavus "
                       "key (and its paid plan). Configure `st.login` with an allow-list, or "
                       r"make the Community Cloud app private and set PRIVATE\_APP=1. See the "
                       "README's security section.", icon=":material/lock_open:")


def _return_after_sign_in() -> None:
    """On a session's first allowed run, go to the page the visitor asked for before signing in.

    The gate remembered it in a short-lived cookie (Streamlit's sign-in callback lands on the
    root); the cookie is read once per session, then forgotten in the browser.
    """
    if st.session_state.get(_RETURN_CHECKED):
        if st.session_state.pop(_RETURN_FORGET, False):
            st.sidebar.html(return_cookie_script(None), unsafe_allow_javascript=True)
        return
    st.session_state[_RETURN_CHECKED] = True
    target = return_page(st.context.cookies.get(RETURN_COOKIE), _URL_PATHS)
    if target is None:
        return
    st.session_state[_RETURN_FORGET] = True
    if target != page_in_url(st.context.url, _URL_PATHS):
        page = next(p for p in PAGES if p.url_path == target)
        st.switch_page(str(APP_DIR / page.script))
    _return_after_sign_in()  # already there: just forget the cookie


def _sidebar() -> None:
    # Drawn by hand (with client.showSidebarNavigation off) so that it is the same whether the
    # page ran through st.navigation or alone after a cold deep link.
    with st.sidebar:
        st.markdown(f"### {APP_NAME}")
        for page in PAGES:
            st.page_link(str(APP_DIR / page.script), label=page.title, icon=page.icon)


def _secrets() -> dict | None:
    try:
        return {k: v for k, v in st.secrets.items() if not isinstance(v, dict)}
    except StreamlitSecretNotFoundError:
        return None  # no secrets file at all: environment only
    except Exception as error:  # a malformed secrets.toml: say so, never echo its contents
        raise ConfigError([".streamlit/secrets.toml could not be read "
                           f"({type(error).__name__}); fix its TOML syntax."]) from None


def _settings_key(raw: dict[str, str]) -> str:
    # A digest, not the values: cache keys can show up in debugging output.
    return hashlib.sha256(repr(sorted(raw.items())).encode()).hexdigest()


@st.cache_resource(show_spinner=False)
def _services(settings_key: str, _settings: Settings) -> Services:
    return build_services(_settings)


def current_user_email() -> str | None:
    """The signed-in user's e-mail when st.login is configured and used, else None."""
    if not _login_configured():
        return None
    return st.user.get("email") if st.user.get("is_logged_in") else None
