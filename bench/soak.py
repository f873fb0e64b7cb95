"""13. Soak: browser sessions on the Replicas table for minutes while the account changes.

`run(browser, plan, artifacts)` is the whole soak; the bench (`python -m bench --only soak`, not
part of the default run) and the suite's short version (tests/e2e/test_soak.py) both call it.

Set-up: the Tavus simulator and moto's S3 server in their own processes; `plan.replicas` user
replicas (`plan.training` of them training far past the end, so the table keeps its fast pace),
the newest ready ones with a team record and photo in S3; `streamlit run` in real mode with the
bench's fake Tavus key and AWS secret and REFRESH_SECONDS = `plan.refresh`. `plan.sessions`
Chromium contexts of one browser open /replicas; the run starts once every table is complete.

During `plan.duration` seconds:
- a teammate adds replicas through Tavus (the simulator's seeding hook), each training for
  `plan.train_seconds` and then turning ready;
- session 0, the actor, creates replicas from the Create page (a photo uploaded; they train
  `plan.train_seconds` too), and starts conversations from the Conversations page; the first is
  ended with its End button, the next from outside (the Tavus API's end call) and the page must
  show it ended; between actions it sits on /replicas. The other sessions watch /replicas all along;
- every session records, in the page, each change of its status counts and table caption and
  each exception element, with the browser's clock (same machine clock as the simulator's);
- every websocket frame each page sends or receives is scanned for the two secrets as it
  passes (only counts are kept), the page HTML every third check, the server log at the end;
- a thread polls the simulator's replica list twice a second: each change of a status count is
  kept with the moment it happened by the simulator's own timestamps (`created_at`, or the
  replica's `updated_at` when its status moved);
- another thread samples the server's RSS (VmRSS of the `streamlit run` process).

Lag of a change in a watching session = the moment its page first showed counts and a table
length at least as far on as the simulator's right after that change (every count but Training
only grows here: nothing is deleted), minus the moment of the change.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.cold_start import app_env, start_streamlit, table_complete
from bench.common import (
    AWS_SECRET,
    ROOT,
    TAVUS_KEY,
    S3Server,
    Section,
    Simulator,
    Target,
    rss_mb,
    stop,
    wait_http,
)

PREFIX = "bench-soak/"
SECRETS = (TAVUS_KEY, AWS_SECRET)
LONG_TRAINING = 10_000_000.0  # seconds: never ends during a run
RENDER_ALLOWANCE = 1.0  # seconds on top of one refresh interval for "current"
TARGET_RSS_GROWTH = 10.0  # % over the last half of the run
CONTROL = b"Bulk replica"  # in every table frame: proves the frames scanned are the table's
ROWS = "rows"  # the table's length, beside the status labels

# Runs in every document of every session: what the page shows, each time it changes. It looks
# in the frame after any change to the page's DOM (a MutationObserver, then requestAnimationFrame:
# just before that change is painted), and every 200 ms besides.
RECORDER = """(() => {
  const soak = window.__soak = {log: [], errors: [], drops: [], last: null, error: false,
                                state: null};
  const look = () => {
    const counts = document.querySelector('.st-key-replica-counts');
    const caption = document.querySelector('.st-key-replica-updated');
    if (counts && caption) {
      const text = counts.innerText + '\\n|' + caption.innerText;
      if (text !== soak.last) { soak.last = text; soak.log.push([Date.now(), text]); }
    }
    const error = document.querySelector('[data-testid="stException"]');
    if (error && !soak.error) soak.errors.push([Date.now(), error.innerText.slice(0, 3000)]);
    soak.error = !!error;
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app ? app.getAttribute('data-test-connection-state') : null;
    if (state && state !== soak.state) {
      if (soak.state === 'CONNECTED') soak.drops.push([Date.now(), state]);
      soak.state = state;
    }
  };
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; look(); });
  }).observe(document, {childList: true, subtree: true, characterData: true});
  setInterval(look, 200);
})()"""
COLLECT = """() => {
  const soak = window.__soak;
  if (!soak) return {log: [], errors: [], drops: []};
  const out = {log: soak.log, errors: soak.errors, drops: soak.drops};
  soak.log = []; soak.errors = []; soak.drops = [];
  return out;
}"""


@dataclass(frozen=True)
class SoakPlan:
    sessions: int = 10
    duration: float = 600.0  # seconds, after every session's table is complete
    replicas: int = 2000
    refresh: int = 3  # REFRESH_SECONDS
    training: int = 10  # seeded replicas that train past the end
    team_records: int = 20
    added: int = 16  # replicas a teammate makes through Tavus during the run
    train_seconds: float = 90.0  # theirs, and the Create page's replicas'
    creates: int = 3  # from the Create page
    conversations: int = 2
    check_every: float = 5.0  # seconds between the checks of every session
    rss_every: float = 5.0

    @property
    def margin(self) -> float:
        """What the last change needs to reach every session before the end."""
        return 4 * self.refresh + 10


QUICK = SoakPlan(duration=120, added=4, train_seconds=40, creates=1)  # --quick


@dataclass
class SoakResult:
    plan: SoakPlan
    seconds: float = 0.0  # the run, as measured
    replicas_end: int = 0
    changes: int = 0  # changes of the status counts in the simulator during the run
    lags: list[float] = field(default_factory=list)  # seconds, one per change and watcher
    spreads: list[float] = field(default_factory=list)  # last watcher - first, per change
    # Per change: (seconds into the run, its first watcher's lag, its last watcher's lag).
    per_change: list[tuple[float, float, float]] = field(default_factory=list)
    unseen: int = 0  # (change, watcher) pairs never shown
    current_at_end: int = 0  # watchers whose table matched the simulator's at the end
    watchers: int = 0
    exceptions: list[str] = field(default_factory=list)  # in the pages and the server log
    secret_hits: list[str] = field(default_factory=list)
    frames: int = 0
    frame_bytes: int = 0
    control_frames: int = 0
    html_scans: int = 0
    disconnects: int = 0
    rss: list[tuple[float, float]] = field(default_factory=list)  # (offset s, MB)
    rss_first: float = 0.0
    rss_last: float = 0.0
    created: list[str] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)  # ended, checked in the simulator
    failures: list[str] = field(default_factory=list)  # actions that did not complete

    @property
    def max_lag(self) -> float:
        return max(self.lags, default=float("inf"))

    @property
    def rss_growth(self) -> float:
        """% from the first to the last fifth of the run's second half (medians)."""
        return 100 * (self.rss_last - self.rss_first) / self.rss_first


# --- What the simulator holds -------------------------------------------------------------------
def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class Truth:
    """The simulator's user replicas, polled in a thread: every change of a replica's status
    label (a new replica included), timed by the simulator's own timestamps."""

    def __init__(self, sim_url: str, every: float = 0.5) -> None:
        from lib.replicas.table import STATUS_LABELS

        self._labels = STATUS_LABELS
        self._http = httpx.Client(base_url=sim_url, headers={"x-api-key": TAVUS_KEY},
                                  timeout=30)
        self._every = every
        self.labels: dict[str, str] = {}
        self.initial: dict[str, int] = {}
        self._initial_ids: dict[str, str] = {}  # label of each replica at the start
        self.events: list[tuple[float, str, str]] = []  # (epoch, replica id, label after)
        self.poll_errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="soak-truth")

    def start(self) -> Truth:
        self._poll(record=False)
        self.initial = self.counts(self.labels)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()  # the last word
        self._http.close()

    def counts(self, labels: dict[str, str]) -> dict[str, int]:
        counts = dict.fromkeys(self._labels.values(), 0)
        for label in labels.values():
            counts[label] += 1
        counts[ROWS] = len(labels)
        return counts

    def timeline(self) -> list[tuple[float, dict[str, int]]]:
        """(moment, counts right after) for every change, in time order."""
        counts = dict(self.initial)
        labels: dict[str, str] = {}
        out = []
        for at, rid, label in sorted(self.events):
            before = labels.get(rid)
            if before is None and rid not in self._initial_ids:
                counts[ROWS] += 1
            else:
                counts[before or self._initial_ids[rid]] -= 1
            counts[label] += 1
            labels[rid] = label
            out.append((at, dict(counts)))
        return out

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._poll()
            except httpx.HTTPError:
                self.poll_errors += 1

    def _poll(self, record: bool = True) -> None:
        from lib.tavus.client import replica_status

        answer = self._http.get("/v2/replicas", params={
            "limit": 10_000, "replica_type": "user", "verbose": "true"})
        answer.raise_for_status()
        for item in answer.json()["data"]:
            rid, label = item["replica_id"], self._labels[replica_status(item)]
            before = self.labels.get(rid)
            if before == label:
                continue
            if record:
                if before is None:
                    at = _epoch(item["created_at"])
                else:
                    detail = self._http.get(f"/v2/replicas/{rid}")
                    detail.raise_for_status()
                    at = _epoch(detail.json()["updated_at"])
                self.events.append((at, rid, label))
            self.labels[rid] = label
        if not record:
            self._initial_ids = dict(self.labels)


class RssSampler:
    """VmRSS of one process every `every` seconds, in a thread: (epoch, MB)."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="soak-rss")

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            try:
                self.samples.append((time.time(), rss_mb(self.pid)))
            except (OSError, RuntimeError):
                return  # the process ended
            if self._stop.wait(self.every):
                return


# --- The browser sessions -----------------------------------------------------------------------
class SecretScan:
    """Every websocket frame of every page, scanned for the secrets as it passes."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.frames = self.bytes = self.control = self.html = 0

    def attach(self, page, name: str) -> None:
        def on_socket(socket) -> None:
            socket.on("framereceived", lambda payload: self.frame(name, "received", payload))
            socket.on("framesent", lambda payload: self.frame(name, "sent", payload))

        page.on("websocket", on_socket)

    def frame(self, name: str, direction: str, payload: str | bytes) -> None:
        data = payload.encode("utf-8", "replace") if isinstance(payload, str) else payload
        self.frames += 1
        self.bytes += len(data)
        self.control += CONTROL in data
        self.text(f"{name}: a websocket frame {direction}", data)

    def text(self, where: str, data: str | bytes) -> None:
        data = data.encode("utf-8", "replace") if isinstance(data, str) else data
        for secret in SECRETS:
            if secret.encode() in data:
                self.hits.append(f"{where} holds {secret[:6]}…")


@dataclass
class Session:
    name: str
    page: Any  # playwright Page
    watcher: bool  # on /replicas all along
    shown: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def collect(self, result: SoakResult) -> None:
        try:
            out = self.page.evaluate(COLLECT)
        except Exception as error:  # a page between two documents: next time
            if "navigat" in str(error).lower() or "context" in str(error).lower():
                return
            raise
        for at, text in out["log"]:
            self.shown.append((at / 1000, parse_shown(text)))
        for _, text in out["errors"]:
            result.exceptions.append(f"{self.name}: {text[:500]}")
        result.disconnects += len(out["drops"]) if self.watcher else 0


def parse_shown(text: str) -> dict[str, int]:
    """The status counts (label, then number, one a line) and the table's length ("N of M
    shown") as a page showed them."""
    counts_text, _, caption = text.partition("\n|")
    shown: dict[str, int] = {}
    label = None
    for line in (line.strip() for line in counts_text.splitlines()):
        if not line:
            continue
        if label is not None and re.fullmatch(r"[\d,]+", line):
            shown[label] = int(line.replace(",", ""))
            label = None
        else:
            label = line
    match = re.match(r"([\d,]+) of [\d,]+ shown", caption.strip())
    if match:
        shown[ROWS] = int(match[1].replace(",", ""))
    return shown


def matches(shown: dict[str, int], truth: dict[str, int]) -> bool:
    """The page shows exactly the simulator's counts (its "All" too)."""
    return (all(shown.get(key) == n for key, n in truth.items())
            and shown.get("All") == truth[ROWS])


def covers(shown: dict[str, int], truth: dict[str, int]) -> bool:
    """The page is at least as far on as `truth` (every count but Training only grows)."""
    return all(shown.get(key, -1) >= n for key, n in truth.items() if key != "Training")


def wait_idle(page, timeout: float = 60_000) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                           state="attached", timeout=timeout)
    page.wait_for_selector('[data-test-script-state="notRunning"]', state="attached",
                           timeout=timeout)


class Actor:
    """Session 0's errands: replicas from the Create page, conversations started and ended."""

    def __init__(self, session: Session, url: str, tavus, folder: Path) -> None:
        from tests.media import astronaut_png

        self.page, self.url, self.tavus, self.folder = session.page, url, tavus, folder
        self.photo = astronaut_png()

    def home(self) -> None:
        self.page.goto(f"{self.url}/replicas")
        wait_idle(self.page)

    def create(self, n: int) -> str:
        page = self.page
        page.goto(f"{self.url}/create")
        wait_idle(page)
        path = self.folder / f"soak-headshot-{n}.png"
        path.write_bytes(self.photo)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
        page.locator(".st-key-photo-verdict").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_label("Replica name").fill(f"Soak create {n}")
        button = page.get_by_role("button", name="Create replica")
        if button.is_disabled():
            page.get_by_text("Create anyway").click()
            wait_idle(page)
        button.click()
        result = page.locator(".st-key-create-result")
        result.wait_for(timeout=60_000)
        replica_id = re.search(r"\br[0-9a-f]{6,}\b", result.inner_text())[0]
        self.tavus.get_replica(replica_id)  # it exists in Tavus
        self.home()
        return replica_id

    def start_call(self, replica_id: str) -> str:
        page = self.page
        page.goto(f"{self.url}/conversations?replica={replica_id}")
        wait_idle(page)
        page.get_by_role("button", name="Start conversation").click()
        result = page.locator(".st-key-conversation-result")
        result.wait_for(timeout=60_000)
        href = result.get_by_role("link", name="Open conversation").get_attribute("href")
        conversation_id = urlsplit(href).path.rsplit("/", 1)[1]
        if self.tavus.get_conversation(conversation_id).status != "active":
            raise RuntimeError(f"conversation {conversation_id} is not active")
        return conversation_id

    def end_call(self, conversation_id: str, *, from_page: bool) -> None:
        """With the page's End button, or from outside (the Tavus API's end call): either way
        the page's list must show it ended."""
        page = self.page
        page.goto(f"{self.url}/conversations")
        wait_idle(page)
        box = page.locator(f".st-key-call-{conversation_id}")
        box.wait_for(timeout=60_000)
        if from_page:
            box.get_by_role("button", name="End").click()
        else:
            self.tavus.end_conversation(conversation_id)
        deadline = time.monotonic() + 60
        while "active" in box.inner_text():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the page never showed {conversation_id} ended")
            page.wait_for_timeout(250)
        if self.tavus.get_conversation(conversation_id).status != "ended":
            raise RuntimeError(f"conversation {conversation_id} is not ended in Tavus")
        self.home()


def _schedule(plan: SoakPlan, sim: Simulator, actor: Actor, ready_id: str,
              result: SoakResult) -> list[tuple[float, str, Callable[[], None]]]:
    """(offset s, what, action), in time order."""
    actions: list[tuple[float, str, Callable[[], None]]] = []
    last_add = max(0.0, plan.duration - plan.train_seconds - plan.margin)
    for i in range(plan.added):
        at = last_add * i / max(1, plan.added - 1)
        actions.append((at, "a teammate adds a replica",
                        lambda: sim.add(1, training=1, training_seconds=plan.train_seconds)))
    first = 0.05 * plan.duration
    last = max(first, plan.duration - plan.train_seconds - plan.margin - 30)
    for i in range(plan.creates):
        at = first + (last - first) * i / max(1, plan.creates - 1)
        actions.append((at, "create from the Create page",
                        lambda i=i: result.created.append(actor.create(i))))
    calls: dict[int, str] = {}
    for k in range(plan.conversations):
        start = plan.duration * (0.35 + 0.3 * k)
        actions.append((start, "start a conversation",
                        lambda k=k: calls.__setitem__(k, actor.start_call(ready_id))))

        def end(k: int = k) -> None:
            actor.end_call(calls[k], from_page=k % 2 == 0)
            result.conversations.append(calls[k])

        actions.append((start + max(5.0, 0.1 * plan.duration), "end a conversation", end))
    return sorted(actions, key=lambda a: a[0])


def _check(sessions: list[Session], scan: SecretScan, result: SoakResult, html: bool) -> None:
    for session in sessions:
        session.collect(result)
        try:
            body = session.page.inner_text("body", timeout=10_000)
            if "Traceback" in body:
                result.exceptions.append(f"{session.name}: a traceback in the page")
            if html:
                scan.text(f"{session.name}: the page HTML", session.page.content())
                scan.html += 1
        except Exception as error:  # the actor's page may be navigating
            if "navigat" not in str(error).lower():
                raise


# --- The run ------------------------------------------------------------------------------------
def run(browser, plan: SoakPlan, artifacts: Path, say: Callable[[str], None] = print
        ) -> SoakResult:
    """The soak in `browser` (a Playwright Chromium); figures in the result, progress to `say`."""
    from lib.tavus.client import TavusClient

    if plan.sessions < 2:
        raise ValueError("a soak needs the actor and at least one watching session")
    artifacts.mkdir(parents=True, exist_ok=True)
    result = SoakResult(plan)
    sim = Simulator("soak", training_seconds=plan.train_seconds).start()
    s3 = S3Server().start()
    process = rss = truth = None
    contexts = []
    scan = SecretScan()
    tavus = TavusClient(sim.url, TAVUS_KEY)
    try:
        ids = sim.add(plan.replicas, training=plan.training, training_seconds=LONG_TRAINING)
        ready = ids[: plan.replicas - plan.training]
        s3.seed_team_records(PREFIX, ready[-plan.team_records:])
        process, url = start_streamlit(
            "streamlit_app.py", ROOT,
            app_env(sim, s3, PREFIX, REFRESH_SECONDS=str(plan.refresh)),
            artifacts / "soak-app.log")
        wait_http(f"{url}/_stcore/health", process=process, expect=lambda r: r.text == "ok")
        rss = RssSampler(process.pid, plan.rss_every).start()
        sessions = []
        for i in range(plan.sessions):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            contexts.append(context)
            context.add_init_script(RECORDER)
            page = context.new_page()
            page.set_default_timeout(60_000)
            name = "actor" if i == 0 else f"session {i}"
            scan.attach(page, name)
            page.goto(f"{url}/replicas")
            table_complete(page, plan.replicas)
            sessions.append(Session(name, page, watcher=i > 0))
        say(f"  {plan.sessions} sessions show {plan.replicas:,} replicas; soaking for "
            f"{plan.duration:.0f} s")
        actor = Actor(sessions[0], url, tavus, artifacts)
        actions = _schedule(plan, sim, actor, ready[-1], result)
        truth = Truth(sim.url).start()
        t0 = time.time()
        end = t0 + plan.duration
        checks = 0
        next_check = t0
        while (now := time.time()) < end:
            if actions and actions[0][0] <= now - t0:
                _, what, action = actions.pop(0)
                try:
                    action()
                except Exception as error:
                    result.failures.append(f"{what} at {now - t0:.0f} s: "
                                           f"{str(error).splitlines()[0][:300]}")
                    actor.home()
            elif now >= next_check:
                _check(sessions, scan, result, html=checks % 3 == 0)
                checks += 1
                next_check = max(next_check + plan.check_every, time.time())
            else:
                sessions[0].page.wait_for_timeout(200)
        result.seconds = time.time() - t0
        result.failures.extend(f"not run in time: {what}" for _, what, _ in actions)

        # Every watcher catches up with the last change (or the grace runs out).
        watchers = [s for s in sessions if s.watcher]
        grace = time.time() + plan.margin
        while time.time() < grace:
            final = truth.counts(dict(truth.labels))
            for session in watchers:
                session.collect(result)
            if all(s.shown and matches(s.shown[-1][1], final) for s in watchers):
                break
            sessions[0].page.wait_for_timeout(500)
        truth.stop()
        _check(sessions, scan, result, html=True)
        rss.stop()
        final = truth.counts(truth.labels)
        result.replicas_end = final[ROWS]
        result.watchers = len(watchers)
        result.current_at_end = sum(1 for s in watchers
                                    if s.shown and matches(s.shown[-1][1], final))
        _lags(truth.timeline(), t0, watchers, result)
        if truth.poll_errors:
            result.failures.append(f"{truth.poll_errors} polls of the simulator failed")
        for i, session in enumerate(sessions):
            session.page.screenshot(path=str(artifacts / f"soak-session-{i}.png"))
        result.rss = [(at - t0, mb) for at, mb in rss.samples]
        _rss_window(result)
    finally:
        if truth is not None and truth._thread.is_alive():
            truth.stop()
        if rss is not None:
            rss.stop()
        for context in contexts:
            context.close()
        # Let the runs already under way end before the server is stopped: a run still going
        # when the interpreter exits fails in pyarrow's thread pool ("cannot schedule new
        # futures after shutdown"), a traceback of the teardown, not of the soak. Closed tabs
        # get no new runs: their sessions are gone, so the next look drops their pushes.
        time.sleep(2 * plan.refresh)
        stop(process)
        tavus.close()
        sim.stop()
        s3.stop()
    log = (artifacts / "soak-app.log").read_text(errors="replace")
    scan.text("the server log", log)
    if "X-Amz-Signature" in log:
        scan.hits.append("the server log holds a presigned URL")
    result.exceptions.extend(f"server log: {block.splitlines()[-1][:300]}"
                             for block in re.findall(r"Traceback \(most recent call last\):"
                                                     r"(?:\n[ \t].*)+\n.*", log))
    result.secret_hits = scan.hits
    result.frames, result.frame_bytes, result.control_frames = scan.frames, scan.bytes, scan.control
    result.html_scans = scan.html
    return result


def _lags(timeline: list[tuple[float, dict[str, int]]], t0: float, watchers: list[Session],
          result: SoakResult) -> None:
    for at, counts in timeline:
        if at < t0:
            continue
        result.changes += 1
        seen = []
        for session in watchers:
            first = next((shown_at for shown_at, shown in session.shown
                          if covers(shown, counts)), None)
            if first is None:
                result.unseen += 1
            else:
                seen.append(first)
                result.lags.append(first - at)
        if seen:
            result.per_change.append((at - t0, min(seen) - at, max(seen) - at))
        if len(seen) > 1:
            result.spreads.append(max(seen) - min(seen))


def _rss_window(result: SoakResult) -> None:
    """Medians of the first and last fifth of the run's second half."""
    duration = result.seconds
    half = duration / 2
    edge = half / 5
    first = [mb for at, mb in result.rss if half <= at <= half + edge]
    last = [mb for at, mb in result.rss if duration - edge <= at <= duration]
    if first and last:
        result.rss_first, result.rss_last = statistics.median(first), statistics.median(last)


# --- Figures --------------------------------------------------------------------------------------
def rows(result: SoakResult) -> list[tuple[str, str]]:
    plan = result.plan
    lags = sorted(result.lags)
    firsts = [first for _, first, _ in result.per_change]
    p95 = lags[int(0.95 * (len(lags) - 1))] if lags else float("nan")
    during = [mb for at, mb in result.rss if 0 <= at <= result.seconds] or [float("nan")]
    return [
        ("sessions (1 acting, the rest watching /replicas)", f"{plan.sessions}"),
        ("duration (after every table was complete)", f"{result.seconds:.0f} s"),
        ("replicas at start / at end", f"{plan.replicas:,} / {result.replicas_end:,}"),
        ("refresh interval (REFRESH_SECONDS)", f"{plan.refresh} s"),
        ("created from the Create page / conversations started and ended",
         f"{len(result.created)} / {len(result.conversations)}"),
        ("actions that failed", f"{len(result.failures)}"),
        ("changes of the counts in the simulator", f"{result.changes}"),
        (f"lag to every watcher ({len(lags)} pairs): median / p95 / max",
         f"{statistics.median(lags) if lags else float('nan'):.2f} / {p95:.2f} / "
         f"{result.max_lag:.2f} s"),
        ("  to the first watcher (the server's tick, then its refresh): median / max",
         f"{statistics.median(firsts) if firsts else float('nan'):.2f} / "
         f"{max(firsts, default=float('nan')):.2f} s"),
        ("  spread between the first and last watcher, max",
         f"{max(result.spreads, default=0):.2f} s"),
        ("(change, watcher) pairs never shown", f"{result.unseen}"),
        ("watchers current at the end", f"{result.current_at_end} of {result.watchers}"),
        ("exceptions (pages and server log)", f"{len(result.exceptions)}"),
        ("disconnections seen by the watching pages", f"{result.disconnects}"),
        ("secret hits (frames, HTML, server log)", f"{len(result.secret_hits)}"),
        ("websocket frames scanned (with table rows)",
         f"{result.frames:,} ({result.control_frames:,}), {result.frame_bytes / 2**20:.0f} MB"),
        ("page HTML scans", f"{result.html_scans}"),
        ("server RSS: at the run's start / max during it",
         f"{during[0]:.1f} / {max(during):.1f} MB"),
        ("server RSS: median of the 2nd half's first / last fifth",
         f"{result.rss_first:.1f} / {result.rss_last:.1f} MB ({result.rss_growth:+.1f} %)"),
    ]


def run_section(plan: SoakPlan, artifacts: Path) -> Section:
    """The bench's section: its own browser, the figures and the four targets."""
    from playwright.sync_api import sync_playwright

    from bench.cold_start import launch_browser

    section = Section("soak", f"13. Soak: {plan.sessions} sessions, {plan.duration / 60:g} min, "
                              f"{plan.replicas:,} replicas")
    print(f"\n{section.title}", flush=True)
    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            result = run(browser, plan, artifacts)
        finally:
            browser.close()
    for label, value in rows(result):
        section.row(label, value)
    for text in result.failures + result.exceptions + result.secret_hits:
        section.note(text)
    limit = plan.refresh + RENDER_ALLOWANCE
    section.figures.update({
        "sessions": plan.sessions, "duration_s": round(result.seconds, 1),
        "replicas": plan.replicas, "replicas_end": result.replicas_end,
        "refresh_s": plan.refresh, "changes": result.changes,
        "lags_s": [round(x, 3) for x in result.lags],
        "spreads_s": [round(x, 3) for x in result.spreads], "unseen": result.unseen,
        "per_change_s": [[round(x, 2) for x in c] for c in result.per_change],
        "exceptions": result.exceptions, "secret_hits": result.secret_hits,
        "frames": result.frames, "failures": result.failures,
        "rss_mb": [(round(at, 1), round(mb, 1)) for at, mb in result.rss],
        "rss_growth_pct": round(result.rss_growth, 2)})
    section.target(Target("soak_exceptions", "Soak: exceptions", len(result.exceptions), 0,
                          "count", "exception elements in any page, tracebacks in the log"))
    section.target(Target("soak_secret_hits", "Soak: secrets in frames, HTML or log",
                          len(result.secret_hits), 0, "count",
                          f"{result.frames:,} websocket frames scanned"))
    section.target(Target("soak_max_lag", f"Soak: max lag of a change to a session (≤ "
                                          f"{plan.refresh} s refresh + {RENDER_ALLOWANCE:g} s)",
                          result.max_lag if not result.unseen else float("inf"), limit, "s",
                          f"{result.changes} changes × {result.watchers} sessions"))
    section.target(Target("soak_rss_growth", "Soak: server RSS growth over the last half",
                          result.rss_growth, TARGET_RSS_GROWTH, "%",
                          f"{result.rss_first:.1f} -> {result.rss_last:.1f} MB"))
    return section
