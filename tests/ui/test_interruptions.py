"""Every action's start, cut at every Streamlit call around its claim and hand-over (AppTest).

A Streamlit run can be interrupted at any Streamlit call: every `st.*` element and every read or
write of `st.session_state` checks for a pending rerun or stop (a second click, a click
elsewhere, another page, a closed tab). These tests count those calls (Streamlit's own
`ScriptRunner._maybe_handle_execution_control_request`) in the run a click starts, and:

- prove that claiming work and handing it to a worker (`ActionBoard.start`, and the batch's
  `start_all`) happens with **no** Streamlit call in between;
- cut the click's run (a `StopException`, as Streamlit raises it) at each call from a few before
  the claim to a few after it, then look again as the next run would: the work was either never
  claimed (nothing made, nothing "in progress", the button works) or handed over (made exactly
  once); pressing again never makes a second one, and nothing is ever left "in progress".
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import ImageEnhance
from streamlit.runtime.scriptrunner import script_runner
from streamlit.runtime.scriptrunner_utils.exceptions import StopException
from streamlit.testing.v1 import AppTest

from lib.actions.board import ActionBoard
from lib.demo import DEMO_API_KEY, running_demo_services
from lib.replicas import batch as batch_module
from lib.tavus.client import TavusClient
from tests.apptest import TIMEOUT, open_page
from tests.media import astronaut, encode

pytestmark = pytest.mark.usefixtures("demo_env")
AROUND = range(-2, 3)  # cut at these offsets from the claim (0: the call just before it)


@dataclass
class Cutter:
    """Counts the Streamlit calls of the script thread while armed; cuts the run at `cut_at`."""

    armed: bool = False
    count: int = 0
    cut_at: int | None = None
    cut: bool = False
    claims: list[tuple[int, int]] = field(default_factory=list)  # calls before, after a claim

    def arm(self, cut_at: int | None = None) -> None:
        self.armed, self.count, self.cut_at, self.cut = True, 0, cut_at, False
        self.claims.clear()


@pytest.fixture
def cutter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cutter]:
    made = Cutter()
    original = script_runner.ScriptRunner._maybe_handle_execution_control_request

    def counted(self) -> None:
        if made.armed and self._is_in_script_thread() and self._execing:
            made.count += 1
            if made.cut_at is not None and made.count == made.cut_at and not made.cut:
                made.cut = True
                raise StopException()
        return original(self)

    def watched(name: str, real: Callable) -> Callable:
        def claim(*args, **kwargs):
            before = made.count
            try:
                return real(*args, **kwargs)
            finally:
                if made.armed:
                    made.claims.append((before, made.count))
        return claim

    monkeypatch.setattr(script_runner.ScriptRunner,
                        "_maybe_handle_execution_control_request", counted)
    monkeypatch.setattr(ActionBoard, "start", watched("start", ActionBoard.start))
    # The batch page calls start_all through the module it imported it from.
    from lib.ui import batch as batch_ui
    monkeypatch.setattr(batch_ui, "start_all", watched("start_all", batch_module.start_all))
    yield made
    made.armed = False


def idle() -> None:
    """The board's work ended (the page's own poll would show it): then a fresh board, as the
    next click of another session would find (AppTest gives every session the same id)."""
    from lib.ui.actions import board

    deadline = time.monotonic() + TIMEOUT
    while board().running() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not board().running()
    board.clear()


def tavus() -> TavusClient:
    services = running_demo_services()
    assert services is not None
    return TavusClient(services.tavus_url, DEMO_API_KEY)


def named(name: str) -> int:
    with tavus() as client:
        return sum(r.replica_name == name for r in client.list_all_replicas(replica_type="user"))


@dataclass
class Scenario:
    """An action: `ready(i)` opens a page ready for the click (the i-th time, with its own
    inputs) -> the AppTest; `button(at)`, its button; `made(i)` counts the effect where it
    happens; `busy(at)` says whether the page shows it "in progress"."""

    ready: Callable[[int], AppTest]
    button: Callable[[AppTest], object]
    made: Callable[[int], int]
    busy: Callable[[AppTest], bool]
    once: int = 1  # what one click makes (a batch: one replica per photo)


def photo(i: int) -> bytes:
    return encode(ImageEnhance.Brightness(astronaut()).enhance(1.0 + i / 200))


def texts(at: AppTest) -> str:
    return " ".join(e.value for e in [*at.info, *at.caption, *at.markdown, *at.error])


def create_photo() -> Scenario:
    def ready(i: int) -> AppTest:
        at = open_page()
        at.file_uploader[0].set_value((f"cut{i}.png", photo(i), "image/png"))
        at.run()
        at.text_input(key="replica_name").set_value(f"Cut photo {i}")
        at.run()
        return at

    return Scenario(ready, lambda at: at.button(key="create_button"),
                    lambda i: named(f"Cut photo {i}"),
                    lambda at: "Creating the replica" in texts(at))


def create_all() -> Scenario:
    from tests.ui.test_batch import open_batch

    def files(i: int) -> list[tuple[str, bytes]]:
        return [(f"cut {i} {who}.png", photo(i * 3 + n))
                for n, who in enumerate(("ada", "grace", "mae"))]

    def made(i: int) -> int:
        return sum(named(f"cut {i} {who}") for who in ("ada", "grace", "mae"))

    def busy(at: AppTest) -> bool:
        return any(r.status == "creating" for r in at.session_state.batch_rows.values())

    return Scenario(lambda i: open_batch(files(i)),
                    lambda at: at.button(key="batch_create"), made, busy, once=3)


def start_call() -> Scenario:
    def ready(i: int) -> AppTest:
        with tavus() as client:
            for call in client.list_conversations(status="active", limit=100).conversations:
                client.end_conversation(call.conversation_id)
        at = open_page("pages/conversations.py")
        at.text_input(key="call_name").set_value(f"Cut call {i}")
        at.run()
        return at

    def made(i: int) -> int:
        with tavus() as client:
            return sum(c.conversation_name == f"Cut call {i}"
                       for c in client.list_conversations(limit=100).conversations)

    return Scenario(ready, lambda at: at.button(key="start_call"), made,
                    lambda at: "Starting the conversation" in texts(at))


def save_preset() -> Scenario:
    def ready(i: int) -> AppTest:
        at = open_page("pages/conversations.py")
        at.text_input(key="preset_name").set_value(f"Cut preset {i}")
        at.run()
        return at

    def made(i: int) -> int:
        services = running_demo_services()
        from lib.conversations.presets import PresetStore
        from lib.storage.s3 import ImageStore

        store = PresetStore(ImageStore(services.s3), max_age_seconds=0)
        return sum(p.preset.name == f"Cut preset {i}" for p in store.list(force=True)[0])

    return Scenario(ready, lambda at: at.button(key="save_preset"), made,
                    lambda at: "Saving…" in texts(at))


SCENARIOS = {"create from a photo": create_photo, "several photos: create all": create_all,
             "start a conversation": start_call, "save a preset": save_preset}


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_run_cut_at_any_call_around_the_claim_orphans_nothing_and_repeats_nothing(
        name: str, cutter: Cutter) -> None:
    scenario = SCENARIOS[name]()
    # An uncut click: where the claim falls among the run's Streamlit calls.
    at = scenario.ready(0)
    cutter.arm()
    scenario.button(at).click()
    at.run()
    cutter.armed = False
    assert not at.exception, at.exception
    assert cutter.claims, "the click claimed nothing"
    for before, after in cutter.claims:  # claim and hand-over: no Streamlit call in between
        assert before == after, f"{after - before} Streamlit call(s) inside the claim"
    claim_at = cutter.claims[0][0]  # calls made before the claim
    idle()
    assert scenario.made(0) == scenario.once

    for i, offset in enumerate(AROUND, start=1):
        cut_at = claim_at + offset
        if cut_at < 1:
            continue
        at = scenario.ready(i)
        cutter.arm(cut_at)
        scenario.button(at).click()
        at.run()  # cut at call `cut_at`: the run stops there
        cutter.armed = False
        assert cutter.cut, f"the run had fewer than {cut_at} calls"
        claimed = bool(cutter.claims)
        idle()
        at.run()  # the next look, as the page's poll or the person's next click makes it
        assert not at.exception, at.exception
        assert scenario.made(i) == (scenario.once if claimed else 0), (offset, claimed)
        assert not scenario.busy(at), f"cut at {offset}: left in progress"
        # Pressing again (the work done, or never claimed) makes it once, never twice. (A
        # button disabled once the work is done cannot be pressed: that is the point too.)
        if not scenario.button(at).disabled:
            scenario.button(at).click()
            at.run()
            idle()
            at.run()
        assert not at.exception, at.exception
        assert scenario.made(i) == scenario.once, offset
        assert not scenario.busy(at), f"cut at {offset}: in progress after pressing again"


# --- The rule, read from the source --------------------------------------------------------------
def _is_claim(node: ast.stmt) -> bool:
    """`x.start(...)`, `claimed = start_all(...)`, or an `if` whose first line is one."""
    if isinstance(node, ast.If):
        return bool(node.body) and _is_claim(node.body[0])
    value = node.value if isinstance(node, (ast.Expr, ast.Assign)) else None
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    return (isinstance(func, ast.Attribute) and func.attr == "start") or (
        isinstance(func, ast.Name) and func.id == "start_all")


def _starts_work(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Attribute) and n.func.attr == "start")
        or (isinstance(n.func, ast.Name) and n.func.id == "start_all"))
        for n in ast.walk(node))


def _is_button_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "button" for n in ast.walk(node))


def action_buttons(tree: ast.AST) -> Iterator[tuple[int, bool]]:
    """(line, claims on the next line) for every button whose click starts work."""
    for block in ast.walk(tree):
        for field_name in ("body", "orelse", "finalbody"):
            stmts = getattr(block, field_name, None)
            if not isinstance(stmts, list):
                continue
            clicked: set[str] = set()  # names bound to a button's value on the line before
            for stmt in stmts:
                if isinstance(stmt, ast.If) and (
                        _is_button_call(stmt.test)
                        or {n.id for n in ast.walk(stmt.test) if isinstance(n, ast.Name)}
                        & clicked) and _starts_work(ast.Module(body=stmt.body,
                                                               type_ignores=[])):
                    yield stmt.lineno, _is_claim(stmt.body[0])
                clicked = set()
                if isinstance(stmt, ast.Assign) and _is_button_call(stmt.value):
                    clicked = {t.id for t in stmt.targets if isinstance(t, ast.Name)}


def action_button_calls(tree: ast.AST) -> list[ast.Call]:
    """Calls of `actions.button(...)`: buttons whose click claims in their callback."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and n.func.attr == "button"
            and isinstance(n.func.value, ast.Name) and n.func.value.id == "actions"]


def test_every_button_that_starts_work_claims_it_in_its_callback() -> None:
    """The rule (README, "Actions that survive impatience"): an action's button claims its work
    in the button's callback, the first thing the click's run does. No page starts work in the
    body under a button (a page drawn first can be cut before it gets there)."""
    root = Path(__file__).resolve().parents[2]
    in_bodies, made = {}, {}
    for path in [*sorted((root / "pages").glob("*.py")), *sorted((root / "lib/ui").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        for line, _ in action_buttons(tree):
            in_bodies[f"{path.relative_to(root)}:{line}"] = True
        for call in action_button_calls(tree):
            given = {k.arg for k in call.keywords}
            made[f"{path.relative_to(root)}:{call.lineno}"] = {"action", "build"} <= given
    assert not in_bodies, f"work started in a button's body: {sorted(in_bodies)}"
    # Create, Check, Fix framing, Create all, Convert, video Create, notes, rename, delete (2),
    # start (form and preset), end, save, duplicate, delete a preset: all of them are found.
    assert len(made) >= 16, made
    assert all(made.values()), [where for where, ok in made.items() if not ok]
    # The check can fail: the batch's old shape (a progress line drawn, then the claim, in the
    # button's body) and a claim after a session-state write are both found.
    for wrong in ("if st.button('Go'):\n    st.write('Creating')\n    action.start(work)\n",
                  "go = st.button('Go')\nif go:\n    st.session_state.x = 1\n"
                  "    claimed = start_all(rows)\n",
                  "if st.button('Go'):\n    action.start(work)\n"):
        assert list(action_buttons(ast.parse(wrong))), wrong
