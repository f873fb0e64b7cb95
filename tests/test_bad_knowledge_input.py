"""The bad-input matrix of the Knowledge and Personas screens: every way a document (a file, a web
address, its name and tags), a persona form or Tavus can go wrong, and what the user reads then.

Each case checks, on the page run under AppTest:
- a clear message that names what to do (asserted on its words);
- no exception element and no traceback (`at.exception` empty, no "Traceback" in any text);
- the form's values kept after the error (what was typed, chosen and picked);
- what reached Tavus, counted in the simulator's request log: nothing for a value refused here,
  exactly one request where one is intended. Idempotent calls (PATCH, DELETE, GET) are retried by
  the client on a 5xx, and every call on a 429 (lib/tavus/client.py): those cases count
  1 + the client's retries, and check that nothing changed at Tavus.

The world: a Tavus simulator of this module's own (tests/simapp.py: its stock replicas and
personas, a per-test S3 prefix in moto's server), faults injected through its `/_sim/faults`
control, and a small website on loopback (a page, a 404) for the addresses. The file picker is a
components-v2 widget whose browser half PUTs the file straight to S3: AppTest cannot run that
JavaScript, so a test puts the object into the bucket itself and sets the uploader's slot as its
`_on_result` callback would; where the browser's own report (name and size) is what is judged,
the uploader's real `_on_file` callback runs on a plain dict and its slot is handed to the page.
"""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

import lib.ui.knowledge
import lib.ui.uploader as uploader
from lib.conversations.presets import Preset, PresetStore
from lib.knowledge.add import (
    INCOMING_FOLDER,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    AddAttempt,
    add_website_work,
)
from lib.knowledge.intake import (
    ACCEPTED_SUFFIXES,
    MAX_CRAWL_DEPTH,
    MAX_CRAWL_PAGES,
    MAX_DOCUMENT_BYTES,
    CrawlSettings,
    DocumentRefused,
)
from lib.knowledge.records import DOCUMENT_FILES_FOLDER, DocumentRecords
from lib.personas.form import MAX_NAME_LENGTH, MAX_PROMPT_LENGTH
from lib.storage.uploads import PART_BYTES
from lib.tavus.client import Document, DocumentStatus, Persona
from lib.ui.uploader import UploadedVideo, _slot_name
from tests import simapp
from tests.apptest import settle, shown
from tests.knowledge.documents import minimal_pdf, sparse_file
from tests.media import astronaut_png
from tests.simapp import INTERVIEWER, STOCK_REPLICA, SimApp

sim_world, sim_app = simapp.sim_world, simapp.sim_app

PERSONAS, KNOWLEDGE, CONVERSATIONS = ("pages/personas.py", "pages/knowledge.py",
                                      "pages/conversations.py")
UPLOADER = "doc-upload-0"  # the Knowledge page's file picker (first round)
RETRIES = 3  # the page client's max_retries (lib/services.py): idempotent calls on a 5xx
REPEAT_WAIT = 2.1  # lib/actions/board.py: a click within 2 s of the end is the same click
SITE_PAGE = (b"<!doctype html><html><head><title>Bike shop</title></head><body>"
             b"<h1>Prices</h1><p>From 400 euros.</p><a href='/about.html'>About</a></body></html>")


# ================================================================================================
# the world: a website on loopback, faults, the request log
# ================================================================================================
class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/missing"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(SITE_PAGE)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(SITE_PAGE)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def fault(app: SimApp, kind: str, path: str, method: str, *, count: int = 1,
          retry_after: float | None = None) -> None:
    """What the simulator answers the next `count` requests to `path…` with `method`, through
    its `/_sim/faults` control ("500", or "429" with a Retry-After)."""
    body: dict[str, Any] = {"kind": kind, "path_prefix": path, "method": method, "count": count}
    if retry_after is not None:
        body["retry_after"] = retry_after
    httpx.post(f"{app.sim.base_url}/_sim/faults", json=body, timeout=5).raise_for_status()


def clear_faults(app: SimApp) -> None:
    httpx.delete(f"{app.sim.base_url}/_sim/faults", timeout=5).raise_for_status()


def sent(app: SimApp, method: str, path: str) -> int:
    """How many `method` requests whose path matches `path` (a regex) Tavus received."""
    pattern = re.compile(path)
    return sum(1 for r in app.sim.requests if r.method == method and pattern.fullmatch(r.path))


def writes(app: SimApp) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in app.sim.requests if r.method != "GET"]


def user_personas(app: SimApp) -> list[Persona]:
    return app.tavus.list_all_personas(persona_type="user")[0]


def personas_named(app: SimApp, name: str) -> list[Persona]:
    return [p for p in user_personas(app) if p.persona_name == name]


def documents_named(app: SimApp, name: str) -> list[Document]:
    return [d for d in app.tavus.list_all_documents()[0] if d.document_name == name]


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def ready_document(app: SimApp, site: str, name: str, *, tags: tuple[str, ...] = (),
                   crawl: bool = False) -> Document:
    """A document Tavus has processed (the website on loopback), made through the API."""
    made = app.tavus.create_document(document_url=f"{site}/", document_name=name, tags=tags,
                                     crawl_depth=1 if crawl else None,
                                     crawl_max_pages=5 if crawl else None)
    assert app.sim.wait_for_downloads()
    app.sim.advance(app.sim.document_seconds + 1)
    held = app.tavus.get_document(made.document_id)
    assert held.state is DocumentStatus.READY, held
    return held


def user_persona(app: SimApp, name: str, **fields: Any) -> Persona:
    body = {"persona_name": name, "system_prompt": "You sell bikes in Utrecht.",
            "pipeline_mode": "full", **fields}
    return app.tavus.create_persona(body)


# ================================================================================================
# the page
# ================================================================================================
@dataclass
class Screen:
    app: SimApp
    at: AppTest

    def run(self) -> None:
        self.at.run()
        self.assert_clean()

    def click(self, key: str) -> None:
        self.at.button(key=key).click()
        self.at.run()
        settle(self.at)
        self.assert_clean()

    def assert_clean(self) -> None:
        """No exception element, no traceback in any text, no "unexpected" catch-all."""
        assert not self.at.exception, self.at.exception
        for text in self.texts():
            assert "Traceback" not in text and "unexpected" not in text.lower(), text

    def texts(self) -> list[str]:
        at = self.at
        return [read(e) for e in [*at.error, *at.warning, *at.info, *at.success, *at.markdown,
                                  *at.caption]]

    def errors(self) -> list[str]:
        return [read(e) for e in self.at.error]

    def error(self, *phrases: str) -> str:
        """The one error that says every phrase (what is wrong and what to do)."""
        found = [e for e in self.errors() if all(p in e for p in phrases)]
        assert found, (phrases, self.errors())
        return found[0]

    def no_error(self) -> None:
        assert self.errors() == [], self.errors()

    def says(self, *phrases: str) -> None:
        texts = self.texts()
        for phrase in phrases:
            assert any(phrase in t for t in texts), (phrase, texts)

    def values(self, keys: dict[str, Any]) -> dict[str, Any]:
        at = self.at
        out = {}
        for key in keys:
            for kind in ("text_input", "text_area", "selectbox", "multiselect"):
                widgets = [w for w in getattr(at, kind) if w.key == key]
                if widgets:
                    out[key] = widgets[0].value
                    break
            else:
                raise AssertionError(f"no widget {key}")
        return out

    def set(self, values: dict[str, Any]) -> None:
        at = self.at
        for key, value in values.items():
            for kind in ("text_input", "text_area", "selectbox", "multiselect"):
                widgets = [w for w in getattr(at, kind) if w.key == key]
                if widgets:
                    widgets[0].set_value(value)
                    break
            else:
                raise AssertionError(f"no widget {key}")
        self.run()

    def kept(self, values: dict[str, Any]) -> None:
        assert self.values(values) == values

    def disabled(self, key: str) -> None:
        button = self.at.button(key=key)
        assert button.disabled, key
        with pytest.raises(AppTestError, match="disabled"):  # as in a browser: not clickable
            button.click()


def read(element) -> str:
    """An element's text as the user reads it: no Markdown escapes, no bold markers."""
    return shown(element).replace("**", "")


def screen(app: SimApp, page: str, **query: str) -> Screen:
    at = app.open(page, **query)
    app.sim.reset_requests()  # count from here: what the page's own reads asked is not a case
    return Screen(app, at)


@pytest.fixture(autouse=True)
def no_faults_left(sim_app: SimApp) -> Iterator[None]:
    clear_faults(sim_app)
    yield
    clear_faults(sim_app)


# ================================================================================================
# personas: values refused by the form, before anything is sent
# ================================================================================================
@dataclass(frozen=True)
class FormCase:
    id: str
    values: dict[str, Any]
    says: tuple[str, ...]  # in one error: what is wrong and what to do


FORM_CASES = [
    FormCase("empty-name", {"pf_name": "", "pf_prompt": "You sell bikes."},
             ("Give the persona a name",)),
    FormCase("blank-name", {"pf_name": "  \t ", "pf_prompt": "You sell bikes."},
             ("Give the persona a name",)),
    FormCase("name-too-long", {"pf_name": "N" * (MAX_NAME_LENGTH + 1),
                               "pf_prompt": "You sell bikes."},
             (f"The name is {MAX_NAME_LENGTH + 1} characters", f"keep it under {MAX_NAME_LENGTH}")),
    FormCase("empty-prompt", {"pf_name": "Bike shop", "pf_prompt": "   "},
             ("Write a system prompt", "what it should do")),
    FormCase("prompt-too-long", {"pf_name": "Bike shop",
                                 "pf_prompt": "p" * (MAX_PROMPT_LENGTH + 1)},
             (f"{MAX_PROMPT_LENGTH + 1:,} characters", f"Cut it under {MAX_PROMPT_LENGTH:,}",
              "knowledge base")),
    FormCase("voice-without-tts", {"pf_name": "Bike shop", "pf_prompt": "You sell bikes.",
                                   "pf_voice": "a1b2c3-voice"},
             ("A voice id belongs to a TTS engine", "choose Cartesia or ElevenLabs",
              "or clear the voice id")),
]


@pytest.mark.parametrize("case", FORM_CASES, ids=[f"persona-{c.id}" for c in FORM_CASES])
def test_a_persona_value_to_fix_is_said_and_nothing_is_sent(sim_app: SimApp,
                                                            case: FormCase) -> None:
    page = screen(sim_app, PERSONAS)
    page.set(case.values)
    before = len(user_personas(sim_app))
    sim_app.sim.reset_requests()
    for _ in range(2):  # a double click: refused twice, still nothing sent
        page.click("pf-create")
        page.error(*case.says)
        page.kept(case.values)  # every value as typed, the too-long ones whole
    assert writes(sim_app) == []
    assert len(user_personas(sim_app)) == before


# ================================================================================================
# personas: Tavus refuses what the form could not know
# ================================================================================================
BASE_FORM = {"pf_prompt": "You sell bikes in Utrecht. Be brief."}


def test_a_default_replica_deleted_after_the_form_was_filled_is_explained(
        sim_app: SimApp) -> None:
    [replica] = sim_app.sim.add_replicas(1)
    name = unique("Replica gone")
    page = screen(sim_app, PERSONAS)
    form = {"pf_name": name, **BASE_FORM, "pf_replica": replica}
    page.set(form)
    sim_app.tavus.delete_replica(replica)  # a teammate deletes it meanwhile
    sim_app.sim.reset_requests()

    page.click("pf-create")
    page.error(f"Tavus no longer has the replica ({replica})",
               "Choose another default replica (or None)", "Press Create persona to try again")
    page.kept(form)
    assert sent(sim_app, "POST", "/v2/personas") == 1  # Tavus answered 400 Invalid replica_uuid
    assert personas_named(sim_app, name) == []

    page.set({"pf_replica": ""})  # what the message says: None
    page.click("pf-create")
    page.says("created")
    assert sent(sim_app, "POST", "/v2/personas") == 2
    assert len(personas_named(sim_app, name)) == 1


def test_a_document_deleted_while_the_persona_form_uses_it_is_explained(
        sim_app: SimApp, site: str) -> None:
    document = ready_document(sim_app, site, unique("Price list"))
    name = unique("Document gone")
    page = screen(sim_app, PERSONAS)
    form = {"pf_name": name, **BASE_FORM, "pf_documents": [document.document_id]}
    page.set(form)
    sim_app.tavus.delete_document(document.document_id)
    sim_app.sim.reset_requests()

    page.click("pf-create")
    page.error(f"Document {document.document_id} no longer exists",
               "Remove it from Documents, then try again")
    page.kept(form)
    assert sent(sim_app, "POST", "/v2/personas") == 1
    assert personas_named(sim_app, name) == []


def test_a_tag_no_document_has_is_explained_on_create(sim_app: SimApp) -> None:
    name = unique("Unknown tag")
    page = screen(sim_app, PERSONAS)
    form = {"pf_name": name, **BASE_FORM, "pf_tags": ["no-such-tag"]}
    page.set(form)
    sim_app.sim.reset_requests()
    page.click("pf-create")
    page.error("No document has the tag “no-such-tag”", "Remove it from Document tags",
               "Knowledge page")
    page.kept(form)
    assert sent(sim_app, "POST", "/v2/personas") == 1
    assert personas_named(sim_app, name) == []


def test_post_personas_500_is_explained_and_a_retry_makes_exactly_one(sim_app: SimApp) -> None:
    name = unique("Create 500")
    page = screen(sim_app, PERSONAS)
    form = {"pf_name": name, **BASE_FORM, "pf_llm": "tavus-gpt-oss"}
    page.set(form)
    fault(sim_app, "500", "/v2/personas", "POST")
    page.click("pf-create")
    page.error("Tavus is having trouble", "Try again in a minute",
               "Press Create persona to try again")
    page.kept(form)
    assert sent(sim_app, "POST", "/v2/personas") == 1  # a create is never retried blindly
    assert personas_named(sim_app, name) == []

    time.sleep(REPEAT_WAIT)  # a deliberate retry, not the second half of a double click
    page.click("pf-create")
    page.says("created")
    assert sent(sim_app, "POST", "/v2/personas") == 2
    assert len(personas_named(sim_app, name)) == 1


def test_post_personas_429_is_explained_and_nothing_is_made(sim_app: SimApp) -> None:
    name = unique("Create 429")
    page = screen(sim_app, PERSONAS)
    form = {"pf_name": name, **BASE_FORM}
    page.set(form)
    fault(sim_app, "429", "/v2/personas", "POST", count=1 + RETRIES, retry_after=0)
    page.click("pf-create")
    page.error("Tavus is limiting requests", "Wait a minute and try again")
    page.kept(form)
    assert sent(sim_app, "POST", "/v2/personas") == 1 + RETRIES  # each one refused
    assert personas_named(sim_app, name) == []


def editing(app: SimApp, persona: Persona) -> Screen:
    page = screen(app, PERSONAS, persona=persona.persona_id)
    page.click("pa-edit")
    assert page.at.button(key="pf-save")  # the form edits it now
    app.sim.reset_requests()
    return page


def test_patch_personas_500_is_explained_and_the_persona_is_unchanged(sim_app: SimApp) -> None:
    persona = user_persona(sim_app, unique("Save 500"))
    page = editing(sim_app, persona)
    form = {"pf_prompt": "You sell cargo bikes now.", "pf_llm": "tavus-gemini-2.5-flash"}
    page.set(form)
    fault(sim_app, "500", "/v2/personas/", "PATCH", count=1 + RETRIES)
    page.click("pf-save")
    page.error("Tavus is having trouble", "Try again in a minute",
               "Press Save changes to try again")
    page.kept({"pf_name": persona.persona_name, **form})
    assert sent(sim_app, "PATCH", f"/v2/personas/{persona.persona_id}") == 1 + RETRIES
    assert sim_app.tavus.get_persona(persona.persona_id).system_prompt == (
        "You sell bikes in Utrecht.")


def test_patch_personas_400_for_an_unknown_tag_is_explained(sim_app: SimApp) -> None:
    persona = user_persona(sim_app, unique("Save tag"))
    page = editing(sim_app, persona)
    form = {"pf_tags": ["nobody-has-this"], "pf_prompt": "You sell bikes, and tag them."}
    page.set(form)
    page.click("pf-save")
    page.error("No document has the tag “nobody-has-this”", "Remove it from Document tags")
    page.kept(form)
    assert sent(sim_app, "PATCH", f"/v2/personas/{persona.persona_id}") == 1  # a 400: once
    held = sim_app.tavus.get_persona(persona.persona_id)
    assert held.document_tags == () and held.system_prompt == "You sell bikes in Utrecht."


def test_saving_a_persona_deleted_meanwhile_is_explained(sim_app: SimApp) -> None:
    persona = user_persona(sim_app, unique("Gone"))
    page = editing(sim_app, persona)
    form = {"pf_prompt": "Changed while someone deleted it."}
    page.set(form)
    sim_app.tavus.delete_persona(persona.persona_id)
    sim_app.sim.reset_requests()
    page.click("pf-save")
    page.error("This persona no longer exists at Tavus", "nothing was saved",
               "Copy what you need from the form")
    page.kept(form)
    assert sent(sim_app, "PATCH", r"/v2/personas/.*") == 0


def test_editing_a_persona_whose_prompt_is_longer_than_the_form_takes_keeps_it_whole(
        sim_app: SimApp) -> None:
    """Streamlit cuts a widget's value at its max_chars: a persona made elsewhere with a longer
    prompt lost its end on Save. Now the prompt is shown whole and Save says what to do."""
    long_prompt = "Know the whole catalogue. " * (MAX_PROMPT_LENGTH // 26 + 10)
    persona = user_persona(sim_app, unique("Long prompt"), system_prompt=long_prompt)
    page = editing(sim_app, persona)
    assert page.values({"pf_prompt": ""})["pf_prompt"] == long_prompt
    page.says(f"{len(long_prompt.strip()):,} characters")
    page.click("pf-save")
    page.error(f"Cut it under {MAX_PROMPT_LENGTH:,} characters", "knowledge base")
    assert page.values({"pf_prompt": ""})["pf_prompt"] == long_prompt
    assert sent(sim_app, "PATCH", r"/v2/personas/.*") == 0
    assert sim_app.tavus.get_persona(persona.persona_id).system_prompt == long_prompt


@pytest.mark.parametrize(("kind", "count", "says"), [
    ("500", 1 + RETRIES, ("Tavus is having trouble", "Try again in a minute",
                          "Press Delete to try again")),
    ("429", 1 + RETRIES, ("Tavus is limiting requests", "Wait a minute and try again")),
], ids=["persona-delete-500", "persona-delete-429"])
def test_delete_personas_failing_is_explained_and_the_persona_stays(
        sim_app: SimApp, kind: str, count: int, says: tuple[str, ...]) -> None:
    persona = user_persona(sim_app, unique(f"Delete {kind}"))
    page = screen(sim_app, PERSONAS, persona=persona.persona_id)
    fault(sim_app, kind, "/v2/personas/", "DELETE", count=count,
          retry_after=0 if kind == "429" else None)
    page.click("pa-delete")
    page.error(*says)
    assert sent(sim_app, "DELETE", f"/v2/personas/{persona.persona_id}") == count
    assert sim_app.tavus.get_persona(persona.persona_id).persona_id == persona.persona_id


def test_deleting_a_persona_someone_deleted_already_counts_as_deleted(sim_app: SimApp) -> None:
    persona = user_persona(sim_app, unique("Deleted twice"))
    page = screen(sim_app, PERSONAS, persona=persona.persona_id)
    sim_app.tavus.delete_persona(persona.persona_id)  # another tab, a teammate
    sim_app.sim.reset_requests()
    page.click("pa-delete")
    page.no_error()  # Tavus's 400 "Invalid persona_id" means it is gone: deleted, as asked
    assert "pa-delete" not in {b.key for b in page.at.button}  # its panel closed
    page.says("Select a persona in the table")
    assert sent(sim_app, "DELETE", f"/v2/personas/{persona.persona_id}") == 1


def test_duplicate_failing_is_explained_and_makes_no_copy(sim_app: SimApp) -> None:
    page = screen(sim_app, PERSONAS, persona=INTERVIEWER)
    before = len(user_personas(sim_app))
    fault(sim_app, "500", "/v2/personas", "POST")
    page.click("pa-duplicate")
    page.error("Tavus is having trouble", "Press Duplicate to try again")
    assert sent(sim_app, "POST", "/v2/personas") == 1
    assert len(user_personas(sim_app)) == before


def conversation_posts(app: SimApp) -> int:
    return sent(app, "POST", "/v2/conversations")


@pytest.mark.parametrize(("kind", "count", "says"), [
    ("500", 1, ("Tavus is having trouble", "Try again in a minute",
                "Press Rehearse to try again")),
    ("429", 1 + RETRIES, ("Tavus is limiting requests", "Wait a minute and try again")),
], ids=["rehearse-500", "rehearse-429"])
def test_a_rehearsal_failing_is_explained_and_started_at_most_once(
        sim_app: SimApp, kind: str, count: int, says: tuple[str, ...]) -> None:
    persona = user_persona(sim_app, unique(f"Rehearse {kind}"), default_replica_id=STOCK_REPLICA)
    page = screen(sim_app, PERSONAS, persona=persona.persona_id)
    fault(sim_app, kind, "/v2/conversations", "POST", count=count,
          retry_after=0 if kind == "429" else None)
    page.click("pa-rehearse")
    page.error(*says)
    assert conversation_posts(sim_app) == count
    assert not any(c.conversation_name == f"Rehearsal: {persona.persona_name}"
                   for c in sim_app.tavus.list_all_conversations()[0])


def test_a_rehearsal_with_a_deleted_default_replica_is_explained(sim_app: SimApp) -> None:
    [replica] = sim_app.sim.add_replicas(1)
    persona = user_persona(sim_app, unique("Rehearse gone"), default_replica_id=replica)
    page = screen(sim_app, PERSONAS, persona=persona.persona_id)
    sim_app.tavus.delete_replica(replica)
    sim_app.sim.reset_requests()
    page.click("pa-rehearse")
    page.error(f"Tavus no longer has the replica ({replica})", "Choose another default replica")
    assert conversation_posts(sim_app) == 1


def test_a_stock_persona_offers_no_edit_and_no_delete(sim_app: SimApp) -> None:
    page = screen(sim_app, PERSONAS, persona=INTERVIEWER)
    keys = {b.key for b in page.at.button}
    assert "pa-edit" not in keys and "pa-delete" not in keys
    assert {"pa-duplicate", "pa-rehearse"} <= keys
    page.says("Stock personas cannot be edited: duplicate one instead.")
    assert page.at.button(key="pf-create")  # the form stays a new persona's
    assert writes(sim_app) == []


# ================================================================================================
# documents from a file
# ================================================================================================
def incoming_key(app: SimApp, filename: str) -> str:
    return f"{app.store.settings.prefix}{INCOMING_FOLDER}2026/12/07/{uuid.uuid4().hex}-{filename}"


def give_file(page: Screen, content: bytes | Path, filename: str,
              size: int | None = None) -> str:
    """The browser's upload: the object in the bucket, and the slot `_on_result` leaves."""
    app = page.app
    key = incoming_key(app, filename)
    if isinstance(content, Path):
        app.store.upload_file(content, key, "application/octet-stream")  # streamed from disk
        size = content.stat().st_size if size is None else size
    else:
        app.store.put_bytes(key, content, "application/octet-stream")
        size = len(content) if size is None else size
    page.at.session_state[_slot_name(UPLOADER)] = {
        "status": "done", "token": f"token-{uuid.uuid4().hex[:6]}", "filename": filename,
        "uploaded": UploadedVideo(key=key, filename=filename, size_bytes=size)}
    page.run()
    return key


def browser_picks(page: Screen, monkeypatch: pytest.MonkeyPatch, name: str, size: int,
                  browser_type: str = "") -> dict[str, Any]:
    """The uploader's own `on_file_change` callback, run on what the browser reports of a chosen
    file (its name and size, never its bytes), and the slot it leaves handed to the page."""
    state: dict[str, Any] = {UPLOADER: {"file": {"token": "token-pick", "name": name,
                                                 "size": size, "type": browser_type}}}
    with monkeypatch.context() as patched:
        patched.setattr(uploader, "st", SimpleNamespace(session_state=state))
        uploader._on_file(UPLOADER, page.app.store, ACCEPTED_SUFFIXES, MAX_DOCUMENT_BYTES,
                          PART_BYTES, INCOMING_FOLDER, "document")
    slot = state[_slot_name(UPLOADER)]
    page.at.session_state[_slot_name(UPLOADER)] = slot
    page.run()
    return slot


def keys_under(app: SimApp, folder: str) -> list[str]:
    return app.store.list_keys(app.store.settings.prefix + folder)


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("prices.txt", "Cargo bike: 2,400 euros\n")
    return buffer.getvalue()


def windows_program() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(500)


FILE_FORM = {"doc_name_0": "Spring prices", "doc_tags_0": ["pricing", "spring"]}


@dataclass(frozen=True)
class FileCase:
    id: str
    make: Any  # () -> bytes
    filename: str
    says: tuple[str, ...]


REFUSED_FILES = [
    FileCase("exe-named-pdf", windows_program, "brochure.pdf",
             ("brochure.pdf is a Windows program, not a PDF",
              "Add the document itself, not a program")),
    FileCase("zip-named-pdf", zip_archive, "brochure.pdf",
             ("brochure.pdf is a ZIP archive, not a PDF",
              "Unzip it and add the documents inside one by one")),
    FileCase("empty-object", lambda: b"", "notes.txt",
             ("notes.txt is empty (0 bytes)", "Choose the file again")),
]


@pytest.mark.parametrize("case", REFUSED_FILES, ids=[f"file-{c.id}" for c in REFUSED_FILES])
def test_a_refused_file_is_explained_sends_nothing_and_keeps_the_form(
        sim_app: SimApp, case: FileCase) -> None:
    page = screen(sim_app, KNOWLEDGE)
    key = give_file(page, case.make(), case.filename)
    page.set(FILE_FORM)
    page.click("doc-add")
    for _ in range(2):  # and a rerun says the same
        page.error(*case.says, "Nothing was sent to Tavus", "Choose another file")
        assert "Press Add to knowledge base" not in page.error(*case.says)  # a retry cannot help
        page.disabled("doc-add")  # its copy is gone: another file is needed
        page.kept(FILE_FORM)
        page.run()
    assert writes(sim_app) == []
    assert key not in keys_under(sim_app, INCOMING_FOLDER)  # nothing kept of a refused file
    assert keys_under(sim_app, DOCUMENT_FILES_FOLDER) == []


def test_png_bytes_named_pdf_are_added_as_the_png_they_are(sim_app: SimApp) -> None:
    page = screen(sim_app, KNOWLEDGE)
    name = unique("Floor plan")
    give_file(page, astronaut_png(), "brochure.pdf")
    page.set({"doc_name_0": name})
    page.click("doc-add")
    page.no_error()
    page.says("is in the knowledge base",
              "brochure.pdf is a PNG image inside, not a PDF: it is sent as brochure.png.")
    assert sent(sim_app, "POST", "/v2/documents") == 1
    [stored] = keys_under(sim_app, DOCUMENT_FILES_FOLDER)
    assert stored.endswith("-brochure.png")
    [document] = documents_named(sim_app, name)
    assert stored.rsplit("/", 1)[-1] in (document.document_url or "")
    page.click("doc-add")  # a second click adds nothing more
    assert sent(sim_app, "POST", "/v2/documents") == 1


def test_a_51_mb_object_is_refused_without_being_sent(sim_app: SimApp, tmp_path: Path) -> None:
    """The declared size was small (a browser or a script that lied); the object is 51 MB."""
    big = sparse_file(tmp_path / "big.pdf", 51_000_000, head=b"%PDF-1.4\n", tail=b"%%EOF\n")
    page = screen(sim_app, KNOWLEDGE)
    key = give_file(page, big, "catalogue.pdf", size=1_000_000)
    page.set(FILE_FORM)
    page.click("doc-add")
    page.error("catalogue.pdf is 51.0 MB", "Tavus takes files up to 50 MB",
               "Split it into smaller files or compress it", "Choose another file")
    page.kept(FILE_FORM)
    page.disabled("doc-add")
    assert writes(sim_app) == []
    assert key not in keys_under(sim_app, INCOMING_FOLDER)
    assert keys_under(sim_app, DOCUMENT_FILES_FOLDER) == []


@pytest.mark.parametrize(("name", "size", "says"), [
    ("catalogue.pdf", 51_000_000, ("catalogue.pdf is 51.0 MB; the limit is 50.0 MB",
                                   "Make the document smaller")),
    ("empty.docx", 0, ("empty.docx is empty (0 bytes)", "choose the document file again")),
    ("setup.exe", 4_000, ("setup.exe is not a .pdf", "Choose a document file")),
], ids=["picked-51-mb", "picked-empty", "picked-exe"])
def test_a_file_the_picker_refuses_is_never_uploaded(
        sim_app: SimApp, monkeypatch: pytest.MonkeyPatch, name: str, size: int,
        says: tuple[str, ...]) -> None:
    page = screen(sim_app, KNOWLEDGE)
    page.set({"doc_tags_0": ["catalogue"]})
    slot = browser_picks(page, monkeypatch, name, size)
    assert slot["status"] == "error" and "plan" not in slot  # nothing signed
    page.error(*says)
    page.disabled("doc-add")
    page.kept({"doc_tags_0": ["catalogue"]})
    assert writes(sim_app) == [] and keys_under(sim_app, INCOMING_FOLDER) == []


def test_a_jpeg_named_jpeg_is_offered_and_planned(sim_app: SimApp,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The picker took extensions without their dot and without aliases: "photo.jpeg" (and
    .jpe, .jfif), which the knowledge base reads as a JPEG, was refused as "not a pdf, txt…"."""
    assert {".jpeg", ".jpg", ".pdf"} <= set(ACCEPTED_SUFFIXES)
    page = screen(sim_app, KNOWLEDGE)
    slot = browser_picks(page, monkeypatch, "shop-floor.jpeg", 120_000, "image/jpeg")
    assert slot["status"] == "uploading", slot.get("message")
    page.no_error()


def test_post_documents_500_is_explained_and_the_retry_does_not_upload_again(
        sim_app: SimApp) -> None:
    page = screen(sim_app, KNOWLEDGE)
    name = unique("Opening hours")
    give_file(page, minimal_pdf(), "hours.pdf")
    form = {"doc_name_0": name, "doc_tags_0": ["hours"]}
    page.set(form)
    fault(sim_app, "500", "/v2/documents", "POST")
    page.click("doc-add")
    page.error("Tavus is having trouble", "Try again in a minute",
               "Press Add to knowledge base to try again", "what already succeeded is not "
               "repeated")
    page.kept(form)
    assert sent(sim_app, "POST", "/v2/documents") == 1
    stored = keys_under(sim_app, DOCUMENT_FILES_FOLDER)
    assert len(stored) == 1 and documents_named(sim_app, name) == []

    time.sleep(REPEAT_WAIT)
    page.click("doc-add")
    page.no_error()
    page.says("is in the knowledge base")
    assert sent(sim_app, "POST", "/v2/documents") == 2
    assert keys_under(sim_app, DOCUMENT_FILES_FOLDER) == stored  # the same copy, not uploaded again
    assert len(documents_named(sim_app, name)) == 1


# ================================================================================================
# documents from a web address
# ================================================================================================
def website_form(app: SimApp) -> Screen:
    page = screen(app, KNOWLEDGE)
    page.at.get("button_group")[0].set_value("A website")
    page.run()
    return page


URL_CASES = [
    ("ftp", "ftp://files.example.com/prices.pdf",
     ("Tavus fetches only web addresses (http:// or https://), not ftp: ones",
      "Paste the page's https:// link, or upload the file instead")),
    ("javascript", "javascript:alert(document.cookie)",
     ("not javascript: ones", "Paste the page's https:// link")),
    ("no-scheme", "example.com/pricing",
     ("Start the address with https://", "https://example.com/pricing")),
    ("credentials", "https://ana:s3cret@intranet.example.com/prices",
     ("contains a user name or password", "remove it and use a link that opens without "
      "signing in")),
]


@pytest.mark.parametrize(("url", "says"), [c[1:] for c in URL_CASES],
                         ids=[f"url-{c[0]}" for c in URL_CASES])
def test_a_malformed_address_is_refused_at_the_click(sim_app: SimApp, url: str,
                                                     says: tuple[str, ...]) -> None:
    page = website_form(sim_app)
    form = {"site_url": url, "site_name": "Prices", "site_tags": ["pricing"]}
    page.set(form)
    page.click("site-add")
    message = page.error(*says)
    assert "s3cret" not in " ".join(page.texts())  # never echoed
    assert "s3cret" not in message
    page.kept(form)
    assert writes(sim_app) == []


def test_a_404_address_is_explained_and_nothing_is_sent(sim_app: SimApp, site: str) -> None:
    page = website_form(sim_app)
    form = {"site_url": f"{site}/missing/prices", "site_name": "Prices"}
    page.set(form)
    page.click("site-add")
    page.error("answered HTTP 404", "there is nothing at this address", "Check it for typos")
    page.kept(form)
    assert writes(sim_app) == []


def test_an_unreachable_address_is_explained_and_nothing_is_sent(sim_app: SimApp) -> None:
    page = website_form(sim_app)
    form = {"site_url": "http://127.0.0.1:9/prices", "site_name": "Prices"}
    page.set(form)
    page.click("site-add")
    page.error("could not be reached", "Check the address, and that the site is public")
    page.kept(form)
    assert writes(sim_app) == []


@pytest.mark.parametrize(("depth", "pages", "says"), [
    (MAX_CRAWL_DEPTH + 1, 10, f"Set the crawl depth to a whole number from 1 to "
                              f"{MAX_CRAWL_DEPTH}"),
    (0, 10, f"Set the crawl depth to a whole number from 1 to {MAX_CRAWL_DEPTH}"),
    (2, MAX_CRAWL_PAGES + 1, f"Set the page limit to a whole number from 1 to "
                             f"{MAX_CRAWL_PAGES}"),
], ids=["crawl-depth-over", "crawl-depth-zero", "crawl-pages-over"])
def test_crawl_settings_out_of_range_are_refused_and_the_form_cannot_make_them(
        sim_app: SimApp, site: str, depth: int, pages: int, says: str) -> None:
    with pytest.raises(DocumentRefused) as refused:
        add_website_work(sim_app.tavus, DocumentRecords(sim_app.store), AddAttempt(),
                         url=f"{site}/", name="", tags=(), added_by=None,
                         crawl=CrawlSettings(depth, pages), allow_private_hosts=True)
    assert says in refused.value.message
    page = website_form(sim_app)
    page.at.toggle(key="site_crawl").set_value(True)
    page.run()
    depth_input, pages_input = (page.at.number_input(key="site_depth"),
                                page.at.number_input(key="site_pages"))
    assert (depth_input.min, depth_input.max) == (1, MAX_CRAWL_DEPTH)
    assert (pages_input.min, pages_input.max) == (1, MAX_CRAWL_PAGES)
    assert writes(sim_app) == []


def test_too_many_tags_are_refused_at_the_click(sim_app: SimApp, site: str) -> None:
    page = website_form(sim_app)
    tags = [f"tag-{i}" for i in range(MAX_TAGS + 1)]
    form = {"site_url": f"{site}/", "site_name": "Shop", "site_tags": tags}
    page.set(form)
    page.click("site-add")
    page.error(f"{MAX_TAGS + 1} tags is more than {MAX_TAGS}",
               "keep the ones a persona will pick documents by")
    page.kept(form)
    assert writes(sim_app) == []


def test_an_over_long_tag_is_refused_at_the_click(sim_app: SimApp) -> None:
    page = screen(sim_app, KNOWLEDGE)
    give_file(page, minimal_pdf(), "hours.pdf")
    form = {"doc_name_0": "Hours", "doc_tags_0": ["t" * (MAX_TAG_LENGTH + 1)]}
    page.set(form)
    page.click("doc-add")
    page.error(f"is {MAX_TAG_LENGTH + 1} characters", f"keep tags under {MAX_TAG_LENGTH}")
    page.kept(form)
    assert not page.at.button(key="doc-add").disabled  # fix the tag and Add again
    assert writes(sim_app) == [] and keys_under(sim_app, DOCUMENT_FILES_FOLDER) == []


def test_post_documents_429_is_explained_and_nothing_is_made(sim_app: SimApp,
                                                             site: str) -> None:
    page = website_form(sim_app)
    name = unique("Shop 429")
    form = {"site_url": f"{site}/", "site_name": name}
    page.set(form)
    fault(sim_app, "429", "/v2/documents", "POST", count=1 + RETRIES, retry_after=0)
    page.click("site-add")
    page.error("Tavus is limiting requests", "Wait a minute and try again")
    page.kept(form)
    assert sent(sim_app, "POST", "/v2/documents") == 1 + RETRIES  # each refused
    assert documents_named(sim_app, name) == []


# ================================================================================================
# one document: rename and retag, recrawl, delete
# ================================================================================================
def details(app: SimApp, document: Document) -> Screen:
    page = screen(app, KNOWLEDGE, document=document.document_id)
    assert page.at.button(key="dd-save"), "the document's panel is open"
    return page


def rename_form(document: Document, name: str, tags: list[str]) -> dict[str, Any]:
    return {f"dd_name_{document.document_id}": name, f"dd_tags_{document.document_id}": tags}


def test_patch_documents_500_is_explained_and_the_document_is_unchanged(
        sim_app: SimApp, site: str) -> None:
    document = ready_document(sim_app, site, unique("Rename 500"), tags=("shop",))
    page = details(sim_app, document)
    form = rename_form(document, "Renamed shop", ["shop", "prices"])
    page.set(form)
    fault(sim_app, "500", "/v2/documents/", "PATCH", count=1 + RETRIES)
    page.click("dd-save")
    page.error("Tavus is having trouble", "Try again in a minute",
               "Press Save name and tags to try again")
    page.kept(form)
    assert sent(sim_app, "PATCH", f"/v2/documents/{document.document_id}") == 1 + RETRIES
    held = sim_app.tavus.get_document(document.document_id)
    assert (held.document_name, held.tags) == (document.document_name, ("shop",))


def test_patch_documents_404_for_a_document_deleted_meanwhile_is_explained(
        sim_app: SimApp, site: str) -> None:
    document = ready_document(sim_app, site, unique("Rename gone"))
    page = details(sim_app, document)
    form = rename_form(document, "Renamed after all", ["late"])
    page.set(form)
    sim_app.tavus.delete_document(document.document_id)
    sim_app.sim.reset_requests()
    page.click("dd-save")
    message = page.error("This document no longer exists at Tavus", "nothing was saved")
    assert "Press Save" not in message  # pressing again cannot help
    page.kept(form)
    assert sent(sim_app, "PATCH", f"/v2/documents/{document.document_id}") == 1


@pytest.mark.parametrize(("tags", "says"), [
    (["x" * (MAX_TAG_LENGTH + 1)], (f"keep tags under {MAX_TAG_LENGTH}",)),
    ([f"t{i}" for i in range(MAX_TAGS + 1)], (f"{MAX_TAGS + 1} tags is more than {MAX_TAGS}",)),
], ids=["retag-long-tag", "retag-too-many"])
def test_retagging_with_tags_over_the_limits_is_refused_like_adding(
        sim_app: SimApp, site: str, tags: list[str], says: tuple[str, ...]) -> None:
    document = ready_document(sim_app, site, unique("Retag"))
    page = details(sim_app, document)
    form = rename_form(document, document.document_name or "", tags)
    page.set(form)
    page.click("dd-save")
    page.error(*says)
    page.kept(form)
    assert writes(sim_app) == []


def test_renaming_to_nothing_is_refused(sim_app: SimApp, site: str) -> None:
    document = ready_document(sim_app, site, unique("Unnamed"))
    page = details(sim_app, document)
    form = rename_form(document, "   ", [])
    page.set(form)
    page.click("dd-save")
    page.error("Give the document a name", "Save name and tags")
    page.kept(form)
    assert writes(sim_app) == []


@pytest.mark.parametrize(("kind", "says"), [
    ("500", ("Tavus is having trouble", "Try again in a minute", "Press Delete to try again")),
    ("429", ("Tavus is limiting requests", "Wait a minute and try again")),
], ids=["document-delete-500", "document-delete-429"])
def test_delete_documents_failing_is_explained_and_the_document_stays(
        sim_app: SimApp, site: str, kind: str, says: tuple[str, ...]) -> None:
    document = ready_document(sim_app, site, unique(f"Delete {kind}"))
    page = details(sim_app, document)
    fault(sim_app, kind, "/v2/documents/", "DELETE", count=1 + RETRIES,
          retry_after=0 if kind == "429" else None)
    page.click("dd-delete")
    page.error(*says)
    assert sent(sim_app, "DELETE", f"/v2/documents/{document.document_id}") == 1 + RETRIES
    assert sim_app.tavus.get_document(document.document_id).document_id == document.document_id


def test_deleting_a_document_someone_deleted_already_counts_as_deleted(
        sim_app: SimApp, site: str) -> None:
    document = ready_document(sim_app, site, unique("Deleted twice"))
    page = details(sim_app, document)
    sim_app.tavus.delete_document(document.document_id)
    sim_app.sim.reset_requests()
    page.click("dd-delete")
    page.no_error()  # Tavus's 404: gone already, which is what was asked
    page.says(f"Document `{document.document_id}` is not in the list")  # its panel closed
    assert "dd-delete" not in {b.key for b in page.at.button}  # no other document's Delete
    assert sent(sim_app, "DELETE", f"/v2/documents/{document.document_id}") == 1


def test_delete_names_the_personas_and_presets_that_use_the_document(
        sim_app: SimApp, site: str) -> None:
    document = ready_document(sim_app, site, unique("Used"), tags=("catalogue",))
    persona = user_persona(sim_app, unique("Uses it"), document_ids=[document.document_id])
    preset = Preset(name=unique("Acme demo"), replica_id=STOCK_REPLICA,
                    document_tags=("catalogue",))
    PresetStore(sim_app.store).create(preset)
    page = details(sim_app, document)
    page.says(f"Used by: {persona.persona_name}", f"Presets that use it: {preset.name}",
              "They will not start until it is removed from them")
    assert writes(sim_app) == []


def crawled(app: SimApp, site: str, name: str) -> Document:
    document = ready_document(app, site, name, crawl=True)
    assert document.crawled
    return document


def test_recrawl_within_the_hour_is_not_offered_and_says_when(sim_app: SimApp,
                                                               site: str) -> None:
    document = crawled(sim_app, site, unique("Fresh crawl"))
    page = details(sim_app, document)
    button = page.at.button(key="dd-recrawl")
    assert button.disabled and "one recrawl an hour: next at" in (button.help or "")
    page.disabled("dd-recrawl")
    assert writes(sim_app) == []


@pytest.fixture
def cooldown_passed_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's own clock says the hour has passed (a stale view, a clock that differs from
    Tavus's): Recrawl is offered, and Tavus decides."""
    monkeypatch.setattr(lib.ui.knowledge, "RECRAWL_COOLDOWN", timedelta(days=-3650))


def test_recrawl_in_tavus_s_cooldown_says_when_to_try_again(
        sim_app: SimApp, site: str, cooldown_passed_here: None) -> None:
    document = crawled(sim_app, site, unique("Cooldown"))
    page = details(sim_app, document)
    assert not page.at.button(key="dd-recrawl").disabled
    page.click("dd-recrawl")
    message = page.error("Tavus recrawls a document at most once an hour",
                         "Recrawl cooldown: please wait", "press Recrawl again after that")
    assert "Wait a minute" not in message  # Tavus said an hour
    # The client retries a 429 (Tavus sent no Retry-After): each refused, none started.
    assert sent(sim_app, "POST", f"/v2/documents/{document.document_id}/recrawl") == 1 + RETRIES
    assert sim_app.tavus.get_document(document.document_id).state is DocumentStatus.READY


def test_recrawl_500_is_explained_and_sent_once(sim_app: SimApp, site: str,
                                                cooldown_passed_here: None) -> None:
    document = crawled(sim_app, site, unique("Recrawl 500"))
    page = details(sim_app, document)
    fault(sim_app, "500", "/v2/documents/", "POST")
    page.click("dd-recrawl")
    page.error("Tavus is having trouble", "Try again in a minute", "Press Recrawl to try again")
    assert sent(sim_app, "POST", f"/v2/documents/{document.document_id}/recrawl") == 1
    assert sim_app.tavus.get_document(document.document_id).state is DocumentStatus.READY


def test_the_documents_table_keeps_working_when_the_list_fails(
        sim_app: SimApp, site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFRESH_SECONDS", "2")
    document = ready_document(sim_app, site, unique("Listed"))
    page = screen(sim_app, KNOWLEDGE)
    assert document.document_id in page.at.dataframe[0].value["document_id"].tolist()
    fault(sim_app, "500", "/v2/documents", "GET", count=50)
    time.sleep(2.1)  # the shared list is older than the refresh interval: it asks again
    page.run()
    assert sent(sim_app, "GET", "/v2/documents") >= 1  # it did ask, and Tavus failed
    page.no_error()  # a warning, not an error
    warnings = [shown(w) for w in page.at.warning]
    assert any("Showing the last list read." in w and "Tavus is having trouble" in w
               and "Try again in a minute" in w for w in warnings), warnings
    assert document.document_id in page.at.dataframe[0].value["document_id"].tolist()
    page.at.get("button_group")[0].set_value("A website")  # the rest of the screen works
    page.run()
    assert page.at.text_input(key="site_url")
    clear_faults(sim_app)


# ================================================================================================
# a preset whose document was deleted
# ================================================================================================
def test_a_preset_whose_document_was_deleted_says_so_and_cannot_start(
        sim_app: SimApp, site: str) -> None:
    document = ready_document(sim_app, site, unique("Preset doc"))
    preset = Preset(name=unique("Doc demo"), replica_id=STOCK_REPLICA,
                    document_ids=(document.document_id,))
    stored = PresetStore(sim_app.store).create(preset)
    sim_app.tavus.delete_document(document.document_id)
    page = screen(sim_app, CONVERSATIONS)
    page.says(f"uses 1 document(s) that no longer exist ({document.document_id})",
              "Edit the preset, remove them and save it again")
    page.disabled(f"start-{stored.key}")
    assert conversation_posts(sim_app) == 0


def test_every_refusal_case_names_what_to_do() -> None:
    """A case with nothing to assert would pass on any page."""
    for case in [*FORM_CASES, *REFUSED_FILES]:
        assert case.says, case.id
    assert len({c.id for c in FORM_CASES}) == len(FORM_CASES)
