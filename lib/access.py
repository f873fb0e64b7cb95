"""Who may use the app: the allow-list decision, apart from how the user signed in.

Two gates are supported. Streamlit's own `st.login` (OIDC, `[auth]` secrets) with the allow-list
below, checked on every page; or Streamlit Community Cloud's private-app viewer list, which needs
no code (the app cannot see it, so `PRIVATE_APP=1` says it is on and silences the warning).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

# The page a visitor asked for before signing in: Streamlit's sign-in callback always lands on the
# app's root, so the gate remembers the page in this short-lived cookie and the first allowed run
# goes back to it. Only a page name of the app's own navigation is ever read from it.
RETURN_COOKIE = "replica_studio_return"
RETURN_COOKIE_SECONDS = 600


class Access(StrEnum):
    OPEN = "open"  # no sign-in configured
    SIGN_IN = "sign_in"  # sign-in configured, nobody signed in yet
    ALLOWED = "allowed"
    REFUSED = "refused"  # signed in, not on the allow-list


@dataclass(frozen=True)
class AccessPolicy:
    login_configured: bool
    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    @property
    def has_allow_list(self) -> bool:
        return bool(self.emails or self.domains)


def parse_list(text: str | None, *, domains: bool = False) -> frozenset[str]:
    """'a@x.com, B@y.com' -> {'a@x.com', 'b@y.com'}; domains lose a leading '@'."""
    items = (item.strip().lower() for item in (text or "").replace(";", ",").split(","))
    return frozenset(item.lstrip("@") if domains else item for item in items if item)


def email_allowed(email: str | None, policy: AccessPolicy) -> bool:
    if not email or "@" not in email:
        return False
    email = email.strip().lower()
    if not policy.has_allow_list:
        return True  # the identity provider itself is the gate (for example, one Workspace)
    return email in policy.emails or email.rsplit("@", 1)[1] in policy.domains


def decide(policy: AccessPolicy, *, logged_in: bool, email: str | None) -> Access:
    if not policy.login_configured:
        return Access.OPEN
    if not logged_in:
        return Access.SIGN_IN
    return Access.ALLOWED if email_allowed(email, policy) else Access.REFUSED


def page_in_url(url: str | None, url_paths: Collection[str]) -> str | None:
    """The app page `url` shows ('replicas' for http://host/replicas), or None for the root or
    anything that is not one of `url_paths` (a base URL path in front is allowed)."""
    if not url:
        return None
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return last if last in url_paths else None


def return_page(cookie: str | None, url_paths: Collection[str]) -> str | None:
    """The page to go back to after sign-in, from the RETURN_COOKIE value; None unless it names
    one of `url_paths` exactly (the cookie is visitor-controlled: never a URL to follow)."""
    value = (cookie or "").strip()
    return value if value in url_paths else None


def return_cookie_script(page: str | None) -> str:
    """A <script> that remembers `page` in RETURN_COOKIE, or forgets it when `page` is None.

    `page` must be one of the app's own page names (letters, digits, '_'), never visitor input.
    """
    if page is not None and not page.replace("_", "").isalnum():
        raise ValueError(f"not a page name: {page!r}")
    value, age = (page, RETURN_COOKIE_SECONDS) if page else ("", 0)
    return ("<script>document.cookie = "
            f"'{RETURN_COOKIE}={value}; Max-Age={age}; Path=/; SameSite=Lax'"
            " + (location.protocol === 'https:' ? '; Secure' : '');</script>")
