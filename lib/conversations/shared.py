"""One conversation history per server process, shared by every session (tab) of the team.

The page layer keeps one `SharedConversations` per Tavus account (st.cache_resource) and calls
`refresh(tavus, max_age_seconds=…)` on each paint, then draws `view()`. Like lib/replicas/shared.py,
but smaller: no ticker thread (the history page refreshes itself while open), one lock, and
immutable views, so a refresh never changes a view a page is drawing.

Cost of `refresh` in Tavus calls (P = ceil(conversations / page_size), D = ended conversations
whose shutdown reason is not known yet):

- **Fresh** (the last refresh began less than `max_age_seconds` ago, in any session): 0 calls.
  Sessions that ask while another refresh runs wait for it and reuse its result: 0 calls.
- **Nothing changed** (no live call in the list, no reconcile due): 1 call, a `limit=1` list whose
  total_count and first id are compared with the last walk's.
- **Something may have changed** (first load, another count or first id, any call still live, or
  the reconcile every `reconcile_seconds`, which catches a delete plus a create between two
  checks): 1 + P list calls, pages read `concurrency` at a time (about 1 + P/8 round trips).
- **Plus** min(D, `max_details`) `get_conversation(verbose=True)` calls, newest first, in parallel,
  to learn why calls ended. An ended conversation never changes, so each is fetched once per
  process; a failed fetch is retried on a later refresh. With nothing left to learn, D is 0.

Plain Python, no Streamlit; every method is safe to call from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from lib.conversations.history import newest_first, shutdown_reason, shutdown_time
from lib.tavus.client import PAGES_IN_FLIGHT, Conversation, TavusClient, TavusError

__all__ = ["ConversationsView", "SharedConversations", "SharedStats"]

log = logging.getLogger("replica_studio.conversations.shared")

RECONCILE_SECONDS = 600.0  # a full walk at least this often, whatever the count says
MAX_DETAILS_PER_REFRESH = 20  # verbose fetches per refresh: a 5,000-call history fills in slowly
WAIT_FOR_OTHERS_SECONDS = 30.0  # a session waits this long for another session's refresh


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ended(conversation: Conversation) -> bool:
    return (conversation.status or "").strip().lower() == "ended"


@dataclass(frozen=True)
class ConversationsView:
    """The history as it stood at one moment: what a page draws. Never changes."""

    conversations: tuple[Conversation, ...] = ()  # newest first
    reasons: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ended_at: Mapping[str, datetime] = field(default_factory=lambda: MappingProxyType({}))
    total_count: int | None = None
    updated_at: datetime | None = None  # the last successful walk or check
    error: TavusError | None = None  # the last refresh's failure (the rows are then older)
    version: int = 0

    @property
    def loaded(self) -> bool:
        return self.updated_at is not None

    @property
    def live_ids(self) -> tuple[str, ...]:
        return tuple(c.conversation_id for c in self.conversations if not _ended(c))


@dataclass
class SharedStats:
    """What the server did for everyone: read by tests."""

    checks: int = 0  # cheap limit=1 checks
    walks: int = 0  # full list walks
    details: int = 0  # verbose fetches


class SharedConversations:
    """The conversation history of one account, for every session of the process."""

    def __init__(
        self,
        *,
        page_size: int = 100,
        concurrency: int = PAGES_IN_FLIGHT,
        reconcile_seconds: float = RECONCILE_SECONDS,
        max_details: int = MAX_DETAILS_PER_REFRESH,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.page_size = page_size
        self.concurrency = max(1, concurrency)
        self.reconcile_seconds = reconcile_seconds
        self.max_details = max(0, max_details)
        self._clock = clock
        self._monotonic = monotonic
        self._work = threading.Lock()  # one refresh at a time; guards everything below
        self._view = ConversationsView()
        # Monotonic start of the last refresh, set when it ends: a session arriving mid-refresh
        # must wait for the result, not take the old view for a fresh one.
        self._last_attempt: float | None = None
        self._last_walk: float | None = None
        self._first_id: str | None = None  # the first item of the last walk's page 1
        self._reasons: dict[str, str] = {}  # ended conversations only: they never change
        self._ended_at: dict[str, datetime] = {}
        self.stats = SharedStats()

    def view(self) -> ConversationsView:
        return self._view

    def refresh(self, tavus: TavusClient, *, max_age_seconds: float,
                force: bool = False) -> ConversationsView:
        """Bring the history up to date unless it is younger than `max_age_seconds`; see the
        module docstring for the cost. `force` (a Refresh button): a full walk now. Tavus
        failures never raise: the view keeps its rows and carries the error."""
        if not force and self._fresh(max_age_seconds):
            return self._view
        if not self._work.acquire(timeout=WAIT_FOR_OTHERS_SECONDS):
            return self._view  # someone's refresh is stuck on Tavus: draw what we have
        try:
            # Another session may have refreshed while this one waited for the lock.
            if not force and self._fresh(max_age_seconds):
                return self._view
            self._refresh(tavus, force=force)
            return self._view
        finally:
            self._work.release()

    # --- Internals --------------------------------------------------------------------------------
    def _fresh(self, max_age_seconds: float) -> bool:
        last = self._last_attempt
        return last is not None and self._monotonic() - last < max_age_seconds

    def _refresh(self, tavus: TavusClient, *, force: bool) -> None:
        now = self._monotonic()
        view = self._view
        try:
            walk = (force or not view.loaded or self._last_walk is None
                    or now - self._last_walk >= self.reconcile_seconds
                    or bool(view.live_ids) or self._changed(tavus))
            conversations = list(view.conversations)
            total = view.total_count
            if walk:
                found, total = tavus.list_all_conversations(
                    page_size=self.page_size, concurrency=self.concurrency)
                self.stats.walks += 1
                self._last_walk = now
                self._first_id = found[0].conversation_id if found else None
                conversations = newest_first(found)
                present = {c.conversation_id for c in conversations}
                # Forget deleted conversations, so the cache stays the size of the account.
                for cache in (self._reasons, self._ended_at):
                    for gone in cache.keys() - present:
                        del cache[gone]
            self._learn_details(tavus, conversations)
        except TavusError as error:
            log.warning("conversation history refresh failed: %s", error)
            self._publish(view.conversations, view.total_count, view.updated_at, error)
        else:
            self._publish(tuple(conversations), total, self._clock(), None)
        finally:
            self._last_attempt = now

    def _changed(self, tavus: TavusClient) -> bool:
        """One limit=1 list: a count or a first item other than the last walk's means a walk."""
        page = tavus.list_conversations(page=1, limit=1)
        self.stats.checks += 1
        first = page.conversations[0].conversation_id if page.conversations else None
        return page.total_count != self._view.total_count or first != self._first_id

    def _learn_details(self, tavus: TavusClient, conversations: list[Conversation]) -> None:
        """Why ended calls ended (and when), for at most `max_details` of them, newest first."""
        unknown = [c.conversation_id for c in conversations
                   if _ended(c) and c.conversation_id not in self._reasons]
        wanted = unknown[:self.max_details]
        if not wanted:
            return

        def fetch(cid: str) -> Conversation | None:
            try:
                return tavus.get_conversation(cid, verbose=True)
            except TavusError as error:
                # Deleted since the walk, or Tavus hiccuped: ask again on a later refresh.
                log.info("no details for conversation %s: %s", cid, error)
                return None

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(wanted)),
                                thread_name_prefix="conversation-details") as pool:
            results = list(pool.map(fetch, wanted))
        self.stats.details += len(wanted)
        for cid, detail in zip(wanted, results, strict=True):
            if detail is None or not _ended(detail):
                continue
            # "" records "Tavus did not say": it will not say later, so it is not asked again.
            self._reasons[cid] = shutdown_reason(detail) or ""
            ended = shutdown_time(detail)
            if ended is not None:
                self._ended_at[cid] = ended

    def _publish(self, conversations: tuple[Conversation, ...] | list[Conversation],
                 total: int | None, updated_at: datetime | None,
                 error: TavusError | None) -> None:
        self._view = ConversationsView(
            conversations=tuple(conversations),
            reasons=MappingProxyType({k: v for k, v in self._reasons.items() if v}),
            ended_at=MappingProxyType(dict(self._ended_at)),
            total_count=total,
            updated_at=updated_at,
            error=error,
            version=self._view.version + 1,
        )
