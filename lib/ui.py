"""Shared Streamlit helpers: the frame every page starts with, cached clients and data.

This is the one module of lib/ that imports Streamlit. Pages call `frame()` first: a page reached by
a deep link on a freshly started server runs without streamlit_app.py, so the frame (page config,
navigation, configuration check, demo banner, clients) cannot live in the entry script.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from lib.access import Access, AccessPolicy, decide
from lib.config import ConfigError, Settings, load_settings, read_raw
from lib.errors import user_message
from lib.ledger import Ledger, LedgerRecord
from lib.logs import configure_logging
from lib.replica_sync import ReplicaTracker
from lib.services import Services, build_services
from lib.storage import ImageStore, StorageError
from lib.tavus import ImageValidation, Persona, Replica, ReplicaStatus, TavusError, Voice
from lib.text import escape_markdown  # re-exported: pages call ui.escape_markdown
from lib.thumbnails import thumbnail_data_url
from lib.voices import download_clip, fallback_voices, served_locally, sorted_voices
from lib.watch import finished, toast_text

if TYPE_CHECKING:  # only for annotations: importing them would load OpenCV on every page
    from lib.checks import PhotoReport
    from lib.intake import PhotoAnalysis

log = logging.getLogger("replica_studio.ui")

APP_DIR = Path(__file__).resolve().parent.parent
APP_NAME = "Replica Studio"


@dataclass(frozen=True)
class NavPage:
    script: str  # relative to the app directory
    title: str
    icon: str
    url_path: str


# The one list of screens: streamlit_app.py builds st.navigation from it, the frame the sidebar.
PAGES = (
    NavPage("pages/create.py", "Create", ":material/add_a_photo:", "create"),
    NavPage("pages/replicas.py", "Replicas", ":material/table_view:", "replicas"),
    NavPage("pages/conversations.py", "Conversations", ":material/video_chat:", "conversations"),
)


@dataclass(frozen=True)
class Frame:
    settings: Settings
    services: Services


def navigation_pages() -> list[st.Page]:
    return [
        st.Page(APP_DIR / p.script, title=p.title, icon=p.icon, url_path=p.url_path,
                default=i == 0)
        for i, p in enumerate(PAGES)
    ]


def frame(title: str, *, watch_trainings: bool = True) -> Frame:
    """Draw the page frame and return settings and clients; stops the page on a config error.

    `watch_trainings` adds a small sidebar watcher that toasts when a replica this session is
    waiting for turns ready or failed (the Replicas page does that in its own table instead).
    """
    st.set_page_config(page_title=f"{title} · {APP_NAME}", page_icon=":material/face:",
                       layout="wide")
    configure_logging()
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
    calls = active_calls(result)
    if calls:
        st.sidebar.caption(f":red[:material/radio_button_checked:] **{calls} live "
                           f"conversation{'s' if calls != 1 else ''}** (billed until ended)")
    if watch_trainings:
        _watch_trainings(result)
    flush_toasts()
    return result


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
        with st.sidebar:
            st.caption(f"Signed in as {escape_markdown(email or '')}")
            st.button("Sign out", on_click=st.logout, key="sign-out", icon=":material/logout:")
    elif not settings.demo_mode and not settings.private_app:
        with st.container(key="open-warning"):
            st.warning("**No sign-in is configured:** anyone with this link can use the Tavus "
                       "key (and its paid plan). Configure `st.login` with an allow-list, or "
                       r"make the Community Cloud app private and set PRIVATE\_APP=1. See the "
                       "README's security section.", icon=":material/lock_open:")


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


@st.cache_data(ttl=3600, show_spinner=False)
def _voices(settings_key: str, _services: Services) -> tuple[list[Voice], str | None]:
    try:
        voices = sorted_voices(_services.tavus.list_voices())
        if voices:
            return voices, None
        return fallback_voices(), "Tavus listed no voices; showing the documented ones."
    except TavusError as error:
        return fallback_voices(), ("The voice list could not be loaded, so the documented voices "
                                   "are offered without previews. " + user_message(error))


def voices(frame: Frame) -> tuple[list[Voice], str | None]:
    """Stock voices from Tavus (cached an hour), or the documented six with a warning."""
    return _voices(_key(frame), frame.services)


@st.cache_data(ttl=3600, max_entries=32, show_spinner=False)
def _clip(url: str) -> bytes | None:
    return download_clip(url)


def voice_preview(voice: Voice) -> None:
    if not voice.audio_url:
        st.caption("No preview clip for this voice.")
        return
    if served_locally(voice.audio_url):
        clip = _clip(voice.audio_url)
        if clip is None:
            st.caption("The preview clip could not be loaded.")
        else:
            st.audio(clip, format="audio/wav")
    else:
        st.audio(voice.audio_url)


@st.cache_data(max_entries=16, show_spinner="Checking the photo…")
def analyse_photo(data: bytes, filename: str | None) -> PhotoAnalysis:
    from lib.intake import analyse_photo as analyse  # OpenCV loads only where photos are checked

    return analyse(data, filename)


def current_user_email() -> str | None:
    """The signed-in user's e-mail when st.login is configured and used, else None."""
    if not _login_configured():
        return None
    return st.user.get("email") if st.user.get("is_logged_in") else None


_LEVEL_ICONS = {"pass": ":green[:material/check_circle:]", "warn": ":orange[:material/warning:]",
                "fail": ":red[:material/cancel:]"}


def show_photo_report(report: PhotoReport) -> None:
    """Score, verdict, and one line per check with its reason and fix."""
    verdicts = {
        "ready": (st.success, "Ready: this photo should train well."),
        "fixable": (st.warning, "Fixable: Tavus's auto-fix can likely rescue the framing."),
        "likely_fail": (st.error, "Will likely fail: fix the photo before spending 3–4 hours."),
    }
    show, text = verdicts[str(report.verdict)]
    with st.container(key="photo-verdict"):
        show(f"**Photo score {report.score}/100.** {text}")
    with st.container(key="photo-checks"):
        for check in report.checks:
            line = f"{_LEVEL_ICONS[str(check.level)]} **{escape_markdown(check.label)}** — " \
                   f"{escape_markdown(check.reason)}"
            if check.fix:
                line += f"  \n:gray[Fix: {escape_markdown(check.fix)}]"
            st.markdown(line)


@st.cache_data(ttl=3, show_spinner=False)
def _replicas(settings_key: str, _services: Services, include_system: bool) -> list[Replica]:
    # A short TTL shares one fetch between sessions and reruns; the fragment tick sets freshness.
    return _services.tavus.list_all_replicas(replica_type=None if include_system else "user")


def all_replicas(frame: Frame, *, include_system: bool = False) -> list[Replica]:
    return _replicas(_key(frame), frame.services, include_system)


@st.cache_data(ttl=600, show_spinner=False)
def _personas(settings_key: str, _services: Services) -> tuple[list[Persona], str | None]:
    try:
        page = _services.tavus.list_personas(limit=100)
        return sorted(page.personas, key=lambda p: (p.persona_name or "").lower()), None
    except TavusError as error:
        return [], user_message(error)


def personas(frame: Frame) -> tuple[list[Persona], str | None]:
    """The account's and Tavus's personas (cached 10 min), or none and why."""
    return _personas(_key(frame), frame.services)


@st.cache_data(ttl=10, show_spinner=False)
def _active_calls(settings_key: str, _services: Services) -> int | None:
    try:
        return _services.live.list_conversations(status="active", limit=1).total_count
    except TavusError:
        return None


def active_calls(frame: Frame) -> int | None:
    """How many conversations are live (billed) right now; None when Tavus cannot say."""
    return _active_calls(_key(frame), frame.services)


def forget_conversations() -> None:
    _active_calls.clear()


def forget_replicas() -> None:
    """After a create, rename or delete, the next read must see it."""
    _replicas.clear()
    _ledger.clear()
    st.session_state.pop("replica_tracker", None)


# --- Live replicas: one tracker per session, toasts told once, a watcher for other pages -------

@st.cache_resource(show_spinner=False)
def _failure_messages(settings_key: str) -> dict[str, str]:
    # Shared by every session: Tavus's reason for a failure never changes, fetch it once.
    return {}


def replica_tracker(frame: Frame, *, include_system: bool) -> ReplicaTracker:
    """This session's tracker, loaded on first use; a new one when the stock toggle changes."""
    held = st.session_state.get("replica_tracker")
    if held is not None and held[0] == include_system:
        return held[1]
    tracker = ReplicaTracker(include_system=include_system,
                             messages=_failure_messages(_key(frame)),
                             fast_seconds=frame.settings.refresh_seconds, slow_seconds=60)
    tracker.load(frame.services.tavus)
    st.session_state.replica_tracker = (include_system, tracker)
    st.session_state.tracker_just_loaded = True  # the table's first tick in this run is skipped
    return tracker


def watch(replica_ids: Iterable[str]) -> None:
    """Replicas whose outcome this session should hear about, on whichever page is open."""
    st.session_state.setdefault("watch_ids", set()).update(replica_ids)


def announce(replica_id: str, name: str, state: ReplicaStatus, error: str | None = None) -> None:
    """Queue a training outcome's toast, once per replica per session (see flush_toasts)."""
    told = st.session_state.setdefault("told_ids", set())
    st.session_state.setdefault("watch_ids", set()).discard(replica_id)
    if replica_id in told:
        return
    told.add(replica_id)
    icon = ":material/check_circle:" if state is ReplicaStatus.READY else ":material/error:"
    st.session_state.setdefault("pending_toasts", []).append(
        (escape_markdown(toast_text(name or replica_id, state, error)), icon))


def flush_toasts() -> None:
    """Show queued toasts. Queued, not shown at once, because an st.rerun() in the same run
    (the table changing pace) would drop a toast shown before it."""
    for text, icon in st.session_state.pop("pending_toasts", []):
        st.toast(text, icon=icon, duration="long")


def _watch_trainings(frame: Frame) -> None:
    if not st.session_state.get("watch_ids"):
        return

    @st.fragment(run_every=frame.settings.refresh_seconds)
    def watcher() -> None:
        ids = st.session_state.get("watch_ids")
        if not ids:
            return
        try:
            for replica in finished(frame.services.live, ids):
                error = None
                if replica.state is ReplicaStatus.FAILED:
                    messages = _failure_messages(_key(frame))  # shared with the table
                    if replica.replica_id not in messages:
                        detail = frame.services.tavus.get_replica(replica.replica_id)
                        messages[replica.replica_id] = detail.error_message or ""
                    error = messages[replica.replica_id] or None
                announce(replica.replica_id, replica.replica_name, replica.state, error)
        except TavusError:
            pass  # the next tick tries again; nothing here is worth an error box
        flush_toasts()

    with st.sidebar:
        watcher()


@st.cache_data(ttl=60, show_spinner=False)
def _ledger(settings_key: str, _store: ImageStore) -> tuple[dict[str, LedgerRecord], str | None]:
    try:
        return Ledger(_store).read_all(), None
    except StorageError as error:
        return {}, error.message


def ledger_records(frame: Frame) -> tuple[dict[str, LedgerRecord], str | None]:
    """The team's records by replica id (cached a minute), and why they are missing if so."""
    return _ledger(_key(frame), frame.services.store)


@st.cache_data(ttl=50 * 60, max_entries=5000, show_spinner=False)
def _photo_url(photo_key: str, settings_key: str, _store: ImageStore, inline: bool) -> str | None:
    # Cached under the URL's 1 h life, so the table's image URLs do not change on every tick.
    try:
        if inline:
            # Demo mode's S3 listens on the server's loopback, which a remote browser cannot
            # reach: send a small thumbnail instead of a URL.
            return thumbnail_data_url(_store.read_object(photo_key))
        return _store.presign_view(photo_key)
    except StorageError:
        return None


def photo_urls(frame: Frame, records: dict[str, LedgerRecord]) -> dict[str, str]:
    inline = frame.services.demo_mode  # not "is the endpoint on loopback": a local MinIO is fine
    urls = {rid: _photo_url(r.photo_key, _key(frame), frame.services.store, inline)
            for rid, r in records.items()}
    return {rid: url for rid, url in urls.items() if url}


def _key(frame: Frame) -> str:
    return f"{frame.services.tavus_url}|{frame.services.demo_mode}"




def show_tavus_check(result: ImageValidation, model: str) -> None:
    with st.container(key="tavus-check"):
        verdict = "passed" if result.passed else "did not pass"
        (st.success if result.passed else st.error)(f"**Tavus's own check ({model}) {verdict}.**")
        for check in result.checks:
            icon = _LEVEL_ICONS["pass" if check.passed else "fail"]
            st.markdown(f"{icon} {escape_markdown(check.label or check.id)}")
        if result.details:
            st.caption(escape_markdown(str(result.details)))


def show_error(error: Exception) -> None:
    log.warning("shown to user: %s", type(error).__name__)
    st.error(escape_markdown(user_message(error)), icon=":material/error:")
