"""The Personas screen's actions as board work, over HTTP against the Tavus simulator: what each
sends (counted in the simulator's request log), and what Tavus holds afterwards (read back)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from lib.actions.board import Action, ActionBoard
from lib.personas.form import PersonaForm, PersonaProblem, create_body, form_from_persona
from lib.personas.work import (
    PersonaAttempt,
    Rehearsal,
    SaveOutcome,
    create_work,
    delete_work,
    duplicate_work,
    rehearsal_request,
    rehearse_work,
    save_work,
)
from lib.tavus.client import DocumentStatus, TavusClient, TavusError
from lib.tavus.simulator import TavusSimulator
from tests.served import serving

KEY = "sk-persona-work-test"
ANNA = "r1af0c2b8d3e"  # stock replicas (completed)
JULIA = "r5e1f7a9c2d4"
SALES_COACH = "p2b3c4d5e6f7"  # stock personas
INTERVIEWER = "p3c4d5e6f7a8"  # its perception layer runs raven-1
TEXT = b"Prices: the city bike is 600 EUR.\n"


@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    s = TavusSimulator(KEY, seed_demo_data=True, document_seconds=10).start()
    yield s
    s.stop()


@pytest.fixture
def tavus(sim: TavusSimulator) -> Iterator[TavusClient]:
    with TavusClient(sim.base_url, KEY, timeout=5.0, sleep=lambda s: None) as client:
        yield client


@pytest.fixture(scope="module")
def doc_url() -> Iterator[str]:
    with serving(TEXT, "prices.txt") as url:
        yield url


def calls(sim: TavusSimulator, method: str, path: str) -> int:
    return sum(1 for r in sim.requests if r.method == method and r.path == path)


def form(**changes: object) -> PersonaForm:
    base = PersonaForm(persona_name="Bike shop", system_prompt="You sell bikes.",
                       default_replica_id=ANNA, llm_model="tavus-gpt-oss",
                       perception_model="off")
    return dataclasses.replace(base, **changes)


def run(work):
    """Run work as the board would, on a real board, and hand back the finished action."""
    board = ActionBoard(max_workers=1)
    try:
        board.start("k", work)
        action = board.wait("k", timeout=30)
    finally:
        board.close()
    assert action is not None
    if action.error is not None:
        raise action.error
    return action.result


# --- create ---------------------------------------------------------------------------------------
def test_create_makes_one_persona_however_often_it_runs(sim, tavus) -> None:
    attempt = PersonaAttempt()
    made: list[str] = []
    work = create_work(tavus, form(), attempt, after=lambda p: made.append(p.persona_id))

    first = run(work)
    assert work(Action(key="k")) is first  # a double click
    again = create_work(tavus, form(), attempt)(Action(key="k"))  # a retry after a rerun

    assert again is first and attempt.made is first
    assert calls(sim, "POST", "/v2/personas") == 1
    assert made == [first.persona_id]
    held = tavus.get_persona(first.persona_id)
    assert held.persona_name == "Bike shop" and held.system_prompt == "You sell bikes."
    assert held.default_replica_id == ANNA
    assert held.layers == create_body(form().checked())["layers"]


def test_a_form_to_fix_is_refused_before_anything_is_sent(sim, tavus) -> None:
    with pytest.raises(PersonaProblem, match="system prompt"):
        create_work(tavus, form(system_prompt="   "), PersonaAttempt())
    assert sim.requests == []


# --- save -----------------------------------------------------------------------------------------
@pytest.fixture
def rich(tavus: TavusClient) -> str:
    """A persona holding more than the form shows: tools, STT hotwords, a custom header."""
    body = create_body(form().checked())
    body["layers"]["llm"]["tools"] = [{"type": "function", "function": {"name": "price"}}]
    body["layers"]["llm"]["headers"] = {"X-Shop": "north"}
    body["layers"]["stt"] = {"hotwords": "Brompton"}
    return tavus.create_persona(body).persona_id


def test_save_patches_exactly_the_changed_field_and_a_repeat_patches_nothing(sim, tavus,
                                                                             rich) -> None:
    before = tavus.get_persona(rich).raw
    edited = dataclasses.replace(form_from_persona(before), system_prompt="You sell e-bikes.")
    sim.reset_requests()
    saved: list[SaveOutcome] = []

    outcome = run(save_work(tavus, rich, edited, after=saved.append))

    assert outcome == SaveOutcome(rich, ("system_prompt",)) and saved == [outcome]
    assert outcome.text == "Saved: system prompt."
    assert calls(sim, "PATCH", f"/v2/personas/{rich}") == 1
    after = tavus.get_persona(rich).raw
    assert after["system_prompt"] == "You sell e-bikes."
    unchanged = {k: v for k, v in before.items() if k not in ("system_prompt", "updated_at")}
    assert {k: after[k] for k in unchanged} == unchanged  # tools, hotwords, headers: kept

    repeat = run(save_work(tavus, rich, edited))

    assert repeat == SaveOutcome(rich, ()) and repeat.text.startswith("No changes")
    assert calls(sim, "PATCH", f"/v2/personas/{rich}") == 1  # no second PATCH
    assert calls(sim, "GET", f"/v2/personas/{rich}") >= 2  # each save read the persona first


def test_a_layer_field_is_added_without_touching_the_rest_of_the_layers(sim, tavus,
                                                                        rich) -> None:
    before = tavus.get_persona(rich).raw
    edited = dataclasses.replace(form_from_persona(before), turn_taking_patience="high",
                                 llm_model="tavus-gpt-5.2")

    outcome = run(save_work(tavus, rich, edited))

    assert set(outcome.changed) == {"turn_taking_patience", "llm_model"}
    layers = tavus.get_persona(rich).layers
    assert layers["conversational_flow"] == {"turn_taking_patience": "high"}
    assert layers["llm"] == {**before["layers"]["llm"], "model": "tavus-gpt-5.2"}
    assert layers["stt"] == {"hotwords": "Brompton"}


def test_a_teammates_change_to_what_the_form_does_not_show_is_kept(sim, tavus, rich) -> None:
    edited = dataclasses.replace(form_from_persona(tavus.get_persona(rich).raw),
                                 system_prompt="You repair bikes.")
    # Between this form's load and the click, a teammate changes the STT hotwords.
    assert tavus.patch_persona(rich, [{"op": "replace", "path": "/layers/stt/hotwords",
                                       "value": "Brompton, Moulton"}])

    outcome = run(save_work(tavus, rich, edited))

    assert outcome.changed == ("system_prompt",)
    held = tavus.get_persona(rich)
    assert held.layers["stt"] == {"hotwords": "Brompton, Moulton"}
    assert held.system_prompt == "You repair bikes."


def test_a_teammates_change_to_a_field_the_form_shows_but_this_person_left_is_kept(
        sim, tavus, rich) -> None:
    loaded = form_from_persona(tavus.get_persona(rich).raw)  # what Edit put in the form
    edited = dataclasses.replace(loaded, system_prompt="You repair bikes.")
    # Meanwhile a teammate renames the persona: a field the form shows, this person left alone.
    assert tavus.patch_persona(rich, [{"op": "replace", "path": "/persona_name",
                                       "value": "Bike repair desk"}])
    sim.reset_requests()

    outcome = run(save_work(tavus, rich, edited, base=loaded))

    assert outcome.changed == ("system_prompt",)
    assert calls(sim, "PATCH", f"/v2/personas/{rich}") == 1
    held = tavus.get_persona(rich)
    assert held.persona_name == "Bike repair desk"  # the teammate's rename stays
    assert held.system_prompt == "You repair bikes."
    # Without the loaded values every field shown is this person's: the rename is undone.
    run(save_work(tavus, rich, edited))
    assert tavus.get_persona(rich).persona_name == loaded.persona_name


# --- duplicate ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stock", [SALES_COACH, INTERVIEWER])
def test_a_stock_persona_is_duplicated_once_with_its_prompt_and_layers(sim, tavus,
                                                                       stock: str) -> None:
    original = tavus.get_persona(stock)
    attempt = PersonaAttempt()
    made: list[str] = []
    work = duplicate_work(tavus, stock, "My copy", attempt, after=lambda p: made.append(
        p.persona_id))

    copy = run(work)
    assert work(Action(key="k")) is copy

    assert calls(sim, "POST", "/v2/personas") == 1 and made == [copy.persona_id]
    held = tavus.get_persona(copy.persona_id)
    assert held.persona_id != stock and held.persona_name == "My copy"
    assert held.system_prompt == original.system_prompt
    assert held.layers == original.layers and held.layers  # the perception layer came along
    assert held.default_replica_id == original.default_replica_id
    users, _ = tavus.list_all_personas(persona_type="user")
    assert copy.persona_id in {p.persona_id for p in users}  # a copy is the team's own
    assert tavus.get_persona(stock).raw == original.raw  # the stock one is untouched


# --- delete ---------------------------------------------------------------------------------------
def test_deleting_a_persona_already_gone_counts_as_deleted(sim, tavus) -> None:
    pid = tavus.create_persona(create_body(form().checked())).persona_id
    deleted: list[str] = []

    assert run(delete_work(tavus, pid, after=deleted.append)) == pid
    with pytest.raises(TavusError):
        tavus.get_persona(pid)
    # A second click, or a teammate got there first: Tavus says the id is invalid now.
    assert run(delete_work(tavus, pid, after=deleted.append)) == pid

    assert deleted == [pid, pid]
    assert calls(sim, "DELETE", f"/v2/personas/{pid}") == 2


def test_a_refused_delete_is_still_an_error(sim, tavus) -> None:
    deleted: list[str] = []
    with pytest.raises(TavusError) as refused:
        run(delete_work(tavus, SALES_COACH, after=deleted.append))
    assert refused.value.status_code == 400 and "System personas" in refused.value.message
    assert deleted == []
    assert tavus.get_persona(SALES_COACH).persona_name == "Sales Coach"


# --- rehearsal ------------------------------------------------------------------------------------
def ready_document(sim: TavusSimulator, tavus: TavusClient, url: str) -> str:
    made = tavus.create_document(document_url=url, document_name="Prices", tags=["pricing"])
    assert sim.wait_for_downloads()
    sim.advance(11)
    assert tavus.get_document(made.document_id).state is DocumentStatus.READY
    return made.document_id


def test_a_rehearsal_posts_one_test_mode_conversation_exactly_as_shown(sim, tavus,
                                                                       doc_url) -> None:
    did = ready_document(sim, tavus, doc_url)
    persona = tavus.get_persona(SALES_COACH)
    rehearsal = Rehearsal(rehearsal_request(persona, None, document_ids=(did,),
                                            document_tags=("pricing",)))
    work = rehearse_work(tavus, rehearsal)

    first = run(work)
    assert work(Action(key="k")) is first

    assert calls(sim, "POST", "/v2/conversations") == 1
    conversation = first.conversation
    assert conversation is not None
    cid = conversation.conversation_id
    held = tavus.get_conversation(cid)
    assert held.persona_id == SALES_COACH
    assert held.replica_id == persona.default_replica_id
    assert held.conversation_name == "Rehearsal: Sales Coach"
    # What the simulator received, field for field, is the body the screen shows.
    received = httpx.get(f"{sim.base_url}/_sim/conversations/{cid}/request").json()
    body = {**received["request"], "replica_id": received["replica_id"],
            "persona_id": held.persona_id}
    assert body == rehearsal.body
    assert body["test_mode"] is True and body["document_ids"] == [did]
    assert body["document_tags"] == ["pricing"]


def test_a_chosen_replica_is_used_over_the_personas_default(sim, tavus) -> None:
    persona = tavus.get_persona(SALES_COACH)
    rehearsal = Rehearsal(rehearsal_request(persona, JULIA))
    done = run(rehearse_work(tavus, rehearsal))
    assert done.conversation is not None
    assert tavus.get_conversation(done.conversation.conversation_id).replica_id == JULIA
    assert rehearsal.body["replica_id"] == JULIA and "document_ids" not in rehearsal.body


def test_a_persona_without_a_default_replica_needs_one_chosen(sim, tavus) -> None:
    pid = tavus.create_persona(create_body(form(default_replica_id=None).checked())).persona_id
    persona = tavus.get_persona(pid)
    with pytest.raises(ValueError, match="choose a replica"):
        rehearsal_request(persona, None)
    assert calls(sim, "POST", "/v2/conversations") == 0
