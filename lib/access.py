"""Who may use the app: the allow-list decision, apart from how the user signed in.

Two gates are supported. Streamlit's own `st.login` (OIDC, `[auth]` secrets) with the allow-list
below, checked on every page; or Streamlit Community Cloud's private-app viewer list, which needs
no code (the app cannot see it, so `PRIVATE_APP=1` says it is on and silences the warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
